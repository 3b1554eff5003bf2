"""Intake: read every approved file, normalise it, run the rules, and account for every row.

``run_intake`` reads like the table of contents of validation::

    for each dataset folder, in groups of consecutive files:
        for each file: provenance → read (encoding, cells, header)
        the group's rows as one batch: normalise → row rules
    unapproved files withheld; duplicates across the dataset; counts per file
    problems sorted, counts reconciled

Each row read ends up either published (in ``Intake.records``) or withheld with at least one
error problem naming it; ``Intake.reconcile()`` checks exactly that.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import ConfigError
from .ingest import RawTable, find_sources, is_companion_file, is_data_file, read_source
from .model import Problem, Severity, SourceReport
from .normalize import normalise_table
from .provenance import Provenance, read_provenance
from .rules import check_batch
from .rules.base import Batch
from .rules.duplicates import Candidate, find_duplicates
from .schema import DATASET_NAMES, Dataset, datasets

SOURCE_COLUMN = "_source"
ROW_COLUMN = "_row"


@dataclass
class Intake:
    """Everything validation found, and the records that may be published."""

    as_of: date
    sources: list[SourceReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    records: dict[str, pa.Table] = field(default_factory=dict)
    provenance: dict[str, Provenance] = field(default_factory=dict)

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
    checked: bool  # False when unreadable or empty: no batch holds its rows


@dataclass
class _Checked:
    """One batch of rows from one or more sources, after the row rules."""

    batch: Batch
    problems: list[Problem]
    publishable: np.ndarray
    warned: np.ndarray
    merged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # published through another row

    def __post_init__(self) -> None:
        if len(self.merged) != len(self.publishable):
            self.merged = np.zeros(len(self.publishable), dtype=bool)


@dataclass
class _Group:
    """What one worker made of a run of consecutive files: read, normalised and checked."""

    problems: list[Problem]
    provenance: list[Provenance]
    sources: list[_Source]
    labels: list[str]
    checked: _Checked | None


BATCH_BYTES = 32 << 20  # about 100,000 rows of a typical export


def run_intake(datasets_dir: Path, as_of: date, keep_records: bool = True, workers: int | None = None) -> Intake:
    """Validate every file under ``datasets_dir`` as of the build date ``as_of``.

    Consecutive files are grouped by size (``BATCH_BYTES``); ``workers`` threads (default: one
    per core, at most two) each read a group and check its rows as one batch. Arrow's kernels
    release the GIL, so both cores work, and batching makes a thousand small files cost what one
    large file costs. Results are merged in file order: the outcome does not depend on the
    thread count or on timing.
    """
    if not datasets_dir.is_dir():
        raise ConfigError(f"数据集文件夹 {datasets_dir} 不存在。请指定包含 licensing、penalties、redlist、blacklist 的文件夹。")
    if not any((datasets_dir / name).is_dir() for name in DATASET_NAMES):
        raise ConfigError(f"{datasets_dir} 中没有数据集文件夹（{'、'.join(DATASET_NAMES)}）。请确认路径，"
                          "或先用 gongshi synth --out DIR 生成示例数据。")
    intake = Intake(as_of=as_of)
    intake.problems += _unknown_folders(datasets_dir)
    with ThreadPoolExecutor(max_workers=workers or min(2, os.cpu_count() or 1)) as pool:
        for dataset in datasets():
            sources, checked = _check_dataset(intake, dataset, datasets_dir, pool)
            _collect_dataset(intake, dataset, sources, checked, keep_records)
    intake.problems.sort(key=_problem_order)
    return intake


def _check_dataset(intake: Intake, dataset: Dataset, root: Path, pool: ThreadPoolExecutor
                   ) -> tuple[list[_Source], list[_Checked]]:
    """Read and check the dataset's files, a group of consecutive files per task; record the
    findings in file order."""
    paths = list(find_sources(root / dataset.name))
    sources: list[_Source] = []
    labels: list[str] = []
    checked: list[_Checked] = []
    for group in pool.map(partial(_check_group, dataset, root, as_of=intake.as_of), _by_size(paths)):
        intake.problems += group.problems
        intake.provenance.update((p.file, p) for p in group.provenance)
        if group.checked is not None:
            group.checked.batch.source += len(sources)  # the group's source numbers become the dataset's
            group.checked.batch.labels = labels
            checked.append(group.checked)
        sources += group.sources
        labels += group.labels
    return sources, checked


def _by_size(paths: list[Path]) -> list[list[Path]]:
    """Consecutive files in groups of about ``BATCH_BYTES``: small files are checked together."""
    groups: list[list[Path]] = []
    size = BATCH_BYTES
    for path in paths:
        if size >= BATCH_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(path)
        size += path.stat().st_size
    return groups


def _check_group(dataset: Dataset, root: Path, paths: list[Path], as_of: date) -> _Group:
    """Read a run of files and check all their rows as one batch."""
    group = _Group([], [], [], [], None)
    parts: list[tuple[int, RawTable]] = []
    for path in paths:
        problems, provenance, tables = _read_file(dataset, root, path, as_of)
        group.problems += problems
        if provenance is not None:
            group.provenance.append(provenance)
        for raw in tables:
            group.problems += raw.problems
            usable = not raw.unreadable and len(raw) > 0
            group.sources.append(_Source(SourceReport(dataset.name, raw.label, raw.format, raw.encoding,
                                                      raw.header_style, read=len(raw)), provenance, usable))
            group.labels.append(raw.label)
            if usable:
                parts.append((len(group.sources) - 1, raw))
    if parts:
        group.checked = _check_rows(dataset, group.labels, parts, as_of)
        group.problems += group.checked.problems
    return group


def _read_file(dataset: Dataset, root: Path, path: Path, as_of: date
               ) -> tuple[list[Problem], Provenance | None, list[RawTable]]:
    """One file: its provenance and its tables (one per workbook sheet), read but not checked."""
    label = path.relative_to(root).as_posix()
    if is_companion_file(path):
        return [], None, []
    if not is_data_file(path):
        return [Problem(dataset.name, label, None, None, path.suffix, "file.unsupported", Severity.WARNING,
                        f"不支持 {path.suffix or '无扩展名'} 文件，未读取。请另存为 CSV（UTF-8）或 XLSX 后重新提交。")], None, []
    provenance, problems = read_provenance(path, dataset.name, label, as_of)
    return problems, provenance, read_source(dataset, path, label)


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
    return pa.array([""] * length, type=pa.string())


def _collect_dataset(intake: Intake, dataset: Dataset, sources: list[_Source], checked: list[_Checked],
                     keep_records: bool) -> None:
    """Withhold rows of unapproved files, resolve duplicates across the dataset, count per file
    and keep what is published."""
    approved = np.array([s.provenance is not None for s in sources], dtype=bool)
    for c in checked:
        c.publishable &= approved[c.batch.source]
    submitted = [s.provenance.submitted_at if s.provenance else "" for s in sources]
    problems, superseded, merged = find_duplicates(
        dataset, [Candidate(c.batch, np.flatnonzero(c.publishable)) for c in checked], submitted)
    intake.problems += problems
    for i, c in enumerate(checked):
        if i in superseded:
            c.publishable[superseded[i]] = False
        if i in merged:
            c.warned[merged[i]] = True
            c.merged[merged[i]] = True
    withheld = np.zeros(len(sources), dtype=np.int64)
    warned = np.zeros(len(sources), dtype=np.int64)
    for c in checked:
        withheld += np.bincount(c.batch.source[~c.publishable], minlength=len(sources))
        warned += np.bincount(c.batch.source[c.warned & c.publishable], minlength=len(sources))
    for i, s in enumerate(sources):
        s.report.withheld = int(withheld[i]) if s.checked else s.report.read
        s.report.warnings = int(warned[i])
        intake.sources.append(s.report)
    if keep_records:
        intake.records[dataset.name] = _published_records(dataset, checked)


def _published_records(dataset: Dataset, checked: list[_Checked]) -> pa.Table:
    """The rows that may be published, normalised, with their source file and row number."""
    tables = []
    for c in checked:
        keep = c.publishable & ~c.merged
        if not keep.any():
            continue
        mask = pa.array(keep)
        columns = {name: c.batch.columns[name].filter(mask) for name in dataset.field_names}
        columns[SOURCE_COLUMN] = pc.take(pa.array(c.batch.labels, type=pa.string()), pa.array(c.batch.source[keep]))
        columns[ROW_COLUMN] = pa.array(c.batch.rows[keep], type=pa.int64())
        tables.append(pa.table(columns))
    if not tables:
        empty = {name: pa.array([], type=pa.string()) for name in dataset.field_names}
        empty[SOURCE_COLUMN] = pa.array([], type=pa.string())
        empty[ROW_COLUMN] = pa.array([], type=pa.int64())
        return pa.table(empty)
    return pa.concat_tables(tables)


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
