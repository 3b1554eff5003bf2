"""The validation report, for people (text) and for machines (JSON). Same content, two forms."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

from .intake import Intake
from .model import Problem, Severity
from .rules import catalogue

SYMBOL = {Severity.ERROR: "✗", Severity.WARNING: "!"}
SEVERITY_WORD = {Severity.ERROR: "错误，不发布", Severity.WARNING: "警告，照常发布"}


def width(text: str) -> int:
    """Columns a string takes in a terminal: CJK characters take two."""
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, size: int, right: bool = False) -> str:
    gap = " " * max(0, size - width(text))
    return gap + text if right else text + gap


def render_text(intake: Intake, datasets_dir: str, limit: int = 20) -> str:
    """The report a department reads: counts per file, then problems grouped by rule."""
    lines = [f"Gongshi 校验报告 · 数据日期 {intake.as_of.isoformat()} · {datasets_dir}", ""]
    header = ("文件", "格式", "编码", "表头", "读取", "可发布", "未发布", "有警告")
    rows = [(s.file, s.format, s.encoding, s.header_style, str(s.read), str(s.published), str(s.withheld), str(s.warnings))
            for s in intake.sources]
    total = ("合计", "", "", "", str(intake.read), str(intake.published), str(intake.withheld),
             str(sum(s.warnings for s in intake.sources)))
    sizes = [max(width(r[i]) for r in [header, *rows, total]) for i in range(len(header))]
    for r in [header, *rows, total]:
        lines.append("  ".join(pad(cell, sizes[i], right=i >= 4) for i, cell in enumerate(r)).rstrip())
    lines.append("")
    if not intake.problems:
        lines.append("没有发现问题。")
        return "\n".join(lines) + "\n"
    lines.append("问题（按规则）")
    rules = catalogue()
    by_rule: dict[str, list[Problem]] = defaultdict(list)
    for p in intake.problems:
        by_rule[p.rule].append(p)
    for rule_id in sorted(by_rule, key=lambda r: (list(rules).index(r) if r in rules else len(rules), r)):
        problems = by_rule[rule_id]
        rule = rules.get(rule_id)
        severity = problems[0].severity
        rows_hit = len({(p.file, p.row) for p in problems if p.row is not None})
        title = rule.title if rule else rule_id
        extent = f"{len(problems)} 处" + (f"，涉及 {rows_hit} 行" if rows_hit and rows_hit != len(problems) else "")
        lines.append(f"{SYMBOL[severity]} {rule_id} · {title} · {SEVERITY_WORD[severity]} · {extent}")
        shown = problems if limit <= 0 else problems[:limit]
        for p in shown:
            lines.append("    " + _locate(p) + " " + p.message)
        if len(shown) < len(problems):
            lines.append(f"    …另有 {len(problems) - len(shown)} 处，完整列表见 --json 输出。")
    lines.append("")
    counts = Counter(p.severity for p in intake.problems)
    lines.append(f"共 {counts[Severity.ERROR]} 个错误、{counts[Severity.WARNING]} 个警告；"
                 f"{intake.withheld} 行暂不发布。" + ("请按上面的提示修正后重新提交。" if intake.failed else ""))
    return "\n".join(lines) + "\n"


def _locate(p: Problem) -> str:
    where = p.file + (f" 第 {p.row} 行" if p.row is not None else "")
    if p.field:
        where += f" [{p.field}]"
    return where + ":"


def to_json(intake: Intake, datasets_dir: str) -> dict:
    rules = catalogue()
    used = sorted({p.rule for p in intake.problems}, key=lambda r: list(rules).index(r) if r in rules else len(rules))
    return {
        "as_of": intake.as_of.isoformat(),
        "datasets_dir": datasets_dir,
        "totals": {"read": intake.read, "published": intake.published, "withheld": intake.withheld,
                   "warnings": sum(s.warnings for s in intake.sources)},
        "files": [s.to_dict() for s in intake.sources],
        "rules": [{"id": r, "severity": str(rules[r].severity) if r in rules else "",
                   "title": rules[r].title if r in rules else "", "why": rules[r].why() if r in rules else "",
                   "count": sum(1 for p in intake.problems if p.rule == r)} for r in used],
        "problems": [p.to_dict() for p in intake.problems],
    }


def write_json(intake: Intake, datasets_dir: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(intake, datasets_dir), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
