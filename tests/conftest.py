"""Builders for tiny dataset folders: one valid row per dataset, mutated by each test."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest

from generator.codes import id_check_char, uscc_check_char
from generator.intake import Intake, run_intake
from generator.schema import load_dataset

AS_OF = date(2026, 11, 23)


def uscc(first17: str) -> str:
    return first17 + uscc_check_char(first17)


def resident_id(first17: str) -> str:
    return first17 + id_check_char(first17)


AUTHORITY = ("南宁市市场监督管理局", uscc("11450100MB0000001"))
COMPANY = uscc("91450100MA5K00001")
PERSON_ID = resident_id("45010219800101123")

SUBJECT = {
    "subject_name": "南宁青秀鑫源贸易有限公司", "subject_category": "法人及非法人组织", "subject_uscc": COMPANY,
    "legal_rep_name": "黄某某",
}
SOURCE = {"source_unit": AUTHORITY[0], "source_unit_uscc": AUTHORITY[1]}
VALID = {
    "licensing": {**SUBJECT, "decision_doc_title": "食品经营许可决定书", "decision_doc_no": "南市监许〔2024〕1号",
                  "license_category": "普通", "license_content": "食品销售", "decision_date": "2024-03-05",
                  "valid_from": "2024-03-05", "valid_to": "2029-03-04", "authority": AUTHORITY[0],
                  "authority_uscc": AUTHORITY[1], "status": "有效", **SOURCE},
    "penalties": {**SUBJECT, "decision_doc_no": "南市监罚〔2024〕1号", "violation_type": "虚假宣传",
                  "violation_facts": "发布虚假广告", "legal_basis": "《中华人民共和国广告法》第五十五条",
                  "penalty_categories": "罚款", "penalty_content": "罚款2000元", "fine_amount_wan": "0.2",
                  "decision_date": "2024-03-05", "authority": AUTHORITY[0], "authority_uscc": AUTHORITY[1], **SOURCE},
    "redlist": {"list_name": "守合同重信用企业名单", **SUBJECT, "listing_reason": "连续三年守合同重信用",
                "listing_basis": "桂市监〔2024〕3号", "authority": AUTHORITY[0], "authority_uscc": AUTHORITY[1],
                "listed_date": "2024-03-05", "valid_until": "2027-03-04", "status": "在列", **SOURCE},
    "blacklist": {"list_name": "严重违法失信名单", **SUBJECT, "listing_reason": "提交虚假材料取得登记",
                  "listing_basis": "南市监信〔2024〕5号", "authority": AUTHORITY[0], "authority_uscc": AUTHORITY[1],
                  "listed_date": "2024-03-05", "valid_until": "2027-03-04", "status": "在列", **SOURCE},
}
PERSON = {"subject_name": "李某某", "subject_category": "自然人", "subject_uscc": "", "legal_rep_name": "",
          "subject_id_type": "身份证", "subject_id_no": PERSON_ID}

PROVENANCE = f"""submitting_unit: {AUTHORITY[0]}
submitting_unit_uscc: {AUTHORITY[1]}
authority: {AUTHORITY[0]}
authority_uscc: {AUTHORITY[1]}
submitted_at: {{submitted}}
approved_by: 广西壮族自治区公共信用信息中心 审核员 韦某某
approved_at: {{approved}}
"""


def row(dataset: str, **changes: str) -> dict[str, str]:
    """A valid row of ``dataset`` with some fields changed."""
    return {**VALID[dataset], **changes}


def header_for(dataset: str, name: str, style: str) -> str:
    f = load_dataset(dataset).field(name)
    if style == "name":
        return f.name
    if style == "code":
        return f.code or f.title
    if style == "title_fullwidth":
        return f.title.replace("(", "（").replace(")", "）")
    return f.title


def csv_text(dataset: str, rows: list[dict[str, str]], style: str = "title", delimiter: str = ",") -> str:
    names = list(dict.fromkeys(k for r in rows for k in r)) or list(VALID[dataset])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow([header_for(dataset, n, style) if load_dataset(dataset).has(n) else n for n in names])
    for r in rows:
        writer.writerow([r.get(n, "") for n in names])
    return out.getvalue()


class Folder:
    """A datasets folder under construction."""

    def __init__(self, root: Path):
        self.root = root
        for name in ("licensing", "penalties", "redlist", "blacklist"):
            (root / name).mkdir(parents=True, exist_ok=True)

    def write(self, dataset: str, filename: str, rows: list[dict[str, str]] | None = None, *, text: str | None = None,
              data: bytes | None = None, style: str = "title", encoding: str = "utf-8", provenance: bool = True,
              submitted: str = "2026-01-05T10:00:00+08:00", approved: str = "2026-01-06T10:00:00+08:00") -> Path:
        path = self.root / dataset / filename
        if data is None:
            if text is None:
                text = csv_text(dataset, rows or [], style)
            data = text.encode(encoding)
        path.write_bytes(data)
        if provenance:
            self.provenance(path, submitted=submitted, approved=approved)
        return path

    def provenance(self, path: Path, submitted: str = "2026-01-05T10:00:00+08:00",
                   approved: str = "2026-01-06T10:00:00+08:00", text: str | None = None) -> None:
        sidecar = path.with_name(path.name + ".provenance.yaml")
        sidecar.write_text(text if text is not None else PROVENANCE.format(submitted=submitted, approved=approved),
                           encoding="utf-8")

    def intake(self, as_of: date = AS_OF) -> Intake:
        result = run_intake(self.root, as_of)
        result.reconcile()
        return result


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    return Folder(tmp_path / "datasets")


def flatten(intake: Intake, *keys: str) -> list[list]:
    """Problems as short lists, like frictionless' report.flatten()."""
    keys = keys or ("row", "field", "rule")
    return [[getattr(p, k) for k in keys] for p in intake.problems]
