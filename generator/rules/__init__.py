"""Validation rules: each a small class with an id, a severity and a docstring saying why.

``ROW_RULES`` run on every batch of rows; ``FILE_RULES`` are raised while files are read;
``CROSS_FILE_RULES`` run across all files of a dataset. ``catalogue()`` lists them all, for the
report and the documentation.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..model import Problem, Severity
from .amounts import AmountFormat, AmountNegative
from .base import Batch, Rule, Violation
from .dates import DateFormat, DateOrder, DecisionInFuture
from .duplicates import DuplicateIdentical, DuplicateSuperseded
from .fields import CellCount, Enumerations, InvalidBytes, Required
from .files import (
    FileEmpty,
    FileUnreadable,
    FileUnsupported,
    FolderUnknown,
    HeaderDuplicateColumn,
    HeaderUnknownColumn,
    HeaderUnrecognised,
    ProvenanceInvalid,
    ProvenanceMissing,
    SheetIgnored,
)
from .identifiers import ResidentId, UsccChecksum, UsccFormat, UsccPlaceholder
from .lists import ListExit

FILE_RULES: tuple[type[Rule], ...] = (
    ProvenanceMissing, ProvenanceInvalid, FileUnreadable, FileEmpty, FileUnsupported, FolderUnknown,
    HeaderUnrecognised, HeaderUnknownColumn, HeaderDuplicateColumn, SheetIgnored,
)
ROW_RULES: tuple[type[Rule], ...] = (
    CellCount, InvalidBytes, Required, Enumerations, UsccFormat, UsccChecksum, UsccPlaceholder, ResidentId,
    DateFormat, DateOrder, DecisionInFuture, AmountFormat, AmountNegative, ListExit,
)
CROSS_FILE_RULES: tuple[type[Rule], ...] = (DuplicateIdentical, DuplicateSuperseded)
# The rules whose outcome for a file can change with the build date alone (a decision, birth or
# approval after it). A file without any of them checks the same for every later date, so its
# cached result stays valid (see generator.intake). Keep this in step with the rules using as_of.
AS_OF_RULES: tuple[str, ...] = (DecisionInFuture.id, ResidentId.id, ProvenanceInvalid.id)
MAX_VALUE_CHARS = 200

__all__ = ["AS_OF_RULES", "CROSS_FILE_RULES", "FILE_RULES", "ROW_RULES", "Batch", "Rule", "Violation", "catalogue", "check_batch"]


def catalogue() -> dict[str, type[Rule]]:
    """Every rule by id, in the order the report lists them."""
    return {rule.id: rule for rule in (*FILE_RULES, *ROW_RULES, *CROSS_FILE_RULES)}


def check_batch(batch: Batch) -> tuple[list[Problem], np.ndarray, np.ndarray]:
    """Run every row rule; return the problems and the masks of rows with errors and warnings."""
    errors = np.zeros(len(batch), dtype=bool)
    warnings = np.zeros(len(batch), dtype=bool)
    problems: list[Problem] = []
    if not len(batch):
        return problems, errors, warnings
    # a row whose cells are shifted is reported for that alone: its other cells mean nothing
    misshapen = batch.bad_shape if batch.bad_shape is not None else np.zeros(len(batch), dtype=bool)
    for rule_class in ROW_RULES:
        rule = rule_class()
        for violation in rule.check(batch):
            if rule_class is not CellCount:
                violation.mask = violation.mask & ~misshapen
                if not violation.mask.any():
                    continue
            problems += _problems(batch, rule, violation)
            target = errors if rule.severity is Severity.ERROR else warnings
            target |= violation.mask
    return problems, errors, warnings


def _problems(batch: Batch, rule: Rule, violation: Violation) -> list[Problem]:
    index = np.flatnonzero(violation.mask)
    values = violation.values
    if values is None and violation.field is not None:
        values = batch.values(violation.field)
    if values is None:
        shown = [None] * len(index)
    elif isinstance(values, pa.Array | pa.ChunkedArray):
        shown = values.take(pa.array(index)).to_pylist()
    else:
        shown = [values[i] for i in index]
    title = batch.dataset.field(violation.field).title if violation.field else ""
    out = []
    for i, value in zip(index, shown, strict=True):
        value = clip(value)
        out.append(Problem(batch.dataset.name, batch.label(i), int(batch.rows[i]), violation.field, value, rule.id,
                           rule.severity, violation.message.format(value=value if value is not None else "", title=title)))
    return out


def clip(value: str | None) -> str | None:
    """Reports quote values, but a 1 MB cell is not worth quoting whole."""
    if value is not None and len(value) > MAX_VALUE_CHARS:
        return value[:MAX_VALUE_CHARS] + f"…（共 {len(value)} 字）"
    return value
