"""What the search index was made from, kept in the site's state between builds, so that an
incremental build prepares the index's tables again only for the page ids whose rows changed.

Every row of the prepared tables (:class:`search.Prepared`: the subjects, one row per page id and
name, and the document entries) depends on the rows of its own page id and on nothing else, but
for the list of datasets the entries number. So a build that finds the last build's inputs and
tables (saved for the index the site has: the digest of its inputs says so)

1. compares this build's rows with the saved ones, record by record (a row is keyed by its
   dataset and record id): a page id with a row added, removed or changed is a changed page id;
2. takes the saved tables' rows of the other page ids as they are, prepares the changed page
   ids' rows afresh and merges them in, in order.

The result is the same tables, row for row, as preparing everything (the tests compare the
files), at the cost of comparing the rows instead of deduplicating and sorting them all. The
files are then written from the tables as in a full build: those the site's index holds byte for
byte are linked. Where the shortcut cannot hold (no saved state, a state made from other inputs
or by another format, rows without record keys, another set of datasets) everything is
prepared, as in a full build.

The state holds only what the index publishes and the keys of the records it comes from.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from .search import DOCUMENT_ORDER, Prepared, _buffers, _clean_subjects, _doc_table, _text

FORMAT = "1"
TABLES = ("subjects", "documents", "prepared-subjects", "prepared-documents")
RECORD_KEY = ("dataset", "record_id")
PREPARED_SUBJECTS = ["page_id", "name", "code", "category"]
BESIDE = ("page_id", "record_id", "dataset")  # a document row's other columns, saved once when a subject row's


def state_file(folder: Path, table: str) -> Path:
    return folder / f"search-{table}.arrow"


@dataclass
class MadeFrom:
    """The index's inputs (as :func:`search.search_tables` makes them) and its prepared tables."""

    subjects: pa.Table
    documents: pa.Table
    prepared: Prepared

    def save(self, folder: Path, inputs: str) -> None:
        """Into ``folder``, for the index whose inputs' digest is ``inputs``."""
        folder.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "inputs": inputs, "datasets": json.dumps(self.prepared.datasets, ensure_ascii=False)}
        documents = self.documents
        if self.subjects.num_rows == documents.num_rows and all(documents[c].equals(self.subjects[c]) for c in BESIDE):
            documents = documents.select(["doc_no"])  # a row per subject row: the rest is the subjects'
        tables = (self.subjects, documents, self.prepared.subjects, self.prepared.documents)
        for name, table in zip(TABLES, tables, strict=True):  # one chunk each: read back as one
            feather.write_feather(table.combine_chunks().replace_schema_metadata(meta), state_file(folder, name),
                                  compression="uncompressed")

    @classmethod
    def load(cls, folder: Path, inputs: str | None) -> MadeFrom | None:
        """What :meth:`save` left in ``folder`` for the index made from ``inputs``; None when
        there is none, it cannot be read, or it was saved for another index."""
        if inputs is None:
            return None
        tables = []
        try:
            for name in TABLES:
                table = feather.read_table(state_file(folder, name), memory_map=True)
                meta = table.schema.metadata or {}
                if meta.get(b"format") != FORMAT.encode() or meta.get(b"inputs") != inputs.encode():
                    return None
                tables.append(table.replace_schema_metadata(None))
            datasets = json.loads(meta[b"datasets"])
        except (OSError, ValueError, KeyError, pa.ArrowInvalid):
            return None
        if tables[2].column_names != PREPARED_SUBJECTS or tables[3].column_names != [*DOCUMENT_ORDER, "entry"]:
            return None  # saved by other code
        subjects, documents = tables[0], tables[1]
        if documents.column_names == ["doc_no"] and documents.num_rows == subjects.num_rows:
            documents = pa.table({"doc_no": documents["doc_no"], **{c: subjects[c] for c in BESIDE}})
        return cls(subjects, documents, Prepared(tables[2], tables[3], datasets))


def prepared_again(before: MadeFrom, subjects: pa.Table, documents: pa.Table) -> Prepared | None:
    """The prepared tables of ``subjects`` and ``documents``, from ``before``'s: only the page
    ids whose rows changed are prepared afresh. None when that cannot be done (see above)."""
    if not (_keyed_alike(before.subjects, subjects) and _keyed_alike(before.documents, documents)):
        return None
    subjects, documents = subjects.combine_chunks(), documents.combine_chunks()
    at = _matches(before.subjects, subjects)
    same_keys = all(documents[key].equals(subjects[key]) and before.documents[key].equals(before.subjects[key])
                    for key in RECORD_KEY)  # as search_tables makes them: a document row per record
    changed = pc.unique(pa.concat_arrays([_changed_pages(before.subjects, subjects, at),
                                          _changed_pages(before.documents, documents,
                                                         at if same_keys else _matches(before.documents, documents))]))
    old = before.prepared
    fresh_subjects = _clean_subjects(_of_pages(subjects, changed))
    kept_subjects = _of_pages(old.subjects, changed, keep=False)
    rows = _of_pages(documents, changed)
    if not set(pc.unique(_text(rows["dataset"])).to_pylist()) <= set(old.datasets):
        return None  # a dataset the saved entries do not number
    fresh_documents, _ = _doc_table(rows, fresh_subjects, old.datasets)
    kept_documents = _of_pages(old.documents, changed, keep=False)
    numbered = np.union1d(kept_documents["s"].to_numpy(), fresh_documents["s"].to_numpy())
    if len(numbered) != len(old.datasets):
        return None  # a dataset has no document left: the numbering changes
    return Prepared(_merged(kept_subjects, fresh_subjects, ["page_id"]),
                    _merged(kept_documents, fresh_documents, DOCUMENT_ORDER), old.datasets)


def _keyed_alike(before: pa.Table, now: pa.Table) -> bool:
    """Rows keyed by dataset and record id, with a page id, of the same columns."""
    return before.column_names == now.column_names and {*RECORD_KEY, "page_id"} <= set(now.column_names)


def _changed_pages(before: pa.Table, now: pa.Table, at: np.ndarray) -> pa.Array:
    """Page ids with a row in one table that the other lacks: ``now``'s rows are compared value
    by value with ``before``'s rows ``at`` (-1: none, see :func:`_matches`)."""
    found = at >= 0
    where = np.where(found, at, 0)
    same = found.copy()
    aligned = len(at) == before.num_rows and bool((at == np.arange(len(at))).all())  # nothing moved
    for name in now.column_names:
        then = _text(before[name]) if aligned else _text(before[name]).take(pa.array(where))
        same &= pc.fill_null(pc.equal(_text(now[name]), then), False).to_numpy(zero_copy_only=False)
    covered = np.zeros(before.num_rows, dtype=bool)
    covered[where[same]] = True
    return pa.concat_arrays([_text(now["page_id"]).filter(pa.array(~same)), _text(before["page_id"]).filter(pa.array(~covered))])


def _matches(before: pa.Table, now: pa.Table) -> np.ndarray:
    """For each row of ``now``, the row of ``before`` with its dataset and record id (-1: none;
    of several, the first)."""
    fast = _matches_fixed_width(before, now)
    if fast is not None:
        return fast
    keys = [pc.binary_join_element_wise(*(_text(t[name]) for name in RECORD_KEY), pa.scalar("\x1f", pa.large_string()))
            for t in (now, before)]
    return pc.fill_null(pc.index_in(keys[0], value_set=keys[1]), -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _matches_fixed_width(before: pa.Table, now: pa.Table) -> np.ndarray | None:
    """:func:`_matches` for record ids of one length (as the intake makes them): per dataset, a
    binary search in the sorted ids (they are sorted already, as the records are) instead of a
    hash table of joined keys, a third of the time. None for ids of other lengths."""
    ids = [_fixed_width(_text(t["record_id"])) for t in (before, now)]
    if ids[0] is None or ids[1] is None or ids[0].dtype != ids[1].dtype:
        return None
    titles = pa.array(sorted(set(pc.unique(_text(before["dataset"])).to_pylist())
                             | set(pc.unique(_text(now["dataset"])).to_pylist())), pa.large_string())
    codes = [pc.index_in(_text(t["dataset"]), value_set=titles).to_numpy(zero_copy_only=False) for t in (before, now)]
    found = np.full(now.num_rows, -1, dtype=np.int64)
    for code in range(len(titles)):
        rows = [np.flatnonzero(c == code) for c in codes]
        values = ids[0][rows[0]]
        order = None if bool((values[1:] >= values[:-1]).all()) else np.argsort(values, kind="stable")
        ordered = values if order is None else values[order]
        if not len(ordered):
            continue
        wanted = ids[1][rows[1]]
        place = np.minimum(np.searchsorted(ordered, wanted), len(ordered) - 1)
        hit = ordered[place] == wanted
        found[rows[1][hit]] = rows[0][place[hit] if order is None else order[place[hit]]]
    return found


def _fixed_width(strings: pa.Array) -> np.ndarray | None:
    """The strings as NumPy fixed-width bytes (a view, not a copy) when all have one length and
    none holds a NUL byte (NumPy's bytes compare without trailing NULs)."""
    offsets, data = _buffers(strings)
    if len(offsets) < 2:
        return None
    width = int(offsets[1])
    if width == 0 or bool((np.diff(offsets) != width).any()):
        return None
    octets = np.frombuffer(data, dtype=np.uint8, count=int(offsets[-1]))
    if bool((octets == 0).any()):
        return None
    return octets.view(f"S{width}")


def _of_pages(table: pa.Table, pages: pa.Array, keep: bool = True) -> pa.Table:
    """The rows of ``table`` whose page id is among ``pages`` (``keep=False``: is not)."""
    among = pc.is_in(_text(table["page_id"]), value_set=pages)
    return table.filter(among if keep else pc.invert(among))


class _Column:
    """The values of an Arrow array as a sequence for :mod:`bisect`, each read when compared."""

    def __init__(self, values: pa.Array):
        self.values = values

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, i: int):
        return self.values[i].as_py()


def _merged(kept: pa.Table, fresh: pa.Table, keys: list[str]) -> pa.Table:
    """Two tables sorted by ``keys``, no row of one equal on them to a row of the other, as one
    sorted table. Each fresh row's place is found by bisection, on the first key and then, among
    rows equal on it, on all: the fresh rows are few, and read value by value."""
    if not fresh.num_rows:
        return kept.combine_chunks()
    columns = [kept[key].combine_chunks() for key in keys]
    first = _Column(columns[0])
    at, lo = [], 0
    for key in zip(*(fresh[name].to_pylist() for name in keys), strict=True):
        lo = bisect.bisect_left(first, key[0], lo)
        while lo < len(first) and first[lo] == key[0] and tuple(c[lo].as_py() for c in columns) < key:
            lo += 1  # rows equal on the first key are few
        at.append(lo)
    kept = kept.cast(fresh.schema)
    runs, start = [], 0
    for j, end in enumerate(at):  # runs of kept rows with a fresh row between: copied once, in order
        runs += [kept.slice(start, end - start), fresh.slice(j, 1)]
        start = end
    return pa.concat_tables([*runs, kept.slice(start)]).combine_chunks()
