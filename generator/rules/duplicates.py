"""The same decision submitted twice: across all files of a dataset, after the row rules.

A record is identified by the dataset's ``recordKey`` (authority code and document number, or
for lists the authority, list and listing basis) plus the subject. Identical rows collapse into
one published record; conflicting rows are reported, the later submission wins and the earlier
one is withheld as superseded. "Later" means a later provenance ``submitted_at``, then a later
file name, then a later row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import codes
from ..model import Problem, Severity
from ..schema import Dataset
from .base import Rule

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
    """The rows of one file that passed the row rules, as the duplicate check sees them."""

    label: str
    submitted_at: str
    rows: np.ndarray  # spreadsheet row numbers of the candidate rows
    positions: np.ndarray  # their positions in the file's batch
    columns: dict[str, pa.Array]  # normalised columns of the whole batch


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


def find_duplicates(dataset: Dataset, candidates: list[Candidate]) -> tuple[list[Problem], dict[str, np.ndarray],
                                                                             dict[str, np.ndarray]]:
    """Problems, and per file label the batch positions withheld as superseded and those merged."""
    keys = [record_keys(dataset, c.columns).take(pa.array(c.positions)) for c in candidates]
    superseded: dict[str, list[int]] = {}
    merged: dict[str, list[int]] = {}
    problems: list[Problem] = []
    repeated_keys = _repeated(keys)
    frames = []
    for i, (c, k) in enumerate(zip(candidates, keys, strict=True)):
        hit = pc.is_in(k, value_set=repeated_keys).to_numpy(zero_copy_only=False) if len(repeated_keys) else None
        if hit is None or not hit.any():
            continue
        frames.append(pd.DataFrame({"key": k.filter(pa.array(hit)).to_numpy(zero_copy_only=False), "file": i,
                                    "position": c.positions[hit], "row": c.rows[hit]}))
    if frames:
        repeated = pd.concat(frames, ignore_index=True)
        if len(repeated):
            repeated = repeated.assign(
                submitted=[candidates[f].submitted_at for f in repeated["file"]],
                label=[candidates[f].label for f in repeated["file"]],
            ).sort_values(["key", "submitted", "label", "row"], kind="stable")
            for _, group in repeated.groupby("key", sort=True):
                problems += _resolve(dataset, candidates, group, superseded, merged)
    as_arrays = lambda d: {k: np.array(sorted(v), dtype=np.int64) for k, v in d.items()}  # noqa: E731
    return problems, as_arrays(superseded), as_arrays(merged)


def _repeated(keys: list[pa.Array]) -> pa.Array:
    """Keys that occur more than once across all files (a hash count; no sorting)."""
    if not keys or not sum(len(k) for k in keys):
        return pa.array([], type=pa.string())
    encoded = pc.dictionary_encode(pa.chunked_array(keys, type=pa.string()).combine_chunks())
    counts = np.bincount(encoded.indices.to_numpy(zero_copy_only=False), minlength=len(encoded.dictionary))
    return encoded.dictionary.filter(pa.array(counts > 1))


def _resolve(dataset: Dataset, candidates: list[Candidate], group: pd.DataFrame, superseded: dict, merged: dict
             ) -> list[Problem]:
    records = list(group.itertuples(index=False))
    winner = records[-1]
    winner_content = _content(dataset, candidates[winner.file], winner.position)
    problems = []
    for r in records[:-1]:
        source = candidates[r.file]
        where = f"{candidates[winner.file].label} 第 {winner.row} 行"
        doc = source.columns[dataset.record_key[-1]][int(r.position)].as_py()
        if _content(dataset, source, r.position) == winner_content:
            merged.setdefault(source.label, []).append(int(r.position))
            rule, message = DuplicateIdentical, f"与 {where} 完全相同，只发布一次。请避免重复提交同一记录。"
        else:
            superseded.setdefault(source.label, []).append(int(r.position))
            rule, message = DuplicateSuperseded, (f"与 {where} 是同一决定但内容不同；以较新提交的 {where} 为准，本行不发布。"
                                                  "如果本行才是正确的，请更正或撤回较新的记录。")
        problems.append(Problem(dataset.name, source.label, int(r.row), dataset.record_key[-1], doc, rule.id,
                                rule.severity, message))
    return problems


def _content(dataset: Dataset, candidate: Candidate, position: int) -> tuple:
    return tuple(candidate.columns[name][int(position)].as_py() for name in dataset.field_names)
