"""Writing the generator's own pages: Jinja2 bodies inside the theme's shell, on every core.

At a million subjects, writing files (not rendering templates) is the cost, so pages are written
by worker processes, each over its own slice of the work. Workers are forked after the shared,
read-only state (the records as Arrow tables, the shell, the templates) is in place and get only
index ranges; they return small counts, never pages.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .shell import Shell

_WORK: dict = {}  # state shared with forked workers: set before the pool starts


@dataclass
class Writer:
    """Puts a page body into the shell and writes it where its URL says."""

    site: Path
    shell: Shell
    site_url: str
    extra_head: Callable[[str], str] = lambda path: ""

    def page(self, path: str, title: str, body: str) -> None:
        """Write the page for the site-relative folder URL ``path`` (``subjects/X/``)."""
        depth = path.count("/")
        canonical = f"{self.site_url}/{path}" if self.site_url else ""
        html = self.shell.page(depth, title, body, canonical, self.extra_head(path))
        folder = self.site / path
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(html, encoding="utf-8")


def environment(templates: Path) -> Environment:
    env = Environment(loader=FileSystemLoader(templates), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=False)
    return env


def workers() -> int:
    """Processes to use: the machine's cores, at most 8 (``GONGSHI_WORKERS`` overrides)."""
    configured = os.environ.get("GONGSHI_WORKERS")
    return max(1, int(configured)) if configured else max(1, min(8, os.cpu_count() or 1))


def run_parallel(task: Callable[[tuple[int, int]], int], total: int, state: dict, chunk: int = 4000) -> int:
    """Run ``task`` over ``[0, total)`` in chunks on every core; returns the sum of its results.
    ``state`` is visible to the task (as :func:`shared`) in every worker."""
    _WORK.clear()
    _WORK.update(state)
    ranges: Iterable[tuple[int, int]] = [(a, min(a + chunk, total)) for a in range(0, total, chunk)]
    try:
        n = workers()
        if n == 1 or total <= chunk:
            return sum(task(r) for r in ranges)
        with multiprocessing.get_context("fork").Pool(n) as pool:
            return sum(pool.imap_unordered(task, ranges))
    finally:
        _WORK.clear()


def shared() -> dict:
    return _WORK
