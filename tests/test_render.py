"""Steps run beside the build (generator.outputs.render.Beside)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from generator.errors import BuildError
from generator.outputs.render import Beside


def write_file(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def fail_with_build_error(message: str) -> None:
    raise BuildError(message)


def fail_with_bug() -> None:
    raise ZeroDivisionError("division by zero in the step")


def sleep_then_write(path: Path) -> None:
    time.sleep(30)
    path.write_text("too late", encoding="utf-8")


def exit_abruptly() -> None:
    os._exit(3)


@pytest.fixture(params=["2", "1"], ids=["forked", "in-process"])
def workers(request, monkeypatch):
    monkeypatch.setenv("GONGSHI_WORKERS", request.param)
    return int(request.param)


def test_a_step_leaves_its_files_when_waited_for(tmp_path, workers):
    beside = Beside()
    step = beside.start(write_file, tmp_path / "out.txt", "索引")
    step.wait()
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == "索引"
    step.wait()  # waiting again is harmless
    beside.stop()


def test_a_build_error_in_a_step_is_raised_as_itself(workers):
    beside = Beside()
    with pytest.raises(BuildError, match=r"^网页生成失败：missing\.md$"):
        beside.start(fail_with_build_error, "网页生成失败：missing.md").wait()
    beside.stop()


def test_another_error_is_raised_with_the_steps_traceback(monkeypatch):
    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    step = Beside().start(fail_with_bug)
    with pytest.raises(RuntimeError) as raised:
        step.wait()
    text = str(raised.value)
    assert text.startswith("division by zero in the step\n")
    assert "fail_with_bug" in text and "ZeroDivisionError" in text


def test_a_step_that_dies_without_a_word_is_an_error(monkeypatch):
    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    with pytest.raises(RuntimeError, match=r"^exit_abruptly ended with exit status 3$"):
        Beside().start(exit_abruptly).wait()


def test_stop_ends_a_running_step_before_it_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    beside = Beside()
    step = beside.start(sleep_then_write, tmp_path / "late.txt")
    started = time.monotonic()
    beside.stop()
    assert time.monotonic() - started < 10
    assert step.process is None
    assert not (tmp_path / "late.txt").exists()


def count_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_step_returns_its_result(tmp_path, workers):
    (tmp_path / "b").write_text("")
    (tmp_path / "a").write_text("")
    step = Beside().start(count_files, tmp_path)
    assert step.wait() == ["a", "b"]
    assert step.wait() == ["a", "b"]


def niceness() -> int:
    return os.nice(0)


def test_a_forked_step_runs_at_a_lower_priority_than_the_build(monkeypatch):
    """The build's own work is what it waits for: a step beside takes the time it leaves."""
    from generator.outputs.render import BESIDE_NICENESS

    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    assert Beside().start(niceness).wait() == min(19, os.nice(0) + BESIDE_NICENESS)
    monkeypatch.setenv("GONGSHI_WORKERS", "1")
    assert Beside().start(niceness).wait() == os.nice(0)  # in this process: the build's own
