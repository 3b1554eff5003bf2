"""Who submitted a file, for which authority, and who approved it: the provenance sidecar.

Every data file ``X`` in a dataset folder has a sidecar ``X.provenance.yaml`` beside it::

    submitting_unit: 南宁市市场监督管理局
    submitting_unit_uscc: 11450100MB1234567X
    authority: 南宁市市场监督管理局
    authority_uscc: 11450100MB1234567X
    submitted_at: 2026-03-05T10:00:00+08:00
    approved_by: 广西壮族自治区公共信用信息中心 审核员 韦某某
    approved_at: 2026-03-06T09:30:00+08:00

A file without one, or with one that does not show an approval, is not published. Provenance
later feeds the data packages' ``sources``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import yaml

from . import codes
from .ingest import SIDECAR_SUFFIX
from .model import Problem, Severity

CHINA = timezone(timedelta(hours=8))
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~10x faster; same safe subset
KEYS = ("submitting_unit", "submitting_unit_uscc", "authority", "authority_uscc", "submitted_at", "approved_by",
        "approved_at")
TITLES = {
    "submitting_unit": "报送单位", "submitting_unit_uscc": "报送单位统一社会信用代码", "authority": "决定机关",
    "authority_uscc": "决定机关统一社会信用代码", "submitted_at": "报送时间", "approved_by": "审核人",
    "approved_at": "审核时间",
}


@dataclass(frozen=True)
class Provenance:
    """Where one file came from. Times are ISO 8601 with their offset (+08:00 when none given)."""

    file: str
    submitting_unit: str
    submitting_unit_uscc: str
    authority: str
    authority_uscc: str
    submitted_at: str
    approved_by: str
    approved_at: str

    def to_dict(self) -> dict:
        return asdict(self)


def sidecar_path(data_file: Path) -> Path:
    return data_file.with_name(data_file.name + SIDECAR_SUFFIX)


def read_provenance(data_file: Path, dataset: str, label: str, as_of: date) -> tuple[Provenance | None, list[Problem]]:
    """The file's provenance, or None and the problems that keep the file from publication."""
    sidecar = sidecar_path(data_file)

    def problem(rule: str, message: str, key: str | None = None, value: str | None = None) -> Problem:
        return Problem(dataset, label, None, key, value, rule, Severity.ERROR, message)

    if not sidecar.is_file():
        return None, [problem("provenance.missing", f"缺少来源说明文件 {sidecar.name}，本文件的所有行暂不发布。"
                              "请按 README 中的格式补充报送单位、决定机关、报送时间和审核信息。")]
    try:
        content = yaml.load(sidecar.read_text(encoding="utf-8-sig"), Loader=SAFE_LOADER)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        reason = type(exc).__name__
        return None, [problem("provenance.invalid",
                              f"来源说明文件 {sidecar.name} 无法解析（{reason}）。请检查 YAML 格式并以 UTF-8 保存。")]
    if not isinstance(content, dict):
        return None, [problem("provenance.invalid", f"来源说明文件 {sidecar.name} 应为「键: 值」形式的 YAML。请参照 README 中的示例。")]
    problems = []
    values: dict[str, str] = {}
    for key in KEYS:
        raw = content.get(key)
        if raw is None or str(raw).strip() == "":
            problems.append(problem("provenance.invalid",
                                    f"来源说明文件 {sidecar.name} 缺少「{TITLES[key]}」（{key}）。请补充后重新提交。", key))
            continue
        if key.endswith("_at"):
            moment = _moment(raw)
            if moment is None:
                problems.append(problem("provenance.invalid", f"「{TITLES[key]}」（{key}）「{raw}」不是有效的时间。"
                                        "请写成 2026-03-05T10:00:00+08:00。", key, str(raw)))
                continue
            values[key] = moment.isoformat()
        else:
            values[key] = " ".join(str(raw).split())
    for key in ("submitting_unit_uscc", "authority_uscc"):
        code = values.get(key)
        if code is not None and not re.match(codes.USCC_PATTERN, code):
            problems.append(problem("provenance.invalid", f"「{TITLES[key]}」（{key}）「{code}」不是有效的统一社会信用代码。请更正。",
                                    key, code))
    submitted, approved = values.get("submitted_at"), values.get("approved_at")
    if submitted and approved:
        if datetime.fromisoformat(approved) < datetime.fromisoformat(submitted):
            problems.append(problem("provenance.invalid", "审核时间早于报送时间。请核对 approved_at 和 submitted_at。",
                                    "approved_at", approved))
        if datetime.fromisoformat(approved).astimezone(CHINA).date() > as_of:
            problems.append(problem("provenance.invalid", f"审核时间 {approved} 晚于本次发布日期 {as_of.isoformat()}，"
                                    "视为尚未审核。请在审核完成后再合并。", "approved_at", approved))
    if problems:
        return None, problems
    return Provenance(file=label, **values), []


def _moment(raw: object) -> datetime | None:
    if isinstance(raw, datetime):
        moment = raw
    elif isinstance(raw, date):
        moment = datetime(raw.year, raw.month, raw.day)
    else:
        try:
            moment = datetime.fromisoformat(str(raw).strip())
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=CHINA)
