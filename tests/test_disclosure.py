"""The publication decision, case by case: regimes, severities, boundary days, repairs,
revocations, objections, licences, lists, natural persons and individual businesses.

Each case: dataset, changed fields, build date, policy changes → (published, display_until, reason).
display_until is the last day shown; the next day the record is hidden.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from generator.codes import USCC_PLACEHOLDER
from generator.disclosure import REASONS, Policy, add_months, decide
from generator.disclosure.privacy import mask_one
from generator.schema import load_dataset

from .conftest import PERSON, VALID, resident_id

D = date.fromisoformat
P527 = {"decision_date": "2022-03-10"}  # 发改办财金〔2019〕527号
P58 = {"decision_date": "2024-01-15"}  # Order No. 58
P36 = {"decision_date": "2026-04-01"}  # Order No. 36
SEVERE = {"severity": "严重"}
MINOR = {"penalty_categories": "警告", "fine_amount_wan": "", "penalty_content": "警告"}
SUPPRESS = {"suppress_under_objection": True}


def person(birth: str) -> dict:
    return {**PERSON, "subject_id_no": resident_id("450102" + birth.replace("-", "") + "123")}


CASES = [
    # --- penalties, 527 regime: 一般 3–12 months, 严重 6–36 months
    ("527 一般 last day shown", "penalties", P527, "2023-03-09", {}, (True, "2023-03-09", "displayed")),
    ("527 一般 first day hidden", "penalties", P527, "2023-03-10", {}, (False, "2023-03-09", "period_ended")),
    ("527 严重 supplied last day", "penalties", {**P527, **SEVERE}, "2025-03-09", {}, (True, "2025-03-09", "displayed")),
    ("527 严重 supplied first hidden", "penalties", {**P527, **SEVERE}, "2025-03-10", {}, (False, "2025-03-09", "period_ended")),
    ("severe category derives 严重", "penalties", {**P527, "penalty_categories": "罚款;吊销许可证件"}, "2024-06-01", {},
     (True, "2025-03-09", "displayed")),
    ("pre-2021 severe category", "penalties", {**P527, "penalty_categories": "暂扣或者吊销执照"}, "2024-06-01", {},
     (True, "2025-03-09", "displayed")),
    ("large fine for an organisation derives 严重", "penalties", {**P527, "fine_amount_wan": "10"}, "2024-06-01", {},
     (True, "2025-03-09", "displayed")),
    ("fine below the organisation threshold stays 一般", "penalties", {**P527, "fine_amount_wan": "9.99"}, "2024-06-01", {},
     (False, "2023-03-09", "period_ended")),
    ("large fine for a person derives 严重", "penalties", {**P527, **person("1980-01-01"), "fine_amount_wan": "1.5"},
     "2024-06-01", {}, (True, "2025-03-09", "displayed")),
    ("small fine for a person is 一般", "penalties", {**P527, **person("1980-01-01"), "fine_amount_wan": "0.5"},
     "2022-06-01", {}, (True, "2023-03-09", "displayed")),
    ("authority's 一般 beats derived 严重", "penalties", {**P527, "fine_amount_wan": "50", "severity": "一般"},
     "2023-03-10", {}, (False, "2023-03-09", "period_ended")),
    ("轻微 not published", "penalties", {**P527, **MINOR}, "2022-03-10", {}, (False, "", "minor_severity")),
    ("轻微 supplied not published", "penalties", {**P36, "severity": "轻微"}, "2026-04-01", {}, (False, "", "minor_severity")),
    ("轻微 published when configured, 3 months", "penalties", {**P527, **MINOR}, "2022-06-09",
     {"publish_minor_penalties": True}, (True, "2022-06-09", "displayed")),
    ("轻微 configured, first day hidden", "penalties", {**P527, **MINOR}, "2022-06-10",
     {"publish_minor_penalties": True}, (False, "2022-06-09", "period_ended")),
    ("repair after the minimum: last day before repair", "penalties", {**P527, "repair_date": "2022-08-01"},
     "2022-07-31", {}, (True, "2022-07-31", "displayed")),
    ("repair after the minimum: hidden on repair day", "penalties", {**P527, "repair_date": "2022-08-01"},
     "2022-08-01", {}, (False, "2022-07-31", "repaired")),
    ("repair before the minimum waits for it", "penalties", {**P527, "repair_date": "2022-04-01"},
     "2022-06-09", {}, (True, "2022-06-09", "displayed")),
    ("repair before the minimum: hidden when it ends", "penalties", {**P527, "repair_date": "2022-04-01"},
     "2022-06-10", {}, (False, "2022-06-09", "repaired")),
    ("repair before the minimum when the policy allows", "penalties", {**P527, "repair_date": "2022-04-01"},
     "2022-04-01", {"repair_before_minimum": True}, (False, "2022-03-31", "repaired")),
    ("527 严重 minimum is 6 months", "penalties", {**P527, **SEVERE, "repair_date": "2022-05-01"},
     "2022-09-09", {}, (True, "2022-09-09", "displayed")),
    ("future repair date does not hide yet", "penalties", {**P527, "repair_date": "2022-12-01"},
     "2022-11-30", {}, (True, "2022-11-30", "displayed")),
    ("公示截止期 ends publication", "penalties", {**P527, "publicity_end_date": "2022-06-30"},
     "2022-06-30", {}, (True, "2022-06-30", "displayed")),
    ("公示截止期 passed", "penalties", {**P527, "publicity_end_date": "2022-06-30"},
     "2022-07-01", {}, (False, "2022-06-30", "publicity_end")),
    ("公示截止期 after the maximum: maximum wins", "penalties", {**P527, "publicity_end_date": "2024-01-01"},
     "2023-03-10", {}, (False, "2023-03-09", "period_ended")),
    ("revoked decision withdrawn at once", "penalties", {**P527, "revoked_date": "2022-03-20"},
     "2022-03-20", {}, (False, "2022-03-19", "revoked")),
    ("revoked decision shown until the day before", "penalties", {**P527, "revoked_date": "2022-03-20"},
     "2022-03-19", {}, (True, "2022-03-19", "displayed")),
    ("revocation beats a later repair", "penalties", {**P527, "revoked_date": "2022-05-01", "repair_date": "2022-08-01"},
     "2022-06-01", {}, (False, "2022-04-30", "revoked")),
    # --- Order No. 58: 3–36 months; 12-month minimum in safety sectors
    ("58 一般 last day", "penalties", P58, "2027-01-14", {}, (True, "2027-01-14", "displayed")),
    ("58 一般 first hidden", "penalties", P58, "2027-01-15", {}, (False, "2027-01-14", "period_ended")),
    ("58 严重 same maximum", "penalties", {**P58, **SEVERE}, "2027-01-15", {}, (False, "2027-01-14", "period_ended")),
    ("58 repair before 3-month minimum", "penalties", {**P58, "repair_date": "2024-02-01"},
     "2024-04-15", {}, (False, "2024-04-14", "repaired")),
    ("58 safety sector minimum 12 months", "penalties", {**P58, "repair_date": "2024-02-01", "authority": "南宁市应急管理局"},
     "2025-01-14", {}, (True, "2025-01-14", "displayed")),
    ("58 fire-safety sector repair after 12 months", "penalties",
     {**P58, "repair_date": "2025-06-01", "authority": "柳州市消防救援支队"}, "2025-06-01", {}, (False, "2025-05-31", "repaired")),
    ("last day of 527", "penalties", {"decision_date": "2023-04-30"}, "2024-04-29", {}, (True, "2024-04-29", "displayed")),
    ("first day of Order 58", "penalties", {"decision_date": "2023-05-01"}, "2026-04-30", {}, (True, "2026-04-30", "displayed")),
    ("leap day plus 36 months clips to month end", "penalties", {"decision_date": "2024-02-29"}, "2027-02-27", {},
     (True, "2027-02-27", "displayed")),
    # --- Order No. 36: 一般 3–12, 严重 12–36
    ("36 一般 last day", "penalties", P36, "2027-03-31", {}, (True, "2027-03-31", "displayed")),
    ("36 一般 first hidden", "penalties", P36, "2027-04-01", {}, (False, "2027-03-31", "period_ended")),
    ("36 严重 last day", "penalties", {**P36, **SEVERE}, "2029-03-31", {}, (True, "2029-03-31", "displayed")),
    ("36 严重 repair before 12-month minimum", "penalties", {**P36, **SEVERE, "repair_date": "2026-06-01"},
     "2027-03-31", {}, (True, "2027-03-31", "displayed")),
    ("36 严重 repair before minimum, hidden at minimum", "penalties", {**P36, **SEVERE, "repair_date": "2026-06-01"},
     "2027-04-01", {}, (False, "2027-03-31", "repaired")),
    ("36 严重 repair after minimum", "penalties", {**P36, **SEVERE, "repair_date": "2027-05-01"},
     "2027-05-01", {}, (False, "2027-04-30", "repaired")),
    ("last day of Order 58 keeps its periods", "penalties", {"decision_date": "2026-03-31"}, "2029-03-30", {},
     (True, "2029-03-30", "displayed")),
    # --- objections, restrictions, persons
    ("under objection: shown and marked", "penalties", {**P36, "objection_status": "异议处理中"}, "2026-05-01", {},
     (True, "2027-03-31", "displayed")),
    ("under objection: suppressed when configured", "penalties", {**P36, "objection_status": "异议处理中"}, "2026-05-01",
     SUPPRESS, (False, "2027-03-31", "objection_pending")),
    ("objection upheld: withdrawn", "penalties", {**P36, "objection_status": "已撤销"}, "2026-05-01", {},
     (False, "2027-03-31", "objection_upheld")),
    ("objection rejected: shown", "penalties", {**P36, "objection_status": "维持原决定"}, "2026-05-01", {},
     (True, "2027-03-31", "displayed")),
    ("objection corrected: this row is the correction", "penalties", {**P36, "objection_status": "已更正"}, "2026-05-01",
     {}, (True, "2027-03-31", "displayed")),
    ("trade secret: not published", "penalties", {**P36, "restriction": "商业秘密"}, "2026-05-01", {},
     (False, "2027-03-31", "restricted")),
    ("minor: not published", "penalties", {**P36, **person("2010-01-01")}, "2026-05-01", {},
     (False, "2027-03-31", "minor_subject")),
    ("18th birthday on the decision date: adult", "penalties", {**P36, **person("2008-04-01")}, "2026-05-01", {},
     (True, "2027-03-31", "displayed")),
    ("one day short of 18: minor", "penalties", {**P36, **person("2008-04-02")}, "2026-05-01", {},
     (False, "2027-03-31", "minor_subject")),
    ("individual business with placeholder", "penalties",
     {**P36, "subject_category": "个体工商户", "subject_uscc": USCC_PLACEHOLDER, "subject_business_reg_no": "450100600123456"},
     "2026-05-01", {}, (True, "2027-03-31", "displayed")),
    # --- licences: in force while valid and 有效, then history for 36 months
    ("licence in force", "licensing", {}, "2026-11-20", {}, (True, "2029-03-04", "in_force")),
    ("licence on its last valid day", "licensing", {}, "2029-03-04", {}, (True, "2029-03-04", "in_force")),
    ("licence expired: history", "licensing", {}, "2029-03-05", {}, (True, "2032-03-03", "licence_history")),
    ("licence history ended", "licensing", {}, "2032-03-04", {}, (False, "2032-03-03", "history_ended")),
    ("open-ended licence (长期)", "licensing", {"valid_to": "9999-12-31"}, "2040-01-01", {}, (True, "", "in_force")),
    ("2099-12-31 is open-ended", "licensing", {"valid_to": "2099-12-31"}, "2040-01-01", {}, (True, "", "in_force")),
    ("invalid licence: history from the decision", "licensing", {"status": "无效"}, "2026-11-20", {},
     (True, "2027-03-04", "licence_history")),
    ("invalid licence: history ended", "licensing", {"status": "无效"}, "2027-03-05", {},
     (False, "2027-03-04", "history_ended")),
    ("revoked licence: history", "licensing", {"status": "撤销"}, "2026-11-20", {}, (True, "2027-03-04", "licence_history")),
    ("licence history length configurable", "licensing", {}, "2030-03-05", {"licence_history_months": 12},
     (False, "2030-03-03", "history_ended")),
    ("licence under objection", "licensing", {"objection_status": "异议处理中"}, "2026-11-20", {},
     (True, "2029-03-04", "in_force")),
    ("licence of a natural person", "licensing", person("1980-01-01"), "2026-11-20", {}, (True, "2029-03-04", "in_force")),
    ("licence state secret", "licensing", {"restriction": "国家秘密"}, "2026-11-20", {}, (False, "2029-03-04", "restricted")),
    # --- lists: shown while 在列; removal or a passed valid_until ends it
    ("listed", "blacklist", {}, "2026-11-20", {}, (True, "2027-03-04", "listed")),
    ("listed, last day", "blacklist", {}, "2027-03-04", {}, (True, "2027-03-04", "listed")),
    ("listing expired", "blacklist", {}, "2027-03-05", {}, (False, "2027-03-04", "list_expired")),
    ("listed without end", "blacklist", {"valid_until": ""}, "2030-01-01", {}, (True, "", "listed")),
    ("listed open-ended", "redlist", {"valid_until": "9999-12-31"}, "2030-01-01", {}, (True, "", "listed")),
    ("removed by repair", "blacklist", {"status": "已移出", "removed_date": "2025-01-01", "removal_reason": "修复"},
     "2026-11-20", {}, (False, "2024-12-31", "repaired")),
    ("removed at expiry", "redlist", {"status": "已移出", "removed_date": "2026-01-01", "removal_reason": "期满"},
     "2026-11-20", {}, (False, "2025-12-31", "removed")),
    ("removed: revoked", "blacklist", {"status": "已移出", "removed_date": "2025-06-01", "removal_reason": "撤销"},
     "2026-11-20", {}, (False, "2025-05-31", "removed")),
    ("removed, as of the day before", "blacklist", {"status": "已移出", "removed_date": "2025-06-01"},
     "2025-05-31", {}, (False, "2025-05-31", "removed")),
    ("person on a black list", "blacklist", person("1980-01-01"), "2026-11-20", {}, (True, "2027-03-04", "listed")),
    ("black list objection upheld", "blacklist", {"objection_status": "已撤销"}, "2026-11-20", {},
     (False, "2027-03-04", "objection_upheld")),
    ("red list privacy restriction", "redlist", {"restriction": "个人隐私"}, "2026-11-20", {},
     (False, "2027-03-04", "restricted")),
]


def one_record(dataset: str, changes: dict) -> pa.Table:
    values = {**VALID[dataset], **changes}
    return pa.table({name: pa.array([values.get(name, "")], pa.string()) for name in load_dataset(dataset).field_names})


@pytest.mark.parametrize(("dataset", "changes", "as_of", "policy", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_decision(dataset, changes, as_of, policy, expected):
    decisions = decide(load_dataset(dataset), one_record(dataset, changes), D(as_of), replace(Policy(), **policy))
    row = decisions.table.to_pylist()[0]
    assert (row["_published"], row["_display_until"], row["_reason"]) == expected
    assert REASONS[row["_reason"]][1] is row["_published"]


def test_enough_cases_and_every_reason_covered():
    assert len(CASES) >= 60
    assert {c[-1][2] for c in CASES} == set(REASONS)


def test_under_objection_is_flagged_on_published_records():
    row = decide(load_dataset("penalties"), one_record("penalties", {**P36, "objection_status": "异议处理中"}),
                 D("2026-05-01")).table.to_pylist()[0]
    assert row["_under_objection"] is True


def test_published_records_have_personal_data_protected():
    changes = {**P36, **person("1980-01-01"), "legal_rep_id_no": resident_id("45010219700101123")}
    decisions = decide(load_dataset("penalties"), one_record("penalties", changes), D("2026-05-01"))
    [row] = decisions.published().to_pylist()
    assert "legal_rep_id_no" not in row
    assert row["subject_id_no"] == changes["subject_id_no"][:6] + "********" + changes["subject_id_no"][14:]


@pytest.mark.parametrize(("number", "masked"), [
    ("45010219800101123X", "450102********123X"),
    ("450102800101123", "450102******123"),
    ("E12345678", "E1*****78"),
    ("12", "**"),
])
def test_masking(number, masked):
    assert mask_one(number) == masked


@pytest.mark.parametrize(("start", "months", "expected"), [
    ("2024-01-31", 1, "2024-02-29"), ("2023-01-31", 1, "2023-02-28"), ("2024-02-29", 12, "2025-02-28"),
    ("2024-03-05", 12, "2025-03-05"), ("2024-12-15", 3, "2025-03-15"),
])
def test_add_months(start, months, expected):
    got = add_months(np.array([start], dtype="datetime64[D]"), np.array([months]))
    assert str(got[0]) == expected


def test_counts_and_many_records_decided_together():
    rows = [one_record("blacklist", {}), one_record("blacklist", {"status": "已移出", "removed_date": "2025-01-01"})]
    decisions = decide(load_dataset("blacklist"), pa.concat_tables(rows), D("2026-11-20"))
    assert decisions.counts() == {"listed": 1, "removed": 1}
    assert decisions.published().num_rows == 1


def test_policy_file_overrides_and_rejects_unknown_settings(tmp_path):
    from generator.disclosure.policy import load_policy
    from generator.errors import ConfigError

    path = tmp_path / "policy.yaml"
    assert load_policy(path) == Policy()
    path.write_text("suppress_under_objection: true\nlarge_fine_wan: 20\n", encoding="utf-8")
    policy = load_policy(path)
    assert (policy.suppress_under_objection, policy.large_fine_wan) == (True, 20.0)
    path.write_text("minimum_months: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="无法识别的设置：minimum_months"):
        load_policy(path)
    path.write_text("licence_history_months: many\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="类型不对"):
        load_policy(path)


def test_repository_policy_file_is_the_default():
    from generator.disclosure.policy import POLICY_FILE, load_policy
    from generator.site import ROOT

    assert load_policy(ROOT / POLICY_FILE) == Policy()
