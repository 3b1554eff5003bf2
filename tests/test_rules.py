"""Each validation rule with a tiny fixture: one valid row, one mutation, the exact problems."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator.codes import USCC_PLACEHOLDER
from generator.normalize import _on_rows
from generator.rules import CROSS_FILE_RULES, FILE_RULES, ROW_RULES, catalogue
from generator.rules.base import alternatives_match

from .conftest import AUTHORITY, PERSON, PERSON_ID, flatten, resident_id, row, uscc

LEGACY = "91450100MA5K00001" + "0"  # structurally valid, wrong check character
VALID_ANY = [uscc("A1450100MA5K00001"), uscc("N2450100MA5K00001"), uscc("Y1450100MA5K00001")]

CASES = [
    # (id, dataset, changes, expected [row, field, rule])
    ("valid licensing", "licensing", {}, []),
    ("valid penalty", "penalties", {}, []),
    ("valid red list", "redlist", {}, []),
    ("valid black list", "blacklist", {}, []),
    ("natural person", "penalties", PERSON, []),
    ("letter-prefixed USCC A", "penalties", {"subject_uscc": VALID_ANY[0]}, []),
    ("letter-prefixed USCC N", "penalties", {"subject_uscc": VALID_ANY[1]}, []),
    ("letter-prefixed USCC Y", "penalties", {"subject_uscc": VALID_ANY[2]}, []),
    ("individual business placeholder with reg no", "penalties",
     {"subject_category": "个体工商户", "subject_uscc": USCC_PLACEHOLDER, "subject_business_reg_no": "450100600123456"}, []),
    ("full-width code and stray spaces", "penalties",
     {"subject_uscc": " " + "".join(chr(ord(c) + 0xFEE0) for c in uscc("91450100MA5K00001")) + " "}, []),
    ("open-ended licence", "licensing", {"valid_to": "长期"}, []),
    ("amount in yuan", "penalties", {"fine_amount_wan": "2,000元"}, []),
    ("several categories, Chinese separators", "penalties", {"penalty_categories": "罚款；警告、没收违法所得"}, []),
    ("pre-2021 category", "penalties", {"penalty_categories": "暂扣或者吊销许可证、暂扣或者吊销执照"}, []),
    ("other category with suffix", "penalties", {"penalty_categories": "其他-责令改正"}, []),
    ("old status code", "licensing", {"status": "0"}, []),
    ("list removed with date", "blacklist", {"status": "已移出", "removed_date": "2025-01-01", "removal_reason": "修复"}, []),
    # required
    ("required always", "penalties", {"decision_doc_no": ""}, [[2, "decision_doc_no", "required"]]),
    ("required for organisation", "licensing", {"subject_uscc": ""}, [[2, "subject_uscc", "required"]]),
    ("required for person: id type and number", "penalties", {**PERSON, "subject_id_type": "", "subject_id_no": ""},
     [[2, "subject_id_type", "required"], [2, "subject_id_no", "required"]]),
    ("legal rep required for organisation", "redlist", {"legal_rep_name": ""}, [[2, "legal_rep_name", "required"]]),
    # enum
    ("unknown category", "penalties", {"subject_category": "公司"}, [[2, "subject_category", "enum"]]),
    ("unknown licence category", "licensing", {"license_category": "特殊"}, [[2, "license_category", "enum"]]),
    ("unknown penalty category", "penalties", {"penalty_categories": "罚款;罚金"}, [[2, "penalty_categories", "enum"]]),
    ("unknown list status", "redlist", {"status": "暂停"}, [[2, "status", "enum"]]),
    ("unknown id type", "penalties", {**PERSON, "subject_id_type": "驾驶证"}, [[2, "subject_id_type", "enum"]]),
    # codes
    ("USCC too short", "penalties", {"subject_uscc": "9145010"}, [[2, "subject_uscc", "uscc.format"]]),
    ("USCC with letter O", "penalties", {"subject_uscc": "91450100MA5K0O0010"}, [[2, "subject_uscc", "uscc.format"]]),
    ("authority USCC malformed", "licensing", {"authority_uscc": "ABC"}, [[2, "authority_uscc", "uscc.format"]]),
    ("legacy checksum is a warning", "penalties", {"subject_uscc": LEGACY}, [[2, "subject_uscc", "uscc.checksum"]]),
    ("placeholder without reg no", "penalties", {"subject_category": "个体工商户", "subject_uscc": USCC_PLACEHOLDER},
     [[2, "subject_uscc", "uscc.placeholder"]]),
    ("placeholder on a company", "penalties", {"subject_uscc": USCC_PLACEHOLDER, "subject_business_reg_no": "450100600123456"},
     [[2, "subject_uscc", "uscc.placeholder"]]),
    ("ID wrong length", "penalties", {**PERSON, "subject_id_no": "4501021980010112"}, [[2, "subject_id_no", "id_no"]]),
    ("ID wrong check character", "penalties", {**PERSON, "subject_id_no": PERSON_ID[:-1] + ("1" if PERSON_ID[-1] != "1" else "2")},
     [[2, "subject_id_no", "id_no"]]),
    ("ID impossible birth date", "penalties", {**PERSON, "subject_id_no": resident_id("45010219801301123")},
     [[2, "subject_id_no", "id_no"]]),
    ("ID born after the build date", "penalties", {**PERSON, "subject_id_no": resident_id("45010220300101123")},
     [[2, "subject_id_no", "id_no"]]),
    ("passport numbers are not checked as IDs", "penalties", {**PERSON, "subject_id_type": "护照号", "subject_id_no": "E12345678"}, []),
    # dates
    ("unreadable date", "penalties", {"decision_date": "2024-13-45"}, [[2, "decision_date", "date.format"]]),
    ("February 30th", "licensing", {"valid_from": "2024-02-30"}, [[2, "valid_from", "date.format"]]),
    ("US-style date", "redlist", {"listed_date": "3/5/2024"}, [[2, "listed_date", "date.format"]]),
    ("validity runs backwards", "licensing", {"valid_from": "2024-03-05", "valid_to": "2023-03-05"},
     [[2, "valid_to", "date.order"], [2, "valid_to", "date.order"]]),
    ("listing removed before listed", "blacklist", {"status": "已移出", "removed_date": "2023-01-01"},
     [[2, "removed_date", "date.order"]]),
    ("decision after the build date", "penalties", {"decision_date": "2026-11-24"}, [[2, "decision_date", "date.future"]]),
    ("decision on the build date", "penalties", {"decision_date": "2026-11-23"}, []),
    # amounts
    ("amount not a number", "penalties", {"fine_amount_wan": "两千元"}, [[2, "fine_amount_wan", "amount.format"]]),
    ("negative amount", "penalties", {"confiscation_amount_wan": "-0.5"}, [[2, "confiscation_amount_wan", "amount.negative"]]),
    # lists
    ("removed without date", "redlist", {"status": "已移出"}, [[2, "removed_date", "list.exit"]]),
    ("listed with removal date", "blacklist", {"removed_date": "2025-01-01"}, [[2, "status", "list.exit"]]),
]


@pytest.mark.parametrize(("dataset", "changes", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(folder, dataset, changes, expected):
    folder.write(dataset, "one.csv", [row(dataset, **changes)])
    intake = folder.intake()
    assert sorted(flatten(intake)) == sorted(expected)
    errors = any(catalogue()[r].severity == "error" for _, _, r in expected)
    assert (intake.published, intake.withheld) == ((0, 1) if errors else (1, 0))
    assert len(intake.records[dataset]) == intake.published


def test_every_rule_has_id_title_and_reason():
    ids = [r.id for r in (*FILE_RULES, *ROW_RULES, *CROSS_FILE_RULES)]
    assert len(ids) == len(set(ids))
    for rule in (*FILE_RULES, *ROW_RULES, *CROSS_FILE_RULES):
        assert rule.id and rule.title and len(rule.why()) > 40, rule


def test_every_row_rule_is_exercised_here():
    exercised = {rule for case in CASES for _, _, rule in case[3]}
    assert {r.id for r in ROW_RULES} - exercised == {"row.cell_count", "encoding.invalid_bytes"}  # see test_ingest


def test_messages_name_field_value_and_next_step(folder):
    folder.write("penalties", "one.csv", [row("penalties", decision_date="2024-13-45")])
    [problem] = folder.intake().problems
    assert problem.message == "「处罚决定日期」的值「2024-13-45」不是有效日期。请写成 2024-03-05 这样的格式。"


def test_id_numbers_are_masked_in_problems(folder):
    bad = PERSON_ID[:-1] + ("1" if PERSON_ID[-1] != "1" else "2")
    folder.write("penalties", "one.csv", [row("penalties", **{**PERSON, "subject_id_no": bad})])
    [problem] = folder.intake().problems
    assert problem.value == bad[:6] + "********" + bad[14:]
    assert bad not in problem.message


def test_authority_codes_checked_too(folder):
    folder.write("licensing", "one.csv", [row("licensing", authority_uscc=AUTHORITY[1][:-1] + "0"
                                              if AUTHORITY[1][-1] != "0" else AUTHORITY[1][:-1] + "1")])
    assert flatten(folder.intake()) == [[2, "authority_uscc", "uscc.checksum"]]


@given(st.lists(st.lists(st.sampled_from(["身份证", "护照", "其他", "其他证件", "\n", " ", "x"]), max_size=4).map("".join), max_size=30))
def test_literal_alternatives_match_as_the_regular_expression_does(values):
    """Enum-like patterns are answered with set lookups and prefixes, exactly as RE2 would."""
    array = pa.array(values, pa.string())
    pattern = "^(身份证|护照|其他.*)$"
    expected = pc.match_substring_regex(array, pattern=pattern).to_numpy(zero_copy_only=False)
    assert alternatives_match(array, pattern).tolist() == expected.tolist()


@given(st.lists(st.text(alphabet="ab 中\t", max_size=5), max_size=3000))
def test_a_change_on_the_rows_that_need_it_leaves_the_others_as_they_are(values):
    """A change the few rows holding an "a" need (Arrow kernels, or spliced into the buffers)."""
    array = pa.array(values, pa.string())
    rows = np.array(["a" in v for v in values], dtype=bool)
    changed = _on_rows(array, rows, lambda v: pc.replace_substring(v, "a", "A"))
    assert changed.to_pylist() == [v.replace("a", "A") for v in values]
