"""Find the submitted files and read them into columns of raw text, one table per file or sheet.

Departments send whatever their systems export: CSV in UTF-8 (with or without BOM), GB18030/GBK
or UTF-16, comma- or tab-separated, or XLSX workbooks; headers as Chinese titles, national codes
or snake_case ids, in any order. This module turns each into a :class:`RawTable`: the cells as
strings keyed by schema field, the spreadsheet row number of every row, and the problems found
while reading. Nothing is dropped here except rows with no content at all.

CSV goes through pyarrow's multi-threaded reader; a file whose rows do not all have the header's
cell count is re-read with Python's ``csv`` module, which can say which rows are malformed.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .model import Problem, Severity
from .schema import Dataset
from .schema import header_key as _header_key

DATA_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm")
SIDECAR_SUFFIX = ".provenance.yaml"
MIN_RECOGNISED_COLUMNS = 3
CSV_BLOCK_SIZE = 64 << 20  # a row (with 1 MB cells) must fit in one block
SMALL_FILE_BYTES = 8 << 20  # smaller files are parsed in one thread: files are already read in parallel
HEADER_BYTES = 1 << 16  # the header row is read from the first 64 KiB (longer headers: see header.unrecognised)
HEADER_PROBE_BYTES = 1 << 12  # ... but first looked for in the first 4 KiB: see _read_header

csv.field_size_limit(min(sys.maxsize, 1 << 31 - 1))


@functools.lru_cache(maxsize=4096)
def header_key(text: str) -> str:
    """:func:`generator.schema.header_key`, remembered: a thousand files share a few headers."""
    return _header_key(text)


@dataclass
class RawTable:
    """The cells of one file (or one sheet), before normalisation."""

    dataset: Dataset
    label: str  # e.g. "penalties/nanning-2024.csv" or "penalties/book.xlsx#Sheet2"
    path: Path
    format: str
    encoding: str = ""
    header_style: str = ""
    columns: dict[str, pa.Array] = field(default_factory=dict)
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    bad_shape: np.ndarray | None = None  # rows whose cell count differs from the header's
    cell_counts: np.ndarray | None = None
    header_cells: int = 0
    problems: list[Problem] = field(default_factory=list)
    unreadable: bool = False  # header not recognised or file unreadable: every row withheld

    def __len__(self) -> int:
        return len(self.rows)

    def file_problem(self, rule: str, severity: Severity, message: str, *, field: str | None = None,
                     value: str | None = None) -> None:
        self.problems.append(Problem(self.dataset.name, self.label, None, field, value, rule, severity, message))


def find_sources(folder: Path) -> Iterator[Path]:
    """Every data file of one dataset folder, sorted by name. Sidecars and notes are skipped."""
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.is_file() and not path.name.startswith((".", "~$")):
            yield path


def is_data_file(path: Path) -> bool:
    return path.suffix.lower() in DATA_SUFFIXES


def is_companion_file(path: Path) -> bool:
    """Files that may sit beside data files without being data: sidecars and read-me notes."""
    return path.name.endswith(SIDECAR_SUFFIX) or (path.suffix.lower() in (".md", ".txt") and path.stem.upper() == "README")


def read_source(dataset: Dataset, path: Path, label: str) -> list[RawTable]:
    """Read one data file into one table per sheet that holds data."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return read_workbook(dataset, path, label)
    return [read_delimited(dataset, path, label)]


# ---------------------------------------------------------------------------------------------
# Encodings


def looks_utf8(data: bytes) -> bool:
    """Whether the start of a BOM-less file is UTF-8. The rest is validated by the CSV reader,
    which refuses invalid UTF-8; only then is the whole file decoded here."""
    if data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data[:1 << 16], final=len(data) <= 1 << 16)
        return True
    except UnicodeDecodeError:
        return False


def is_valid_utf8(data: bytes) -> bool:
    """Whether all of ``data`` is valid UTF-8, by Arrow's validator (the one its CSV reader uses),
    over the buffer as one string value: no text object is built, so it costs a fraction of
    ``data.decode()`` or of the CSV reader checking cell by cell."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def decode(data: bytes) -> tuple[bytes, str]:
    """Return the file as UTF-8 bytes and the encoding it was detected in.

    Detection, not configuration: a BOM decides; otherwise strict UTF-8, then strict GB18030
    (a superset of GBK and GB2312). A file valid in neither is decoded with whichever loses fewer
    characters; the lost ones become U+FFFD and the rows holding them are withheld by a rule.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:], "utf-8-sig"
    for bom, name in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[2:].decode(name, errors="replace").encode("utf-8"), "utf-16"
    try:
        data.decode("utf-8")
        return data, "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030").encode("utf-8"), "gb18030"
    except UnicodeDecodeError:
        pass
    as_utf8 = data.decode("utf-8", errors="replace")
    as_gb = data.decode("gb18030", errors="replace")
    if as_gb.count("\ufffd") < as_utf8.count("\ufffd"):
        return as_gb.encode("utf-8"), "gb18030 (invalid bytes)"
    return as_utf8.encode("utf-8"), "utf-8 (invalid bytes)"


def sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", "\t", ";")}
    best = max(counts, key=lambda d: (counts[d], d == ","))
    return best if counts[best] else ","


# ---------------------------------------------------------------------------------------------
# CSV


def read_delimited(dataset: Dataset, path: Path, label: str) -> RawTable:
    table = RawTable(dataset, label, path, format="csv")
    try:
        # a UTF-8 BOM is skipped while reading: as decode() would, but without copying the file
        with path.open("rb") as file:
            bom = file.read(3) == codecs.BOM_UTF8
            if not bom:
                file.seek(0)
            data = file.read()
    except OSError as exc:
        table.unreadable = True
        table.file_problem("file.unreadable", Severity.ERROR, f"无法读取文件：{exc.strerror}。请确认文件完整后重新提交。")
        return table
    if bom:
        utf8, table.encoding = data, "utf-8-sig"
    elif looks_utf8(data):
        utf8, table.encoding = data, "utf-8"
    else:
        utf8, table.encoding = decode(data)
    del data
    delimiter, header = _read_header(utf8)
    if delimiter == "\t":
        table.format = "tsv"
    if not header or not any(c.strip() for c in header):
        table.file_problem("file.empty", Severity.WARNING, "文件为空，没有表头也没有数据行。如果是误提交，请从 datasets/ 中删除该文件。")
        return table
    # bytes from decode() are valid UTF-8 by construction; bytes as submitted are checked here
    checked = table.encoding not in ("utf-8", "utf-8-sig") or is_valid_utf8(utf8)
    cells = _parse_fast(utf8, delimiter, len(header), checked=checked)
    if cells is None and table.encoding == "utf-8":
        try:
            utf8.decode("utf-8")
        except UnicodeDecodeError:  # valid at the start only: decode the whole file properly
            utf8, table.encoding = decode(utf8)
            cells = _parse_fast(utf8, delimiter, len(header), checked=True)
    if cells is None:
        cells, counts, blank = _parse_tolerant(utf8, delimiter, len(header))
        table.cell_counts = counts
        table.bad_shape = (counts != len(header)) & ~blank
    else:
        blank = _blank_rows(cells)
    rows = np.arange(2, 2 + (len(cells[0]) if cells else 0), dtype=np.int64)
    table.header_cells = len(header)
    _attach_columns(table, header, cells, rows, blank)
    return table


def _read_header(utf8: bytes) -> tuple[str, list[str] | None]:
    """The delimiter and the header row: the first line decides the delimiter, the first record
    (of the first ``HEADER_BYTES``) is the header.

    Decoding 64 KiB of every file only to read a line of a few hundred bytes cost more than the
    rest of the header handling, so the first ``HEADER_PROBE_BYTES``, cut before their last line
    break, are tried first. Text decoded up to an ASCII byte is the same whatever follows it, so
    the result is the one the 64 KiB would give whenever the record ends before the cut (the
    reader stopped short of the probe's end); otherwise, or when the probe is not enough to say,
    the 64 KiB are read as they always were.
    """
    if len(utf8) > HEADER_PROBE_BYTES:
        probe = utf8[:HEADER_PROBE_BYTES]
        cut = max(probe.rfind(b"\n"), probe.rfind(b"\r"))
        if cut > 0:
            found = _first_record(probe[:cut].decode("utf-8", errors="replace"), partial=True)
            if found is not None:
                return found
    return _first_record(utf8[:HEADER_BYTES].decode("utf-8", errors="replace"), partial=False)


def _first_record(text: str, *, partial: bool) -> tuple[str, list[str] | None] | None:
    """The delimiter and first record of ``text``; with ``partial`` (``text`` is the start of a
    longer text), None unless the record provably ends before the end of ``text``."""
    delimiter = sniff_delimiter(text.replace("\r", "\n").split("\n", 1)[0])
    stream = io.StringIO(text, newline="")
    if not partial:
        return delimiter, next(csv.reader(stream, delimiter=delimiter), None)
    try:
        header = next(csv.reader(stream, delimiter=delimiter), None)
    except csv.Error:
        return None
    return (delimiter, header) if header is not None and stream.tell() < len(text) else None


def _parse_fast(utf8: bytes, delimiter: str, width: int, *, checked: bool = False) -> list[pa.Array] | None:
    """pyarrow's reader; None when any row is malformed or (unless ``checked``) a cell is not
    valid UTF-8, so the caller decodes the file or re-reads it tolerantly.

    ``checked`` says the whole buffer is already known to be valid UTF-8, so every cell is (cells
    are cut at ASCII delimiters, quotes and line ends, never inside a character): the reader's
    own per-cell check, about a quarter of its time, is then skipped.
    """
    malformed = []

    def on_invalid(_row: pacsv.InvalidRow) -> str:
        malformed.append(True)
        return "skip"

    names = [f"c{i}" for i in range(width)]
    # a block must hold the longest row; a small file is one block, read without extra threads
    block = min(CSV_BLOCK_SIZE, max(1 << 16, len(utf8) + 1))
    try:
        result = pacsv.read_csv(
            pa.BufferReader(utf8),
            read_options=pacsv.ReadOptions(column_names=names, block_size=block, skip_rows=1,
                                           use_threads=len(utf8) > SMALL_FILE_BYTES),
            # without a quote character no value can hold a newline, and parsing is faster
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=b'"' in utf8, ignore_empty_lines=False,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False, null_values=[],
                                                 check_utf8=not checked),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        return None
    if malformed:
        return None
    return [column.chunk(0) if column.num_chunks == 1 else column.combine_chunks() for column in result.columns]


def _parse_tolerant(utf8: bytes, delimiter: str, width: int) -> tuple[list[pa.Array], np.ndarray, np.ndarray]:
    """Python's csv module: every record kept, short ones padded, long ones cut; returns the
    cells, each record's cell count and which records are blank."""
    reader = csv.reader(io.StringIO(utf8.decode("utf-8", errors="replace"), newline=""), delimiter=delimiter)
    next(reader, None)
    columns: list[list[str]] = [[] for _ in range(width)]
    counts, blank = [], []
    for record in reader:
        counts.append(len(record))
        blank.append(not any(c.strip() for c in record))
        if len(record) < width:
            record = record + [""] * (width - len(record))
        for i in range(width):
            columns[i].append(record[i])
    return ([pa.array(c, type=pa.string()) for c in columns], np.array(counts, dtype=np.int64),
            np.array(blank, dtype=bool))


# ---------------------------------------------------------------------------------------------
# XLSX


def read_workbook(dataset: Dataset, path: Path, label: str) -> list[RawTable]:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_path(str(path))
        sheets = [(name, workbook.get_sheet_by_name(name).to_python(skip_empty_area=False)) for name in workbook.sheet_names]
    except Exception as exc:  # calamine raises its own error types for corrupt or encrypted files
        table = RawTable(dataset, label, path, format="xlsx", unreadable=True)
        table.file_problem("file.unreadable", Severity.ERROR,
                           f"无法读取该 XLSX 工作簿（{type(exc).__name__}）。请用 Excel 打开确认文件完整，另存为 .xlsx 后重新提交。")
        return [table]
    lookup = dataset.header_lookup()
    data_sheets = [(n, rows) for n, rows in sheets if _header_row(rows, lookup) is not None]
    tables = []
    for name, rows in data_sheets or sheets[:1]:
        sheet_label = label if len(data_sheets) <= 1 else f"{label}#{name}"
        table = RawTable(dataset, sheet_label, path, format="xlsx", encoding="xlsx")
        start = _header_row(rows, lookup) or 0
        header = [_cell_text(c) for c in rows[start]] if rows else []
        width = len(header)
        body = rows[start + 1:]
        counts = np.array([_used_width(r) for r in body], dtype=np.int64)
        columns = _sheet_columns(body, width)
        table.header_cells = width
        if (counts > width).any():
            table.cell_counts = counts
            table.bad_shape = counts > width
        _attach_columns(table, header, columns, np.arange(start + 2, start + 2 + len(body), dtype=np.int64),
                        (counts == 0) | (_blank_rows(columns) & (counts <= width)))
        tables.append(table)
    for name, rows in sheets:
        if data_sheets and name not in {n for n, _ in data_sheets} and any(_used_width(r) for r in rows):
            tables[0].problems.append(Problem(
                dataset.name, label, None, None, name, "xlsx.sheet_ignored", Severity.WARNING,
                f"工作表「{name}」没有可识别的表头，未读取。如果其中有数据，请把它移到单独的文件并使用标准表头。"))
    return tables


def _sheet_columns(body: list[list], width: int) -> list[pa.Array]:
    """The first ``width`` columns of a sheet's rows as text, a column at a time: a column of
    text cells (the usual case) goes to Arrow as it is; others are converted cell by cell."""
    if not body or not width:
        return [pa.array([""] * len(body), type=pa.string()) for _ in range(width)]
    if any(len(r) < width for r in body):
        body = [r if len(r) >= width else [*r, *([""] * (width - len(r)))] for r in body]
    columns = []
    for i, cells in enumerate(zip(*body, strict=False)):
        if i == width:
            break
        if set(map(type, cells)) == {str}:
            columns.append(pa.array(cells, type=pa.string()))
        else:
            columns.append(pa.array([c if type(c) is str else _cell_text(c) for c in cells], type=pa.string()))
    return columns


def _header_row(rows: list[list], lookup: dict) -> int | None:
    """The first of the top rows with at least three recognised headers."""
    for i, row in enumerate(rows[:20]):
        if sum(header_key(_cell_text(c)) in lookup for c in row) >= MIN_RECOGNISED_COLUMNS:
            return i
    return None


def _used_width(row: list) -> int:
    for i in range(len(row) - 1, -1, -1):
        if row[i] not in ("", None):
            return i + 1
    return 0


def _cell_text(value: object) -> str:
    """A workbook cell as the text a CSV export would carry."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


# ---------------------------------------------------------------------------------------------
# Headers


def _blank_rows(cells: list[pa.Array]) -> np.ndarray:
    """Rows in which every cell is empty or white space.

    Column by column, and each column only over the rows still blank so far: the first cell of
    a row almost always has content, so the other columns are rarely looked at."""
    if not cells:
        return np.zeros(0, dtype=bool)
    candidates = np.flatnonzero(_blank_cells(cells[0]))
    for column in cells[1:]:
        if not len(candidates):
            break
        candidates = candidates[_blank_cells(column.take(pa.array(candidates)))]
    blank = np.zeros(len(cells[0]), dtype=bool)
    blank[candidates] = True
    return blank


def _blank_cells(column: pa.Array) -> np.ndarray:
    """Which cells are empty or white space only."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if column.type == pa.string() and not column.null_count and len(column):
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset: column.offset + len(column) + 1]
        empty = offsets[1:] == offsets[:-1]
        if empty.all():
            return empty
        maybe = np.flatnonzero(~empty)
        data = np.frombuffer(column.buffers()[2], dtype=np.uint8)
        # a cell that starts with a letter, digit or CJK lead byte is not blank; the rest are trimmed
        first = data[offsets[:-1][maybe]]
        unsure = maybe[(first <= 0x20) | (first >= 0x80) & (first < 0xE4) | (first > 0xE9)]
        if len(unsure):
            trimmed = pc.utf8_trim_whitespace(column.take(pa.array(unsure)))
            empty[unsure] = pc.equal(trimmed, "").to_numpy(zero_copy_only=False)
        return empty
    return pc.equal(pc.utf8_trim_whitespace(column), "").to_numpy(zero_copy_only=False)


def _attach_columns(table: RawTable, header: list[str], cells: list[pa.Array], rows: np.ndarray,
                    blank: np.ndarray) -> None:
    """Map header cells to schema fields, keep the mapped columns, report the others."""
    lookup = table.dataset.header_lookup()
    styles = set()
    for i, cell in enumerate(header):
        key = header_key(cell)
        if not key:
            continue
        match = lookup.get(key)
        if match is None:
            table.file_problem("header.unknown_column", Severity.WARNING,
                               f"第 {i + 1} 列表头「{cell}」不是本数据集的字段，该列已忽略。如需发布其内容，请改用数据字典中的字段名。",
                               value=cell)
            continue
        name, style = match
        if name in table.columns:
            table.file_problem("header.duplicate_column", Severity.WARNING,
                               f"第 {i + 1} 列「{cell}」与前面的列对应同一字段 {name}，只读取第一列。请删除重复的列。",
                               field=name, value=cell)
            continue
        table.columns[name] = cells[i] if i < len(cells) else pa.array([""] * len(rows), type=pa.string())
        styles.add(style)
    table.header_style = "+".join(sorted(styles)) if styles else "unrecognised"
    table.rows = rows
    _drop_blank_rows(table, blank)
    if len(table.columns) < MIN_RECOGNISED_COLUMNS:
        table.unreadable = True
        table.file_problem("header.unrecognised", Severity.ERROR,
                           f"表头中可识别的字段少于 {MIN_RECOGNISED_COLUMNS} 个，无法判断各列含义，整个文件暂不发布。"
                           f"请使用数据字典中的中文字段名、国家标准字段代码或英文字段名作表头，并确认文件放在正确的数据集文件夹（{table.dataset.name}）。")


def _drop_blank_rows(table: RawTable, blank: np.ndarray) -> None:
    """Rows without a single non-blank cell are not rows: exports often end with some."""
    if not blank.any():
        return
    keep = ~blank
    keep_arrow = pa.array(keep)
    table.columns = {k: v.filter(keep_arrow) for k, v in table.columns.items()}
    table.rows = table.rows[keep]
    if table.bad_shape is not None:
        table.bad_shape = table.bad_shape[keep]
        table.cell_counts = table.cell_counts[keep]
