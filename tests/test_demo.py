"""The bundled demo: every bad demo row reported with file, row, field and rule, and no others."""

from __future__ import annotations

from datetime import date

from generator.intake import run_intake
from generator.rules import ROW_RULES, catalogue
from generator.site import ROOT
from generator.synth import EXTRA_COLUMNS

DEMO_AS_OF = date(2026, 11, 20)
PEN = "penalties/demo-bad-rows.csv"
BLACK = "blacklist/demo-bad-rows.csv"
EXPECTED = [
    ["penalties/demo-bad-unapproved.csv", None, None, "provenance.missing"],
    [PEN, None, None, "header.unknown_column"],
    [PEN, 2, "decision_doc_no", "duplicate.identical"],
    [PEN, 3, "decision_doc_no", "required"],
    [PEN, 4, "subject_category", "enum"],
    [PEN, 5, "subject_uscc", "uscc.format"],
    [PEN, 6, "subject_uscc", "uscc.checksum"],
    [PEN, 7, "subject_uscc", "uscc.placeholder"],
    [PEN, 8, "subject_id_no", "id_no"],
    [PEN, 9, "decision_date", "date.format"],
    [PEN, 10, "publicity_end_date", "date.order"],
    [PEN, 11, "decision_date", "date.future"],
    [PEN, 12, "fine_amount_wan", "amount.format"],
    [PEN, 13, "fine_amount_wan", "amount.negative"],
    [PEN, 14, None, "row.cell_count"],
    [PEN, 15, "violation_facts", "encoding.invalid_bytes"],
    [PEN, 17, "decision_doc_no", "duplicate.superseded"],
    [BLACK, 3, "removed_date", "list.exit"],
    [BLACK, 4, "status", "list.exit"],
    [BLACK, 5, "valid_until", "date.order"],
    [BLACK, 6, "subject_id_no", "required"],
]


def test_demo_reports_exactly_the_bad_rows():
    intake = run_intake(ROOT / "datasets", DEMO_AS_OF)
    intake.reconcile()
    bad_files = {e[0] for e in EXPECTED}
    # the good files carry the export-only columns departments' systems add; those are reported
    # (and ignored) once per file, and nothing else is
    extras = [p for p in intake.problems if p.file not in bad_files]
    assert {(p.rule, p.value in EXTRA_COLUMNS) for p in extras} <= {("header.unknown_column", True)}
    got = sorted([[p.file, p.row, p.field, p.rule] for p in intake.problems if p.file in bad_files], key=str)
    assert got == sorted(EXPECTED, key=str)
    for source in intake.sources:
        if source.file not in bad_files:
            assert (source.withheld, source.warnings) == (0, 0), source
    assert 1900 <= intake.read <= 2200


def test_demo_bad_rows_exercise_every_row_rule():
    exercised = {e[3] for e in EXPECTED}
    assert {r.id for r in ROW_RULES} <= exercised
    assert {"duplicate.identical", "duplicate.superseded", "provenance.missing"} <= exercised
    assert exercised <= set(catalogue())


def test_records_leave_on_time_between_two_dates_a_year_apart():
    from generator.disclosure import decide_all

    first, second = date(2026, 11, 20), date(2027, 11, 20)
    before = decide_all(run_intake(ROOT / "datasets", first))
    after = decide_all(run_intake(ROOT / "datasets", second))
    left = 0
    for name, decisions in before.items():
        was = {(r["_source"], r["_row"]): r for r in decisions.table.to_pylist()}
        now = {(r["_source"], r["_row"]): r for r in after[name].table.to_pylist()}
        assert was.keys() == now.keys()
        for key, old in was.items():
            new = now[key]
            if new["_published"]:
                assert not new["_display_until"] or new["_display_until"] >= second.isoformat()
            if old["_published"] and not new["_published"]:
                left += 1
                assert first.isoformat() <= new["_display_until"] < second.isoformat(), (key, new)
            assert not (new["_published"] and not old["_published"]), key  # nothing comes back
    assert left > 100


def test_demo_status_changes_decide_as_documented():
    from generator.disclosure import decide_all

    table = decide_all(run_intake(ROOT / "datasets", DEMO_AS_OF))["penalties"].table
    rows = [r for r in table.to_pylist() if r["_source"] == "penalties/demo-status-changes.csv"]
    assert [(r["_reason"], r["_display_until"]) for r in rows] == [
        ("repaired", "2026-08-31"), ("displayed", "2027-05-11"), ("revoked", "2026-06-29"), ("displayed", "2027-05-31"),
        ("objection_upheld", "2027-06-01"), ("displayed", "2027-06-02"), ("restricted", "2027-06-03"),
        ("minor_severity", ""), ("minor_subject", "2027-06-05"), ("publicity_end", "2026-09-30"),
    ]
    assert [r["_under_objection"] for r in rows].count(True) == 1
