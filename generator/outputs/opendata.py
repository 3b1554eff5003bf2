"""Open data: versioned Frictionless data packages, change files between versions, a catalog.

Every build that changes what is published makes a release under ``data/releases/<version>/``:

    datapackage.json              Data Package v2: one resource per dataset, month and format
    schemas/<dataset>.json        the Table Schema of the CSV files (typed)
    schemas/<dataset>.text.json   the same fields as text, for the JSON Lines and Parquet files
    <dataset>/<YYYY-MM>.csv       the records decided (lists: listed) that month; UTF-8 with BOM
                                  (Excel reads it as UTF-8), formula cells neutralised
    <dataset>/<YYYY-MM>.jsonl     one record per line, the same values
    <dataset>/<YYYY-MM>.parquet   the same values, typed as text, zstd-compressed
    changes.json                  added, modified (field: [old, new]) and removed records, each with a reason
    changes.csv                   the same, one line per record and changed field
    SHA256SUMS                    every file's SHA-256

A month's files hold its records in record-id order. A release is split by month so that a
version costs what changed: a month whose records are all as they were keeps the release
before's files (hard links on one disk), and a mirror downloads only the files whose SHA-256
changed; one file per dataset meant 1.3 GB of new files per version at a million records.

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
from collections.abc import Callable, Iterable
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
from ..incremental import keep_table
from ..normalize import IdIndex, hex_id_keys, one_array, string_buffers
from ..provenance import Provenance
from ..schema import Dataset, load_dataset
from ..subjects import record_ids
from ..threads import side_by_side, take_rows

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
        """The release's entry in ``releases/index.json``: its files beside the data (the data
        files, one per dataset, month and format, are listed in its ``datapackage.json`` and
        ``SHA256SUMS``: hundreds per release)."""
        return {"version": self.version, "date": self.date, "path": f"releases/{self.version}/",
                "datapackage": f"releases/{self.version}/datapackage.json", "records": self.records,
                "changes": self.changes, "files": [f for f in self.files if "/" not in f["path"]]}


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
# Shards: a dataset's records in one file per month of their decision (or listing) date


UNDATED = "undated"  # the month (shard, listing) of a record whose date is not a date (validation lets none through)
# + the SHA-256 of a dataset's records in a release (records_key) + ".ipc": those records (see
# KeptRecords); not ".arrow", which names the change history's entries in the same folder
# (feeds.read_history)
RECORDS = "records-"
LEGACY_CACHE = ("row-ends-",)  # entries earlier code kept in the same folder
_SHA256 = re.compile(r"[0-9a-f]{64}")  # what a release says of a file; nothing else names an entry


def month_name(month: str) -> str:
    """A month as people read it (``2026-11`` → 2026 年 11 月), for the release's resources and the
    listings."""
    return "日期不详" if month == UNDATED else f"{month[:4]} 年 {int(month[5:7])} 月"


def record_months(dataset: Dataset, table: pa.Table) -> pa.Array:
    """Per record, the month whose shard holds it: ``YYYY-MM`` of its decision date (the listing
    date for the lists); :data:`UNDATED` when that is not a date."""
    if not table.num_rows:
        return pa.array([], pa.string())
    dates = pc.fill_null(one_array(table[dataset.decision_date_field]), "")
    dated = pc.match_substring_regex(dates, pattern=r"^\d{4}-\d{2}-\d{2}$")
    return pc.if_else(dated, pc.utf8_slice_codeunits(dates, 0, 7), UNDATED)


@dataclass
class Shards:
    """A dataset's records by month: the months in order and, for each, its rows of the table
    (in the table's order, record-id order for a release)."""

    months: list[str]
    rows: list[np.ndarray]

    @classmethod
    def of(cls, dataset: Dataset, table: pa.Table) -> Shards:
        labels = record_months(dataset, table).dictionary_encode()
        names = labels.dictionary.to_pylist()
        ranks = np.argsort(np.argsort(np.array(names, dtype=object), kind="stable"), kind="stable")
        codes = ranks[labels.indices.to_numpy(zero_copy_only=False)] if len(names) else np.zeros(0, np.int64)
        order = np.argsort(codes, kind="stable")
        counts = np.bincount(codes, minlength=len(names))
        return cls(sorted(names), np.split(order, np.cumsum(counts)[:-1]) if len(names) else [])

    def counts(self) -> dict[str, int]:
        return {month: len(rows) for month, rows in zip(self.months, self.rows, strict=True)}


def shard_path(name: str, month: str, fmt: str) -> str:
    """A shard's file in its release: ``<dataset>/<YYYY-MM>.<format>``."""
    return f"{name}/{month}.{fmt}"


def schema_path(name: str, fmt: str) -> str:
    """The Table Schema a release's resources of ``fmt`` refer to: typed for CSV, text for the
    others (JSON Lines and Parquet carry text)."""
    return f"schemas/{name}.json" if fmt == "csv" else f"schemas/{name}.text.json"


def records_key(files: list[dict], name: str) -> str:
    """One SHA-256 for a dataset's records in a release: of its Parquet shards' digests in path
    order (for a release of one file per dataset, that file's digest); "" when it has none."""
    found = {f["path"]: f.get("sha256", "") for f in files}
    if f"{name}.parquet" in found:
        return found[f"{name}.parquet"]
    digests = [sha for path, sha in sorted(found.items()) if path.startswith(f"{name}/") and path.endswith(".parquet")]
    return hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest() if digests else ""


@dataclass
class KeptRecords:
    """A release's records per dataset, kept in ``folder`` (beside the site) as uncompressed
    Arrow IPC files named by :func:`records_key`, so the next build maps them instead of
    decoding Parquet: about 2 s of CPU at a million records, in every build that compares with
    the release. Named by content: an entry can only hold the records of the files with those
    digests, and one whose row count or column types do not fit the release index is not used."""

    folder: Path | None

    def find(self, key: str, rows: int) -> pa.Table | None:
        if self.folder is None or not _SHA256.fullmatch(key):
            return None
        try:
            table = pa.ipc.open_file(pa.memory_map(str(self.folder / f"{RECORDS}{key}.ipc"))).read_all()
        except (OSError, pa.ArrowException):
            return None
        ok = table.num_rows == rows and all(t == pa.string() for t in table.schema.types)
        return table if ok else None

    def keep(self, key: str, table: pa.Table) -> None:
        """Keep ``table`` as :func:`read_release_records` reads the files ``key`` names."""
        if self.folder is None or not _SHA256.fullmatch(key) or self.find(key, table.num_rows) is not None:
            return  # (named by content: an entry that is there holds these records)
        keep_table(pa.table({name: table[name].cast(pa.string()) for name in table.column_names}),
                   self.folder / f"{RECORDS}{key}.ipc")

    def only(self, keys: Iterable[str]) -> None:
        """Remove the entries other than ``keys`` (and what earlier code kept here)."""
        if self.folder is None or not self.folder.is_dir():
            return
        wanted = {f"{RECORDS}{key}.ipc" for key in keys}
        for path in self.folder.iterdir():
            if (path.name.startswith(RECORDS) and path.name not in wanted) or path.name.startswith(LEGACY_CACHE):
                path.unlink(missing_ok=True)


def read_jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def newest_release_tables(previous: Path | None, names: list[str], kept: KeptRecords | None = None
                          ) -> tuple[str, dict[str, pa.Table | None]]:
    """The newest release in ``previous`` (a site's ``data/`` folder) and its records per
    dataset, in record-id order (from ``kept`` when it has them); without a release, an empty
    version and None for each."""
    earlier = _previous_releases(previous)
    if not earlier:
        return "", dict.fromkeys(names)
    newest = earlier[-1]
    folder = previous / "releases" / newest.version
    kept = kept or KeptRecords(None)

    def records(name: str) -> pa.Table:
        if newest.records.get(name) == 0:
            return _no_records(name)
        found = kept.find(records_key(newest.files, name), newest.records.get(name, -1))
        return found if found is not None else read_release_records(folder, name)

    return newest.version, {name: records(name) for name in names}


def read_release_records(folder: Path, name: str) -> pa.Table:
    """A dataset's records in the release in ``folder`` (its Parquet files: exact text, fast), in
    record-id order: from its shards, or from its one file in a release made before shards."""
    paths = release_parquet_files(folder, name)
    if not paths:
        return _no_records(name)
    table = pa.concat_tables([read_release_table(path) for path in paths])
    return table if len(paths) == 1 else table.take(pa.array(id_order(one_array(table["record_id"]))))


def release_parquet_files(folder: Path, name: str) -> list[Path]:
    """A dataset's Parquet files in the release in ``folder``: its months' (in month order), or
    its one file in a release made before releases were split by month."""
    whole = folder / f"{name}.parquet"
    return [whole] if whole.is_file() else sorted((folder / name).glob("*.parquet"))


def _no_records(name: str) -> pa.Table:
    return pa.table({column: pa.array([], pa.string()) for column in public_columns(load_dataset(name))})


def read_release_table(path: Path) -> pa.Table:
    """A release's file of records, from its Parquet file, every column as text."""
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
                    written_by: dict | None = None, records_cache: Path | None = None,
                    newest: tuple[str, dict[str, pa.Table | None]] | None = None) -> OpenData:
    """Write ``target`` (the site's ``data/`` folder): earlier releases copied forward (or, for
    an incremental build that leaves them where they are, linked), a new release if anything
    changed, ``latest/``, ``releases/index.json`` and the catalog. ``written_by`` says which code
    wrote the files of the newest release in ``previous`` (see :attr:`OpenData.written_by`);
    ``records_cache`` is a folder kept between builds for the releases' records (see
    :class:`KeptRecords`); ``newest`` is what :func:`newest_release_tables` read from
    ``previous`` already (used when its version is still the newest)."""
    kept = KeptRecords(records_cache)
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
        if earlier:
            result.fresh = {name: current[name].filter(pa.array(old_rows < 0)) if old_rows is not None else current[name]
                            for name, (_, old_rows) in compared.items()}
        # a month whose records are all as they were keeps its files: the release before's,
        # linked, when this code wrote them (other code may have encoded them otherwise)
        reuse = Reuse(previous / "releases" / earlier[-1].version, earlier[-1].files, before, result.unchanged) \
            if same_writer else None
        release = _write_release(releases_dir / version, version, as_of, decisions, current, changes, provenance,
                                 site_name, reuse)
        result.releases.append(release)
    latest = result.releases[-1]
    # the newest release's records, and the one before's (still the published one if this build fails)
    kept.only(records_key(r.files, name) for r in (latest, *earlier[-1:]) for name in decisions)
    shutil.copytree(releases_dir / latest.version, target / "latest", copy_function=link_or_copy)
    (releases_dir / "index.json").write_text(
        json.dumps({"latest": latest.version, "releases": [r.to_dict() for r in result.releases]}, ensure_ascii=False,
                   indent=1) + "\n", encoding="utf-8")
    return result


def keep_records(records_cache: Path | None, release: Release, tables: dict[str, pa.Table]) -> None:
    """Keep the records of ``release`` (a release :func:`build_open_data` made from ``tables``,
    the published records) in ``records_cache`` for the next build (see :class:`KeptRecords`):
    about half a second of writing at a million records, done beside the build."""
    kept = KeptRecords(records_cache)
    for name, table in tables.items():
        kept.keep(records_key(release.files, name), table)


@dataclass
class Reuse:
    """The release before this build's, when this code wrote it: its folder and files, its
    records per dataset, and per record published now its row there when every value is the
    same (-1 when it is new or changed)."""

    folder: Path
    files: list[dict]
    before: dict[str, pa.Table | None]
    unchanged: dict[str, np.ndarray]

    def months(self, dataset: Dataset, shards: Shards) -> set[str]:
        """The months of ``dataset`` whose files can be linked: every record of the month is
        as it was, none left, and the release before has the month's three files."""
        name = dataset.name
        old_rows, before = self.unchanged.get(name), self.before.get(name)
        if old_rows is None or before is None:
            return set()
        have = {f["path"] for f in self.files}
        old_counts = Shards.of(dataset, before).counts()
        return {month for month, rows in zip(shards.months, shards.rows, strict=True)
                if len(rows) == old_counts.get(month, -1) and bool((old_rows[rows] >= 0).all())
                and all(shard_path(name, month, fmt) in have for fmt in FORMATS)}


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
    forward, ``latest/``, a month's shard kept by the next release) can be a second name for
    the same bytes: no copying on one disk."""
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
    """The releases in ``previous`` (a site's ``data/`` folder), oldest first; the newest with
    all its files (read from its SHA256SUMS), the others with the files the index lists."""
    if previous is None or not (previous / "releases" / "index.json").is_file():
        return []
    index = json.loads((previous / "releases" / "index.json").read_text(encoding="utf-8"))
    releases = [Release(r["version"], r["date"], r["records"], r["changes"], r["files"]) for r in index["releases"]]
    if releases:
        releases[-1].files = release_files(previous / "releases" / releases[-1].version, releases[-1].files)
    return releases


def release_files(folder: Path, listed: list[dict]) -> list[dict]:
    """Every file of the release in ``folder`` (path, bytes, SHA-256) from its SHA256SUMS, which
    lists them all (the index lists only those beside the data files); ``listed`` when it has
    none."""
    try:
        lines = (folder / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    except OSError:
        return listed
    files = []
    for line in lines:
        digest, _, path = line.partition("  ")
        try:
            files.append({"path": path, "bytes": (folder / path).stat().st_size, "sha256": digest})
        except OSError:
            return listed
    return files


def _write_release(folder: Path, version: str, as_of: date, decisions: dict[str, Decisions],
                   current: dict[str, pa.Table], changes: list[dict], provenance: dict[str, Provenance],
                   site_name: str, reuse: Reuse | None = None) -> Release:
    folder.mkdir(parents=True)
    entries: dict[str, dict] = {}
    resources = []
    jobs = []  # (dataset name, month, its rows): the months written now
    kept_from = {f["path"]: f for f in reuse.files} if reuse else {}
    shards = {name: Shards.of(d.dataset, current[name]) for name, d in decisions.items()}
    for name, d in decisions.items():
        (folder / name).mkdir()
        linked = reuse.months(d.dataset, shards[name]) if reuse else set()
        for month, rows in zip(shards[name].months, shards[name].rows, strict=True):
            if month in linked:
                for fmt in FORMATS:
                    path = shard_path(name, month, fmt)
                    link_or_copy(str(reuse.folder / path), str(folder / path))
                    entries[path] = kept_from[path]
            else:
                jobs.append((name, month, rows))

    def write(job: tuple[str, str, np.ndarray]) -> list[dict]:
        name, month, rows = job
        records = take_rows(current[name], pa.array(rows)) if len(rows) < current[name].num_rows else current[name]
        made = []
        for fmt in FORMATS:
            data = WRITERS[fmt](records)
            path = shard_path(name, month, fmt)
            (folder / path).write_bytes(data)
            made.append(_file_entry(path, data))
        return made

    # Arrow's kernels, the Parquet writer, file writes and SHA-256 let go of the GIL: the
    # months are written on threads, the largest first, and listed in a fixed order
    jobs.sort(key=lambda job: -len(job[2]))
    for made in side_by_side(write, jobs, most=2):
        entries.update((entry["path"], entry) for entry in made)
    (folder / "schemas").mkdir()
    for name, d in decisions.items():
        for fmt in ("csv", "jsonl"):
            data = (json.dumps(release_schema(d.dataset, text_only=fmt != "csv"), ensure_ascii=False, indent=1) + "\n").encode("utf-8")
            (folder / schema_path(name, fmt)).write_bytes(data)
            entries[schema_path(name, fmt)] = _file_entry(schema_path(name, fmt), data)
        for month in shards[name].months:
            resources += [_resource(d.dataset, month, fmt, entries[shard_path(name, month, fmt)]) for fmt in FORMATS]
    for path, data in (("changes.json", (json.dumps(changes, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")),
                       ("changes.csv", changes_csv(changes))):
        (folder / path).write_bytes(data)
        entries[path] = _file_entry(path, data)
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
    entries["datapackage.json"] = _file_entry("datapackage.json", data)
    files = sorted(entries.values(), key=lambda f: f["path"])
    (folder / "SHA256SUMS").write_text("".join(f"{f['sha256']}  {f['path']}\n" for f in files), encoding="utf-8")
    counts = {c["dataset"]: {k: len(c[k]) for k in ("added", "modified", "removed")} for c in changes}
    return Release(version, as_of.isoformat(), {n: t.num_rows for n, t in current.items()}, counts, files)


def _file_entry(path: str, data: bytes) -> dict:
    return {"path": path, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _resource(dataset: Dataset, month: str, fmt: str, file: dict) -> dict:
    resource = {"name": f"{dataset.name}-{month}-{fmt}", "title": f"{dataset.title}，{month_name(month)}（{fmt.upper()}）",
                "path": file["path"], "format": fmt, "mediatype": MEDIATYPES[fmt]}
    if fmt == "parquet":
        # frictionless cannot count a Parquet file's bytes, so it could never verify them: the
        # size and digest are given here (and in SHA256SUMS) for people and other tools
        resource["checksum"] = {"bytes": file["bytes"], "sha256": file["sha256"]}
    else:
        resource.update(encoding="utf-8-sig" if fmt == "csv" else "utf-8", bytes=file["bytes"], hash=f"sha256:{file['sha256']}")
    resource["schema"] = schema_path(dataset.name, fmt)
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


def month_files(files: list[dict], name: str) -> list[tuple[str, dict[str, dict]]]:
    """A dataset's months in a release, newest first, each with its file per format."""
    found: dict[str, dict[str, dict]] = {}
    for f in files:
        folder, _, file = f["path"].partition("/")
        month, _, fmt = file.rpartition(".")
        if folder == name and fmt in FORMATS:
            found.setdefault(month, {})[fmt] = f
    return sorted(found.items(), reverse=True)


def catalog(open_data: OpenData, datasets: list[Dataset], base: str, site_name: str) -> dict:
    """A DCAT-AP catalog (JSON-LD) of the four datasets and their latest distributions: the
    data package, and per format the month files it lists (sizes and SHA-256 there). URLs are
    absolute when the site's URL is configured, else relative to the catalog."""
    latest = open_data.releases[-1]
    package = f"{base}latest/datapackage.json"
    entries = []
    for d in datasets:
        distributions = [{
            "@type": "dcat:Distribution", "dct:title": f"{d.title}：数据包描述文件（Frictionless Data Package）",
            "dcat:accessURL": {"@id": package}, "dcat:downloadURL": {"@id": package}, "dcat:mediaType": "application/json",
            "dct:license": {"@id": LICENSE["path"]}, "dct:conformsTo": {"@id": "https://datapackage.org/profiles/2.0/datapackage.json"},
        }]
        for fmt in FORMATS:
            distributions.append({
                "@type": "dcat:Distribution", "dct:title": f"{d.title}（{fmt.upper()}，按月份分文件）",
                "dct:description": f"每个月份一个文件：latest/{d.name}/<年-月>.{fmt}；文件清单、字节数和 SHA-256 见数据包描述文件。",
                "dcat:accessURL": {"@id": package}, "dcat:mediaType": MEDIATYPES[fmt],
                "dct:license": {"@id": LICENSE["path"]}, "dct:conformsTo": {"@id": package},
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
    """schema.org Dataset JSON-LD for a page about ``dataset``: the data package and each
    month's CSV file."""
    latest = open_data.releases[-1]
    return {
        "@context": "https://schema.org", "@type": "Dataset", "name": dataset.title, "description": dataset.description,
        "identifier": dataset.name, "license": LICENSE["path"], "dateModified": latest.date, "version": latest.version,
        "inLanguage": "zh-CN", "isAccessibleForFree": True,
        "distribution": [{"@type": "DataDownload", "encodingFormat": "application/json", "contentUrl": f"{base}latest/datapackage.json"},
                         *({"@type": "DataDownload", "encodingFormat": MEDIATYPES["csv"], "name": month,
                            "contentUrl": f"{base}latest/{f['csv']['path']}", "contentSize": str(f["csv"]["bytes"])}
                           for month, f in month_files(latest.files, dataset.name) if "csv" in f)],
    }
