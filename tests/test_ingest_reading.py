"""The cheaper reading paths give exactly what the plain ones gave: the header read from a short
probe, and the CSV reader trusting bytes already known to be valid UTF-8."""

from __future__ import annotations

import csv
import io

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator import ingest

# pieces that make header parsing interesting: delimiters, quotes, every kind of line break,
# CJK text, invalid and truncated UTF-8 sequences
PIECES = [b"a", b"bc", b",", b"\t", b";", b'"', b'""', b"\r", b"\n", b"\r\n", b" ", "企业".encode(),
          "名称".encode(), b"\xe4\xb8", b"\xe4", b"\xff", b"\xe0\x80", b"\xf0\x90\x80", b"\xed\xa0\x80", b"\xc3"]


def header_as_before(utf8: bytes) -> tuple[str, list[str] | None]:
    """What read_delimited did before the probe: decode 64 KiB, then look."""
    text_head = utf8[:ingest.HEADER_BYTES].decode("utf-8", errors="replace")
    first_line = text_head.replace("\r", "\n").split("\n", 1)[0]
    delimiter = ingest.sniff_delimiter(first_line)
    return delimiter, next(csv.reader(io.StringIO(text_head, newline=""), delimiter=delimiter), None)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=60), st.integers(1, 24), st.integers(0, 40))
def test_header_from_probe_is_the_header_from_64k(monkeypatch, pieces, probe, extra):
    monkeypatch.setattr(ingest, "HEADER_PROBE_BYTES", probe)
    monkeypatch.setattr(ingest, "HEADER_BYTES", probe + extra)
    data = b"".join(pieces)
    try:
        expected = header_as_before(data)
    except csv.Error as exc:
        with pytest.raises(csv.Error, match=str(exc)):
            ingest._read_header(data)
        return
    assert ingest._read_header(data) == expected


def test_header_probe_on_real_sizes():
    row = "统一社会信用代码,行政相对人名称,处罚决定书文号\r\n".encode()
    body = ("91450100MA5L0001X1,南宁某某有限公司,南市监罚〔2024〕1号\r\n" * 500).encode()
    for data in (row + body, b'"a\n' + b"x" * 5000 + b'",b,c\n' + body, b"x" * 70000 + b"\n" + body):
        assert ingest._read_header(data) == header_as_before(data)


@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_utf8_check_agrees_with_python(pieces):
    data = b"".join(pieces)
    try:
        data.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert ingest.is_valid_utf8(data) == valid


@pytest.mark.parametrize("data", [
    "a,b,c\n1,企业,3\n".encode(),
    b"a,b,c\n1,\xe4\xb8,3\n",  # truncated character inside a cell
    b"a,b,c\n1,\xff\xfe,3\n",
    b'a,b,c\n1,"x\xff\ny",3\n',  # invalid byte inside a quoted, multi-line cell
])
def test_trusted_parse_only_when_valid(data):
    """Parsing with the reader's own check, and parsing trusted after is_valid_utf8, agree:
    both refuse a file with an invalid cell (so it is decoded and re-read) or give the same cells."""
    checked = ingest._parse_fast(data, ",", 3)
    trusted = ingest._parse_fast(data, ",", 3, checked=True) if ingest.is_valid_utf8(data) else None
    if checked is None:
        assert trusted is None
    else:
        assert [c.to_pylist() for c in trusted] == [c.to_pylist() for c in checked]
        assert all(isinstance(c, pa.Array) for c in trusted)
