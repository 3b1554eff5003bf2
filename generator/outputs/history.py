"""The release history the feeds read: per record id, its last change and its last removal.

Each release's change file (``releases/<version>/changes.json``) is read once and kept as rows in
the history cache beside the site (:func:`release_changes`); a release never changes once
published. What the feeds need of all of them is a :class:`Summary`: every id added or modified
in some release with its last change, and every id removed in some release with its last removal.

A site rebuilt daily gains a release a day, and the first release alone names every record. So
the summary is kept too (``summary/`` in the cache, named by the generator's code and the
releases' content, see :func:`summary`), and a build folds into the last build's summary only
the releases made since, not every release's rows again. Folding the releases one after another
gives what reading them all at once gives (:func:`fold`): the same ids in the same order, the
same last change and removal.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from ..incremental import generator_code, keep_table
from ..normalize import one_array

HISTORY_SUFFIX = ".arrow"
CHANGES_SCHEMA = pa.schema([("record_id", pa.string()), ("release", pa.int32()), ("change", pa.int8()),
                            ("dataset", pa.string()), ("reason", pa.string())])
ADDED, MODIFIED, REMOVED = 0, 1, 2
SUMMARY_FOLDER = "summary"  # in the history cache
# a summary's two tables: the ids' last changes (added or modified) and last removals
CHANGED_SCHEMA = pa.schema([("record_id", pa.string()), ("release", pa.int32()), ("reason", pa.string())])
REMOVED_SCHEMA = pa.schema([("record_id", pa.string()), ("release", pa.int32()), ("dataset", pa.string()),
                            ("reason", pa.string())])


@dataclass
class Summary:
    """Every id added or modified in some release, with its last change (``changed``:
    :data:`CHANGED_SCHEMA`), and every id removed in some release, with its last removal
    (``removed``: :data:`REMOVED_SCHEMA`); each in the order the ids first appear in the
    releases, oldest first, each release's rows in its change file's order."""

    changed: pa.Table
    removed: pa.Table

    @classmethod
    def empty(cls) -> Summary:
        return cls(CHANGED_SCHEMA.empty_table(), REMOVED_SCHEMA.empty_table())


def release_changes(path: Path, i: int, cache: Path | None, key: str | None) -> pa.Table:
    """A release's change file as rows (record id, release index, change, dataset, reason), in
    the file's order; kept in ``cache`` under ``key`` (the release and its file's SHA-256 from
    the release index), since a release never changes once published."""
    kept = cache / f"{key}{HISTORY_SUFFIX}" if cache is not None and key is not None else None
    if kept is not None and kept.is_file():
        try:
            table = feather.read_table(kept)
            if table.schema.equals(CHANGES_SCHEMA) and (not table.num_rows or pc.all(pc.equal(table["release"], i)).as_py()):
                return table
        except (OSError, pa.ArrowInvalid):
            pass
    ids, changes, names, reasons = [], [], [], []
    for entry in json.loads(path.read_text(encoding="utf-8")):
        dataset = entry["dataset"]
        for change, key_name in ((ADDED, "added"), (MODIFIED, "modified"), (REMOVED, "removed")):
            found = entry[key_name]
            ids += [e["record_id"] for e in found]
            changes += [change] * len(found)
            names += [dataset] * len(found)
            reasons += ["new" if change == ADDED else e["reason"] for e in found]
    table = pa.table({"record_id": pa.array(ids, pa.string()), "release": pa.array(np.full(len(ids), i, np.int32)),
                      "change": pa.array(np.array(changes, np.int8)), "dataset": pa.array(names, pa.string()),
                      "reason": pa.array(reasons, pa.string())}, schema=CHANGES_SCHEMA)
    if kept is not None:
        keep_table(table, kept)
    return table


def fold(summary: Summary, rows: pa.Table) -> Summary:
    """``summary`` with change rows (:data:`CHANGES_SCHEMA`, of releases after those it holds,
    oldest first) folded in: an id's change or removal there replaces the one it had, and ids
    new to it follow, in the order they first appear in ``rows``."""
    changes = one_array(rows["change"]).to_numpy(zero_copy_only=False) if rows.num_rows else np.zeros(0, np.int8)
    changed = rows.filter(pa.array(changes < REMOVED)).select(CHANGED_SCHEMA.names)
    removed = rows.filter(pa.array(changes == REMOVED)).select(REMOVED_SCHEMA.names)
    return Summary(_last_rows(summary.changed, changed, CHANGED_SCHEMA), _last_rows(summary.removed, removed, REMOVED_SCHEMA))


def _last_rows(kept: pa.Table, rows: pa.Table, schema: pa.Schema) -> pa.Table:
    """Per record id of ``kept`` (one row each) and then of ``rows``, its last row: the ids in
    the order they first appear."""
    if not rows.num_rows:
        return kept
    coded = pc.dictionary_encode(one_array(rows["record_id"]))
    codes = coded.indices.to_numpy(zero_copy_only=False)
    _, first_from_end = np.unique(codes[::-1], return_index=True)  # per id (in code order: first appearance), its last row
    newest = rows.take(pa.array(len(codes) - 1 - first_from_end))
    if not kept.num_rows:
        return newest.cast(schema)
    # the kept ids changed again take their new row in place; the others come after, in order
    ids = one_array(kept["record_id"])
    again = pc.index_in(ids, value_set=coded.dictionary)  # a hash table of the new ids only
    where = np.flatnonzero(pc.is_valid(again).to_numpy(zero_copy_only=False))
    if not len(where):
        return pa.concat_tables([kept, newest.cast(schema)]).combine_chunks()
    source = np.arange(kept.num_rows + len(newest), dtype=np.int64)
    taken = pc.take(again, pa.array(where)).to_numpy(zero_copy_only=False).astype(np.int64)
    source[where] = kept.num_rows + taken
    fresh = np.ones(len(newest), bool)
    fresh[taken] = False
    both = pa.concat_tables([kept, newest.cast(schema)])
    order = np.concatenate([source[:kept.num_rows], kept.num_rows + np.flatnonzero(fresh)])
    return both.take(pa.array(order)).combine_chunks()


def summary(rows_of: list[Callable[[], pa.Table]], keys: list[str], cache: Path | None) -> Summary:
    """The summary of the releases whose rows ``rows_of`` gives (oldest first; ``keys``: a name
    for each one's content, "" when not known). With ``cache``, the summary of the longest run
    of the first releases kept there is read, and only the releases after it are folded in;
    the result is kept in place of the one read (kept only when every release's content is
    known)."""
    folder = cache / SUMMARY_FOLDER / generator_code()[:16] if cache is not None else None
    start, found = 0, Summary.empty()
    if folder is not None and all(keys):
        start, found = _kept_summary(folder, keys)
    if start < len(rows_of):
        found = fold(found, pa.concat_tables([rows() for rows in rows_of[start:]]))
    if folder is not None:
        _keep_summary(folder, keys, found, written=start < len(rows_of) and all(keys), read=keys[:start])
    return found


def _name(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


def _kept_summary(folder: Path, keys: list[str]) -> tuple[int, Summary]:
    """The kept summary of the most releases among the first of ``keys`` and how many it holds."""
    for n in range(len(keys), 0, -1):
        kept = folder / _name(keys[:n])
        try:
            named = json.loads((kept / "keys.json").read_text(encoding="utf-8"))
            if not isinstance(named, dict) or named.get("releases") != keys[:n]:
                continue
            changed, removed = feather.read_table(kept / "changed.arrow"), feather.read_table(kept / "removed.arrow")
        except (OSError, ValueError, pa.ArrowInvalid):
            continue
        if changed.schema.equals(CHANGED_SCHEMA) and removed.schema.equals(REMOVED_SCHEMA):
            return n, Summary(changed, removed)
    return 0, Summary.empty()


def _keep_summary(folder: Path, keys: list[str], found: Summary, written: bool, read: list[str]) -> None:
    """Keep ``found`` (when ``written``) as the summary of ``keys``, and the one it was folded
    from (of the releases ``read``: should this build fail, the next one starts from there);
    remove every other summary, and those of other code."""
    name = _name(keys) if all(keys) else ""
    if written:
        partial = folder / f"{name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        keep_table(found.changed, partial / "changed.arrow")
        keep_table(found.removed, partial / "removed.arrow")
        (partial / "keys.json").write_text(json.dumps({"releases": keys}), encoding="utf-8")
        shutil.rmtree(folder / name, ignore_errors=True)
        partial.rename(folder / name)
    for parent in (folder.parent, folder):
        if not parent.is_dir():
            continue
        for path in parent.iterdir():
            if path not in (folder, folder / name, folder / _name(read)):
                shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
