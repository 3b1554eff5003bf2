"""Names for GB/T 2260 administrative-division codes, national, from a bundled table.

``data/gb2260.csv`` lists every province-, prefecture- and county-level division (6-digit code,
official Chinese name) of a current edition; ``data/gb2260.SOURCE.md`` says where it came from.
Pseudo-levels such as 北京市市辖区 or 湖北省省直辖县级行政区划 are not in it, so a county's full
name skips the level its code does not have: 北京市东城区, 湖北省仙桃市.

Characters 3-8 of a USCC are the registration authority's division code as it was on the day of
registration, and divisions are renamed, merged and recoded every year (横县 450127 became
横州市 450181; 江北区 500105 was folded into 两江新区). A code missing from the current table
therefore usually still names the right place at a coarser level, so ``region`` falls back from
the county to its prefecture (``code[:4] + "00"``) and then to its province (``code[:2] + "0000"``)
instead of giving up.

The table (~3,200 rows) is read once, on first use, and every lookup is a dict probe.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeGuard

TABLE = Path(__file__).parent / "data" / "gb2260.csv"


@dataclass(frozen=True)
class Region:
    """The division a code resolved to: the level that matched, not necessarily the code asked for."""

    code: str  # the code of the level that matched, e.g. "450103"
    name: str  # e.g. "青秀区"
    full_name: str  # province + prefecture + county, e.g. "广西壮族自治区南宁市青秀区"
    province: str  # the province's code, e.g. "450000"


@cache
def _table() -> dict[str, str]:
    """code -> name, loaded lazily so importing the module costs nothing."""
    with TABLE.open(encoding="utf-8", newline="") as fh:
        return {row["code"]: row["name"] for row in csv.DictReader(fh)}


def _is_code(code: object) -> TypeGuard[str]:
    """Six ASCII digits; str.isdigit alone would accept full-width and superscript digits."""
    return isinstance(code, str) and len(code) == 6 and code.isascii() and code.isdigit()


@cache
def _at(code: str) -> Region:
    """The Region of a code known to be in the table; cached, so full names are built once."""
    table = _table()
    levels = dict.fromkeys((code[:2] + "0000", code[:4] + "00", code))  # ordered, duplicates dropped
    full_name = "".join(table[c] for c in levels if c in table)
    return Region(code, table[code], full_name, code[:2] + "0000")


def region(code: str | None) -> Region | None:
    """The division of a 6-digit code: exact, else its prefecture, else its province; None for junk or unknown codes."""
    if not _is_code(code):
        return None
    table = _table()
    for candidate in (code, code[:4] + "00", code[:2] + "0000"):
        if candidate in table:
            return _at(candidate)
    return None


def province_of(code: str | None) -> Region | None:
    """The province of a 6-digit code, whether or not its prefecture or county is still in the table."""
    if not _is_code(code):
        return None
    return region(code[:2] + "0000")


def all_regions() -> dict[str, str]:
    """Every code -> name, sorted by code; a copy, so callers cannot alter what lookups see."""
    return dict(_table())
