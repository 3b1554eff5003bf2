"""The same decision submitted twice: across all files of a dataset, after the row rules.

A record is identified by the dataset's ``recordKey`` (authority code and document number, or
for lists the authority, list and listing basis) plus the subject. Identical rows collapse into
one published record; conflicting rows are reported, the later submission wins and the earlier
one is withheld as superseded. "Later" means a later provenance ``submitted_at``, then a later
file name, then a later row.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import codes
from ..model import Problem, Severity
from ..schema import Dataset
from .base import Batch, Rule

KEY_SEPARATOR = "\x1f"


class DuplicateIdentical(Rule):
    """An identical row submitted twice (a re-export, two overlapping files) is published once;
    the repeat is noted so the department can tidy its exports."""

    id = "duplicate.identical"
    severity = Severity.WARNING
    title = "重复记录（内容相同，已合并）"


class DuplicateSuperseded(Rule):
    """Two different rows for one decision cannot both be true. The issuing side's latest
    submission wins; the earlier row is withheld and reported so nobody publishes stale facts
    without noticing."""

    id = "duplicate.superseded"
    title = "重复记录（内容冲突，已被较新提交取代）"


@dataclass
class Candidate:
    """The rows of one batch that passed the row rules, as the duplicate check sees them."""

    batch: Batch
    positions: np.ndarray  # positions in the batch of the rows that may be published
    keys: pa.Array | pa.ChunkedArray | None = None  # every row's record key, when already known


def subject_key(columns: dict[str, pa.Array]) -> pa.Array:
    """What identifies the subject of a row: USCC, else 工商注册号 behind the placeholder, else
    the ID number, else the name."""
    uscc = columns["subject_uscc"]
    placeholder = pc.equal(uscc, codes.USCC_PLACEHOLDER)
    by_reg = pc.binary_join_element_wise("GSZC:", columns["subject_business_reg_no"], "")
    by_id = pc.binary_join_element_wise("ID:", columns["subject_id_no"], "")
    by_name = pc.binary_join_element_wise("NAME:", columns["subject_name"], "")
    return pc.if_else(
        pc.and_(pc.not_equal(uscc, ""), pc.invert(placeholder)), uscc,
        pc.if_else(placeholder, by_reg, pc.if_else(pc.not_equal(columns["subject_id_no"], ""), by_id, by_name)))


def record_keys(dataset: Dataset, columns: dict[str, pa.Array]) -> pa.Array:
    parts = [columns[name] for name in dataset.record_key] + [subject_key(columns)]
    return pc.binary_join_element_wise(*parts, KEY_SEPARATOR)


def find_duplicates(dataset: Dataset, candidates: list[Candidate], submitted: list[str]
                    ) -> tuple[list[Problem], dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Problems, and per candidate batch the positions withheld as superseded and those merged.

    ``submitted`` gives each source file's provenance ``submitted_at`` (by the batches' source
    index): the later submission wins."""
    keys = [_combined((c.keys if c.keys is not None else record_keys(dataset, c.batch.columns)).take(pa.array(c.positions)))
            for c in candidates]
    superseded: dict[int, list[int]] = {}
    merged: dict[int, list[int]] = {}
    problems: list[Problem] = []
    repeated_keys = _repeated(keys)
    repeated: list[_Repeat] = []
    for i, (c, k) in enumerate(zip(candidates, keys, strict=True)):
        if not len(repeated_keys):
            break
        hit = pc.is_in(k, value_set=repeated_keys).to_numpy(zero_copy_only=False)
        for key, position in zip(k.filter(pa.array(hit)).to_pylist(), c.positions[hit].tolist(), strict=True):
            source = int(c.batch.source[position])
            repeated.append(_Repeat(key, submitted[source], c.batch.labels[source], int(c.batch.rows[position]), i,
                                    position))
    repeated.sort()
    for _, group in groupby(repeated, key=lambda r: r.key):
        problems += _resolve(dataset, candidates, list(group), superseded, merged)
    as_arrays = lambda d: {k: np.array(sorted(v), dtype=np.int64) for k, v in d.items()}  # noqa: E731
    return problems, as_arrays(superseded), as_arrays(merged)


def _combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)
    return values


def _repeated(keys: list[pa.Array]) -> pa.Array:
    """Keys that occur more than once across all batches (hashing, no sorting)."""
    if not keys or not sum(len(k) for k in keys):
        return pa.array([], type=pa.string())
    counted = pc.value_counts(pa.chunked_array(keys, type=pa.string()))
    return counted.field("values").filter(pc.greater(counted.field("counts"), 1))


class _Repeat(NamedTuple):
    """A row whose record key occurs more than once; sorts in the order submissions count."""

    key: str
    submitted: str
    label: str
    row: int
    batch: int
    position: int


def _resolve(dataset: Dataset, candidates: list[Candidate], records: list[_Repeat], superseded: dict, merged: dict
             ) -> list[Problem]:
    winner = records[-1]
    winner_content = _content(dataset, candidates[winner.batch].batch, winner.position)
    where = f"{winner.label} 第 {winner.row} 行"
    problems = []
    for r in records[:-1]:
        batch = candidates[r.batch].batch
        doc = batch.columns[dataset.record_key[-1]][int(r.position)].as_py()
        if _content(dataset, batch, r.position) == winner_content:
            merged.setdefault(r.batch, []).append(int(r.position))
            rule, message = DuplicateIdentical, f"与 {where} 完全相同，只发布一次。请避免重复提交同一记录。"
        else:
            superseded.setdefault(r.batch, []).append(int(r.position))
            rule, message = DuplicateSuperseded, (f"与 {where} 是同一决定但内容不同；以较新提交的 {where} 为准，本行不发布。"
                                                  "如果本行才是正确的，请更正或撤回较新的记录。")
        problems.append(Problem(dataset.name, r.label, int(r.row), dataset.record_key[-1], doc, rule.id, rule.severity,
                                message))
    return problems


def _content(dataset: Dataset, batch: Batch, position: int) -> tuple:
    return tuple(batch.columns[name][int(position)].as_py() for name in dataset.field_names)
