"""The personal-data scanner: every output file, before it is published.

It fails on an 18-digit resident ID in clear (checked by its check character, so long numbers
that merely look alike do not count), on any ID number the input carried for a legal
representative or a natural person (even one with a wrong check character), and on a mobile
phone number. Findings are reported masked: the scanner must not leak what it finds.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import multiprocessing
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .codes import id_checksum_ok, mask_one
from .outputs.render import workers

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


@dataclass(frozen=True)
class KnownNumbers:
    """The ID numbers the input carried (see :func:`scan`), made ready for searching once: a
    build scans its outputs in several steps and processes, each with the same quarter of a
    million numbers, and making their lookups took about a sixth of a second each time."""

    upper: frozenset[str]  # 8 characters or more, upper case
    lookup: _Known
    as_bytes: frozenset[bytes]

    @classmethod
    def of(cls, known: Iterable[str] | KnownNumbers) -> KnownNumbers:
        if isinstance(known, KnownNumbers):
            return known
        upper = frozenset(k.upper() for k in known if len(k) >= 8)
        return cls(upper, _lookup(upper), frozenset(k.encode() for k in upper))


def scan(root: Path, known: Iterable[str] | KnownNumbers = (), skip: Iterable[str] = (), encoded: Iterable[str] = (),
         leave_out: Iterable[str] = ()) -> list[Finding]:
    """Findings in every file under ``root``; ``known`` are ID numbers from the input that must
    never appear (legal representatives', natural persons' in clear).

    A site has a million small files, so files are read into batches of about ``PIECE_BYTES``
    and each batch is searched at once; large files are searched in pieces of that size. Large
    sites are split into contiguous runs of files, one per core. ``skip``: site-relative folders
    not to read (copies of files scanned elsewhere). ``encoded``: site-relative folders (data
    releases) where a CSV or JSON Lines file beside a Parquet file of the same name holds that
    file's values in another encoding; the values are scanned once, from the Parquet file (an
    encoding adds quotes, escapes and separators, which can only end a number, never make one).
    ``leave_out``: site-relative files not to read (their values are scanned elsewhere, see
    :func:`scan_values`)."""
    known = KnownNumbers.of(known)
    files, sizes = _files(root, {os.path.join(str(root), s) for s in skip}, {os.path.join(str(root), e) for e in encoded},
                          {os.path.join(str(root), f) for f in leave_out})
    prefix = len(str(root)) + 1
    weights = sizes + FILE_COST  # a file costs its bytes plus opening and reading it
    total = int(weights.sum())
    parts = workers() if len(files) > PARALLEL_FILES or total > PARALLEL_BYTES else 1
    if parts == 1:
        return _unique(_scan_files(files, prefix, known))
    # contiguous runs of about equal weight (not equal counts: a data release is a few files of
    # hundreds of megabytes, a subject page a few kilobytes)
    cuts = np.searchsorted(np.cumsum(weights), [total * k // parts for k in range(1, parts)], side="right")
    bounds = [0, *cuts.tolist(), len(files)]
    runs = [files[a:b] for a, b in itertools.pairwise(bounds) if b > a]
    # spawned, not forked: a worker needs the file list only, not the build's memory
    with multiprocessing.get_context("spawn").Pool(len(runs)) as pool:
        found = pool.starmap(_scan_files, [(run, prefix, known) for run in runs])
    return _unique([f for part in found for f in part])


ENCODINGS = {".csv", ".jsonl"}  # of a Parquet file's values, in a data release
# more files, or more bytes than PARALLEL_BYTES: one process per core. Fewer are scanned here: a
# worker's start (imports, the known numbers sent and made into lookups) costs about as much CPU
# as scanning a hundred megabytes, and at 235 MB two workers took as long as one process
PARALLEL_FILES = 100_000
PARALLEL_BYTES = 1 << 30
FILE_COST = 4096  # what opening and reading a file costs, in bytes scanned


def scan_values(label: str, table: pa.Table, known: Iterable[str] | KnownNumbers = ()) -> list[Finding]:
    """Findings in the text values of ``table``, named ``label`` (what a file of them would be
    called)."""
    known = KnownNumbers.of(known)
    return _unique(_scan_text(label, _table_text(table), known.lookup, known.as_bytes))


def _scan_text(label: str, data: bytes, known_set: _Known, known_bytes: frozenset[bytes]) -> list[Finding]:
    """Findings in one large text, searched in pieces."""
    findings: list[Finding] = []
    for piece in _pieces(data):
        findings += _findings(label, b"\n".join(_suspect_lines(piece, known_set)[1]), known_bytes)
    return findings


def _scan_files(files: list[str], prefix: int, known: KnownNumbers) -> list[Finding]:
    known_set, known_bytes = known.lookup, known.as_bytes
    findings: list[Finding] = []
    scanned: set[bytes] = set()  # data/latest/ repeats the newest release byte for byte
    batch: list[tuple[str, bytes]] = []
    size = 0
    for path in files:
        data = _text(path)
        if data is None:
            continue
        digest = hashlib.blake2b(data, digest_size=16).digest()
        if digest in scanned:
            continue
        scanned.add(digest)
        label = path[prefix:].replace(os.sep, "/")
        if len(data) >= PIECE_BYTES:
            findings += _scan_text(label, data, known_set, known_bytes)
            continue
        batch.append((label, data))
        size += len(data)
        if size >= PIECE_BYTES:
            findings += _batch_findings(batch, known_set, known_bytes)
            batch, size = [], 0
    findings += _batch_findings(batch, known_set, known_bytes)
    return findings


def _files(root: Path, skip: set[str] = frozenset(), encoded: set[str] = frozenset(),
           leave_out: set[str] = frozenset()) -> tuple[list[str], np.ndarray]:
    """Every file under ``root`` but not under ``skip`` nor in ``leave_out``, sorted, and their
    sizes (in ``encoded`` folders, not the CSV and JSON Lines encodings of a Parquet file beside
    them); folders are read with ``os.scandir``, whose entries give the size with one ``stat``
    each."""
    found: list[tuple[str, int]] = []
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as listing:
            entries = list(listing)
        if folder in encoded:
            parquet = {e.name[:-len(".parquet")] for e in entries if e.name.endswith(".parquet")}
            entries = [e for e in entries if os.path.splitext(e.name)[1] not in ENCODINGS
                       or os.path.splitext(e.name)[0] not in parquet]
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.path not in skip:
                    pending.append(entry.path)
            elif entry.is_file() and entry.path not in leave_out:
                found.append((entry.path, entry.stat().st_size))
    found.sort()
    return [path for path, _ in found], np.array([size for _, size in found], dtype=np.int64)


def _batch_findings(batch: list[tuple[str, bytes]], known_set: _Known, known_bytes: frozenset[bytes]) -> list[Finding]:
    """Search many files at once: their lines are joined, searched, and traced back to their file."""
    if not batch:
        return []
    lines_per_file = np.array([data.count(b"\n") + 1 for _, data in batch])
    first_line = np.cumsum(lines_per_file) - lines_per_file
    rows, lines = _suspect_lines(b"\n".join(data for _, data in batch), known_set)
    owner = np.searchsorted(first_line, rows, side="right") - 1
    by_file: dict[int, list[bytes]] = {}
    for line, index in zip(lines, owner.tolist(), strict=True):
        by_file.setdefault(index, []).append(line)
    findings: list[Finding] = []
    for index, suspect in by_file.items():
        findings += _findings(batch[index][0], b"\n".join(suspect), known_bytes)
    return findings


# the shapes of an ID number and a mobile number, in RE2 syntax (no look-around): lines that
# match, or that hold a known number, are checked exactly in Python
SUSPECT = ("(?:^|[^0-9A-Za-z])(?:[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]"
           "|1[3-9][0-9]{9})(?:$|[^0-9A-Za-z])")
PIECE_BYTES = 32 << 20


def _pieces(data: bytes) -> Iterator[bytes]:
    """The file in pieces of about ``PIECE_BYTES``, cut after a newline."""
    start = 0
    while start < len(data):
        end = data.find(b"\n", start + PIECE_BYTES)
        end = len(data) if end < 0 else end + 1
        yield data[start:end]
        start = end


ID_SHAPE = re.compile(r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X]")
LITERALS = 20_000  # more known numbers of other shapes than this: look every token up instead


@dataclass(frozen=True)
class _Known:
    """How known numbers are found. Those shaped like a resident ID are on the lines the ID
    pattern already selects; the few of other shapes (passports, permits) become one RE2
    alternation; only when there are very many is every token of the output looked up."""

    pattern: str | None = None
    tokens: pa.Array | None = None


def _lookup(known: frozenset[str]) -> _Known:
    """``known``: upper case, 8 characters or more (:meth:`KnownNumbers.of`)."""
    others = sorted(k for k in known if not ID_SHAPE.fullmatch(k))
    if not others:
        return _Known()
    if len(others) > LITERALS or any(not k.isalnum() or not k.isascii() for k in others):
        return _Known(tokens=pa.array(sorted(known), pa.string()))
    return _Known(pattern="(?i)(?:^|[^0-9A-Za-z])(?:" + "|".join(others) + ")(?:$|[^0-9A-Za-z])")


def _suspect_lines(piece: bytes, known: _Known) -> tuple[np.ndarray, list[bytes]]:
    """Lines worth a closer look (their numbers and text): with eleven digits in a row, or a
    known ID number. Arrow's kernels (RE2, hash lookups) do this in C++, so scanning stays
    linear."""
    lines = pc.split_pattern(pa.array([piece], pa.binary()), b"\n").flatten()
    suspect = pc.match_substring_regex(lines, pattern=SUSPECT)
    if known.pattern:
        suspect = pc.or_(suspect, pc.match_substring_regex(lines, pattern=known.pattern))
    if known.tokens is not None:
        known = known.tokens
        try:
            text = pc.cast(lines, pa.string())
        except pa.ArrowInvalid:  # not UTF-8 throughout: look at it as UTF-8 with replacements
            text = pa.array(piece.decode("utf-8", errors="replace").split("\n"), pa.string())
        tokens = pc.split_pattern_regex(pc.utf8_upper(text), pattern="[^0-9A-Z]+")
        hits = pc.is_in(tokens.flatten(), value_set=known).to_numpy(zero_copy_only=False)
        if hits.any():
            rows = np.unique(pc.list_parent_indices(tokens).to_numpy()[hits])
            mask = np.zeros(len(lines), dtype=bool)
            mask[rows] = True
            suspect = pc.or_(suspect, pa.array(mask))
    rows = np.flatnonzero(suspect.to_numpy(zero_copy_only=False))
    return rows, lines.take(pa.array(rows, pa.int64())).to_pylist()


def _unique(findings: list[Finding]) -> list[Finding]:
    seen: set[Finding] = set()
    return [f for f in findings if not (f in seen or seen.add(f))]


def _text(path: str) -> bytes | None:
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".gz":
        try:
            return gzip.decompress(_read(path))
        except (OSError, EOFError):
            return _read(path)
    if suffix == ".parquet":
        return _parquet_text(Path(path))
    if suffix in TEXT_SUFFIXES:
        return _read(path)
    return None


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _parquet_text(path: Path) -> bytes:
    """A Parquet file's text columns, one value per line: its bytes are compressed, so the
    values are what must be scanned."""
    import pyarrow.parquet as pq

    return _table_text(pq.read_table(path))


def _table_text(table: pa.Table) -> bytes:
    """A table's text columns, one value per line."""
    columns = [table[name].combine_chunks() for name in table.column_names
               if pa.types.is_string(table.schema.field(name).type) or pa.types.is_large_string(table.schema.field(name).type)]
    return b"\n".join(_join_lines(c) for c in columns if len(c))


def _join_lines(values: pa.Array) -> bytes:
    """All values of a text column, one per line, joined by an Arrow kernel."""
    values = pc.fill_null(values.cast(pa.string()), "")
    as_list = pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), values)
    return pc.binary_join(as_list, "\n")[0].as_py().encode("utf-8")


def _findings(label: str, data: bytes, known: frozenset[bytes]) -> Iterator[Finding]:
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
