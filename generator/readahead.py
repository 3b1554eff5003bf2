"""Read ahead: ask the kernel to bring the files a build will read into memory before it reads them.

An incremental build of a large site reads gigabytes it did not write: the input files (hashed
to find their checked results), those results (``.<site>.intake-cache``), the newest data
release (its unchanged rows are copied into the next one), the build state and the search index
(new index files are compared with the old ones). After a full build of a million records, or
on a machine that has just restored the site, most of this is on disk, not in the page cache,
and a step that reads it waits for the disk while the other core has nothing to do.

:func:`start` hands the list, in the order the build needs the files, to a small process of its
own, which asks for each file in pieces of ``PIECE`` bytes with ``posix_fadvise(WILLNEED)``: the
kernel reads them in the background, the build's first seconds (when the disk is idle) are used,
and nothing is copied into the process. It changes no output; a file that is missing or cannot
be read is skipped; where the system has no ``posix_fadvise`` nothing is started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

PIECE = 8 << 20  # the kernel reads at most about this much for one request


def wanted(datasets_dir: Path, intake_cache: Path, site: Path, history: Path) -> list[Path]:
    """The files an incremental build of ``site`` reads, in the order it reads them: the input
    files and their checked results (first: they are read at once), the build state, the newest
    data release (``data/latest/`` holds its files), the releases' change rows, the search index."""
    return [*_files(datasets_dir), *_files(intake_cache), *_files(site / ".gongshi"), *_files(site / "data" / "latest"),
            *_files(history), *_files(site / "searchindex")]


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        found += [Path(top) / name for name in sorted(names)]
    return found


def start(paths: Iterable[Path]) -> subprocess.Popen | None:
    """Read ``paths`` ahead in another process (see the module's docstring); None when there is
    nothing to read or the system cannot be asked."""
    listing = "\0".join(str(p) for p in paths)
    if not listing or not hasattr(os, "posix_fadvise"):
        return None
    process = subprocess.Popen([sys.executable, "-m", "generator.readahead"], stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.stdin.write(listing.encode("utf-8", "surrogateescape"))
        process.stdin.close()
    except OSError:  # it has already ended
        pass
    return process


def stop(process: subprocess.Popen | None) -> None:
    """End the reading (the build no longer needs it), and wait for the process."""
    if process is not None:
        if process.poll() is None:
            process.terminate()
        process.wait()


def read_ahead(paths: Iterable[str]) -> int:
    """Ask for every file in ``paths``, a piece at a time; returns the bytes asked for."""
    asked = 0
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            size = os.fstat(fd).st_size
            for offset in range(0, size, PIECE):
                os.posix_fadvise(fd, offset, min(PIECE, size - offset), os.POSIX_FADV_WILLNEED)
            asked += size
        except OSError:
            pass
        finally:
            os.close(fd)
    return asked


if __name__ == "__main__":
    read_ahead(p for p in sys.stdin.buffer.read().decode("utf-8", "surrogateescape").split("\0") if p)
