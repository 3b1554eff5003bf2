"""Intake: read every approved file, normalise it, run the rules, and account for every row.

``run_intake`` reads like the table of contents of validation::

    for each dataset folder:
        for each file: provenance → read → normalise → row rules → count
        duplicates across the dataset's files
    problems sorted, counts reconciled

Each row read ends up either published (in ``Intake.records``) or withheld with at least one
error problem naming it; ``Intake.reconcile()`` checks exactly that.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

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
class _FileOutcome:
    report: SourceReport
    batch: Batch
    publishable: np.ndarray
    warned: np.ndarray
    submitted_at: str
    merged: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # published through another row

    def __post_init__(self) -> None:
        if len(self.merged) != len(self.publishable):
            self.merged = np.zeros(len(self.publishable), dtype=bool)


def run_intake(datasets_dir: Path, as_of: date, keep_records: bool = True, workers: int | None = None) -> Intake:
    """Validate every file under ``datasets_dir`` as of the build date ``as_of``.

    Files are checked in ``workers`` threads (default: up to two, one per core); Arrow's kernels
    release the GIL, so two files really are checked at once. Results are merged in file order,
    so the outcome does not depend on the thread count."""
    if not datasets_dir.is_dir():
        raise ConfigError(f"数据集文件夹 {datasets_dir} 不存在。请指定包含 licensing、penalties、redlist、blacklist 的文件夹。")
    if not any((datasets_dir / name).is_dir() for name in DATASET_NAMES):
        raise ConfigError(f"{datasets_dir} 中没有数据集文件夹（{'、'.join(DATASET_NAMES)}）。请确认路径，"
                          "或先用 gongshi synth --out DIR 生成示例数据。")
    intake = Intake(as_of=as_of)
    intake.problems += _unknown_folders(datasets_dir)
    with ThreadPoolExecutor(max_workers=workers or min(2, os.cpu_count() or 1)) as pool:
        for dataset in datasets():
            outcomes = []
            paths = find_sources(datasets_dir / dataset.name)
            for file_problems, provenance, file_outcomes in pool.map(
                    lambda path, dataset=dataset: _read_file(dataset, datasets_dir, path, as_of), paths):
                intake.problems += file_problems
                if provenance is not None:
                    intake.provenance[provenance.file] = provenance
                outcomes += file_outcomes
            _collect_dataset(intake, dataset, outcomes, keep_records)
    intake.problems.sort(key=_problem_order)
    return intake


def _collect_dataset(intake: Intake, dataset: Dataset, outcomes: list[_FileOutcome], keep_records: bool) -> None:
    """Resolve duplicates across the dataset's files, then count and keep what is published."""
    _resolve_duplicates(intake, dataset, outcomes)
    for outcome in outcomes:
        outcome.report.withheld = int((~outcome.publishable).sum())
        outcome.report.warnings = int((outcome.warned & outcome.publishable).sum())
        intake.sources.append(outcome.report)
    if keep_records:
        intake.records[dataset.name] = _published_records(dataset, outcomes)


def _read_file(dataset: Dataset, root: Path, path: Path, as_of: date
               ) -> tuple[list[Problem], Provenance | None, list[_FileOutcome]]:
    """One file: its provenance, then each of its tables read, normalised and checked.
    Runs in a worker thread, so it returns what it found instead of recording it."""
    label = path.relative_to(root).as_posix()
    if is_companion_file(path):
        return [], None, []
    if not is_data_file(path):
        return [Problem(dataset.name, label, None, None, path.suffix, "file.unsupported", Severity.WARNING,
                        f"不支持 {path.suffix or '无扩展名'} 文件，未读取。请另存为 CSV（UTF-8）或 XLSX 后重新提交。")], None, []
    provenance, problems = read_provenance(path, dataset.name, label, as_of)
    outcomes = []
    for raw in read_source(dataset, path, label):
        table_problems, outcome = _check_table(raw, provenance, as_of)
        problems += table_problems
        outcomes.append(outcome)
    return problems, provenance, outcomes


def _check_table(raw: RawTable, provenance: Provenance | None, as_of: date) -> tuple[list[Problem], _FileOutcome]:
    dataset = raw.dataset
    report = SourceReport(dataset.name, raw.label, raw.format, raw.encoding, raw.header_style, read=len(raw))
    columns, real_dates = normalise_table(dataset, raw.columns, len(raw))
    batch = Batch(dataset, raw.label, columns, raw.rows, as_of, raw.bad_shape, raw.cell_counts, raw.header_cells,
                  real_dates)
    if raw.unreadable:
        nothing = np.zeros(len(raw), dtype=bool)
        return list(raw.problems), _FileOutcome(report, batch, nothing, nothing.copy(), "")
    problems, errors, warnings = check_batch(batch)
    publishable = ~errors if provenance is not None else np.zeros(len(raw), dtype=bool)
    return raw.problems + problems, _FileOutcome(report, batch, publishable, warnings,
                                                 provenance.submitted_at if provenance else "")


def _resolve_duplicates(intake: Intake, dataset: Dataset, outcomes: list[_FileOutcome]) -> None:
    candidates = [Candidate(o.batch.label, o.submitted_at, o.batch.rows[o.publishable],
                            np.flatnonzero(o.publishable), o.batch.columns) for o in outcomes]
    problems, superseded, merged = find_duplicates(dataset, candidates)
    intake.problems += problems
    for outcome in outcomes:
        label = outcome.batch.label
        if label in superseded:
            outcome.publishable[superseded[label]] = False
        if label in merged:
            outcome.warned[merged[label]] = True
            outcome.merged[merged[label]] = True


def _published_records(dataset: Dataset, outcomes: list[_FileOutcome]) -> pa.Table:
    """The rows that may be published, normalised, with their source file and row number."""
    tables = []
    for o in outcomes:
        keep = o.publishable & ~o.merged
        if not keep.any():
            continue
        mask = pa.array(keep)
        columns = {name: o.batch.columns[name].filter(mask) for name in dataset.field_names}
        columns[SOURCE_COLUMN] = pa.array([o.batch.label] * int(keep.sum()), type=pa.string())
        columns[ROW_COLUMN] = pa.array(o.batch.rows[keep], type=pa.int64())
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
