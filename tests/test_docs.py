"""Documentation stays true: every command, option and rule is documented where users look."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from generator.cli import main
from generator.rules import catalogue

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
RULES_PAGE = (ROOT / "site_src" / "guide" / "rules.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_and_option_is_in_the_readme(command):
    assert f"gongshi {command}" in README
    for param in main.commands[command].params:
        if isinstance(param, click.Option):
            assert any(opt in README for opt in param.opts), (command, param.opts)


@pytest.mark.parametrize("rule", sorted(catalogue()))
def test_every_rule_is_explained_in_readme_and_on_the_site(rule):
    assert f"`{rule}`" in README
    assert f"`{rule}`" in RULES_PAGE


def test_readme_quick_start_scripts_exist():
    for script in ("scripts/demo", "scripts/test"):
        assert f"./{script}" in README
        assert (ROOT / script).stat().st_mode & 0o111
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
