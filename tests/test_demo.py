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
