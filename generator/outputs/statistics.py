"""The statistics page and the home page's figures, from the published records.

Charts are drawn at build time as inline SVG (no script, no CDN): disclosures per month and
dataset over the last 24 months, and the authorities and prefectures with the most records.
Each chart has a table with the same numbers, for screen readers and for copying.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from ..schema import datasets
from .disclosures import Disclosures, Listing

COLOURS = {"licensing": "#1565c0", "penalties": "#c62828", "redlist": "#2e7d32", "blacklist": "#37474f"}
MONTHS = 24
TOP = 15
CHART_WIDTH = 720
BAR_AREA = 200


def statistics_context(disclosures: Disclosures, as_of: date, region_name: Callable[[str], str]) -> dict:
    listing = disclosures.listing
    titles = {d.name: d.title for d in datasets()}
    names = list(titles)
    months = _last_months(as_of, MONTHS)
    column = listing.unordered  # counts: in the rows' own order
    per_month = _counts(listing, pc.utf8_slice_codeunits(column("date"), 0, 7), set(months))
    prefecture = pc.if_else(pc.equal(column("region"), ""), "",
                            pc.binary_join_element_wise(pc.utf8_slice_codeunits(column("region"), 0, 4), "00", ""))
    per_region = _counts(listing, prefecture, None)
    per_authority = _counts(listing, column("authority"), None)
    return {
        "legend": [(titles[n], COLOURS[n]) for n in names],
        "datasets": [(n, titles[n]) for n in names],
        "totals": [(titles[n], disclosures.by_dataset[n].table.num_rows if n in disclosures.by_dataset else 0) for n in names],
        "months": _stacked(months, per_month, names),
        "authorities": _bars(_top(per_authority, names), names, lambda k: k),
        "regions": _bars(_top({k: v for k, v in per_region.items() if k}, names), names, region_name),
        "as_of": as_of.isoformat(),
    }


def home_context(disclosures: Disclosures, as_of: date, latest: int = 10) -> dict:
    titles = {d.name: d.title for d in datasets()}
    rows = disclosures.listing.slice(0, latest).to_pylist()
    for r in rows:
        r["dataset_title"] = titles[r["dataset"]]
    return {"as_of": as_of.isoformat(), "latest": rows,
            "totals": [(n, titles[n], disclosures.by_dataset[n].table.num_rows if n in disclosures.by_dataset else 0)
                       for n in titles],
            "subjects": _subjects(disclosures.listing.unordered("page_id"))}


def _subjects(page_ids: pa.ChunkedArray | pa.Array) -> int:
    """How many subjects have a page (distinct non-empty page ids), counted by Arrow."""
    return pc.count_distinct(pc.filter(page_ids, pc.not_equal(page_ids, ""))).as_py()


def _last_months(as_of: date, n: int) -> list[str]:
    out = []
    year, month = as_of.year, as_of.month
    for _ in range(n):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def _counts(listing: Listing, keys: pa.Array | pa.ChunkedArray, keep: set[str] | None) -> dict[str, dict[str, int]]:
    """Records per key and dataset; ``keys`` in the listing rows' own order (:meth:`Listing.unordered`)."""
    grouped = pa.table({"key": keys, "dataset": listing.unordered("dataset")}).group_by(["key", "dataset"]).aggregate([([], "count_all")])
    out: dict[str, dict[str, int]] = {}
    for key, dataset, count in zip(*(grouped[c].to_pylist() for c in ("key", "dataset", "count_all")), strict=True):
        if keep is None or key in keep:
            out.setdefault(key, {})[dataset] = count
    return out


def _top(counts: dict[str, dict[str, int]], names: list[str]) -> list[tuple[str, dict[str, int]]]:
    return sorted(counts.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))[:TOP]


def _stacked(months: list[str], counts: dict[str, dict[str, int]], names: list[str]) -> dict:
    """Vertical stacked bars, one per month."""
    peak = max((sum(c.values()) for c in counts.values()), default=0) or 1
    slot = CHART_WIDTH / len(months)
    bars = []
    for i, month in enumerate(months):
        c = counts.get(month, {})
        y = BAR_AREA + 10
        parts = []
        for n in names:
            h = c.get(n, 0) / peak * BAR_AREA
            if h:
                y -= h
                parts.append({"x": round(i * slot + 2, 1), "y": round(y, 1), "w": round(slot - 4, 1), "h": round(h, 1),
                              "colour": COLOURS[n], "label": f"{month} {n} {c.get(n, 0)}"})
        bars.append({"month": month, "label": month[2:].replace("-", "/"), "x": round(i * slot + slot / 2, 1),
                     "parts": parts, "counts": [c.get(n, 0) for n in names], "total": sum(c.values())})
    return {"bars": bars, "peak": peak, "width": CHART_WIDTH, "height": BAR_AREA + 40}


def _bars(top: list[tuple[str, dict[str, int]]], names: list[str], label: Callable[[str], str]) -> dict:
    """Horizontal stacked bars, one per row."""
    peak = max((sum(c.values()) for _, c in top), default=0) or 1
    rows = []
    for i, (key, c) in enumerate(top):
        x = 0.0
        parts = []
        for n in names:
            w = c.get(n, 0) / peak * 400
            if w:
                parts.append({"x": round(x, 1), "w": round(w, 1), "colour": COLOURS[n]})
                x += w
        rows.append({"name": label(key), "y": i * 26, "parts": parts, "end": round(x, 1), "counts": [c.get(n, 0) for n in names],
                     "total": sum(c.values())})
    return {"rows": rows, "height": max(26 * len(rows), 26)}
