"""What a validation rule is and what it sees.

A rule looks at one :class:`Batch` (the normalised rows of one or more files) and yields
:class:`Violation`s: a boolean mask over the rows, the field concerned and a message template.
Masks keep the rules vectorised; only the rows that fail become :class:`~generator.model.Problem`
objects, in :func:`generator.rules.check_batch`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
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
            from ..normalize import string_buffers

            found = string_buffers(self.columns[name])
            if found is not None:  # an empty value is one whose offsets do not move
                self._cache[key] = np.diff(found[0]) == 0
            else:
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
            fixed = fixed_width_matches(self.columns[name], pattern)
            if fixed is None:
                fixed = alternatives_match(self.columns[name], pattern)
            if fixed is None:
                fixed = pc.match_substring_regex(self.columns[name], pattern=pattern).to_numpy(zero_copy_only=False)
            self._cache[key] = fixed
        return self._cache[key]

    def real_date(self, name: str) -> np.ndarray:
        """Rows whose ``name`` holds a real date (normalised to YYYY-MM-DD)."""
        if name not in self.real_dates:
            from ..normalize import real_iso_dates

            self.real_dates[name] = real_iso_dates(self.columns[name])
        return self.real_dates[name]

    def lengths(self, name: str) -> np.ndarray:
        return pc.utf8_length(self.columns[name]).to_numpy(zero_copy_only=False)


_CLASS = re.compile(r"(\[[^\]^\\]+\]|[A-Za-z0-9])(?:\{(\d+)\})?")


@functools.lru_cache(maxsize=64)
def _fixed_width(pattern: str) -> np.ndarray | None:
    """For a regular expression like ``^[1-9][0-9]{16}[0-9X]$`` (ASCII character classes and
    letters or digits, with counts, anchored at both ends), a (width, 256) table of the bytes
    allowed at each position; None for any other pattern."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    body, position, rows = pattern[1:-1], 0, []
    while position < len(body):
        found = _CLASS.match(body, position)
        if found is None:
            return None
        allowed = np.zeros(256, dtype=bool)
        item = found.group(1)
        if item.startswith("["):
            inner, i = item[1:-1], 0
            while i < len(inner):
                if i + 2 < len(inner) and inner[i + 1] == "-":
                    allowed[ord(inner[i]): ord(inner[i + 2]) + 1] = True
                    i += 3
                else:
                    allowed[ord(inner[i])] = True
                    i += 1
        else:
            allowed[ord(item)] = True
        if allowed[128:].any():
            return None
        rows += [allowed] * int(found.group(2) or 1)
        position = found.end()
    return np.array(rows) if rows else None


def fixed_width_matches(values: pa.Array, pattern: str) -> np.ndarray | None:
    """``pc.match_substring_regex`` for a fixed-width ASCII pattern, read off the bytes (a
    value matches when it has exactly that many bytes, each allowed at its position); None when
    the pattern or the column is of another kind."""
    table = _fixed_width(pattern)
    if table is None:
        return None
    from ..normalize import string_buffers

    found = string_buffers(values)
    if found is None:
        return None
    offsets, data = found
    width = len(table)
    out = np.zeros(len(offsets) - 1, dtype=bool)
    sized = np.diff(offsets) == width
    if sized.all() and len(data) == width * len(sized):  # the usual code column: one (n, width) matrix
        cells = data.reshape(-1, width)
        rows = slice(None)
    else:
        rows = np.flatnonzero(sized)
        if not len(rows):
            return out
        cells = data[offsets[rows][:, None] + np.arange(width)]
    ok = table[0][cells[:, 0]]
    for position in range(1, width):
        ok &= table[position][cells[:, position]]
    out[rows] = ok
    return out


_WORD = re.compile(r"[^\\.*+?()\[\]{}|^$]+")


@functools.lru_cache(maxsize=64)
def _alternatives(pattern: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """For a regular expression like ``^(身份证|护照号|其他.*)$`` (literal words, some followed
    by ``.*``), the exact words and the prefixes; None for any other pattern."""
    if not (pattern.startswith("^(") and pattern.endswith(")$")):
        return None
    words, prefixes = [], []
    for item in pattern[2:-2].split("|"):
        if item.endswith(".*"):
            item, target = item[:-2], prefixes
        else:
            target = words
        if not _WORD.fullmatch(item):
            return None
        target.append(item)
    return tuple(words), tuple(prefixes)


def alternatives_match(values: pa.Array, pattern: str) -> np.ndarray | None:
    """``pc.match_substring_regex`` for a pattern of literal alternatives (see
    :func:`_alternatives`) without running the regular expression: a value matches when it is
    one of the words, or starts with a prefix and holds no line feed (RE2's ``.`` stops at one
    and its ``$`` is the end of the text). None when the pattern is of another kind."""
    found = _alternatives(pattern)
    if found is None or values.null_count:
        return None
    words, prefixes = found
    ok = pc.is_in(values, value_set=pa.array(list(words), type=pa.string())).to_numpy(zero_copy_only=False)
    if prefixes:
        started = np.zeros(len(values), dtype=bool)
        for prefix in prefixes:
            started |= pc.starts_with(values, prefix).to_numpy(zero_copy_only=False)
        if started.any():
            from ..normalize import _contains_byte

            if _contains_byte(values, 0x0A):
                started &= ~pc.match_substring(values, "\n").to_numpy(zero_copy_only=False)
            ok |= started
    return ok


@dataclass
class Violation:
    """Rows of a batch that break a rule for one field.

    ``message`` is a template; ``{value}`` and ``{title}`` (the field's Chinese title) are filled
    in per row. ``values`` overrides what is reported as the value (default: the field's cell).
    """

    field: str | None
    mask: np.ndarray
    message: str
    values: list[str] | pa.Array | RowValues | None = None


class RowValues:
    """Values to report made row by row, only for the rows that are reported."""

    def __init__(self, make: Callable[[int], str | None]) -> None:
        self.make = make

    def __getitem__(self, position: int) -> str | None:
        return self.make(int(position))


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
