"""The gongshi command: exact output a user sees, JSON, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main

from .conftest import row

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env)


def test_validate_report_exact_output(folder, tmp_path):
    folder.write("penalties", "a.csv", [row("penalties"), row("penalties", decision_doc_no="2号", fine_amount_wan="-1")],
                 encoding="gb18030")
    folder.write("licensing", "b.csv", [row("licensing")], provenance=False)
    result = run("validate", str(folder.root), "--as-of", "2026-11-23", "--json", str(tmp_path / "r.json"))
    root = folder.root.as_posix()
    assert result.output == f"""Gongshi 校验报告 · 数据日期 2026-11-23 · {root}

文件             格式  编码     表头   读取  可发布  未发布  有警告
licensing/b.csv  csv   utf-8    title     1       0       1       0
penalties/a.csv  csv   gb18030  title     2       1       1       0
合计                                      3       1       2       0

问题（按规则）
✗ provenance.missing · 缺少来源说明文件 · 错误，不发布 · 1 处
    licensing/b.csv: 缺少来源说明文件 b.csv.provenance.yaml，本文件的所有行暂不发布。请按 README 中的格式补充报送单位、决定机关、报送时间和审核信息。
✗ amount.negative · 金额为负数 · 错误，不发布 · 1 处
    penalties/a.csv 第 3 行 [fine_amount_wan]: 「罚款金额（万元）」为负数「-1」。请核对金额后更正。

共 2 个错误、0 个警告；2 行暂不发布。请按上面的提示修正后重新提交。
"""
    assert result.exit_code == 1
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["totals"] == {"read": 3, "published": 1, "withheld": 2, "warnings": 0}
    assert [p["rule"] for p in report["problems"]] == ["provenance.missing", "amount.negative"]
    assert report["rules"][1]["why"].startswith("A negative fine")


def test_validate_clean_exits_zero(folder):
    folder.write("redlist", "a.csv", [row("redlist")])
    result = run("validate", str(folder.root), "--as-of", "2026-11-23")
    assert result.exit_code == 0
    assert result.output.endswith("没有发现问题。\n")


def test_as_of_from_source_date_epoch(folder):
    folder.write("penalties", "a.csv", [row("penalties", decision_date="2026-11-24")])
    # 2026-11-23T16:30:00Z is already 2026-11-24 in China Standard Time
    result = run("validate", str(folder.root), env={"SOURCE_DATE_EPOCH": "1795451400"})
    assert "数据日期 2026-11-24" in result.output and result.exit_code == 0


def test_bad_options_exit_two_with_next_step(folder, tmp_path):
    result = run("validate", str(folder.root), "--as-of", "23/11/2026")
    expected = "错误：--as-of 的值「23/11/2026」不是日期。请写成 YYYY-MM-DD，例如 --as-of 2026-11-23。\n"
    assert (result.exit_code, result.output) == (2, expected)
    result = run("validate", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "不存在" in result.output


def test_arrow_allocates_with_malloc_unless_told_otherwise(folder, monkeypatch):
    import pyarrow as pa

    before = pa.default_memory_pool()
    try:
        monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
        CliRunner().invoke(main, ["validate", str(folder)])
        assert pa.default_memory_pool().backend_name == "system"
        pa.set_memory_pool(pa.mimalloc_memory_pool())
        monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "mimalloc")
        CliRunner().invoke(main, ["validate", str(folder)])
        assert pa.default_memory_pool().backend_name == "mimalloc"
    finally:
        pa.set_memory_pool(before)


def test_build_timings_name_every_step_with_its_seconds_and_cpu(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GONGSHI_WORKERS", "2")  # the steps beside run in processes of their own, as on any 2 cores
    folder.write("penalties", "a.csv", [row("penalties")])
    result = CliRunner().invoke(main, ["build", "--datasets", str(folder.root), "--out", str(tmp_path / "site"),
                                       "--as-of", "2026-11-23", "--timings"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    step = re.compile(r"^(?P<name>.+): \d+\.\d\d s, CPU \d+\.\d\d s \(peak RSS so far [\d,]+ MiB\)$")
    names = [m["name"] for m in map(step.match, lines) if m]
    assert names == ["intake (read, validate)", "publication decisions", "records for the pages", "open data",
                     "feeds (plan)", "what changed", "feeds (write)", "hand-written pages (mkdocs, beside the above)",
                     "subject pages", "listings", "sitemaps", "copy data", "privacy scan",
                     "search index, release scan (beside the above)", "put in place"]
    beside = re.compile(r"^beside the build, (?P<name>.+): CPU (?P<cpu>\d+\.\d\d) s "
                        r"\(user (?P<user>\d+\.\d\d), system (?P<system>\d+\.\d\d)\)$")
    found = [beside.match(line) for line in lines[len(names):-1]]
    assert [m["name"] for m in found] == ["hand-written pages (mkdocs)", "search index", "release scan, kept records"]
    assert all(abs(float(m["user"]) + float(m["system"]) - float(m["cpu"])) <= 0.011 for m in found)
    assert float(found[0]["cpu"]) > 0  # mkdocs renders pages: its process did work, and it is counted
    assert lines[-1] == "subject pages: 1, listing pages: 7"


@pytest.mark.parametrize(("args", "status", "ends"), [
    (["validate", "{root}", "--as-of", "2026-11-23"], 0, "没有发现问题。\n"),
    (["validate", "{root}", "--as-of", "23/11/2026"], 2, "--as-of 2026-11-23。\n"),
    (["nonsense"], 2, "No such command 'nonsense'.\n"),
])
def test_the_program_exits_with_the_commands_status_and_all_its_output(folder, args, status, ends):
    """``gongshi`` (and ``python -m generator.cli``) ends the process without tearing it down:
    the status and every line printed are still the command's."""
    folder.write("redlist", "a.csv", [row("redlist")])
    done = subprocess.run([sys.executable, "-m", "generator.cli", *(a.format(root=folder.root) for a in args)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == status
    assert (done.stdout + done.stderr).endswith(ends)


def test_a_command_asks_numpy_for_ordinary_pages(folder, monkeypatch):
    import generator.cli as cli

    setter = cli.hugepage_setter()
    assert setter is not None  # this NumPy has the switch
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    before = setter(True)
    try:
        run("validate", str(folder.root), "--as-of", "2026-11-23")
        assert setter(True) is False  # it was off
        monkeypatch.setattr(cli, "hugepage_setter", lambda: None)  # a NumPy without it: the command still runs
        assert run("validate", str(folder.root), "--as-of", "2026-11-23").exit_code == 0
    finally:
        setter(before)


def test_the_cycle_collector_runs_rarely_during_a_command(folder):
    import gc

    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        run("validate", str(folder.root), "--as-of", "2026-11-23")
        assert gc.get_threshold() == (50_000, 50, 100)
    finally:
        gc.set_threshold(*before)
