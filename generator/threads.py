"""Independent pieces of work side by side on threads.

Arrow's and NumPy's kernels let go of Python's interpreter lock while they work, so the four
datasets' decisions, or the columns of a large ``take``, run on every core from one process:
nothing is copied to a worker and nothing is sent back. Results come back in the order given.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

import pyarrow as pa

T = TypeVar("T")
R = TypeVar("R")

TAKE_THREADED_ROWS = 100_000  # fewer rows are taken faster on one thread
_RUNNING = {"pools": 0}  # side_by_side pools and Soon threads at work (see :func:`threads_at_work`)
_LOCK = threading.Lock()


def workers() -> int:
    """Cores to use: the machine's, at most 8 (``GONGSHI_WORKERS`` overrides)."""
    configured = os.environ.get("GONGSHI_WORKERS")
    return max(1, int(configured)) if configured else max(1, min(8, os.cpu_count() or 1))


_BESIDE: list = []  # (the process that started it, process) of each process started beside the build
_IN_STEP = {"beside": 0}  # 1 in a process started beside the build: the build works beside it


def beside_started(process) -> None:
    """Count ``process`` (a ``multiprocessing.Process`` working beside the build, see
    ``render.Beside``) against the cores left for threads while it works."""
    with _LOCK:
        _BESIDE.append((os.getpid(), process))


def working_beside() -> None:
    """This process is a step beside the build (see ``render.Beside``): the build has a core."""
    _IN_STEP["beside"] = 1


def free_cores() -> int:
    """Cores left for this process's threads now: :func:`workers` less one for each process
    working beside the build (or for the build, in such a process). Threads beyond the free cores
    do not finish sooner: they take turns with the other process, and their CPU grows (faults on
    new memory and the allocator's locks are shared by the threads); see the performance page."""
    me = os.getpid()
    with _LOCK:
        _BESIDE[:] = [(owner, p) for owner, p in _BESIDE if owner == me and p.is_alive()]
        at_work = len(_BESIDE)
    return max(1, workers() - at_work - _IN_STEP["beside"])


def side_by_side(task: Callable[[T], R], items: Iterable[T], most: int = 8) -> list[R]:
    """``[task(item) for item in items]``, the items on threads (no more than :func:`free_cores`
    and ``most``); the first exception is raised."""
    items = list(items)
    threads = min(free_cores(), len(items), most)
    if threads < 2:
        return [task(item) for item in items]
    with _LOCK:
        _RUNNING["pools"] += 1
    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(task, items))
    finally:
        with _LOCK:
            _RUNNING["pools"] -= 1


def threads_at_work() -> bool:
    """Whether :func:`side_by_side` or :class:`Soon` threads are running: no process may be
    forked then (a child would inherit locks another thread holds: ``render.map_parallel`` and
    ``render.Beside.start`` refuse) and no state shared with forked workers may be set."""
    return _RUNNING["pools"] > 0


def together(*tasks: Callable[[], R]) -> list[R]:
    """Each task's result, the tasks side by side."""
    return side_by_side(lambda task: task(), tasks)


def take_rows(table: pa.Table, indices: pa.Array) -> pa.Table:
    """``table.take(indices)``, column by column side by side."""
    if len(indices) < TAKE_THREADED_ROWS or table.num_columns < 2 or free_cores() < 2:
        return table.take(indices)
    return pa.Table.from_arrays(side_by_side(lambda column: column.take(indices), table.columns), schema=table.schema)


class Soon(Generic[R]):
    """A task started on a thread now, its result waited for later (:meth:`result`): reading
    files while other work goes on. While it runs, :func:`threads_at_work` is true."""

    def __init__(self, task: Callable[[], R]) -> None:
        self._outcome: list[tuple[bool, object]] = []
        if workers() == 1:
            self._thread = None
            self._run(task)
            return
        with _LOCK:
            _RUNNING["pools"] += 1
        self._thread = threading.Thread(target=self._run, args=(task, True), daemon=True)
        self._thread.start()

    def _run(self, task: Callable[[], R], counted: bool = False) -> None:
        try:
            self._outcome.append((True, task()))
        except BaseException as error:  # handed to whoever asks for the result
            self._outcome.append((False, error))
        finally:
            if counted:
                with _LOCK:
                    _RUNNING["pools"] -= 1

    def result(self) -> R:
        if self._thread is not None:
            self._thread.join()
        done, value = self._outcome[0]
        if not done:
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]
