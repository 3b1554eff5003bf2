"""The personal-data scanner: every output file, before it is published.

It fails on an 18-digit resident ID in clear (checked by its check character, so long numbers
that merely look alike do not count), on any ID number the input carried for a legal
representative or a natural person (even one with a wrong check character), and on a mobile
phone number. Findings are reported masked: the scanner must not leak what it finds.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .codes import id_checksum_ok
from .disclosure.privacy import mask_one

ID_NUMBER = re.compile(rb"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])")
TOKEN = re.compile(rb"(?<![0-9A-Za-z])[0-9A-Za-z]{8,20}(?![0-9A-Za-z])")  # how known numbers are looked up
MOBILE = re.compile(rb"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")
TEXT_SUFFIXES = {".html", ".htm", ".xml", ".json", ".jsonld", ".jsonl", ".csv", ".txt", ".js", ".md", ".rss", ".atom",
                 ".svg", ".tsv", ".yaml", ".yml"}


@dataclass(frozen=True)
class Finding:
    file: str
    kind: str  # id_number, known_id_number, mobile
    value: str  # masked

    def describe(self) -> str:
        words = {"id_number": "身份证号码", "known_id_number": "输入中的证件号码", "mobile": "手机号码"}
        return f"{self.file}: {words[self.kind]} {self.value}"


def scan(root: Path, known: Iterable[str] = ()) -> list[Finding]:
    """Findings in every file under ``root``; ``known`` are ID numbers from the input that must
    never appear (legal representatives', natural persons' in clear)."""
    known_bytes = {k.upper().encode() for k in known if len(k) >= 8}
    findings: list[Finding] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = _text(path)
        if data is None:
            continue
        label = path.relative_to(root).as_posix()
        findings += _findings(label, data, known_bytes)
    return findings


def _text(path: Path) -> bytes | None:
    if path.suffix == ".gz":
        try:
            return gzip.decompress(path.read_bytes())
        except (OSError, EOFError):
            return path.read_bytes()
    if path.suffix.lower() in TEXT_SUFFIXES or path.suffix.lower() == ".parquet":
        return path.read_bytes()
    return None


def _findings(label: str, data: bytes, known: set[bytes]) -> Iterator[Finding]:
    seen: set[tuple[str, bytes]] = set()
    for match in ID_NUMBER.finditer(data):
        number = match.group().upper()
        if id_checksum_ok(number.decode()) and ("id_number", number) not in seen:
            seen.add(("id_number", number))
            yield Finding(label, "id_number", mask_one(number.decode()))
    if known:  # one pass over the file's tokens, a set lookup each: linear in the output's size
        for match in TOKEN.finditer(data):
            number = match.group().upper()
            if number in known and ("known_id_number", number) not in seen and ("id_number", number) not in seen:
                seen.add(("known_id_number", number))
                yield Finding(label, "known_id_number", mask_one(number.decode()))
    for match in MOBILE.finditer(data):
        number = match.group()
        if ("mobile", number) not in seen:
            seen.add(("mobile", number))
            yield Finding(label, "mobile", number[:3].decode() + "****" + number[7:].decode())
