"""Open data: versioned Frictionless data packages, change files between versions, a catalog.

Every build that changes what is published makes a release under ``data/releases/<version>/``:

    datapackage.json      Data Package v2: one resource per dataset and format, with the schema
    <dataset>.csv         UTF-8 with BOM (Excel reads it as UTF-8), formula cells neutralised
    <dataset>.jsonl       one record per line, the same values
    <dataset>.parquet     the same values, typed as text, zstd-compressed
    changes.json          added, modified (field: [old, new]) and removed records, each with a reason
    changes.csv           the same, one line per record and changed field
    SHA256SUMS            every file's SHA-256

Releases are immutable: the previous site's ``data/releases/`` are copied forward byte for byte
and never rewritten. ``data/latest/`` holds a copy of the newest release and
``data/releases/index.json`` lists them all. The chain continues from whatever folder holds the
last published site (the ``--out`` folder itself, or ``--previous``: a fresh clone plus a copy of
the published ``data/`` is enough).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..disclosure import Decisions
from ..disclosure.decide import DISPLAY_UNTIL, PUBLISHED, REASON, UNDER_OBJECTION
from ..disclosure.privacy import protect
from ..errors import BuildError
from ..normalize import IdIndex, hex_id_keys, one_array, string_buffers
from ..provenance import Provenance
from ..schema import Dataset
from ..subjects import record_ids
from ..threads import take_rows

FORMATS = ("csv", "jsonl", "parquet")
MEDIATYPES = {"csv": "text/csv", "jsonl": "application/jsonl", "parquet": "application/vnd.apache.parquet"}
EXTRA_COLUMNS = ("display_until", "disclosure_status", "under_objection")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHANGE_REASONS = ("new", "corrected", "revoked", "repaired", "expired", "objection")
# why a record that was published is not any more, from its publication decision
REMOVAL_REASON = {
    "period_ended": "expired", "publicity_end": "expired", "list_expired": "expired", "history_ended": "expired",
    "repaired": "repaired", "revoked": "revoked", "objection_upheld": "objection", "objection_pending": "objection",
    "minor_subject": "revoked", "restricted": "revoked", "minor_severity": "revoked",
}
LICENSE = {"name": "CC-BY-4.0", "path": "https://creativecommons.org/licenses/by/4.0/", "title": "Creative Commons Attribution 4.0"}


@dataclass
class Release:
    version: str
    date: str
    records: dict[str, int]
    changes: dict[str, dict[str, int]]
    files: list[dict]

    def to_dict(self) -> dict:
        return {"version": self.version, "date": self.date, "path": f"releases/{self.version}/",
                "datapackage": f"releases/{self.version}/datapackage.json", "records": self.records,
                "changes": self.changes, "files": self.files}


@dataclass
class OpenData:
    """What the data step produced: every release (newest last) and whether this build made one."""

    releases: list[Release] = field(default_factory=list)
    made_release: bool = False
    # per dataset, the records of the release made that are not in the release before as they
    # were (None: no release before, every record is); the others were scanned for personal
    # data when that release was made
    fresh: dict[str, pa.Table] | None = None
    # which code wrote the newest release's files ({"version", "writer"}; None: not known), kept
    # in the site's build state: rows are copied from a release only into one the same code writes
    written_by: dict | None = None
    # per dataset, for each record published now (in record-id order), its row in the release
    # before this build's (``compared_with``) when every value there is the same, else -1
    unchanged: dict[str, np.ndarray] = field(default_factory=dict)
    compared_with: str = ""


# ---------------------------------------------------------------------------------------------
# Records as published


def public_columns(dataset: Dataset) -> list[str]:
    return ["record_id"] + [f.name for f in dataset.fields if f.privacy != "drop"] + list(EXTRA_COLUMNS)


def published_table(decisions: Decisions) -> pa.Table:
    """The dataset's published records, protected, as text columns, sorted by record id."""
    dataset, table = decisions.dataset, decisions.table
    shown = pc.indices_nonzero(table[PUBLISHED])
    ids = record_ids(dataset, table).take(shown)
    # one take, in record id order, of the published rows (the order is stable: as sort_by)
    order = pa.array(id_order(ids))
    kept = [*public_columns(dataset)[1:-len(EXTRA_COLUMNS)], DISPLAY_UNTIL, REASON, UNDER_OBJECTION]
    table = protect(dataset, take_rows(table.select(kept), pc.take(shown, order)))
    columns: dict[str, pa.Array] = {"record_id": ids.take(order)}
    for name in public_columns(dataset)[1:-len(EXTRA_COLUMNS)]:
        columns[name] = pc.fill_null(one_array(table[name]), "") if table.num_rows else pa.array([], pa.string())
    columns["display_until"] = one_array(table[DISPLAY_UNTIL])
    columns["disclosure_status"] = one_array(table[REASON])
    columns["under_objection"] = pc.if_else(one_array(table[UNDER_OBJECTION]), "true", "false") if table.num_rows \
        else pa.array([], pa.string())
    return pa.table(columns)


def id_order(ids: pa.Array) -> np.ndarray:
    """The positions of record ids in sorted order (stable): by their numbers when they are
    hexadecimal (:func:`hex_id_keys`), else as strings."""
    keys = hex_id_keys(ids)
    if keys is None:
        return pc.sort_indices(ids).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.lexsort((keys[1], keys[0])).astype(np.int64)


def rows_to_table(columns: list[str], rows: list[dict[str, str]]) -> pa.Table:
    return pa.table({c: pa.array([r.get(c, "") for r in rows], pa.string()) for c in columns})


def decision_reasons(decisions: Decisions) -> dict[str, tuple[str, str]]:
    """For every record (published or not): its id → (decision reason, removal reason field)."""
    dataset, table = decisions.dataset, decisions.table
    if not table.num_rows:
        return {}
    ids = record_ids(dataset, table).to_pylist()
    reasons = table[REASON].to_pylist()
    removal = table["removal_reason"].to_pylist() if "removal_reason" in table.column_names else [""] * len(ids)
    return dict(zip(ids, zip(reasons, removal, strict=True), strict=True))


# ---------------------------------------------------------------------------------------------
# Formats


def csv_bytes(table: pa.Table) -> bytes:
    """UTF-8 with a BOM, so Excel reads it as UTF-8; cells that a spreadsheet would run as a
    formula (= + - @, tab, CR first) get a leading apostrophe."""
    safe = pa.table({name: neutralise_column(table[name]) for name in table.column_names})
    sink = pa.BufferOutputStream()
    pacsv.write_csv(safe, sink, pacsv.WriteOptions(include_header=True, quoting_style="needed"))
    return b"\xef\xbb\xbf" + sink.getvalue().to_pybytes()


def neutralise(value: str) -> str:
    return "'" + value if value and value.startswith(FORMULA_STARTS) else value


def neutralise_column(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The column with an apostrophe before every cell a spreadsheet would run as a formula.
    Most columns have none: their cells' first bytes are looked at first (a UTF-8 sequence
    never starts with an ASCII byte, so a byte test is exact), and only a column that has
    one goes through the regular expression."""
    found = string_buffers(values)
    if found is not None:
        offsets, data = found
        if not np.isin(data[offsets[:-1][np.diff(offsets) > 0]], FORMULA_BYTES).any():
            return one_array(values)
    return pc.replace_substring_regex(values, pattern="^([=+\\-@\t\r])", replacement="'\\1")


FORMULA_BYTES = np.frombuffer("".join(FORMULA_STARTS).encode("ascii"), np.uint8)
UNKNOWN_BYTES = np.frombuffer(b'\\"\0', np.uint8)  # a column string_buffers cannot read: as if it had each


def jsonl_bytes(table: pa.Table) -> bytes:
    """One compact JSON object per line, keys in column order, values as JSON strings. Lines
    are assembled by Arrow kernels (escape, then join with the keys) in chunks of rows."""
    parts = []
    for start in range(0, table.num_rows, JSON_CHUNK_ROWS):
        chunk = table.slice(start, JSON_CHUNK_ROWS)
        pieces: list = []
        for i, name in enumerate(chunk.column_names):
            key = json.dumps(name, ensure_ascii=False)[1:-1]
            pieces.append(('{"' if i == 0 else '","') + key + '":"')
            pieces.append(json_escape(chunk[name]))
        pieces.append('"}\n')
        lines = pc.binary_join_element_wise(*(_cells(p) for p in pieces), "")
        parts.append(_concatenated(lines))
    return b"".join(parts)


def _cells(piece: str | pa.Array) -> pa.Array | pa.Scalar:
    return pa.scalar(piece, pa.string()) if isinstance(piece, str) else piece


def json_escape(values: pa.Array) -> pa.Array:
    """The text of a JSON string literal without its quotes, as ``json.dumps(ensure_ascii=False)``
    writes it: backslash and quote escaped; values with control characters go through
    ``json.dumps`` itself (rare)."""
    values = one_array(values)
    found = string_buffers(values)  # looked at first: most columns need no escaping at all
    data = found[1] if found is not None else UNKNOWN_BYTES
    escaped = values
    if (data == ord("\\")).any():
        escaped = pc.replace_substring(escaped, "\\", "\\\\")
    if (data == ord('"')).any():
        escaped = pc.replace_substring(escaped, '"', '\\"')
    if (data < 0x20).any():
        control = pc.match_substring_regex(values, pattern="[\\x00-\\x1f]")
        originals = values.filter(control).to_pylist()
        fixed = pa.array([json.dumps(v, ensure_ascii=False)[1:-1] for v in originals], pa.string())
        escaped = pc.replace_with_mask(escaped, control, fixed)
    return escaped


def _concatenated(values: pa.Array) -> bytes:
    """All values of a string array, back to back, straight from its data buffer."""
    if not len(values):
        return b""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset: values.offset + len(values) + 1]
    return values.buffers()[2].to_pybytes()[offsets[0]: offsets[-1]]


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=False, store_schema=False)
    return sink.getvalue().to_pybytes()


WRITERS = {"csv": csv_bytes, "jsonl": jsonl_bytes, "parquet": parquet_bytes}
JSON_CHUNK_ROWS = 100_000


# ---------------------------------------------------------------------------------------------
# Rows written once: a release's CSV and JSON Lines rows that did not change are copied


def csv_row_ends(data: np.ndarray, start: int) -> np.ndarray:
    """Where each CSV row after ``start`` ends (one past its line feed): a line feed outside
    quotes, i.e. with an even number of quote characters before it (a quote inside a value is
    doubled, so quotes come in pairs)."""
    return _row_ends(data, start, quoted=True)


def jsonl_row_ends(data: np.ndarray, start: int) -> np.ndarray:
    """Where each JSON Lines row ends (one past its line feed; a value's line feeds are escaped)."""
    return _row_ends(data, start, quoted=False)


def _row_ends(data: np.ndarray, start: int, quoted: bool, block: int = 1 << 26) -> np.ndarray:
    """The line feeds that end rows, a block at a time (a comparison over the whole file would
    take as many bytes again)."""
    ends, quotes_before = [], 0
    for lo in range(start, len(data), block):
        part = data[lo:lo + block]
        feeds = np.flatnonzero(part == 0x0A)
        if quoted:
            quotes = np.flatnonzero(part == 0x22)
            feeds = feeds[(quotes_before + np.searchsorted(quotes, feeds)) % 2 == 0]
            quotes_before += len(quotes)
        ends.append(lo + feeds + 1)
    return np.concatenate(ends).astype(np.int64) if ends else np.zeros(0, np.int64)


ROWS = {"csv": csv_row_ends, "jsonl": jsonl_row_ends}
ROW_ENDS = "row-ends-"  # + a file's SHA-256 + ".npy": where each of its rows ends (see RowEnds)
# + a Parquet file's SHA-256 + ".ipc": its records (see KeptRecords); not ".arrow", which names
# the change history's entries in the same folder (feeds.read_history)
RECORDS = "records-"
_SHA256 = re.compile(r"[0-9a-f]{64}")  # what a release index says of a file; nothing else names an entry


@dataclass
class RowEnds:
    """Where each row of a release's CSV and JSON Lines files ends, kept in ``folder`` (beside
    the site) under the file's SHA-256, so the next release need not search hundreds of
    megabytes for line feeds to find the rows it copies. Named by content: an entry can only
    describe the file with those bytes, and it is checked against the file's size and row count
    before use."""

    folder: Path | None

    def find(self, sha256: str, rows: int, size: int) -> np.ndarray | None:
        if self.folder is None or not _SHA256.fullmatch(sha256):
            return None
        try:
            ends = np.load(self.folder / f"{ROW_ENDS}{sha256}.npy", allow_pickle=False)
        except (OSError, ValueError):
            return None
        ok = ends.dtype == np.int64 and ends.ndim == 1 and len(ends) == rows and (not rows or int(ends[-1]) == size)
        return ends if ok else None

    def keep(self, sha256: str, ends: np.ndarray) -> None:
        if self.folder is None or not _SHA256.fullmatch(sha256):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        # a name of its own: two files of the same bytes (two empty ones) may be kept at once
        handle, partial = tempfile.mkstemp(prefix=f"{ROW_ENDS}{sha256}.", suffix=".partial", dir=self.folder)
        with os.fdopen(handle, "wb") as f:
            np.save(f, ends.astype(np.int64), allow_pickle=False)
        os.replace(partial, self.folder / f"{ROW_ENDS}{sha256}.npy")

    def only(self, files: list[dict]) -> None:
        """Remove the entries of files other than ``files`` (the newest release's)."""
        _keep_only(self.folder, ROW_ENDS, {f"{ROW_ENDS}{f['sha256']}.npy" for f in files})


@dataclass
class KeptRecords:
    """A release's records per dataset, kept in ``folder`` (beside the site) as uncompressed
    Arrow IPC files named by the SHA-256 of the Parquet file that holds the same values, so the
    next build maps them instead of decoding Parquet: about 2 s of CPU at a million records, in
    every build that compares with the release. Named by content, as :class:`RowEnds` are; an
    entry whose row count or column types do not fit the release index is not used."""

    folder: Path | None

    def find(self, sha256: str, rows: int) -> pa.Table | None:
        if self.folder is None or not _SHA256.fullmatch(sha256):
            return None
        try:
            table = pa.ipc.open_file(pa.memory_map(str(self.folder / f"{RECORDS}{sha256}.ipc"))).read_all()
        except (OSError, pa.ArrowException):
            return None
        ok = table.num_rows == rows and all(t == pa.string() for t in table.schema.types)
        return table if ok else None

    def keep(self, sha256: str, table: pa.Table) -> None:
        """Keep ``table`` as :func:`read_release_table` reads the Parquet file ``sha256`` names."""
        if self.folder is None or not _SHA256.fullmatch(sha256):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        text = pa.table({name: table[name].cast(pa.string()) for name in table.column_names})
        handle, partial = tempfile.mkstemp(prefix=f"{RECORDS}{sha256}.", suffix=".partial", dir=self.folder)
        os.close(handle)
        with pa.OSFile(partial, "wb") as sink, pa.ipc.new_file(sink, text.schema) as writer:
            writer.write_table(text)
        os.replace(partial, self.folder / f"{RECORDS}{sha256}.ipc")

    def only(self, files: list[dict]) -> None:
        """Remove the entries of files other than ``files``."""
        _keep_only(self.folder, RECORDS, {f"{RECORDS}{f['sha256']}.ipc" for f in files})


def _keep_only(folder: Path | None, prefix: str, wanted: set[str]) -> None:
    if folder is None or not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name.startswith(prefix) and path.name not in wanted:
            path.unlink(missing_ok=True)


@dataclass
class Reuse:
    """A dataset's files in the release before, and per record of the new release its row
    there when it did not change (-1 when it is new or changed)."""

    folder: Path
    name: str
    before: pa.Table
    old_rows: np.ndarray
    sha256: dict[str, str] = field(default_factory=dict)  # per format, the earlier file's (from the release index)
    row_ends: RowEnds = field(default_factory=lambda: RowEnds(None))

    def write(self, fmt: str, table: pa.Table, path: Path) -> dict | None:
        """Write ``table`` as ``WRITERS[fmt]`` would, copying the unchanged rows' bytes from the
        release before and making only the others; the file's entry, or None (nothing written)
        when the earlier file is not one row per record as expected."""
        try:  # mapped, not read: only the unchanged rows' pages are copied, by the kernel
            old = np.memmap(self.folder / f"{self.name}.{fmt}", np.uint8, mode="r")
        except (OSError, ValueError):  # missing, or empty (an empty file cannot be mapped)
            return None
        head = _head_length(WRITERS[fmt], table)
        old_ends = self.row_ends.find(self.sha256.get(fmt, ""), self.before.num_rows, len(old))
        if old_ends is None:
            old_ends = ROWS[fmt](old, head)
        if len(old_ends) != self.before.num_rows or (len(old_ends) and old_ends[-1] != len(old)):
            return None
        old_starts = np.r_[head, old_ends[:-1]].astype(np.int64)
        fresh_rows = np.flatnonzero(self.old_rows < 0)
        made = np.frombuffer(WRITERS[fmt](table.take(pa.array(fresh_rows, pa.int64()))), np.uint8)
        made_ends = ROWS[fmt](made, head)
        if len(made_ends) != len(fresh_rows) or not np.array_equal(made[:head], old[:head]):
            return None
        made_starts = np.r_[head, made_ends[:-1]].astype(np.int64)
        # every row's bytes: (source, start, end), source 0 the old file, 1 the rows made now
        source = (self.old_rows < 0).astype(np.int8)
        starts = np.zeros(table.num_rows, np.int64)
        ends = np.zeros(table.num_rows, np.int64)
        kept = self.old_rows >= 0
        starts[kept], ends[kept] = old_starts[self.old_rows[kept]], old_ends[self.old_rows[kept]]
        starts[fresh_rows], ends[fresh_rows] = made_starts, made_ends
        # runs of rows that follow each other in one source become one piece
        breaks = np.flatnonzero((source[1:] != source[:-1]) | (starts[1:] != ends[:-1])) + 1
        firsts, lasts = np.r_[0, breaks], np.r_[breaks, table.num_rows] - 1
        pieces = [(0, 0, head)]
        if table.num_rows:
            pieces += zip(source[firsts].tolist(), starts[firsts].tolist(), ends[lasts].tolist(), strict=True)
        size, sha256 = assemble(path, self.folder / f"{self.name}.{fmt}", (old, made), pieces)
        self.row_ends.keep(sha256, head + np.cumsum(ends - starts))
        return {"path": path.name, "bytes": size, "sha256": sha256}


def assemble(path: Path, old_path: Path, buffers: tuple[np.ndarray, np.ndarray],
             pieces: Iterable[tuple[int, int, int]]) -> tuple[int, str]:
    """Write ``pieces`` one after another into ``path``: (source, start, end), source 0 the
    bytes of ``old_path`` (mapped as ``buffers[0]``), 1 those of ``buffers[1]``; the file's size
    and SHA-256. The old file's pieces are copied by the kernel (``copy_file_range``), page
    cache to page cache: writing them from the mapping faulted every page in on the way, five
    times slower. Where the kernel cannot copy, they are written from the mapping."""
    digest = hashlib.sha256()
    size = 0
    views = tuple(memoryview(b) for b in buffers)
    kernel = hasattr(os, "copy_file_range")
    with open(old_path, "rb", buffering=0) as old, open(path, "wb", buffering=0) as new:
        for source, start, end in pieces:
            piece = views[source][start:end]
            digest.update(piece)
            size += end - start
            done = 0
            if source == 0 and kernel:
                done = _copy_range(old.fileno(), new.fileno(), start, end - start)
                kernel = done == end - start
            _write_all(new, piece[done:])
    return size, digest.hexdigest()


def _copy_range(source: int, target: int, start: int, count: int) -> int:
    """Bytes the kernel copied from ``source`` at ``start`` to ``target``'s position: all
    ``count`` of them, or fewer where it could not (another file system, an old kernel)."""
    done = 0
    try:
        while done < count:
            copied = os.copy_file_range(source, target, count - done, start + done)
            if not copied:
                break
            done += copied
    except OSError:
        pass
    return done


def _write_all(file: io.RawIOBase, data: memoryview) -> None:
    while len(data):
        data = data[file.write(data):]


def _head_length(writer: Callable[[pa.Table], bytes], table: pa.Table) -> int:
    """The bytes a file starts with before its first row (BOM and header)."""
    return len(writer(table.slice(0, 0)))


def read_jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def newest_release_tables(previous: Path | None, names: list[str], kept: KeptRecords | None = None
                          ) -> tuple[str, dict[str, pa.Table | None]]:
    """The newest release in ``previous`` (a site's ``data/`` folder) and its records per
    dataset (from ``kept`` when it has them); without a release, an empty version and None for
    each."""
    earlier = _previous_releases(previous)
    if not earlier:
        return "", dict.fromkeys(names)
    newest = earlier[-1]
    folder = previous / "releases" / newest.version
    sha256 = {f["path"]: f.get("sha256", "") for f in newest.files}
    kept = kept or KeptRecords(None)

    def records(name: str) -> pa.Table:
        found = kept.find(sha256.get(f"{name}.parquet", ""), newest.records.get(name, -1))
        return found if found is not None else read_release_table(folder / f"{name}.parquet")

    return newest.version, {name: records(name) for name in names}


def read_release_table(path: Path) -> pa.Table:
    """A release's dataset, from its Parquet file (exact text, fast)."""
    table = pq.read_table(path)
    return pa.table({name: table[name].cast(pa.string()) for name in table.column_names})


# ---------------------------------------------------------------------------------------------
# Changes


def diff(dataset: Dataset, before: pa.Table | None, after: pa.Table,
         reasons: Callable[[], dict[str, tuple[str, str]]]) -> tuple[dict, np.ndarray | None]:
    """Added, modified and removed records between two versions of a dataset (both sorted by
    record id), with reasons (``reasons()`` gives every record's decision, asked for only when
    a record was removed). Columns are compared whole; only changed records become objects.
    Without an earlier version (the first release) every record is new and listed by id only:
    the release's data files are the records.

    Also, per record of ``after``, its row in ``before`` when every value is the same there
    (else -1): those rows are copied as they were (see :class:`Reuse`). None when the two
    have different columns."""
    if before is None:
        return {"dataset": dataset.name, "added": [{"record_id": i, "reason": "new"} for i in after["record_id"].to_pylist()],
                "modified": [], "removed": []}, None
    old_ids, new_ids = one_array(before["record_id"]), one_array(after["record_id"])
    old_keys, new_keys = hex_id_keys(old_ids), hex_id_keys(new_ids)  # once each, for both questions
    in_old = pa.array(IdIndex(old_ids, old_keys).positions(new_ids, new_keys) >= 0)
    in_new = pa.array(IdIndex(new_ids, new_keys).positions(old_ids, old_keys) >= 0)
    added = [{"record_id": r["record_id"], "reason": "new", "record": r} for r in after.filter(pc.invert(in_old)).to_pylist()]
    gone = old_ids.filter(pc.invert(in_new)).to_pylist()
    decided = reasons() if gone else {}
    removed = [{"record_id": i, "reason": removal_reason(decided.get(i))} for i in gone]
    old, new = _matched(before, after, _mask(in_new), _mask(in_old))
    changed_any = np.zeros(new.num_rows, dtype=bool)
    same = np.ones(new.num_rows, dtype=bool)  # every value equal, none missing
    changed_by_column = {}
    for name in after.column_names:
        old_values = old[name] if name in old.column_names else pa.array([""] * old.num_rows, pa.string())
        equal = pc.equal(old_values, new[name])
        mask = pc.invert(equal).to_numpy(zero_copy_only=False)
        same &= pc.fill_null(equal, False).to_numpy(zero_copy_only=False)
        if mask.any():
            changed_by_column[name] = mask
            changed_any |= mask
    old_rows = None
    if before.column_names == after.column_names:
        old_rows = np.full(after.num_rows, -1, np.int64)
        new_at, old_at = np.flatnonzero(_mask(in_old)), np.flatnonzero(_mask(in_new))
        old_rows[new_at[same]] = old_at[same]
    modified = []
    for i in np.flatnonzero(changed_any).tolist():
        fields = {name: [(old[name][i].as_py() if name in old.column_names else ""), new[name][i].as_py()]
                  for name, mask in changed_by_column.items() if mask[i]}
        modified.append({"record_id": new["record_id"][i].as_py(), "reason": modification_reason(fields), "fields": fields})
    return {"dataset": dataset.name, "added": added, "modified": modified, "removed": removed}, old_rows


def _matched(before: pa.Table, after: pa.Table, in_new: np.ndarray, in_old: np.ndarray) -> tuple[pa.Table, pa.Table]:
    """The rows of ``before`` whose record is in ``after`` and those of ``after`` whose record is
    in ``before``, row for row (both are in record-id order): as slices of each, in runs, not
    copies, since most rows of a release are the ones of the release before."""
    old_at, new_at = np.flatnonzero(in_new), np.flatnonzero(in_old)
    breaks = np.flatnonzero((np.diff(old_at) != 1) | (np.diff(new_at) != 1)) + 1
    starts = np.r_[0, breaks].astype(np.int64) if len(old_at) else np.zeros(0, np.int64)
    lengths = np.diff(np.r_[starts, len(old_at)])
    if len(starts) > MATCHED_RUNS:  # many scattered changes: one copy of each is cheaper
        return before.filter(pa.array(in_new)), after.filter(pa.array(in_old))
    runs = list(zip(old_at[starts].tolist(), new_at[starts].tolist(), lengths.tolist(), strict=True))
    old = pa.concat_tables([before.slice(a, n) for a, _, n in runs]) if runs else before.slice(0, 0)
    new = pa.concat_tables([after.slice(b, n) for _, b, n in runs]) if runs else after.slice(0, 0)
    return old, new


MATCHED_RUNS = 20_000


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False).astype(bool)


def removal_reason(decision: tuple[str, str] | None) -> str:
    if decision is None:  # the record left the approved source
        return "revoked"
    reason, removal = decision
    if reason == "removed":
        return "expired" if removal == "期满" else "revoked"
    return REMOVAL_REASON.get(reason, "revoked")


def modification_reason(changed: dict[str, list[str]]) -> str:
    if "objection_status" in changed or "under_objection" in changed:
        return "objection"
    if "repair_date" in changed:
        return "repaired"
    if "revoked_date" in changed:
        return "revoked"
    if set(changed) <= {"disclosure_status", "display_until"}:
        return "expired"
    return "corrected"


def replay(columns: list[str], before: list[dict], changes: dict) -> list[dict]:
    """Apply a release's change file to the previous release's records: the result is the
    release's records."""
    rows = {r["record_id"]: dict(r) for r in before}
    for entry in changes["removed"]:
        del rows[entry["record_id"]]
    for entry in changes["modified"]:
        for name, (_, value) in entry["fields"].items():
            rows[entry["record_id"]][name] = value
    for entry in changes["added"]:
        rows[entry["record_id"]] = dict(entry["record"])
    return [{c: rows[k].get(c, "") for c in columns} for k in sorted(rows)]


def changes_csv(changes: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["dataset", "record_id", "change", "reason", "field", "old", "new"])
    for c in changes:
        for e in c["added"]:
            writer.writerow([c["dataset"], e["record_id"], "added", e["reason"], "", "", ""])
        for e in c["modified"]:
            for name, (old, new) in e["fields"].items():
                writer.writerow([c["dataset"], e["record_id"], "modified", e["reason"], name, neutralise(old), neutralise(new)])
        for e in c["removed"]:
            writer.writerow([c["dataset"], e["record_id"], "removed", e["reason"], "", "", ""])
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


# ---------------------------------------------------------------------------------------------
# Releases


def build_open_data(decisions: dict[str, Decisions], provenance: dict[str, Provenance], as_of: date,
                    previous: Path | None, target: Path, site_name: str,
                    published: dict[str, pa.Table] | None = None, link_earlier: bool = False,
                    written_by: dict | None = None, row_ends: Path | None = None,
                    newest: tuple[str, dict[str, pa.Table | None]] | None = None) -> OpenData:
    """Write ``target`` (the site's ``data/`` folder): earlier releases copied forward (or, for
    an incremental build that leaves them where they are, linked), a new release if anything
    changed, ``latest/``, ``releases/index.json`` and the catalog. ``written_by`` says which code
    wrote the files of the newest release in ``previous`` (see :attr:`OpenData.written_by`);
    ``row_ends`` is a folder kept between builds for the rows' places in its files and its
    records (see :class:`RowEnds`, :class:`KeptRecords`); ``newest`` is what :func:`newest_release_tables` read from ``previous``
    already (used when its version is still the newest)."""
    ends, kept = RowEnds(row_ends), KeptRecords(row_ends)
    earlier = _previous_releases(previous)
    if earlier and as_of.isoformat() < earlier[-1].date:
        raise BuildError(f"发布日期 {as_of.isoformat()} 早于已发布的最新版本 {earlier[-1].version}：版本只能向前。"
                         "请用不早于该版本的 --as-of，或用 --out/--previous 指向另一个网站目录。")
    releases_dir = target / "releases"
    releases_dir.mkdir(parents=True, exist_ok=True)
    for release in earlier:
        if link_earlier:
            (releases_dir / release.version).symlink_to((previous / "releases" / release.version).resolve(), True)
        else:
            shutil.copytree(previous / "releases" / release.version, releases_dir / release.version, copy_function=link_or_copy)
    current = published if published is not None else {name: published_table(d) for name, d in decisions.items()}
    if earlier and newest is not None and newest[0] == earlier[-1].version and set(newest[1]) >= set(decisions):
        before = {name: newest[1][name] for name in decisions}
    else:
        before = newest_release_tables(previous, list(decisions), kept)[1]
    compared = {name: diff(d.dataset, before[name], current[name], functools.partial(decision_reasons, d))
                for name, d in decisions.items()}
    changes = [change for change, _ in compared.values()]
    made = not earlier or any(c["added"] or c["modified"] or c["removed"] for c in changes)
    same_writer = bool(earlier) and written_by == {"version": earlier[-1].version, "writer": writer_fingerprint()}
    result = OpenData(list(earlier), made, written_by=written_by if same_writer else None,
                      unchanged={name: old_rows for name, (_, old_rows) in compared.items() if old_rows is not None},
                      compared_with=earlier[-1].version if earlier else "")
    if made:
        version = next_version(as_of, earlier)
        result.written_by = {"version": version, "writer": writer_fingerprint()}
        # rows that did not change are copied from the release before, not written again, when
        # this code wrote it (other code may have encoded them otherwise)
        known = {f["path"]: f.get("sha256", "") for f in earlier[-1].files} if earlier else {}
        reuse = {name: Reuse(previous / "releases" / earlier[-1].version, name, before[name], old_rows,
                             {fmt: known.get(f"{name}.{fmt}", "") for fmt in ROWS}, ends)
                 for name, (_, old_rows) in compared.items() if old_rows is not None and same_writer}
        if earlier:
            result.fresh = {name: current[name].filter(pa.array(reuse[name].old_rows < 0)) if name in reuse else current[name]
                            for name in decisions}
        result.releases.append(_write_release(releases_dir / version, version, as_of, decisions, current, changes,
                                              provenance, site_name, reuse, ends, kept))
    latest = result.releases[-1]
    # the newest release's entries, and the one before (still the published one if this build fails)
    for cache in (ends, kept):
        cache.only([*latest.files, *(earlier[-1].files if earlier else [])])
    shutil.copytree(releases_dir / latest.version, target / "latest", copy_function=link_or_copy)
    (releases_dir / "index.json").write_text(
        json.dumps({"latest": latest.version, "releases": [r.to_dict() for r in result.releases]}, ensure_ascii=False,
                   indent=1) + "\n", encoding="utf-8")
    return result


@functools.cache
def writer_fingerprint() -> str:
    """What the release files' bytes depend on besides the records: the code that encodes them
    and the Arrow that writes them."""
    h = hashlib.sha256(f"pyarrow {pa.__version__}\n".encode())
    for module in (Path(__file__), Path(__file__).parent.parent / "normalize.py"):
        h.update(module.read_bytes())
    return h.hexdigest()[:32]


def link_or_copy(source: str, target: str) -> str:
    """Files are never changed in place once written, so an identical file (a release copied
    forward, ``latest/``) can be a second name for the same bytes: no copying on one disk."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
    return target


def next_version(as_of: date, earlier: list[Release]) -> str:
    """The build date and a sequence number for that date: 2026-11-20.1, 2026-11-20.2, …"""
    same_day = [r for r in earlier if r.date == as_of.isoformat()]
    return f"{as_of.isoformat()}.{len(same_day) + 1}"


def _previous_releases(previous: Path | None) -> list[Release]:
    if previous is None or not (previous / "releases" / "index.json").is_file():
        return []
    index = json.loads((previous / "releases" / "index.json").read_text(encoding="utf-8"))
    return [Release(r["version"], r["date"], r["records"], r["changes"], r["files"]) for r in index["releases"]]


def _write_release(folder: Path, version: str, as_of: date, decisions: dict[str, Decisions],
                   current: dict[str, pa.Table], changes: list[dict], provenance: dict[str, Provenance],
                   site_name: str, reuse: dict[str, Reuse] | None = None, row_ends: RowEnds | None = None,
                   kept: KeptRecords | None = None) -> Release:
    folder.mkdir(parents=True)
    files: list[dict] = []
    resources = []
    jobs = [(name, d.dataset, fmt) for name, d in decisions.items() for fmt in FORMATS]

    def write(job: tuple[str, Dataset, str]) -> dict:
        name, _, fmt = job
        path = folder / f"{name}.{fmt}"
        if reuse and name in reuse and fmt in ROWS:
            written = reuse[name].write(fmt, current[name], path)
            if written is not None:
                return written
        data = WRITERS[fmt](current[name])
        path.write_bytes(data)
        entry = _file_entry(f"{name}.{fmt}", data)
        if row_ends is not None and row_ends.folder is not None and fmt in ROWS:
            bytes_ = np.frombuffer(data, np.uint8)
            row_ends.keep(entry["sha256"], ROWS[fmt](bytes_, _head_length(WRITERS[fmt], current[name])))
        if kept is not None and fmt == "parquet":
            kept.keep(entry["sha256"], current[name])
        return entry

    # Arrow's kernels, the Parquet writer, file writes and SHA-256 let go of the GIL: the
    # twelve files are made on threads, listed in a fixed order
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        written = list(pool.map(write, jobs))
    for (name, dataset, fmt), entry in zip(jobs, written, strict=True):
        files.append(entry)
        if fmt != "jsonl" or current[name].num_rows:
            # frictionless cannot read an empty JSON Lines file, so a dataset without records
            # lists no JSON Lines resource; the empty file is still there and in SHA256SUMS
            resources.append(_resource(dataset, fmt, entry))
    for path, data in (("changes.json", (json.dumps(changes, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")),
                       ("changes.csv", changes_csv(changes))):
        (folder / path).write_bytes(data)
        files.append(_file_entry(path, data))
    package = {
        "$schema": "https://datapackage.org/profiles/2.0/datapackage.json",
        "name": "gongshi-public-credit-disclosures",
        "title": f"{site_name}：行政许可、行政处罚、守信激励名单与严重失信主体名单",
        "version": version,
        "created": f"{as_of.isoformat()}T00:00:00+08:00",
        "licenses": [LICENSE],
        "sources": [{"title": f"{p.submitting_unit}（{p.file}）", "path": p.file, "submitting_unit_uscc": p.submitting_unit_uscc,
                     "authority": p.authority, "submitted_at": p.submitted_at, "approved_by": p.approved_by,
                     "approved_at": p.approved_at} for p in sorted(provenance.values(), key=lambda p: p.file)],
        "contributors": sorted({p.authority: {"title": p.authority, "roles": ["publisher"]}
                                for p in provenance.values()}.values(), key=lambda c: c["title"]),
        "resources": resources,
    }
    data = (json.dumps(package, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    (folder / "datapackage.json").write_bytes(data)
    files.append(_file_entry("datapackage.json", data))
    sums = "".join(f"{f['sha256']}  {f['path']}\n" for f in sorted(files, key=lambda f: f["path"]))
    (folder / "SHA256SUMS").write_text(sums, encoding="utf-8")
    counts = {c["dataset"]: {k: len(c[k]) for k in ("added", "modified", "removed")} for c in changes}
    return Release(version, as_of.isoformat(), {n: t.num_rows for n, t in current.items()}, counts,
                   sorted(files, key=lambda f: f["path"]))


def _file_entry(path: str, data: bytes) -> dict:
    return {"path": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _resource(dataset: Dataset, fmt: str, file: dict) -> dict:
    resource = {"name": f"{dataset.name}-{fmt}", "title": f"{dataset.title}（{fmt.upper()}）", "path": file["path"],
                "format": fmt, "mediatype": MEDIATYPES[fmt]}
    if fmt == "parquet":
        # frictionless cannot count a Parquet file's bytes, so it could never verify them: the
        # size and digest are given here (and in SHA256SUMS) for people and other tools
        resource["checksum"] = {"bytes": file["bytes"], "sha256": file["sha256"]}
    else:
        resource.update(encoding="utf-8-sig" if fmt == "csv" else "utf-8", bytes=file["bytes"], hash=f"sha256:{file['sha256']}")
    resource["schema"] = release_schema(dataset, text_only=fmt != "csv")
    return resource


def release_schema(dataset: Dataset, text_only: bool = False) -> dict:
    """The dataset's Table Schema for a release: the published fields (no dropped ones) plus the
    record id and the publication decision. ``text_only`` types everything as string (JSON Lines
    and Parquet carry text)."""
    fields = [{"name": "record_id", "title": "记录标识", "type": "string", "constraints": {"required": True, "unique": True},
               "description": "稳定的记录标识：数据集、决定机关代码、文书号和行政相对人的哈希，跨版本不变。"}]
    for f in dataset.descriptor["fields"]:
        if f.get("privacy") == "drop":
            continue
        entry = {k: v for k, v in f.items() if k in ("name", "title", "type", "format", "description", "constraints",
                                                      "delimiter", "itemType")}
        if f.get("code"):
            entry["code"] = f["code"]
        if f.get("privacy") == "mask":
            entry["description"] += "（已遮蔽）"
        fields.append(entry)
    fields += [
        {"name": "display_until", "title": "公示截止日", "type": "date", "format": "%Y-%m-%d",
         "description": "本条记录公示的最后一天；空白表示没有截止日。"},
        {"name": "disclosure_status", "title": "公示状态", "type": "string",
         "constraints": {"enum": ["displayed", "in_force", "licence_history", "listed"]},
         "description": "displayed 公示期内、in_force 许可有效、licence_history 历史许可、listed 在列。"},
        {"name": "under_objection", "title": "异议处理中", "type": "boolean", "description": "记录是否正在异议处理中。"},
    ]
    if text_only:
        for f in fields:
            f["type"] = "string"
            f.pop("format", None)
            f.pop("delimiter", None)
            f.pop("itemType", None)
            constraints = {k: v for k, v in f.get("constraints", {}).items() if k in ("required", "enum", "unique")}
            if f["name"] == "under_objection":
                constraints["enum"] = ["true", "false"]
            if constraints:
                f["constraints"] = constraints
            else:
                f.pop("constraints", None)
    return {"fields": fields, "missingValues": [""], "primaryKey": ["record_id"]}


# ---------------------------------------------------------------------------------------------
# Catalog


def catalog(open_data: OpenData, datasets: list[Dataset], base: str, site_name: str) -> dict:
    """A DCAT-AP catalog (JSON-LD) of the four datasets and their latest distributions. URLs are
    absolute when the site's URL is configured, else relative to the catalog."""
    latest = open_data.releases[-1]
    files = {f["path"]: f for f in latest.files}
    entries = []
    for d in datasets:
        distributions = []
        for fmt in FORMATS:
            f = files[f"{d.name}.{fmt}"]
            url = f"{base}latest/{d.name}.{fmt}"
            distributions.append({
                "@type": "dcat:Distribution", "dct:title": f"{d.title}（{fmt.upper()}）", "dcat:accessURL": {"@id": url},
                "dcat:downloadURL": {"@id": url}, "dcat:mediaType": MEDIATYPES[fmt], "dcat:byteSize": f["bytes"],
                "spdx:checksum": {"@type": "spdx:Checksum", "spdx:algorithm": {"@id": "spdx:checksumAlgorithm_sha256"},
                                  "spdx:checksumValue": f["sha256"]},
                "dct:license": {"@id": LICENSE["path"]}, "dct:conformsTo": {"@id": f"{base}latest/datapackage.json"},
            })
        entries.append({"@type": "dcat:Dataset", "dct:identifier": d.name, "dct:title": d.title, "dct:description": d.description,
                        "dct:modified": latest.date, "dcat:keyword": ["公共信用信息", "双公示", d.title],
                        "dct:language": {"@id": "http://publications.europa.eu/resource/authority/language/ZHO"},
                        "dcat:distribution": distributions})
    return {
        "@context": {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
                     "foaf": "http://xmlns.com/foaf/0.1/", "spdx": "http://spdx.org/rdf/terms#"},
        "@id": f"{base}catalog.jsonld", "@type": "dcat:Catalog", "dct:title": site_name,
        "dct:description": "行政许可、行政处罚、守信激励名单与严重失信主体名单的开放数据。",
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": site_name}, "dct:license": {"@id": LICENSE["path"]},
        "dct:modified": latest.date, "dcat:dataset": entries,
    }


def schema_org(open_data: OpenData, dataset: Dataset, base: str) -> dict:
    """schema.org Dataset JSON-LD for a page about ``dataset``."""
    latest = open_data.releases[-1]
    files = {f["path"]: f for f in latest.files}
    return {
        "@context": "https://schema.org", "@type": "Dataset", "name": dataset.title, "description": dataset.description,
        "identifier": dataset.name, "license": LICENSE["path"], "dateModified": latest.date, "version": latest.version,
        "inLanguage": "zh-CN", "isAccessibleForFree": True,
        "distribution": [{"@type": "DataDownload", "encodingFormat": MEDIATYPES[fmt],
                          "contentUrl": f"{base}latest/{dataset.name}.{fmt}",
                          "contentSize": str(files[f"{dataset.name}.{fmt}"]["bytes"])} for fmt in FORMATS],
    }
