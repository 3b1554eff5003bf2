"""The domain's data: problems found in the input and what each source file yielded."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum


class Severity(StrEnum):
    """What a problem does to its row."""

    ERROR = "error"  # the row is withheld until the department fixes it
    WARNING = "warning"  # the row is published; the department should look at it


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, as data.

    ``row`` is the spreadsheet row (the header is row 1); ``None`` means the problem concerns the
    whole file (a missing provenance, an unknown column). ``field`` is the schema field name, or
    ``None`` when no single field is concerned.
    """

    dataset: str
    file: str
    row: int | None
    field: str | None
    value: str | None
    rule: str
    severity: Severity
    message: str

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}  # every value is a scalar: no deep copy
        d["severity"] = str(self.severity)
        return d


@dataclass
class SourceReport:
    """What one input file (or one sheet of a workbook) yielded."""

    dataset: str
    file: str
    format: str = ""
    encoding: str = ""
    header_style: str = ""
    read: int = 0
    withheld: int = 0
    warnings: int = 0  # rows published with at least one warning

    @property
    def published(self) -> int:
        return self.read - self.withheld

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["published"] = self.published
        return d
