"""Publication decisions kept between builds (generator.disclosure.kept): the same decisions as
deciding every record, with only the records of files not decided before decided again."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from generator.disclosure import Policy, decide
from generator.disclosure import kept as kept_module
from generator.disclosure.kept import SUFFIX, decide_kept
from generator.intake import _runs, run_intake
from generator.schema import datasets

from .conftest import Folder, row

ROOT = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 11, 20)


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    target = tmp_path / "datasets"
    shutil.copytree(ROOT / "datasets", target)
    return target


@pytest.fixture
def decided_rows(monkeypatch) -> dict[str, int]:
    """The rows decide() decided, per dataset."""
    calls: dict[str, int] = {}

    def counting(dataset, records, as_of, policy=None):
        calls[dataset.name] = calls.get(dataset.name, 0) + records.num_rows
        return decide(dataset, records, as_of, policy)

    monkeypatch.setattr(kept_module, "decide", counting)
    return calls


def decide_every_dataset(folder: Path, cache: Path, kept: Path, as_of: date = AS_OF, policy: Policy | None = None) -> dict:
    policy = policy or Policy()
    intake = run_intake(folder, as_of, cache_dir=cache)
    result = {}
    for d in datasets():
        records = intake.records[d.name]
        made = decide_kept(d, records, intake.record_runs[d.name], as_of, policy, kept)
        expected = decide(d, records, as_of, policy)
        assert made.table.equals(expected.table), d.name  # values, types and order
        result[d.name] = records.num_rows
        result[f"{d.name} unnamed"] = sum(rows for name, rows in intake.record_runs[d.name] if name is None)
    return result


def test_kept_decisions_equal_deciding_every_record_and_are_made_once(demo, tmp_path, decided_rows):
    cache, kept = tmp_path / "intake", tmp_path / "decisions"
    rows = decide_every_dataset(demo, cache, kept)
    assert decided_rows == {d.name: rows[d.name] for d in datasets()}  # the first build decides every record once
    assert sorted(p.name for p in kept.iterdir()) == sorted(f"{d.name}{SUFFIX}" for d in datasets())
    decided_rows.clear()
    decide_every_dataset(demo, cache, kept)
    # nothing new: every decision is kept but those of files the duplicates check took rows from
    # (the demo has such files), decided in every build
    unnamed = {d.name: rows[f"{d.name} unnamed"] for d in datasets() if rows[f"{d.name} unnamed"]}
    assert decided_rows == unnamed and sum(unnamed.values()) < sum(rows[d.name] for d in datasets()) / 10


def test_only_the_records_of_a_new_file_are_decided(demo, tmp_path, decided_rows):
    cache, kept = tmp_path / "intake", tmp_path / "decisions"
    rows = decide_every_dataset(demo, cache, kept)
    new = [row("penalties", decision_doc_no=f"南市监罚〔2026〕{900 + i}号", decision_date="2026-11-02") for i in range(5)]
    Folder(demo).write("penalties", "zz-later.csv", new)
    decided_rows.clear()
    again = decide_every_dataset(demo, cache, kept)
    assert again["penalties"] == rows["penalties"] + 5
    unnamed = {d.name: rows[f"{d.name} unnamed"] for d in datasets() if rows[f"{d.name} unnamed"]}
    assert decided_rows == {**unnamed, "penalties": unnamed.get("penalties", 0) + 5}


@pytest.mark.parametrize("change", ["date", "policy", "damaged", "runs"])
def test_another_date_policy_or_a_damaged_file_decides_every_record_again(demo, tmp_path, decided_rows, change):
    cache, kept = tmp_path / "intake", tmp_path / "decisions"
    rows = decide_every_dataset(demo, cache, kept)
    decided_rows.clear()
    if change == "date":
        decide_every_dataset(demo, cache, kept, as_of=date(2026, 11, 21))
    elif change == "policy":
        decide_every_dataset(demo, cache, kept, policy=replace(Policy(), licence_history_months=12))
    elif change == "damaged":
        for path in kept.iterdir():
            path.write_bytes(path.read_bytes()[:100])
        decide_every_dataset(demo, cache, kept)
    else:  # a readable file whose list of runs is not one this code writes
        import pyarrow as pa

        for path in kept.iterdir():
            with pa.memory_map(str(path)) as source:
                reader = pa.ipc.open_file(source)
                table, meta = reader.read_all(), json.loads(reader.schema.metadata[b"gongshi"])
            kept_module._write(path, table.replace_schema_metadata(None), meta["scope"], [("x", -1)])
        decide_every_dataset(demo, cache, kept)
    assert decided_rows == {d.name: rows[d.name] for d in datasets()}


def test_runs_are_named_only_when_every_row_of_the_entry_is_kept():
    keep = np.array([True, True, True, False, True, True, True, True], dtype=bool)
    assert _runs([("a", 3), ("b", 2), (None, 1), ("c", 2)], keep) == [("a", 3), (None, 1), (None, 1), ("c", 2)]
    assert _runs([], np.zeros(0, dtype=bool)) == []


def test_without_named_runs_nothing_is_kept(demo, tmp_path, decided_rows):
    """An intake without its cache names no entry by content: every record is decided and no
    file is written that no build could use."""
    intake = run_intake(demo, AS_OF)
    kept = tmp_path / "decisions"
    for d in datasets():
        assert all(name is None for name, _ in intake.record_runs[d.name])
        made = decide_kept(d, intake.records[d.name], intake.record_runs[d.name], AS_OF, Policy(), kept)
        assert made.table.equals(decide(d, intake.records[d.name], AS_OF).table)
    assert decided_rows == {d.name: intake.records[d.name].num_rows for d in datasets()}
    assert not kept.exists()
