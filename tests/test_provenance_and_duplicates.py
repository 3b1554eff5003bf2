"""Approval provenance and the same decision submitted twice."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.intake import _maybe_repeated, key_hashes

from .conftest import AUTHORITY, flatten, row


@pytest.mark.parametrize(("text", "expected"), [
    ("submitting_unit: [unclosed", [[None, "provenance.invalid"]]),
    ("- a list\n- not a mapping\n", [[None, "provenance.invalid"]]),
    ("submitting_unit: 某局\n", [[k, "provenance.invalid"] for k in (
        "submitting_unit_uscc", "authority", "authority_uscc", "submitted_at", "approved_by", "approved_at")]),
])
def test_malformed_sidecars(folder, text, expected):
    path = folder.write("penalties", "a.csv", [row("penalties")])
    folder.provenance(path, text=text)
    intake = folder.intake()
    assert flatten(intake, "field", "rule") == sorted(expected, key=lambda e: e[0] or "")
    assert (intake.published, intake.withheld) == (0, 1)


@pytest.mark.parametrize(("submitted", "approved", "field"), [
    ("2026-01-05T10:00:00+08:00", "2026-01-04T10:00:00+08:00", "approved_at"),  # approved before submitted
    ("2026-01-05T10:00:00+08:00", "2026-11-24T09:00:00+08:00", "approved_at"),  # approved after the build date
    ("yesterday", "2026-01-06T10:00:00+08:00", "submitted_at"),
])
def test_sidecars_that_do_not_show_an_approval(folder, submitted, approved, field):
    folder.write("penalties", "a.csv", [row("penalties")], submitted=submitted, approved=approved)
    intake = folder.intake()
    assert flatten(intake, "field", "rule") == [[field, "provenance.invalid"]]


def test_provenance_is_kept_for_the_data_package(folder):
    folder.write("penalties", "a.csv", [row("penalties")], submitted="2026-01-05 10:00:00")
    intake = folder.intake()
    provenance = intake.provenance["penalties/a.csv"]
    assert (provenance.authority_uscc, provenance.submitted_at) == (AUTHORITY[1], "2026-01-05T10:00:00+08:00")


def test_identical_rows_collapse(folder):
    folder.write("penalties", "a.csv", [row("penalties"), row("penalties")])
    intake = folder.intake()
    assert flatten(intake, "row", "rule") == [[2, "duplicate.identical"]]
    assert (intake.read, intake.published, intake.withheld, len(intake.records["penalties"])) == (2, 2, 0, 1)
    assert intake.records["penalties"]["_row"].to_pylist() == [3]


def test_conflicting_rows_later_submission_wins(folder):
    folder.write("penalties", "new.csv", [row("penalties", penalty_content="罚款3000元")], submitted="2026-02-01T10:00:00+08:00",
                 approved="2026-02-02T10:00:00+08:00")
    folder.write("penalties", "old.csv", [row("penalties")], submitted="2026-01-05T10:00:00+08:00")
    intake = folder.intake()
    [problem] = intake.problems
    assert (problem.file, problem.row, problem.rule) == ("penalties/old.csv", 2, "duplicate.superseded")
    assert problem.message.startswith("与 penalties/new.csv 第 2 行 是同一决定但内容不同")
    assert intake.records["penalties"]["penalty_content"].to_pylist() == ["罚款3000元"]
    assert (intake.published, intake.withheld) == (1, 1)


def test_within_a_file_the_later_row_wins(folder):
    folder.write("penalties", "a.csv", [row("penalties", penalty_content="甲"), row("penalties", penalty_content="乙")])
    intake = folder.intake()
    assert flatten(intake, "row", "rule") == [[2, "duplicate.superseded"]]
    assert intake.records["penalties"]["penalty_content"].to_pylist() == ["乙"]


def test_same_document_for_different_subjects_is_not_a_duplicate(folder):
    folder.write("penalties", "a.csv", [row("penalties"), row("penalties", subject_uscc="", subject_category="自然人",
                                                               legal_rep_name="", subject_name="李某",
                                                               subject_id_type="护照号", subject_id_no="E1234567")])
    assert folder.intake().problems == []


def test_withheld_rows_do_not_supersede(folder):
    folder.write("penalties", "a.csv", [row("penalties"), row("penalties", penalty_content="乙", fine_amount_wan="-1")])
    intake = folder.intake()
    assert flatten(intake, "row", "rule") == [[3, "amount.negative"]]
    assert intake.published == 1


@given(st.lists(st.text(alphabet="ab桂〔〕|0", max_size=6), max_size=40), st.integers(0, 5))
def test_key_hashes_find_every_repeated_key(keys, cut):
    """Rows whose record key repeats are found from 64-bit hashes before any string is
    compared: equal strings hash equally wherever they sit (chunks, slices), so no repeated key
    is missed; a collision would only add a row for the exact check."""
    cut = min(cut, len(keys))
    chunked = pa.chunked_array([pa.array(keys[:cut], pa.string()), pa.array(keys[cut:], pa.string())])
    sliced = pa.array(["x", *keys], pa.string()).slice(1)
    hashes = key_hashes(chunked)
    assert np.array_equal(hashes, key_hashes(sliced))
    assert np.array_equal(hashes[:cut], key_hashes(pa.array(keys[:cut], pa.string())))  # batches of other widths
    assert np.array_equal(hashes, key_hashes(pa.array([*keys, "x" * 300], pa.string()))[:-1])
    positions = np.arange(len(keys))
    found = {keys[i] for i in _maybe_repeated(positions, hashes)}
    assert found >= {k for k in keys if keys.count(k) > 1}
