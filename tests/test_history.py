"""The release history's summary: folded release by release, it is what reading every release
at once gives; kept beside the site, a build folds in only the releases made since."""

from __future__ import annotations

import functools
import random

import numpy as np
import pyarrow as pa
import pytest

from generator.incremental import generator_code
from generator.outputs import history
from generator.outputs.history import ADDED, CHANGES_SCHEMA, MODIFIED, REMOVED, Summary, fold, summary


def release_rows(i: int, rng: random.Random, ids: list[str]) -> pa.Table:
    """Change rows of release ``i``: some ids added, modified or removed, repeats included."""
    rows = []
    for _ in range(rng.randrange(0, 12)):
        change = rng.choice((ADDED, MODIFIED, REMOVED))
        reason = "new" if change == ADDED else rng.choice(("corrected", "expired", "revoked"))
        rows.append((rng.choice(ids), i, change, rng.choice(("penalties", "licensing")), reason))
    columns = list(zip(*rows, strict=True)) if rows else [[], [], [], [], []]
    return pa.table({"record_id": pa.array(columns[0], pa.string()), "release": pa.array(np.array(columns[1], np.int32)),
                     "change": pa.array(np.array(columns[2], np.int8)), "dataset": pa.array(columns[3], pa.string()),
                     "reason": pa.array(columns[4], pa.string())}, schema=CHANGES_SCHEMA)


def reference(releases: list[pa.Table]) -> tuple[dict, dict]:
    """Each id's last change and last removal, in the order ids first appear: dicts built row by row."""
    changed: dict[str, tuple[int, str]] = {}
    removed: dict[str, tuple[int, str, str]] = {}
    for rows in releases:
        for rid, i, change, dataset, reason in zip(*(rows[c].to_pylist() for c in CHANGES_SCHEMA.names), strict=True):
            if change == REMOVED:
                removed[rid] = (i, dataset, reason)
            else:
                changed[rid] = (i, reason)
    return changed, removed


def as_dicts(found: Summary) -> tuple[dict, dict]:
    c, r = found.changed, found.removed
    return ({rid: (i, reason) for rid, i, reason in zip(*(c[n].to_pylist() for n in ("record_id", "release", "reason")),
                                                         strict=True)},
            {rid: (i, d, reason) for rid, i, d, reason in
             zip(*(r[n].to_pylist() for n in ("record_id", "release", "dataset", "reason")), strict=True)})


def ordered(pair: tuple[dict, dict]) -> tuple[list, list]:
    return list(pair[0].items()), list(pair[1].items())


@pytest.mark.parametrize("seed", range(20))
def test_folding_release_by_release_is_reading_them_all(seed):
    rng = random.Random(seed)
    ids = [f"{k:032x}" for k in rng.sample(range(10**6), 15)]
    releases = [release_rows(i, rng, ids) for i in range(8)]
    expected = ordered(reference(releases))
    at_once = fold(Summary.empty(), pa.concat_tables(releases))
    one_by_one = Summary.empty()
    for rows in releases:
        one_by_one = fold(one_by_one, rows)
    cut = rng.randrange(1, 8)
    in_two = fold(fold(Summary.empty(), pa.concat_tables(releases[:cut])), pa.concat_tables(releases[cut:]))
    for found in (at_once, one_by_one, in_two):
        assert ordered(as_dicts(found)) == expected


def test_a_build_folds_in_only_the_releases_made_since(tmp_path):
    """The summary kept by the last build is read and only the newer releases are folded in;
    the one it was folded from stays too, so that a build that failed after keeping its own
    (of a release never published) costs the next build no more; older ones go."""
    rng = random.Random(7)
    ids = [f"{k:032x}" for k in range(20)]
    releases = [release_rows(i, rng, ids) for i in range(6)]
    keys = [f"2026-11-{20 + i}.1-{i:064x}" for i in range(6)]
    read: list[int] = []

    def rows_of(i: int) -> pa.Table:
        read.append(i)
        return releases[i]

    def summarise(n: int, failed: pa.Table | None = None) -> Summary:
        read.clear()
        given = [functools.partial(rows_of, i) for i in range(n)]
        names = keys[:n]
        if failed is not None:
            given, names = [*given, lambda: failed], [*names, "2026-12-01.1-" + "f" * 64]
        return summary(given, names, tmp_path)

    assert ordered(as_dicts(summarise(3))) == ordered(reference(releases[:3])) and read == [0, 1, 2]
    assert ordered(as_dicts(summarise(5))) == ordered(reference(releases[:5])) and read == [3, 4]
    assert ordered(as_dicts(summarise(5))) == ordered(reference(releases[:5])) and read == []
    summarise(5, failed=releases[5])  # a build that failed: its release never published
    assert ordered(as_dicts(summarise(6))) == ordered(reference(releases)) and read == [5]
    kept = sorted(p.name for p in (tmp_path / "summary" / generator_code()[:16]).iterdir())
    assert kept == sorted([history._name(keys[:5]), history._name(keys)])


def test_a_damaged_summary_is_not_used(tmp_path):
    rng = random.Random(3)
    ids = [f"{k:032x}" for k in range(10)]
    releases = [release_rows(i, rng, ids) for i in range(3)]
    keys = [f"2026-11-{20 + i}.1-{i:064x}" for i in range(3)]
    given = [functools.partial(lambda i: releases[i], i) for i in range(3)]
    summary(given, keys, tmp_path)
    kept = tmp_path / "summary" / generator_code()[:16] / history._name(keys)
    (kept / "changed.arrow").write_bytes(b"not arrow")
    assert ordered(as_dicts(summary(given, keys, tmp_path))) == ordered(reference(releases))
    (kept / "keys.json").write_text("[]", encoding="utf-8")
    assert ordered(as_dicts(summary(given, keys, tmp_path))) == ordered(reference(releases))


def test_releases_of_unknown_content_are_not_kept(tmp_path):
    rng = random.Random(5)
    releases = [release_rows(i, rng, [f"{k:032x}" for k in range(10)]) for i in range(2)]
    given = [functools.partial(lambda i: releases[i], i) for i in range(2)]
    assert ordered(as_dicts(summary(given, ["2026-11-20.1-" + "0" * 64, ""], tmp_path))) == ordered(reference(releases))
    assert not list(tmp_path.rglob("*.arrow"))
