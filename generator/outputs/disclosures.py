"""The published records, once, in the shapes the site's pages need.

Everything here starts from :func:`opendata.published_table` — the publication decision's
records, personal data already protected, with their stable record ids — so pages, listings,
the API, search and the data packages all show the same records. Nothing is read from raw rows.

``Disclosures`` holds, per dataset, that table plus the columns pages need (subject page id,
region, authority key), and one narrow table over all datasets for listings, sorted newest first.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..codes import USCC_PATTERN, USCC_PLACEHOLDER
from ..disclosure import Decisions
from ..incremental import row_digests, text_digests
from ..normalize import string_ranks
from ..schema import Dataset
from ..subjects import page_ids, region_codes
from ..threads import side_by_side
from .opendata import published_table

# what a listing row shows as the record's reference and its gist, per dataset
REFERENCE = {"licensing": "decision_doc_no", "penalties": "decision_doc_no", "redlist": "list_name", "blacklist": "list_name"}
GIST = {"licensing": ("certificate_name", "license_content"), "penalties": ("penalty_categories", "penalty_content"),
        "redlist": ("listing_reason",), "blacklist": ("listing_reason",)}
LISTING_COLUMNS = ("dataset", "record_id", "page_id", "region", "authority", "authority_key", "subject_name",
                   "subject_category", "date", "reference", "gist", "display_until", "under_objection")


@dataclass
class DatasetRecords:
    dataset: Dataset
    table: pa.Table  # published_table(...) plus page_id, region, authority_key


class Listing:
    """:data:`LISTING_COLUMNS` over every dataset, newest first (then by dataset and record id).

    The rows are kept as made, dataset after dataset, with their order beside; a column is put in
    that order (one take over every record) only when asked for, once. Sorting every column at
    once was a random gather of the whole listing's text, a few seconds a build at a million
    records, though only the grouping columns are needed in order: the text columns are read for
    the few rows a build writes (:meth:`take`) or counted, where order does not matter
    (:meth:`unordered`)."""

    def __init__(self, rows: pa.Table, order: np.ndarray) -> None:
        self._rows = rows
        self.order = order
        self._columns: dict[str, pa.Array | pa.ChunkedArray] = {}

    @property
    def num_rows(self) -> int:
        return len(self.order)

    def __getitem__(self, name: str) -> pa.Array | pa.ChunkedArray:
        """A column in listing order."""
        if name not in self._columns:
            self._columns[name] = self._rows[name].take(pa.array(self.order))
        return self._columns[name]

    def unordered(self, name: str) -> pa.ChunkedArray:
        """A column in the rows' own order (dataset after dataset): for counting."""
        return self._rows[name]

    def add(self, name: str, column: pa.Array | pa.ChunkedArray) -> None:
        """Keep a column made from this listing's columns, in listing order."""
        if len(column) != self.num_rows:
            raise ValueError(f"column {name} has {len(column)} rows, the listing {self.num_rows}")
        self._columns[name] = column

    def take(self, indices: np.ndarray | pa.Array) -> pa.Table:
        """The rows at these positions of the listing order, every column of :data:`LISTING_COLUMNS`."""
        positions = np.asarray(indices, dtype=np.int64)
        return self._rows.take(pa.array(self.order[positions]))

    def slice(self, offset: int, length: int) -> pa.Table:
        return self.take(np.arange(offset, min(offset + length, self.num_rows), dtype=np.int64))


@dataclass
class Disclosures:
    by_dataset: dict[str, DatasetRecords]
    listing: Listing  # LISTING_COLUMNS over every dataset, newest first (then by dataset and record id)
    # per listing row, its record's position in the datasets' tables one after another
    listing_records: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # per dataset, digests already known: (for each record, its row in ``digests`` or -1; digests),
    # see :meth:`known_digests`
    earlier: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.listing.num_rows

    @functools.cached_property
    def record_digests(self) -> np.ndarray:
        """A digest per record (the datasets' tables one after another) of its values and its
        dataset: everything a page shows of it is made from these."""
        parts = []
        for name, records in self.by_dataset.items():
            if name in self.earlier:
                rows, digests = self.earlier[name]
                part = np.zeros((records.table.num_rows, 2), np.uint64)
                known = rows >= 0
                part[known] = digests[rows[known]]
                fresh = np.flatnonzero(~known)
                if len(fresh):
                    part[fresh] = row_digests(records.table.take(pa.array(fresh))) + text_digests([name])
            else:
                part = row_digests(records.table) + text_digests([name])
            parts.append(part)
        return np.vstack(parts) if parts else np.zeros((0, 2), np.uint64)

    def known_digests(self, rows: dict[str, np.ndarray], digests: dict[str, np.ndarray]) -> None:
        """Take the digests of records that an earlier build digested: ``digests`` are that build's
        :attr:`record_digests` per dataset and ``rows``, per record now, its row there when every
        value of it is the same (else -1). Its page columns (page id, region, authority key) are
        made from those values, so its digest is the same. Datasets whose counts do not fit are
        digested afresh."""
        self.__dict__.pop("record_digests", None)
        self.earlier = {name: (rows[name], digests[name]) for name, records in self.by_dataset.items()
                        if name in rows and name in digests and len(rows[name]) == records.table.num_rows
                        and (not len(rows[name]) or int(rows[name].max()) < len(digests[name]))}

    def digests_of(self, name: str) -> np.ndarray:
        """The :attr:`record_digests` of one dataset's records, in its table's order."""
        start = self.record_offsets()[name]
        return self.record_digests[start:start + self.by_dataset[name].table.num_rows]

    def record_offsets(self) -> dict[str, int]:
        """Where each dataset's records start in :attr:`record_digests`."""
        sizes = [records.table.num_rows for records in self.by_dataset.values()]
        return dict(zip(self.by_dataset, np.r_[0, np.cumsum(sizes)[:-1]].astype(int).tolist(), strict=True))


def gather(decisions: dict[str, Decisions], published: dict[str, pa.Table] | None = None) -> Disclosures:
    """The published records of every dataset; ``published`` reuses tables already made by
    :func:`published_table` (the open-data step makes them too)."""
    def shaped(d: Decisions) -> tuple[DatasetRecords, pa.Table]:
        table = published[d.dataset.name] if published is not None else published_table(d)
        table = (table.append_column("page_id", page_ids(table))
                 .append_column("region", region_codes(table))
                 .append_column("authority_key", authority_keys(table["authority"], table["authority_uscc"])))
        return DatasetRecords(d.dataset, table), _listing_part(d.dataset, table)

    done = side_by_side(shaped, decisions.values())  # the datasets side by side
    by_dataset = {name: records for name, (records, _) in zip(decisions, done, strict=True)}
    parts = [part for _, part in done]
    listing = pa.concat_tables(parts) if parts else pa.table({c: pa.array([], pa.string()) for c in LISTING_COLUMNS})
    order = newest_first(listing, {name: records.table.num_rows for name, records in by_dataset.items()})
    return Disclosures(by_dataset, Listing(listing, order), order)


def newest_first(listing: pa.Table, sizes: dict[str, int]) -> np.ndarray:
    """The order of the listing's rows (``sizes``: each dataset's rows, one dataset after
    another) by date, newest first, then dataset and record id. Each dataset's rows are in
    record-id order already (published tables are), so the rows taken dataset by dataset in
    name order are in the order of the last two keys, and a stable sort by the dates' ranks
    finishes the job, at a tenth of the cost of sorting by the three strings."""
    starts = dict(zip(sizes, np.r_[0, np.cumsum(list(sizes.values()))[:-1]].astype(np.int64).tolist(), strict=True))
    parts = [np.arange(starts[name], starts[name] + sizes[name], dtype=np.int64) for name in sorted(sizes)]
    by_name = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    if not len(by_name):
        return by_name
    dates = string_ranks(listing["date"].take(pa.array(by_name)))
    return by_name[np.argsort(-dates, kind="stable")]


def authority_keys(names: pa.ChunkedArray | pa.Array, codes: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A path-safe key per authority: its USCC, or (no valid code supplied) ``N`` and a hash of
    its name, so an authority always has the same page."""
    codes = pc.fill_null(codes, "")
    names = pc.fill_null(names, "")
    good = pc.and_(pc.match_substring_regex(codes, USCC_PATTERN), pc.not_equal(codes, USCC_PLACEHOLDER))
    good_np = good.to_numpy(zero_copy_only=False)
    if good_np.all():
        return codes.combine_chunks() if isinstance(codes, pa.ChunkedArray) else codes
    keys = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=object).copy()
    name_values = names.to_numpy(zero_copy_only=False)
    cache: dict[str, str] = {}
    for i in np.flatnonzero(~good_np).tolist():
        name = name_values[i]
        if name not in cache:
            cache[name] = "N" + hashlib.sha256(name.encode()).hexdigest()[:16].upper()
        keys[i] = cache[name]
    return pa.array(keys, pa.string())


def _listing_part(dataset: Dataset, table: pa.Table) -> pa.Table:
    n = table.num_rows
    gist = [table[c] for c in GIST[dataset.name]]
    gist_text = pc.binary_join_element_wise(*gist, "；") if len(gist) > 1 else gist[0]
    gist_text = pc.utf8_rtrim(pc.utf8_ltrim(gist_text, characters="；"), characters="；")
    return pa.table({
        "dataset": pa.array([dataset.name] * n, pa.string()),
        "record_id": table["record_id"], "page_id": table["page_id"], "region": table["region"],
        "authority": table["authority"], "authority_key": table["authority_key"],
        "subject_name": table["subject_name"], "subject_category": table["subject_category"],
        "date": table[dataset.decision_date_field], "reference": table[REFERENCE[dataset.name]],
        "gist": gist_text, "display_until": table["display_until"], "under_objection": table["under_objection"],
    })
