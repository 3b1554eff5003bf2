"""Publication decisions kept between builds, per input file.

Every rule in :mod:`.decide` reads only the record's own fields, the build date and the policy,
so the decisions of an input file's records are the same in every build with the same date,
policy and code. A build keeps them beside the site, one file per dataset, in runs named by the
intake entries they belong to (an entry is named by the file's bytes, path, sidecar and the
code, see :mod:`..intake`), and the next build decides only the records of runs it does not hold:
after a thousand new records arrive, a thousand records are decided, not a million.

The kept columns are dictionary-encoded (a reason, severity, regime or last day is one of a few
thousand values): about 16 bytes a record, written once per build.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ..schema import Dataset
from .decide import DISPLAY_UNTIL, PUBLISHED, REASON, REGIME, SEVERITY, UNDER_OBJECTION, Decisions, decide
from .policy import Policy

COLUMNS = (PUBLISHED, DISPLAY_UNTIL, REASON, SEVERITY, REGIME, UNDER_OBJECTION)
TEXT = (DISPLAY_UNTIL, REASON, SEVERITY, REGIME)  # kept as dictionaries
SUFFIX = ".decisions.arrow"


def decide_kept(dataset: Dataset, records: pa.Table, runs: list[tuple[str | None, int]] | None, as_of: date,
                policy: Policy, folder: Path | None) -> Decisions:
    """:func:`.decide` for ``records``, taking the decisions of runs (``runs``: the records in
    order, per input entry its name or None and its rows, see ``Intake.record_runs``) that
    ``folder`` keeps for the same date, policy and code, and keeping this build's there."""
    if (folder is None or runs is None or sum(rows for _, rows in runs) != records.num_rows or not records.num_rows
            or all(name is None for name, _ in runs)):  # nothing that could be kept
        return decide(dataset, records, as_of, policy)
    scope = _scope(dataset, as_of, policy)
    earlier = _read(folder / f"{dataset.name}{SUFFIX}", scope)
    pieces: list[pa.Table | None] = []
    missing: list[tuple[int, int, int]] = []  # (piece, first record, rows)
    start = 0
    for name, rows in runs:
        found = earlier.get(name) if name is not None else None
        pieces.append(found if found is not None and found.num_rows == rows else None)
        if pieces[-1] is None and rows:
            missing.append((len(pieces) - 1, start, rows))
        start += rows
    if sum(rows for _, _, rows in missing) == records.num_rows:  # nothing kept: a first build, a new date, policy or code
        decided = decide(dataset, records, as_of, policy)
        _write(folder / f"{dataset.name}{SUFFIX}", _kept_form(decided.table.select(COLUMNS)), scope, runs)
        return decided
    if missing:
        part = pa.concat_tables([records.slice(first, rows) for _, first, rows in missing])
        fresh = _kept_form(decide(dataset, part, as_of, policy).table.select(COLUMNS))
        at = 0
        for piece, _, rows in missing:
            pieces[piece] = fresh.slice(at, rows)
            at += rows
    kept = pa.concat_tables([p for p in pieces if p is not None and p.num_rows]).unify_dictionaries().combine_chunks()
    if missing or earlier.get(None) != _index(runs):
        _write(folder / f"{dataset.name}{SUFFIX}", kept, scope, runs)
    table = records
    for column in COLUMNS:
        values = kept[column]
        table = table.append_column(column, values.cast(values.type.value_type) if column in TEXT else values)
    return Decisions(dataset, as_of, table)


def _scope(dataset: Dataset, as_of: date, policy: Policy) -> str:
    """What a decision depends on besides the record: the build date, the policy, the code."""
    from ..incremental import generator_code

    text = f"{generator_code()}\n{as_of.isoformat()}\n{policy!r}\n{dataset.name}\n{dataset.field_names}"
    return hashlib.sha256(text.encode()).hexdigest()


def _kept_form(table: pa.Table) -> pa.Table:
    return pa.table({c: pc.dictionary_encode(table[c]) if c in TEXT else table[c] for c in COLUMNS})


def _index(runs: list[tuple[str | None, int]]) -> list:
    return [[name, rows] for name, rows in runs]


def _read(path: Path, scope: str) -> dict:
    """The kept runs by name (and under None the runs as listed), when kept for ``scope``."""
    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            meta = json.loads(reader.schema.metadata[b"gongshi"])
            table = reader.read_all()
    except (OSError, pa.ArrowException, KeyError, TypeError, ValueError):
        return {}
    runs, found, start = meta.get("runs") if isinstance(meta, dict) else None, {}, 0
    if (not isinstance(meta, dict) or meta.get("scope") != scope or table.schema.remove_metadata() != _SCHEMA
            or not _well_formed(runs) or sum(rows for _, rows in runs) != table.num_rows):
        return {}
    for name, rows in runs:
        if name is not None:
            found[name] = table.slice(start, rows)
        start += rows
    found[None] = runs
    return found


_SCHEMA = pa.schema([(c, pa.dictionary(pa.int32(), pa.string()) if c in TEXT else pa.bool_()) for c in COLUMNS])


def _well_formed(runs: object) -> bool:
    return isinstance(runs, list) and all(
        isinstance(run, list) and len(run) == 2 and (run[0] is None or isinstance(run[0], str))
        and isinstance(run[1], int) and run[1] >= 0 for run in runs)


def _write(path: Path, kept: pa.Table, scope: str, runs: list[tuple[str | None, int]]) -> None:
    from ..incremental import keep_table

    keep_table(kept.replace_schema_metadata({"gongshi": json.dumps({"scope": scope, "runs": _index(runs)})}), path)
