"""Intake: read every approved file, normalise it, run the rules, and account for every row.

``run_intake`` reads like the table of contents of validation::

    for each dataset folder, in units of consecutive files (one worker process each):
        for each file: provenance → read (encoding, cells, header)
        the unit's rows as one batch: normalise → row rules → record keys
        each file's result stored as an Arrow record batch (its "entry"): one IPC file per
        entry when cached, else one per unit
    per dataset, from the entries: unapproved files withheld; duplicates across the dataset
    (repeated keys found by sorting 64-bit key hashes the workers made); counts per file
    problems sorted, counts reconciled

Everything a file's entry holds depends on that file alone (its bytes, its provenance sidecar,
the build date and the generator's code), so entries can be kept between runs: with
``cache_dir``, a file whose entry is there is not read again. Without it the entries go to a
temporary folder. Either way the main process reads the entries the same way, memory-mapped.

Each row read ends up either published (in ``Intake.records``) or withheld with at least one
error problem naming it; ``Intake.reconcile()`` checks exactly that.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ConfigError
from .ingest import RawTable, find_sources, is_companion_file, is_data_file, read_source
from .model import Problem, Severity, SourceReport
from .normalize import normalise_table, one_array
from .provenance import Provenance, read_provenance, sidecar_path
from .rules import AS_OF_RULES, check_batch
from .rules.base import Batch
from .rules.duplicates import Candidate, find_duplicates, record_keys
from .schema import DATASET_NAMES, Dataset, datasets, load_dataset
from .subjects import RECORD_ID, identity_columns, record_id

SOURCE_COLUMN = "_source"
ROW_COLUMN = "_row"

UNIT_BYTES = 16 << 20  # a worker's unit of consecutive files: about 50,000 rows of a typical export
IN_PROCESS_BYTES = 16 << 20  # less input than this is checked in the calling process
ENTRY_SUFFIX = ".arrow"
ENTRY_FORMAT = "gongshi-intake-entry/4"  # change when the entry layout changes
ENTRY_METADATA = b"gongshi"  # per entry (record batch): its sources, problems and provenance
_PART = ":"  # an uncached entry's name: unit number, _PART, the file's place in the unit
ENTRY_VALIDITY = b"gongshi.validity"  # for which build dates the entry holds (read on every cache lookup)
# entry columns besides the dataset's fields
SHEET, ROW, ERROR, WARNED, KEY, HASH = "_sheet", "_row", "_error", "_warned", "_key", "_hash"
_ENTRY_NAME = re.compile(r"([0-9a-f]{40})\.arrow(\.\d+\.tmp)?")  # a cached entry, or one being written
# the modules (relative to generator/) whose code decides an entry's content: a change to any
# of them invalidates every cached entry (tests/test_intake_cache.py checks the list is complete)
FINGERPRINTED = ("__init__.py", "codes.py", "errors.py", "ingest.py", "intake.py", "model.py", "normalize.py",
                 "provenance.py", "schema.py", "subjects.py", "rules/*.py", "schemas/*.json")


@dataclass
class Intake:
    """Everything validation found, and the records that may be published."""

    as_of: date
    sources: list[SourceReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    records: dict[str, pa.Table] = field(default_factory=dict)
    provenance: dict[str, Provenance] = field(default_factory=dict)
    # per dataset, the records in runs, one per input entry: (the entry's name when the entry is
    # named by content and every row of it is kept, else None; the run's rows)
    record_runs: dict[str, list[tuple[str | None, int]]] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return sum(s.read for s in self.sources)

    @property
    def withheld(self) -> int:
        return sum(s.withheld for s in self.sources)

    @property
    def published(self) -> int:
        return sum(s.published for s in self.sources)

    @property
    def failed(self) -> bool:
        """True when any row is withheld or any file could not be used."""
        return self.withheld > 0 or any(p.severity is Severity.ERROR and p.row is None for p in self.problems)

    def reconcile(self) -> None:
        """Assert the accounting: rows read = published + withheld, and every withheld row has a
        recorded reason (an error problem on the row, or on its whole file)."""
        whole_file = {p.file for p in self.problems if p.severity is Severity.ERROR and p.row is None}
        errored = {(p.file, p.row) for p in self.problems if p.severity is Severity.ERROR and p.row is not None}
        for source in self.sources:
            assert source.read == source.published + source.withheld, source
            if source.file not in whole_file:
                reasons = sum(1 for f, _ in errored if f == source.file)
                assert reasons == source.withheld, (source, reasons)


@dataclass
class _Source:
    """One file (or workbook sheet) as read."""

    report: SourceReport
    provenance: Provenance | None
    checked: bool  # False when unreadable or empty: no rows of it were checked


@dataclass
class _Checked:
    """One batch of rows from one or more sources, after the row rules."""

    batch: Batch
    problems: list[Problem]
    publishable: np.ndarray
    warned: np.ndarray


@dataclass(frozen=True)
class _Unit:
    """Consecutive data files of one dataset, checked by one worker as one batch."""

    number: int
    dataset: str
    root: str
    labels: tuple[str, ...]  # paths relative to the datasets folder
    as_of: date
    store: str
    caching: bool


@dataclass
class _Entry:
    """One data file's checked result, as stored: its sources (one per sheet), problems,
    provenance and rows (normalised fields plus ``_sheet``, ``_row``, ``_error``, ``_warned``,
    ``_key``)."""

    sources: list[tuple[SourceReport, bool]]
    problems: list[Problem]
    provenance: Provenance | None
    table: pa.Table


def run_intake(datasets_dir: Path, as_of: date, keep_records: bool = True, workers: int | None = None,
               cache_dir: Path | None = None) -> Intake:
    """Validate every file under ``datasets_dir`` as of the build date ``as_of``.

    Consecutive files are grouped by size (``UNIT_BYTES``); ``workers`` processes (default: one
    per core, at most two; none for less than ``IN_PROCESS_BYTES`` of input or ``workers=1``)
    each read a unit and check its rows as one batch, so a thousand small files cost what one
    large file costs. Each file's result is written as an Arrow IPC entry; the cross-file step
    (duplicates, counts, the published records) reads the entries memory-mapped, in file order:
    the outcome does not depend on the number of workers or on timing.

    With ``cache_dir``, entries are kept there, named by a hash of the file's bytes, its path,
    its provenance sidecar and the generator's code; a later run reuses the entry of every
    unchanged file (for the same build date, or a later one when nothing in the file depends on
    the date) and checks only the others. Entries the run did not use are removed. One run at a
    time per ``cache_dir``.
    """
    if not datasets_dir.is_dir():
        raise ConfigError(f"数据集文件夹 {datasets_dir} 不存在。请指定包含 licensing、penalties、redlist、blacklist 的文件夹。")
    if not any((datasets_dir / name).is_dir() for name in DATASET_NAMES):
        raise ConfigError(f"{datasets_dir} 中没有数据集文件夹（{'、'.join(DATASET_NAMES)}）。请确认路径，"
                          "或先用 gongshi synth --out DIR 生成示例数据。")
    intake = Intake(as_of=as_of)
    intake.problems += _unknown_folders(datasets_dir)
    plans = [(dataset, *_plan(dataset, datasets_dir)) for dataset in datasets()]
    total = sum(size for _, _, files in plans for _, size in files)
    with _Store(cache_dir, total) as store, _Runner(workers, total) as runner:
        pending, count = [], 0
        for dataset, _, files in plans:
            units = [_Unit(count + i, dataset.name, str(datasets_dir), tuple(labels), as_of, str(store.path),
                           store.caching) for i, labels in enumerate(_by_size(files))]
            count += len(units)
            pending.append([runner.submit(unit) for unit in units])
        for (dataset, problems, _), futures in zip(plans, pending, strict=True):
            intake.problems += problems
            names = [name for future in futures for name in future.result()]
            store.used.update(names)
            _collect_dataset(intake, dataset, [store.load(dataset.name, name) for name in names], keep_records,
                             names if store.caching else [None] * len(names))
    intake.problems.sort(key=_problem_order)
    return intake


def _plan(dataset: Dataset, root: Path) -> tuple[list[Problem], list[tuple[str, int]]]:
    """The dataset's data files (path relative to ``root``, size), and the problems of the
    files that are not data."""
    problems = []
    files = []
    for path in find_sources(root / dataset.name):
        label = path.relative_to(root).as_posix()
        if is_companion_file(path):
            continue
        if not is_data_file(path):
            problems.append(Problem(dataset.name, label, None, None, path.suffix, "file.unsupported", Severity.WARNING,
                                    f"不支持 {path.suffix or '无扩展名'} 文件，未读取。请另存为 CSV（UTF-8）或 XLSX 后重新提交。"))
            continue
        files.append((label, path.stat().st_size))
    return problems, files


def _by_size(files: list[tuple[str, int]]) -> list[list[str]]:
    """Consecutive files in units of about ``UNIT_BYTES``: small files are checked together."""
    units: list[list[str]] = []
    size = UNIT_BYTES
    for label, file_size in files:
        if size >= UNIT_BYTES:
            units.append([])
            size = 0
        units[-1].append(label)
        size += file_size
    return units


# ---------------------------------------------------------------------------------------------
# Workers: read and check a unit of files, store an entry per file


def _check_unit(unit: _Unit) -> list[str]:
    """Check the unit's files (those without a usable cached entry) and store their entries;
    return each file's entry name, in file order. Cached entries are one file each (a file's
    entry outlives its unit); uncached ones go into one file for the whole unit, which saves
    a write and a read per data file."""
    dataset = load_dataset(unit.dataset)
    root, store = Path(unit.root), Path(unit.store)
    names = []
    fresh: list[tuple[str, Provenance | None, list[Problem], list[RawTable]]] = []
    for i, label in enumerate(unit.labels):
        path = root / label
        if unit.caching:
            try:
                name = entry_key(path, label)
            except OSError:  # unreadable now: reported by the reader, and never reused
                name = hashlib.sha256(f"{label}\0{os.getpid()}\0{time.time_ns()}".encode()).hexdigest()[:40]
            else:
                if _reusable(store / (name + ENTRY_SUFFIX), unit.as_of):
                    names.append(name)
                    continue
            names.append(name)
        else:
            name = f"{unit.number}{_PART}{i}"
            names.append(name)
        provenance, problems = read_provenance(path, dataset.name, label, unit.as_of)
        fresh.append((name, provenance, problems, read_source(dataset, path, label)))
    if fresh:
        entries = _check(dataset, fresh, unit.as_of)
        if unit.caching:
            for name, entry in zip((f[0] for f in fresh), entries, strict=True):
                _write_entries(store / (name + ENTRY_SUFFIX), [entry], unit.as_of)
        else:
            _write_entries(store / f"{unit.number}{ENTRY_SUFFIX}", entries, unit.as_of)
    return names


def _check(dataset: Dataset, files: list[tuple[str, Provenance | None, list[Problem], list[RawTable]]],
           as_of: date) -> list[_Entry]:
    """Check the rows of several files as one batch; return each file's part as its entry."""
    labels: list[str] = []
    first_source: list[int] = []  # per file: its first source's number in the batch
    parts: list[tuple[int, RawTable]] = []
    for _, _, _, tables in files:
        first_source.append(len(labels))
        for raw in tables:
            labels.append(raw.label)
            if _usable(raw):
                parts.append((len(labels) - 1, raw))
    checked = _check_rows(dataset, labels, parts, as_of) if parts else None
    row_problems: dict[str, list[Problem]] = {}
    if checked is not None:
        for p in checked.problems:
            row_problems.setdefault(p.file, []).append(p)
        keys = record_keys(dataset, checked.batch.columns)
        hashes = key_hashes(keys)
        ids = pa.array(record_id(dataset, {n: one_array(checked.batch.columns[n]) for n in identity_columns(dataset)}),
                       pa.string())  # once per file, not at every build: they do not depend on the date
        row_starts = np.searchsorted(checked.batch.source, np.arange(len(labels) + 1))
    entries = []
    for k, (_, provenance, problems, tables) in enumerate(files):
        problems = list(problems)
        for raw in tables:
            problems += raw.problems
        for raw in tables:
            problems += row_problems.get(raw.label, [])
        first, after = first_source[k], first_source[k] + len(tables)
        if checked is not None and row_starts[after] > row_starts[first]:
            start, stop = int(row_starts[first]), int(row_starts[after])
            batch = checked.batch
            columns = {n: batch.columns[n].slice(start, stop - start) for n in dataset.field_names}
            columns[SHEET] = pa.array(batch.source[start:stop] - first, type=pa.int32())
            columns[ROW] = pa.array(batch.rows[start:stop], type=pa.int64())
            columns[ERROR] = pa.array(~checked.publishable[start:stop])
            columns[WARNED] = pa.array(checked.warned[start:stop])
            columns[KEY] = keys.slice(start, stop - start)
            columns[HASH] = pa.array(hashes[start:stop], type=pa.uint64())
            columns[RECORD_ID] = ids.slice(start, stop - start)
            table = pa.table(columns)
        else:
            table = _empty_entry_table(dataset)
        sources = [(SourceReport(dataset.name, raw.label, raw.format, raw.encoding, raw.header_style, read=len(raw)),
                    _usable(raw)) for raw in tables]
        entries.append(_Entry(sources, problems, provenance, table))
    return entries


def _usable(raw: RawTable) -> bool:
    return not raw.unreadable and len(raw) > 0


def _check_rows(dataset: Dataset, labels: list[str], parts: list[tuple[int, RawTable]], as_of: date) -> _Checked:
    """Normalise and check the rows of several sources as one batch."""
    present = sorted({name for _, raw in parts for name in raw.columns}, key=dataset.field_names.index)
    raw_columns = {
        name: pa.concat_arrays([raw.columns[name] if name in raw.columns else _blank(len(raw)) for _, raw in parts])
        for name in present
    }
    source = np.concatenate([np.full(len(raw), sid, dtype=np.int64) for sid, raw in parts])
    rows = np.concatenate([raw.rows for _, raw in parts])
    shaped = any(raw.bad_shape is not None for _, raw in parts)
    bad_shape = np.concatenate([raw.bad_shape if raw.bad_shape is not None else np.zeros(len(raw), dtype=bool)
                                for _, raw in parts]) if shaped else None
    cell_counts = np.concatenate([raw.cell_counts if raw.cell_counts is not None else np.zeros(len(raw), dtype=np.int64)
                                  for _, raw in parts]) if shaped else None
    header_cells = np.concatenate([np.full(len(raw), raw.header_cells, dtype=np.int64) for _, raw in parts])
    lossy = np.concatenate([np.full(len(raw), "invalid bytes" in raw.encoding) for _, raw in parts])
    columns, real_dates = normalise_table(dataset, raw_columns, len(rows))
    batch = Batch(dataset, labels, source, columns, rows, as_of, bad_shape, cell_counts, header_cells, lossy, real_dates)
    problems, errors, warnings = check_batch(batch)
    return _Checked(batch, problems, ~errors, warnings)


def _blank(length: int) -> pa.Array:
    """``length`` empty strings (offsets only, no data)."""
    return pa.Array.from_buffers(pa.string(), length, [None, pa.py_buffer(np.zeros(length + 1, dtype=np.int32)),
                                                       pa.py_buffer(b"")])


# ---------------------------------------------------------------------------------------------
# Entries: one Arrow IPC file per data file


def _empty_entry_table(dataset: Dataset) -> pa.Table:
    columns = {name: pa.array([], type=pa.string()) for name in dataset.field_names}
    columns[SHEET] = pa.array([], type=pa.int32())
    columns[ROW] = pa.array([], type=pa.int64())
    columns[ERROR] = pa.array([], type=pa.bool_())
    columns[WARNED] = pa.array([], type=pa.bool_())
    columns[KEY] = pa.array([], type=pa.string())
    columns[HASH] = pa.array([], type=pa.uint64())
    columns[RECORD_ID] = pa.array([], type=pa.string())
    return pa.table(columns)


def _write_entries(path: Path, entries: list[_Entry], as_of: date) -> None:
    """Write one or more entries as one Arrow IPC file, one record batch each; atomically
    (never over a file another process may have mapped)."""
    validity = {"format": ENTRY_FORMAT, "as_of": as_of.isoformat(),
                "as_of_dependent": any(p.rule in AS_OF_RULES for e in entries for p in e.problems)}
    meta = [{
        "sources": [[r.file, r.format, r.encoding, r.header_style, r.read, checked] for r, checked in entry.sources],
        "problems": [[p.file, p.row, p.field, p.value, p.rule, str(p.severity), p.message] for p in entry.problems],
        "provenance": entry.provenance.to_dict() if entry.provenance else None,
    } for entry in entries]
    schema = entries[0].table.schema.with_metadata({ENTRY_VALIDITY: json.dumps(validity),
                                                    ENTRY_METADATA: json.dumps(meta, ensure_ascii=False)})
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:  # buffers written as they are
        for entry in entries:
            writer.write_batch(_one_batch(entry.table))
    os.replace(temporary, path)


def _one_batch(table: pa.Table) -> pa.RecordBatch:
    table = table.combine_chunks()  # no copy when every column is one chunk already
    batches = table.to_batches()
    return batches[0] if len(batches) == 1 else pa.RecordBatch.from_arrays(
        [pa.concat_arrays([b.column(i) for b in batches]) if batches else pa.array([], type=f.type)
         for i, f in enumerate(table.schema)], schema=table.schema)


def _entry_meta(path: Path) -> dict | None:
    try:
        with pa.memory_map(str(path)) as source:
            schema = pa.ipc.open_file(source).schema
    except (OSError, pa.ArrowException):
        return None
    raw = (schema.metadata or {}).get(ENTRY_VALIDITY)
    return json.loads(raw) if raw else None


def _reusable(path: Path, as_of: date) -> bool:
    """Whether the cached entry holds what checking the file as of ``as_of`` would give: it was
    made for that date, or for an earlier one and nothing in it depends on the date (no decision
    after the build date, no birth date, no approval after it: those would stay as they are)."""
    if not path.is_file():
        return False
    meta = _entry_meta(path)
    if meta is None or meta.get("format") != ENTRY_FORMAT:
        return False
    made = date.fromisoformat(meta["as_of"])
    return made == as_of or (made < as_of and not meta["as_of_dependent"])


def _read_entries(path: Path, dataset: str) -> list[_Entry]:
    """The file's entries, their rows memory-mapped (nothing is copied until used)."""
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
        metas = json.loads(reader.schema.metadata[ENTRY_METADATA])
    schema = reader.schema.remove_metadata()
    entries = []
    for batch, meta in zip(batches, metas, strict=True):
        problems = [Problem(dataset, f, row, fld, value, rule, Severity(severity), message)
                    for f, row, fld, value, rule, severity, message in meta["problems"]]
        sources = [(SourceReport(dataset, f, fmt, encoding, style, read=read), checked)
                   for f, fmt, encoding, style, read, checked in meta["sources"]]
        provenance = Provenance(**meta["provenance"]) if meta["provenance"] else None
        entries.append(_Entry(sources, problems, provenance, pa.Table.from_batches([batch], schema=schema)))
    return entries


@functools.cache
def code_fingerprint() -> str:
    """A hash of the code and schemas that decide what an entry holds, and of the libraries'
    versions (Arrow's Unicode tables, the YAML and XLSX readers)."""
    import importlib.metadata

    digest = hashlib.sha256(ENTRY_FORMAT.encode())
    base = Path(__file__).parent
    for pattern in FINGERPRINTED:
        for path in sorted(base.glob(pattern)):
            digest.update(path.relative_to(base).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    for package in ("pyarrow", "numpy", "pyyaml", "python-calamine"):
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        digest.update(f"{package}={version}\0".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def entry_key(path: Path, label: str) -> str:
    """The cache name of a data file's entry: its path, bytes and provenance sidecar, and the
    code that checks it (the build date is checked against the entry, see ``_reusable``)."""
    digest = hashlib.sha256()
    sidecar = sidecar_path(path)
    parts = [code_fingerprint().encode(), label.encode(), path.read_bytes(),
             sidecar.read_bytes() if sidecar.is_file() else b"\xff(no sidecar)"]
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()[:40]


class _Store:
    """Where entries go: the cache folder, or a temporary folder removed afterwards."""

    def __init__(self, cache_dir: Path | None, total_bytes: int) -> None:
        self.caching = cache_dir is not None
        self.used: set[str] = set()
        self._unit: tuple[str, list[_Entry]] = ("", [])  # the uncached unit file last read
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self.path = cache_dir
        else:
            self.path = Path(tempfile.mkdtemp(prefix="gongshi-intake-", dir=_scratch_dir(total_bytes)))

    def load(self, dataset: str, name: str) -> _Entry:
        if self.caching:
            return _read_entries(self.path / (name + ENTRY_SUFFIX), dataset)[0]
        unit, part = name.split(_PART)
        if self._unit[0] != unit:
            path = self.path / (unit + ENTRY_SUFFIX)
            self._unit = (unit, _read_entries(path, dataset))
            with contextlib.suppress(OSError):  # mapped already: the data stays until the last reference goes
                path.unlink()  # (where a mapped file cannot be removed, __exit__ does it)
        return self._unit[1][int(part)]

    def __enter__(self) -> _Store:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if not self.caching:
            shutil.rmtree(self.path, ignore_errors=True)
        elif kind is None:  # a complete run: the entries it did not use are stale (other files stay)
            for path in self.path.iterdir():
                named = _ENTRY_NAME.fullmatch(path.name)
                if named and (named.group(2) or named.group(1) not in self.used) and path.is_file():
                    path.unlink(missing_ok=True)


def _scratch_dir(total_bytes: int) -> str | None:
    """Memory (/dev/shm) for temporary entries when it has ample room; else the usual temp dir."""
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 4 * total_bytes + (256 << 20):
            return str(shm)
    except OSError:
        pass
    return None


class _Runner:
    """Runs units in worker processes, or in this process when that is not worth it."""

    def __init__(self, workers: int | None, total_bytes: int) -> None:
        count = workers if workers is not None else min(2, os.cpu_count() or 1)
        self.pool: ProcessPoolExecutor | None = None
        if count > 1 and (workers is not None or total_bytes >= IN_PROCESS_BYTES):
            _warm_up()
            self.pool = ProcessPoolExecutor(max_workers=count, mp_context=_context())

    def submit(self, unit: _Unit):
        if self.pool is None:
            return _Later(unit)
        with warnings.catch_warnings():  # Python 3.12+ warns about fork with threads; Arrow re-creates its pools
            warnings.filterwarnings("ignore", message=r".*fork\(\) may lead to deadlocks", category=DeprecationWarning)
            return self.pool.submit(_check_unit, unit)

    def __enter__(self) -> _Runner:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=kind is not None)


class _Later:
    """A unit run in this process when its result is asked for."""

    def __init__(self, unit: _Unit) -> None:
        self.unit = unit

    def result(self) -> list[str]:
        return _check_unit(self.unit)


def _warm_up() -> None:
    """Do once here what every worker would otherwise do for itself (forked workers inherit it):
    pyarrow imports pandas the first time a compute function gets a Python value, ~0.4 s."""
    import python_calamine  # noqa: F401

    pa.scalar("")


def _context():
    """fork (instant; Arrow re-creates its thread pools in the child) when this process runs no
    other Python thread; else a fresh interpreter per worker."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


# ---------------------------------------------------------------------------------------------
# Across the files of a dataset


def _collect_dataset(intake: Intake, dataset: Dataset, entries: list[_Entry], keep_records: bool,
                     names: list[str | None]) -> None:
    """Withhold rows of unapproved files, resolve duplicates across the dataset, count per file
    and keep what is published (``names``: each entry's name when it is named by content)."""
    sources: list[_Source] = []
    labels: list[str] = []
    tables: list[pa.Table] = []
    source_parts: list[np.ndarray] = []
    spans: list[tuple[str | None, int]] = []
    for entry, name in zip(entries, names, strict=True):
        first = len(sources)
        intake.problems += entry.problems
        if entry.provenance is not None:
            intake.provenance[entry.provenance.file] = entry.provenance
        for report, checked in entry.sources:
            sources.append(_Source(report, entry.provenance, checked))
            labels.append(report.file)
        if entry.table.num_rows:
            tables.append(entry.table)
            spans.append((name, entry.table.num_rows))
            source_parts.append(entry.table.column(SHEET).to_numpy() + first)
    table = pa.concat_tables(tables) if tables else _empty_entry_table(dataset)
    source = np.concatenate(source_parts) if source_parts else np.zeros(0, dtype=np.int64)
    rows = table.column(ROW).to_numpy()
    approved = np.array([s.provenance is not None for s in sources], dtype=bool)
    publishable = ~table.column(ERROR).to_numpy(zero_copy_only=False) & approved[source]
    warned = table.column(WARNED).to_numpy(zero_copy_only=False).copy()
    merged = np.zeros(len(rows), dtype=bool)
    batch = Batch(dataset, labels, source, {name: table.column(name) for name in dataset.field_names}, rows, intake.as_of)
    submitted = [s.provenance.submitted_at if s.provenance else "" for s in sources]
    hashes = table.column(HASH).to_numpy()
    candidate = Candidate(batch, _maybe_repeated(np.flatnonzero(publishable), hashes), keys=table.column(KEY))
    problems, superseded, merges = find_duplicates(dataset, [candidate], submitted)
    intake.problems += problems
    if 0 in superseded:
        publishable[superseded[0]] = False
    if 0 in merges:
        warned[merges[0]] = True
        merged[merges[0]] = True
    withheld = np.bincount(source[~publishable], minlength=len(sources))
    warnings_ = np.bincount(source[warned & publishable], minlength=len(sources))
    for i, s in enumerate(sources):
        s.report.withheld = int(withheld[i]) if s.checked else s.report.read
        s.report.warnings = int(warnings_[i])
        intake.sources.append(s.report)
    if keep_records:
        kept = publishable & ~merged
        intake.records[dataset.name] = _published_records(dataset, table, labels, source, rows, kept)
        intake.record_runs[dataset.name] = _runs(spans, kept)


def _runs(spans: list[tuple[str | None, int]], keep: np.ndarray) -> list[tuple[str | None, int]]:
    """Each entry's run of the published records: its name when every row of the entry is kept
    (the run is then the entry's rows, as named), and the rows kept."""
    runs, start = [], 0
    for name, rows in spans:
        kept = int(np.count_nonzero(keep[start:start + rows]))
        runs.append((name if kept == rows else None, kept))
        start += rows
    return runs


def _maybe_repeated(positions: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """The positions whose key hash occurs more than once among ``positions``: every row whose
    record key repeats is among them (a hash collision only adds a row, which the exact check
    then finds unrepeated). Sorting 64-bit numbers here replaces hashing every key string."""
    mine = hashes[positions]
    ordered = np.sort(mine)
    twice = ordered[1:][ordered[1:] == ordered[:-1]]
    return positions[np.isin(mine, twice)] if len(twice) else positions[:0]


def key_hashes(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each string, from Arrow's buffers: no Python object per row. The strings
    are padded with zero bytes (or cut) to one width of up to ``_HASHED_BYTES`` bytes, so their
    bytes form a matrix of 64-bit words; each string's length and its own words (not the
    padding beyond them) are folded in, so equal strings hash equally in any batch."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks() if keys.num_chunks else pa.array([], type=pa.string())
    n = len(keys)
    if not n:
        return np.zeros(0, np.uint64)
    lengths = pc.binary_length(keys).to_numpy(zero_copy_only=False).astype(np.uint64)
    width = max(8, min(_HASHED_BYTES, -(-int(lengths.max()) // 8) * 8))
    padded = pc.ascii_rpad(keys, width=width, padding="\0").cast(pa.binary())  # pads by bytes
    if int(lengths.max()) > width:
        padded = pc.binary_slice(padded, 0, width)
    matrix = padded.cast(pa.binary(width))
    words = np.frombuffer(matrix.buffers()[1], np.uint64)[matrix.offset * (width // 8):(matrix.offset + n) * (width // 8)]
    words = words.reshape(n, width // 8)
    hashes = lengths * _HASH_MULTIPLIER
    used = (np.minimum(lengths, width) + np.uint64(7)) // np.uint64(8)  # a string's own words: not the padding
    for column in range(width // 8):
        mixed = (hashes ^ words[:, column]) * _HASH_MULTIPLIER
        mixed ^= mixed >> np.uint64(29)
        hashes = np.where(used > column, mixed, hashes)  # so the hash does not depend on the width
    return hashes


_HASHED_BYTES = 256  # longer keys hash by their first 256 bytes (and length): a collision only adds a row to check
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)


def _published_records(dataset: Dataset, table: pa.Table, labels: list[str], source: np.ndarray, rows: np.ndarray,
                       keep: np.ndarray) -> pa.Table:
    """The rows that may be published, normalised, with their record id, source file (a
    dictionary of the file labels) and row number. The columns are left in a chunk per entry,
    memory-mapped where an entry is kept whole (a map stays valid after its file is replaced or
    removed): each step takes, or makes one array of, only the columns it reads; combining
    every column here copied a million records' text and cost a third of the intake."""
    fields = table.select([*dataset.field_names, RECORD_ID])
    parts, start = [], 0
    for batch in fields.to_batches():  # one per entry
        part = keep[start:start + batch.num_rows]
        parts.append(batch if part.all() else batch.filter(pa.array(part)))
        start += batch.num_rows
    kept = pa.Table.from_batches(parts, schema=fields.schema)
    columns = {name: kept.column(name) for name in dataset.field_names}
    columns[RECORD_ID] = kept.column(RECORD_ID)
    columns[SOURCE_COLUMN] = pa.DictionaryArray.from_arrays(pa.array(source[keep], type=pa.int32()),
                                                            pa.array(labels, type=pa.string()))
    columns[ROW_COLUMN] = pa.array(rows[keep], type=pa.int64())
    return pa.table(columns)


def _unknown_folders(root: Path) -> list[Problem]:
    problems = []
    for path in sorted(root.iterdir()):
        if path.is_dir() and not path.name.startswith(".") and path.name not in DATASET_NAMES:
            problems.append(Problem("", path.name, None, None, path.name, "dataset.unknown_folder", Severity.WARNING,
                                    f"文件夹 {path.name} 不是数据集（{'、'.join(DATASET_NAMES)}），其中的文件不会发布。"
                                    "请把文件移到对应的数据集文件夹。"))
    return problems


def _problem_order(p: Problem) -> tuple:
    dataset_index = DATASET_NAMES.index(p.dataset) if p.dataset in DATASET_NAMES else -1
    return (dataset_index, p.file, p.row or 0, p.rule, p.field or "")
