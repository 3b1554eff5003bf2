"""Writing the generator's own pages: Jinja2 bodies inside the theme's shell, on every core.

Pages made by the thousand (subject pages) are filled from stencils (:class:`Stencil`: a template
macro's markup around its arguments) with Arrow string kernels, and written by :meth:`Writer.pages`.

At a million subjects, writing files (not rendering templates) is the cost, so pages are written
by worker processes, each over its own slice of the work. Workers are forked after the shared,
read-only state (the records as Arrow tables, the shell, the templates) is in place and get only
index ranges; they return small counts, never pages.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import resource
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..threads import beside_started, threads_at_work, workers, working_beside
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

    def pages(self, depth: int, paths: Sequence[str], titles: pa.Array, bodies: pa.Array) -> None:
        """Write many pages ``depth`` folders below the root at once, each byte for byte what
        :meth:`page` writes: ``titles`` raw text, ``bodies`` rendered (escaped) markup."""
        shell = Stencil(lambda *slots: self.shell.page(depth, *slots), OPEN, OPEN, OPEN, OPEN, markup=False)
        canonical = (escape_html(pa.array([f"{self.site_url}/{p}" for p in paths], pa.string())) if self.site_url
                     else pa.array([""] * len(paths), pa.string()))
        extra = pa.array([self.extra_head(p) for p in paths], pa.string())
        html = shell.fill(escape_html(titles), bodies, canonical, extra)
        write_files([f"{self.site}/{p.rstrip('/')}" for p in paths], "index.html", html)


OPEN = object()  # an argument a Stencil leaves open
_MARK = "\x1a"  # never in markup: a control character nothing writes


class Stencil:
    """A template macro's output around the arguments it is given as :data:`OPEN`: rendered
    once, then filled for many values at a time with Arrow string kernels (values go in as
    given: escape them first). The macro must not branch on its open arguments."""

    def __init__(self, macro: Callable[..., str], *args: object, markup: bool = True):
        marks = iter(range(len(args)))
        kind = Markup if markup else str  # plain text for code that is not a template's
        text = str(macro(*(kind(f"{_MARK}{next(marks)}{_MARK}") if a is OPEN else a for a in args)))
        pieces = re.split(f"{_MARK}(\\d+){_MARK}", text)
        self.texts: list[str] = pieces[0::2]
        self.slots: list[int] = [int(n) for n in pieces[1::2]]
        if any(_MARK in t for t in self.texts):
            raise ValueError("a stencil's markup holds its own placeholder")

    def fill(self, *values: pa.Array | str) -> pa.Array:
        """The markup with the open arguments, in order, replaced by ``values`` element-wise."""
        parts: list[pa.Array | pa.Scalar] = []
        for i, text in enumerate(self.texts):
            if text:
                parts.append(pa.scalar(text, pa.string()))
            if i < len(self.slots):
                value = values[self.slots[i]]
                parts.append(pa.scalar(value, pa.string()) if isinstance(value, str) else value)
        return join(*parts)


def join(*parts: pa.Array | pa.Scalar | str) -> pa.Array:
    """Strings and string arrays concatenated element-wise."""
    pieces = [pa.scalar(p, pa.string()) if isinstance(p, str) else p for p in parts]
    if not any(isinstance(p, pa.Array | pa.ChunkedArray) for p in pieces):
        raise ValueError("join needs at least one array")
    return pc.binary_join_element_wise(*pieces, pa.scalar("", pa.string()))


_HTML = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&#34;"), ("'", "&#39;"))  # as markupsafe.escape


def escape_html(values: pa.Array) -> pa.Array:
    """``markupsafe.escape`` of every string (text and attribute values alike)."""
    if holds(values, b"&<>\"'"):
        for raw, entity in _HTML:
            values = pc.replace_substring(values, raw, entity)
    return values


def holds(values: pa.Array, characters: bytes) -> bool:
    """Whether any string holds one of these ASCII ``characters`` (read off the UTF-8 bytes)."""
    data = _data(values)
    if not len(data):
        return False
    if len(characters) == max(characters) - min(characters) + 1 == len(set(characters)):  # a range of bytes
        return bool(((data >= min(characters)) & (data <= max(characters))).any())
    return any(bool((data == c).any()) for c in characters)


def _data(values: pa.Array) -> np.ndarray:
    """The bytes of a string array's values."""
    if not len(values) or values.buffers()[2] is None:
        return np.zeros(0, np.uint8)
    offsets = string_offsets(values)
    return np.frombuffer(values.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]


def string_offsets(values: pa.Array) -> np.ndarray:
    """Where each string of a string array starts, and the last one ends, in its data buffer."""
    kind = np.int64 if pa.types.is_large_string(values.type) else np.int32
    return np.frombuffer(values.buffers()[1], kind)[values.offset:values.offset + len(values) + 1]


def write_files(folders: Sequence[str], name: str | None, contents: pa.Array) -> None:
    """Write each string of ``contents`` to ``folders[i]/name`` (the folder made if missing), or
    with ``name`` None to the path ``folders[i]``, as UTF-8, like ``Path.write_text``."""
    offsets = string_offsets(contents).tolist()
    data = memoryview(contents.buffers()[2]) if contents.buffers()[2] is not None else memoryview(b"")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    for i, folder in enumerate(folders):
        if name is None:
            path = folder
        else:
            try:
                os.mkdir(folder)
            except FileExistsError:
                pass
            except FileNotFoundError:
                os.makedirs(folder, exist_ok=True)
            path = f"{folder}/{name}"
        chunk = data[offsets[i]:offsets[i + 1]]
        fd = os.open(path, flags, 0o666)
        try:
            while chunk:
                chunk = chunk[os.write(fd, chunk):]
        finally:
            os.close(fd)


def environment(templates: Path) -> Environment:
    env = Environment(loader=FileSystemLoader(templates), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=False)
    return env


def run_parallel(task: Callable[[tuple[int, int]], int], total: int, state: dict, chunk: int = 4000,
                 alone: int = 0) -> int:
    """Run ``task`` over ``[0, total)`` in chunks on every core; returns the sum of its results.
    ``state`` is visible to the task (as :func:`shared`) in every worker."""
    return sum(map_parallel(task, total, state, chunk, alone))


def map_parallel(task: Callable[[tuple[int, int]], object], total: int, state: dict, chunk: int, alone: int = 0) -> list:
    """Run ``task`` over ``[0, total)`` in chunks on every core (in this process when there is
    one chunk or one core, or at most ``alone`` items, about half a second's work: forking a
    build that holds gigabytes costs it as much in system time, and each worker more when it
    exits); returns each chunk's result, in order. Not from a thread of
    ``threads.side_by_side``: the state is one per process, and forking beside running threads
    is unsafe; work that needs it is done before the threads start."""
    if threads_at_work():
        raise RuntimeError("map_parallel called while side_by_side threads run: make its result before starting them")
    _WORK.clear()
    _WORK.update(state)
    ranges = [(a, min(a + chunk, total)) for a in range(0, total, chunk)]
    try:
        n = min(workers(), len(ranges))
        if n <= 1 or total <= alone:
            return [task(r) for r in ranges]
        with multiprocessing.get_context("fork").Pool(n) as pool:
            return pool.map(task, ranges, chunksize=1)
    finally:
        _WORK.clear()


def shared() -> dict:
    return _WORK


class Beside:
    """Steps run beside the build, each in a forked process, while the build goes on with work
    that does not need their results (the other core is otherwise idle in the build's
    single-threaded steps). A step sees the build's memory as it was when started and leaves its
    result as files or returns a small value. :meth:`Step.wait` returns that value when the step
    is done and raises what it raised; :meth:`stop` ends the steps still running (a failed
    build). With one core (``workers()`` is 1) a step runs at once, in this process."""

    def __init__(self) -> None:
        self.running: list[Step] = []

    def start(self, task: Callable[..., object], *args) -> Step:
        if workers() <= 1 or multiprocessing.current_process().daemon:
            return Step(None, None, task.__name__, task(*args))
        if threads_at_work():  # the child would inherit locks those threads hold
            raise RuntimeError("Beside.start called while side_by_side or Soon threads run: take their results first")
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        process = context.Process(target=_run_step, args=(send, os.getpid(), task, args))
        process.start()
        beside_started(process)
        send.close()
        step = Step(process, receive, getattr(task, "__name__", "step"))
        self.running.append(step)
        return step

    def stop(self) -> None:
        for step in self.running:
            step.stop()
        self.running.clear()


@dataclass
class Step:
    """A step started by :class:`Beside` (``process`` None: it has ended, or ran here)."""

    process: multiprocessing.Process | None
    outcome: object  # the receiving end of a pipe: (True, result, CPU) or (False, what went wrong, CPU)
    name: str
    result: object = None
    cpu: tuple[float, float] | None = None  # the process's user and system CPU seconds, once it has ended

    def wait(self) -> object:
        if self.process is None:
            return self.result
        try:
            succeeded, sent, self.cpu = self.outcome.recv()
        except EOFError:  # ended without a word: killed, or out of memory
            self.process.join()
            succeeded, sent = False, ("", f"{self.name} ended with exit status {self.process.exitcode}", "")
        self.process.join()  # (at once: the step has sent its last word)
        self.outcome.close()
        self.process = None
        if succeeded:
            self.result = sent
            return sent
        from .. import errors

        kind, message, trace = sent
        error = getattr(errors, kind, None)
        if isinstance(error, type) and issubclass(error, errors.GongshiError):
            raise error(message)
        raise RuntimeError(f"{message}\n{trace}".strip())

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.outcome.close()
            self.process = None


def _run_step(send, parent: int, task: Callable[..., object], args: tuple) -> None:
    """In the forked process: die with the build (never write into a folder it has removed),
    run the step, send its result or what went wrong."""
    _die_with_parent(parent)
    _yield_to_the_build()
    working_beside()
    try:
        result = task(*args)
    except BaseException as exc:  # everything goes back to the build, which raises it
        import traceback

        send.send((False, (type(exc).__name__, str(exc), traceback.format_exc()), _cpu_used()))
    else:
        send.send((True, result, _cpu_used()))
    finally:
        send.close()


def _cpu_used() -> tuple[float, float]:
    """User and system CPU seconds of this process and the processes it waited for (a forked
    process starts from zero)."""
    own, waited = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + waited.ru_utime, own.ru_stime + waited.ru_stime


BESIDE_NICENESS = 10


def _yield_to_the_build() -> None:
    """A step beside runs at a lower priority than the build: the build's own threads and
    workers get the cores first when they want both, the step the time they leave. Steps beside
    finish with time to spare, and the build's steps are what the build waits for (a +1,000
    rebuild of a 1M-record site: about 0.8 s sooner)."""
    with contextlib.suppress(OSError, AttributeError):
        os.nice(BESIDE_NICENESS)


def _die_with_parent(parent: int) -> None:
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux); elsewhere the step may outlive a killed build
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the build died before the line above took effect
        os._exit(1)
