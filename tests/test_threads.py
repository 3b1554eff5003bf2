"""Work side by side on threads, and the column helpers the build runs on them."""

from __future__ import annotations

import os
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa
import pytest

from generator import threads
from generator.normalize import iso_days
from generator.outputs import sitemaps


def test_side_by_side_keeps_the_order_and_raises_the_first_error(monkeypatch):
    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    assert threads.side_by_side(lambda n: n * n, range(50)) == [n * n for n in range(50)]
    assert threads.together(lambda: "a", lambda: "b") == ["a", "b"]

    def fails(n: int) -> int:
        if n == 3:
            raise ValueError("row 3")
        return n

    with pytest.raises(ValueError, match="row 3"):
        threads.side_by_side(fails, range(6))


def thread_and_cores(_: object) -> tuple[int, int]:
    import threading

    return threading.get_ident(), threads.free_cores()


def wait_for(path: str) -> None:
    import time

    deadline = time.monotonic() + 30
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.01)


def test_threads_only_on_the_cores_no_step_beside_the_build_takes(monkeypatch, tmp_path):
    """While a step works beside the build (render.Beside), it has a core: on two, the build's
    side_by_side and take_rows stay on one thread; when the step has ended, both cores are the
    build's again. In the step's own process the build has a core."""
    import threading

    from generator.outputs.render import Beside

    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    assert threads.free_cores() == 2
    go = tmp_path / "go"
    beside = Beside()
    step = beside.start(wait_for, str(go))
    assert threads.free_cores() == 1
    assert {ident for ident, _ in threads.side_by_side(thread_and_cores, range(4))} == {threading.get_ident()}
    monkeypatch.setattr(threads, "TAKE_THREADED_ROWS", 1)
    table = pa.table({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    assert threads.take_rows(table, pa.array([2, 0])).equals(table.take(pa.array([2, 0])))
    in_step = beside.start(thread_and_cores, None).wait()
    assert in_step[1] == 1  # the build works beside the step
    go.touch()
    step.wait()
    assert threads.free_cores() == 2
    assert threading.get_ident() not in {ident for ident, _ in threads.side_by_side(thread_and_cores, range(8))}
    beside.stop()


def test_no_forked_workers_from_threads(monkeypatch):
    """Forking beside running threads is unsafe and the forked workers' state is one per process:
    map_parallel refuses to run from side_by_side's threads, and runs again after them."""
    from generator.outputs.render import map_parallel

    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    with pytest.raises(RuntimeError, match="side_by_side"):
        threads.side_by_side(lambda n: map_parallel(chunk, n, {}, 10), [20, 30])
    assert not threads.threads_at_work()
    assert map_parallel(chunk, 25, {}, 10) == [10, 10, 5]


@pytest.mark.parametrize("cores", ["1", "2"])
def test_soon_gives_its_result_or_its_error_later_and_no_fork_meanwhile(cores, monkeypatch):
    """A file read on a thread while the build goes on: its result when asked, its error raised
    then, and no forked workers while it runs."""
    import threading

    from generator.outputs.render import Beside, map_parallel

    monkeypatch.setenv("GONGSHI_WORKERS", cores)
    go = threading.Event()
    if cores == "1":
        go.set()  # one core: the task runs at once, where it is started
    waiting = threads.Soon(lambda: go.wait(10) and "read")
    if cores == "2":
        assert threads.threads_at_work()
        with pytest.raises(RuntimeError, match="side_by_side"):
            map_parallel(chunk, 20, {}, 10)
        with pytest.raises(RuntimeError, match="Soon threads run"):
            Beside().start(chunk, (0, 1))
    go.set()
    assert waiting.result() == "read"
    assert not threads.threads_at_work()

    def fails() -> str:
        raise OSError("unreadable release")

    failing = threads.Soon(fails)
    with pytest.raises(OSError, match="unreadable release"):
        failing.result()
    assert not threads.threads_at_work()


def chunk(bounds: tuple[int, int]) -> int:
    return bounds[1] - bounds[0]


def process_of(bounds: tuple[int, int]) -> int:
    return os.getpid()


def test_a_few_items_are_done_in_this_process(monkeypatch):
    """Forking a build that holds gigabytes costs more than a few thousand pages take: up to
    ``alone`` items, map_parallel works here; beyond, in worker processes, with the same result."""
    from generator.outputs.render import map_parallel

    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    assert map_parallel(process_of, 30, {}, 10, alone=30) == [os.getpid()] * 3
    forked = map_parallel(process_of, 31, {}, 10, alone=30)
    assert len(forked) == 4 and os.getpid() not in forked
    assert map_parallel(chunk, 31, {}, 10, alone=30) == map_parallel(chunk, 31, {}, 10, alone=31) == [10, 10, 10, 1]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_take_rows_equals_arrows_take(monkeypatch, workers):
    monkeypatch.setenv("GONGSHI_WORKERS", workers)
    monkeypatch.setattr(threads, "TAKE_THREADED_ROWS", 10)
    n = 1_000
    table = pa.table({"id": pa.array([f"r{i}" for i in range(n)]), "n": pa.array(np.arange(n)),
                      "maybe": pa.array([None if i % 7 == 0 else str(i) for i in range(n)])})
    order = pa.array(np.random.default_rng(1).permutation(n))
    taken = threads.take_rows(table, order)
    assert taken.equals(table.take(order))
    assert taken.schema == table.schema


def test_iso_days_are_numpys_text():
    days = np.array(["1900-01-01", "2024-02-29", "NaT", "0999-05-01", "9999-12-31"], dtype="datetime64[D]")
    assert iso_days(days).to_pylist() == ["1900-01-01", "2024-02-29", "", "0999-05-01", "9999-12-31"]
    every = np.arange(np.datetime64("1950-01-01"), np.datetime64("2100-01-01"))
    assert iso_days(every).to_pylist() == np.datetime_as_string(every, unit="D").tolist()
    for beyond in ("-0001-01-01", "10000-01-01"):  # years not of four digits: NumPy's text
        days = np.array([beyond, "2026-01-01", "NaT"], dtype="datetime64[D]")
        assert iso_days(days).to_pylist() == [np.datetime_as_string(days[0]), "2026-01-01", ""]
    assert iso_days(np.zeros(0, "datetime64[D]")).to_pylist() == []


def test_sitemap_urls_are_escaped_as_xml_text(tmp_path):
    paths = ["a&b/", "<x>/", "plain/"]
    assert sitemaps.write_sitemaps(tmp_path, "https://example.org/a&b", [(paths, ["2026-01-02", "", "2026-01-01"])]) == 1
    text = (tmp_path / "sitemaps" / "1.xml").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.startswith("<url>")]
    assert lines == [f"<url><loc>{escape('https://example.org/a&b/' + p)}</loc>{'<lastmod>' + d + '</lastmod>' if d else ''}</url>"
                     for p, d in zip(paths, ["2026-01-02", "", "2026-01-01"], strict=True)]
    index = (tmp_path / "sitemap.xml").read_text(encoding="utf-8")
    assert "<loc>https://example.org/a&amp;b/sitemaps/1.xml</loc><lastmod>2026-01-02</lastmod>" in index


def test_an_empty_site_has_one_empty_sitemap(tmp_path):
    assert sitemaps.write_sitemaps(tmp_path, "https://example.org", []) == 1
    assert "<url>" not in (tmp_path / "sitemaps" / "1.xml").read_text(encoding="utf-8")
    assert "<lastmod>" not in (tmp_path / "sitemap.xml").read_text(encoding="utf-8")


def test_a_missing_sitemap_path_is_an_error_not_an_empty_sitemap(tmp_path):
    with pytest.raises(ValueError, match="without missing values"):
        sitemaps.write_sitemaps(tmp_path, "https://example.org", [(pa.array(["a/", None]), ["", ""])])
