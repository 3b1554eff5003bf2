"""The intake cache: a run with ``cache_dir`` gives exactly what a run without it gives, and
checks only the files that changed."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import xlsxwriter

from generator import intake as intake_module
from generator.intake import Intake, run_intake

from .conftest import AS_OF, PERSON, Folder, csv_text, resident_id, row


def same(a: Intake, b: Intake) -> None:
    """Equal in everything a caller can see: counts, problems, provenance, published records."""
    assert [s.to_dict() for s in a.sources] == [s.to_dict() for s in b.sources]
    assert [p.to_dict() for p in a.problems] == [p.to_dict() for p in b.problems]
    assert a.provenance == b.provenance
    assert a.records.keys() == b.records.keys()
    for name in a.records:
        assert a.records[name].schema == b.records[name].schema
        assert a.records[name].combine_chunks().equals(b.records[name].combine_chunks()), name


def entries(cache: Path) -> set[str]:
    return {p.name for p in cache.iterdir() if p.suffix == ".arrow"}


@pytest.fixture
def corpus(folder: Folder) -> Folder:
    """Several files with duplicates across them, problems, an unapproved file, a workbook."""
    folder.write("penalties", "a.csv", [row("penalties"), row("penalties", decision_doc_no="2号"),
                                        row("penalties", decision_doc_no="3号"),
                                        row("penalties", decision_doc_no="4号", fine_amount_wan="abc")])
    folder.write("penalties", "b.csv", [row("penalties", decision_doc_no="2号"),  # identical to a.csv's
                                        row("penalties", decision_doc_no="3号", violation_facts="改过")],
                 submitted="2026-02-05T10:00:00+08:00", approved="2026-02-06T10:00:00+08:00")
    folder.write("penalties", "c.csv", [row("penalties", decision_doc_no="9号")], provenance=False)
    folder.write("licensing", "a.csv", [row("licensing"), row("licensing", decision_doc_no="南市监许〔2024〕2号",
                                                                decision_date="2099-01-01")])
    folder.write("redlist", "a.csv", [row("redlist"), {**row("redlist"), **PERSON, "subject_id_no": resident_id("45010220990101123")}])
    path = folder.root / "blacklist" / "book.xlsx"
    with xlsxwriter.Workbook(path) as book:
        sheet = book.add_worksheet("名单")
        text = csv_text("blacklist", [row("blacklist"), row("blacklist", listing_basis="南市监信〔2024〕6号")])
        for r, line in enumerate(text.strip().split("\n")):
            sheet.write_row(r, 0, line.split(","))
    folder.provenance(path)
    (folder.root / "penalties" / "notes.docx").write_bytes(b"not data")
    return folder


def test_cached_runs_equal_uncached_runs_through_changes(corpus: Folder, tmp_path: Path):
    cache = tmp_path / "cache"

    def check(as_of: date = AS_OF) -> Intake:
        cached = run_intake(corpus.root, as_of, cache_dir=cache)
        same(cached, run_intake(corpus.root, as_of))
        cached.reconcile()
        return cached

    first = check()
    assert [p.rule for p in first.problems].count("duplicate.identical") == 1
    assert [p.rule for p in first.problems].count("duplicate.superseded") == 1
    assert len(entries(cache)) == 6
    (cache / "notes.txt").write_text("not an entry")
    check()  # everything from the cache
    # a new file that supersedes a cached one, a changed file, a changed sidecar, a deleted file
    corpus.write("penalties", "d.csv", [row("penalties", decision_doc_no="2号", fine_amount_wan="0.3")],
                 submitted="2026-03-05T10:00:00+08:00", approved="2026-03-06T10:00:00+08:00")
    corpus.write("licensing", "a.csv", [row("licensing", license_content="食品销售（已更正）"),
                                        row("licensing", decision_doc_no="南市监许〔2024〕2号", decision_date="2099-01-01")])
    corpus.provenance(corpus.root / "penalties" / "c.csv")
    (corpus.root / "redlist" / "a.csv").unlink()
    (corpus.root / "redlist" / "a.csv.provenance.yaml").unlink()
    after = check()
    assert len(entries(cache)) == 6  # entries of deleted and changed files removed
    assert (cache / "notes.txt").is_file()  # other files are left alone
    assert "redlist/a.csv" not in {s.file for s in after.sources}
    # later build dates: files whose checks do not depend on the date are reused, the others redone
    check(AS_OF + timedelta(days=400))
    check(date(2099, 6, 1))
    check(AS_OF)


def test_second_run_reads_only_new_and_changed_files(corpus: Folder, tmp_path: Path, monkeypatch):
    cache = tmp_path / "cache"
    run_intake(corpus.root, AS_OF, cache_dir=cache)
    read = []
    real = intake_module.read_source

    def counting(dataset, path, label):
        read.append(label)
        return real(dataset, path, label)

    monkeypatch.setattr(intake_module, "read_source", counting)
    run_intake(corpus.root, AS_OF, cache_dir=cache)
    assert read == []
    corpus.write("redlist", "new.csv", [row("redlist", listing_basis="桂市监〔2024〕9号")])
    corpus.provenance(corpus.root / "penalties" / "a.csv", approved="2026-01-07T10:00:00+08:00")
    run_intake(corpus.root, AS_OF, cache_dir=cache)
    assert sorted(read) == ["penalties/a.csv", "redlist/new.csv"]


def test_a_code_change_invalidates_every_entry(corpus: Folder, tmp_path: Path, monkeypatch):
    cache = tmp_path / "cache"
    run_intake(corpus.root, AS_OF, cache_dir=cache)
    before = entries(cache)
    monkeypatch.setattr(intake_module, "code_fingerprint", lambda: "another version of the code")
    run_intake(corpus.root, AS_OF, cache_dir=cache)
    assert entries(cache).isdisjoint(before) and len(entries(cache)) == len(before)


def test_worker_processes_give_the_same_result(corpus: Folder, tmp_path: Path):
    in_process = run_intake(corpus.root, AS_OF, workers=1)
    same(in_process, run_intake(corpus.root, AS_OF, workers=2))
    same(in_process, run_intake(corpus.root, AS_OF, workers=2, cache_dir=tmp_path / "cache"))
    same(in_process, run_intake(corpus.root, AS_OF, workers=2, cache_dir=tmp_path / "cache"))


def test_the_fingerprint_covers_every_module_intake_runs():
    code = ("import sys, generator.intake; "
            "print('\\n'.join(m.__file__ for n, m in sys.modules.items() if n.startswith('generator')))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    base = Path(intake_module.__file__).parent
    covered = {p for pattern in intake_module.FINGERPRINTED for p in base.glob(pattern)}
    assert {Path(f) for f in loaded} <= covered
    assert any(p.suffix == ".json" for p in covered)


def test_validate_command_takes_a_cache(corpus: Folder, tmp_path: Path):
    from click.testing import CliRunner

    from generator.cli import main

    args = ["validate", str(corpus.root), "--as-of", AS_OF.isoformat()]
    plain = CliRunner().invoke(main, args)
    cached = [CliRunner().invoke(main, [*args, "--cache", str(tmp_path / "cache")]) for _ in range(2)]
    assert [c.output for c in cached] == [plain.output] * 2
    assert [c.exit_code for c in cached] == [plain.exit_code] * 2 == [1, 1]
    assert entries(tmp_path / "cache")
