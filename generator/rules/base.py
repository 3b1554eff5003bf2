"""What a validation rule is and what it sees.

A rule looks at one :class:`Batch` (the normalised rows of one or more files) and yields
:class:`Violation`s: a boolean mask over the rows, the field concerned and a message template.
Masks keep the rules vectorised; only the rows that fail become :class:`~generator.model.Problem`
objects, in :func:`generator.rules.check_batch`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..model import Severity
from ..schema import Dataset


@dataclass
class Batch:
    """The normalised rows of one or more source files, as columns, with what rules need to know.

    Small files are checked together: ``source`` gives each row's index into ``labels`` (the
    files), ``rows`` its spreadsheet row in that file. Checking a thousand 100-row files as one
    batch costs one pass of each kernel instead of a thousand.
    """

    dataset: Dataset
    labels: list[str]
    source: np.ndarray
    columns: dict[str, pa.Array]
    rows: np.ndarray
    as_of: date
    bad_shape: np.ndarray | None = None  # rows whose cell count differs from their header's
    cell_counts: np.ndarray | None = None
    header_cells: np.ndarray | None = None  # per row: cells in its file's header
    lossy: np.ndarray | None = None  # rows of files whose bytes had to be replaced while decoding
    real_dates: dict[str, np.ndarray] = field(default_factory=dict)
    _cache: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.rows)

    def label(self, position: int) -> str:
        """The file that row ``position`` of the batch comes from."""
        return self.labels[self.source[position]]

    def values(self, name: str) -> pa.Array:
        return self.columns[name]

    def empty(self, name: str) -> np.ndarray:
        key = ("empty", name)
        if key not in self._cache:
            self._cache[key] = pc.equal(self.columns[name], "").to_numpy(zero_copy_only=False)
        return self._cache[key]

    def present(self, name: str) -> np.ndarray:
        return ~self.empty(name)

    def equals(self, name: str, value: str) -> np.ndarray:
        return pc.equal(self.columns[name], value).to_numpy(zero_copy_only=False)

    def isin(self, name: str, options: tuple[str, ...]) -> np.ndarray:
        return pc.is_in(self.columns[name], value_set=pa.array(list(options), type=pa.string())).to_numpy(
            zero_copy_only=False)

    def matches(self, name: str, pattern: str) -> np.ndarray:
        key = ("match", name, pattern)
        if key not in self._cache:
            self._cache[key] = pc.match_substring_regex(self.columns[name], pattern=pattern).to_numpy(
                zero_copy_only=False)
        return self._cache[key]

    def real_date(self, name: str) -> np.ndarray:
        """Rows whose ``name`` holds a real date (normalised to YYYY-MM-DD)."""
        if name not in self.real_dates:
            from ..normalize import real_iso_dates

            self.real_dates[name] = real_iso_dates(self.columns[name])
        return self.real_dates[name]

    def lengths(self, name: str) -> np.ndarray:
        return pc.utf8_length(self.columns[name]).to_numpy(zero_copy_only=False)


@dataclass
class Violation:
    """Rows of a batch that break a rule for one field.

    ``message`` is a template; ``{value}`` and ``{title}`` (the field's Chinese title) are filled
    in per row. ``values`` overrides what is reported as the value (default: the field's cell).
    """

    field: str | None
    mask: np.ndarray
    message: str
    values: list[str] | pa.Array | None = None


class Rule:
    """A named check. Subclasses set ``id``, ``severity`` and ``title`` and explain in their
    docstring why the check exists."""

    id: str = ""
    severity: Severity = Severity.ERROR
    title: str = ""

    def check(self, batch: Batch) -> Iterator[Violation]:
        raise NotImplementedError

    @classmethod
    def why(cls) -> str:
        return " ".join((cls.__doc__ or "").split())
