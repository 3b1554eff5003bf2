"""Incremental builds: re-render only what changed, and put the changes in place safely.

The site keeps a small state in ``<site>/.gongshi/``: a fingerprint of everything that shapes
every page (the generator's code, templates, hand-written pages, mkdocs.yml, the disclosure
policy, the site's address and feed settings, the versions of the libraries that render), and
for each *unit* — a subject's page and JSON, a listing page, a subject's feeds — a 128-bit digest
of the values it is rendered from. A build whose fingerprint matches re-renders only units whose
digest changed, deletes units that no longer exist, and regenerates the small site-wide files
(hand-written pages, indexes, headline feeds, search index, sitemaps, the new data release).
Anything else — no state, a changed fingerprint, ``--full``, another ``--previous`` — is a full
build, swapped in whole. Both produce the same bytes (the tests compare them).

Changes go into a staging folder beside the site. When everything is rendered and checked,
:func:`commit` writes a journal, moves the staged files into place and deletes what is gone; if
the process dies part-way, the next build (or :func:`recover`) finishes the journal first, so
the site is never left half old and half new for longer than the moves take, and never lost.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import itertools
import json
import multiprocessing
import os
import shutil
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

STATE = ".gongshi"  # inside the site; hidden, never published (see the publishing guide)
JOURNAL = "commit.json"
FORMAT = 1
# the code and inputs that shape every page: any change makes the next build a full one
SHAPING = ("templates", "site_src", "mkdocs.yml")  # and the generator's own code
LIBRARIES = ("mkdocs", "mkdocs-material", "jinja2", "feedgen", "pyarrow", "pandas", "markupsafe")
ENVIRONMENT = ("GONGSHI_SITE_URL", "GONGSHI_TAG_AUTHORITY")


def fingerprint(project: Path, extra: dict | None = None) -> str:
    """A hash of the generator's code, templates, hand-written pages and settings."""
    h = hashlib.sha256(f"format {FORMAT}\n{_code()}\n".encode())
    for top in SHAPING:
        _hash_files(h, project, project / top)
    h.update(json.dumps(extra or {}, sort_keys=True, ensure_ascii=False).encode())
    for name in ENVIRONMENT:
        h.update(f"{name}={os.environ.get(name, '')}\n".encode())
    return h.hexdigest()


def generator_code() -> str:
    """A digest of the running generator's code and rendering libraries (see :func:`_code`), for
    things kept beside a site that this code derived."""
    return _code()


@functools.cache
def _code() -> str:
    """The running generator's own code and the versions of the libraries that render: read
    once per process, so it describes the code that is running."""
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    _hash_files(h, package.parent, package)
    for name in LIBRARIES:
        try:
            h.update(f"{name}={metadata.version(name)}\n".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{name}=-\n".encode())
    return h.hexdigest()


def _hash_files(h, root: Path, base: Path) -> None:
    files = sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts) if base.is_dir() else [base]
    for path in files:
        if path.is_file():
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")


# ---------------------------------------------------------------------------------------------
# Digests


def row_digests(table: pa.Table, columns: list[str] | None = None, chunk: int = 65_536) -> np.ndarray:
    """A 128-bit digest (BLAKE2b) of each row's values, as two uint64 columns, shape (rows, 2).
    Rows are joined and hashed straight from Arrow's buffers, a slice at a time: no Python
    string per cell, and memory bounded by the slice. Large tables are split between forked
    processes (each reads the same table; only the digests come back)."""
    names = columns or table.column_names
    if table.num_rows >= PARALLEL_ROWS and not multiprocessing.current_process().daemon:  # a pool's worker has none
        from .outputs.render import map_parallel
        from .threads import free_cores

        if (cores := free_cores()) > 1:
            share = -(-table.num_rows // cores)
            parts = map_parallel(_digest_range, table.num_rows, {"table": table, "names": names, "chunk": chunk}, share)
            return np.vstack(parts)
    return _row_digests(table, names, chunk)


PARALLEL_ROWS = 200_000  # fewer rows are not worth forking for


def _digest_range(bounds: tuple[int, int]) -> np.ndarray:
    from .outputs.render import shared

    work = shared()
    return _row_digests(work["table"].slice(bounds[0], bounds[1] - bounds[0]), work["names"], work["chunk"])


def _row_digests(table: pa.Table, names: list[str], chunk: int) -> np.ndarray:
    out = np.zeros((table.num_rows, 2), np.uint64)
    for lo in range(0, table.num_rows, chunk):
        part = table.slice(lo, chunk)
        cells = [pc.cast(part[c], pa.string()) for c in names]
        joined = pc.binary_join_element_wise(*cells, "\x1f", null_handling="replace", null_replacement="\x00")
        out[lo:lo + part.num_rows] = _digests(joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined)
    return out


def text_digests(values) -> np.ndarray:
    """A 128-bit digest of each string."""
    return _digests(pa.array(list(values), pa.string()))


def array_digests(values: pa.Array) -> np.ndarray:
    """A 128-bit digest of each string of an Arrow array (as :func:`text_digests`)."""
    return _digests(values)


def _digests(values: pa.Array) -> np.ndarray:
    n = len(values)
    if not n:
        return np.zeros((0, 2), np.uint64)
    values = values.cast(pa.large_string()) if values.type != pa.large_string() else values
    offsets = np.frombuffer(values.buffers()[1], np.int64)[values.offset:values.offset + n + 1].tolist()
    data = memoryview(values.buffers()[2] or b"")
    blake = hashlib.blake2b
    digests = b"".join([blake(data[a:b], digest_size=16).digest() for a, b in itertools.pairwise(offsets)])
    return np.frombuffer(digests, np.uint64).reshape(n, 2).copy()


def group_digests(rows: np.ndarray, starts: np.ndarray, total: int) -> np.ndarray:
    """Per group the wrapping sum of its rows' digests (groups are ``rows[starts[i]:starts[i+1]]``,
    ``total`` rows in all; a group's digest does not depend on its rows' order)."""
    if not len(starts):
        return np.zeros((0, 2), np.uint64)
    # a zero row after the last: groups that are empty at the very end start there, not past it
    padded = np.vstack([rows[:total], np.zeros((1, 2), np.uint64)])
    out = np.add.reduceat(padded, starts, axis=0)
    empty = np.r_[starts[1:], total] == starts
    out[empty] = 0
    return out


@dataclass
class Units:
    """One kind of unit: keys and their digests."""

    keys: pa.Array  # of strings (a million page ids stay in Arrow's buffers: no Python string each)
    digests: np.ndarray  # (n, 2) uint64
    # where :meth:`changed` found each key in the last build's units (-1: new), and those units
    _found: tuple[Units, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def table(self) -> pa.Table:
        return pa.table({"key": self.keys, "a": pa.array(self.digests[:, 0], pa.uint64()),
                         "b": pa.array(self.digests[:, 1], pa.uint64())})

    @classmethod
    def from_table(cls, table: pa.Table) -> Units:
        keys = table["key"].combine_chunks() if table.num_rows else pa.array([], pa.string())
        return cls(keys, np.column_stack([table["a"].to_numpy(), table["b"].to_numpy()]).astype(np.uint64))

    def changed(self, before: Units | None) -> np.ndarray:
        """Which of these units must be rendered: new, or digest differs from ``before``."""
        if before is None:
            return np.ones(len(self.keys), bool)
        where = _positions(self.keys, before.keys)
        self._found = (before, where)
        found = where >= 0
        same = np.zeros(len(self.keys), bool)
        same[found] = (before.digests[where[found]] == self.digests[found]).all(axis=1)
        return ~same

    def gone(self, before: Units | None) -> list[str]:
        """Keys of ``before`` that are no longer units."""
        if before is None or not len(before.keys):
            return []
        if self._found is not None and self._found[0] is before:  # keys are unique: what was not found is gone
            kept = np.zeros(len(before.keys), bool)
            kept[self._found[1][self._found[1] >= 0]] = True
            return before.keys.filter(pa.array(~kept)).to_pylist()
        where = _positions(before.keys, self.keys)
        return before.keys.filter(pa.array(where < 0)).to_pylist()


def _positions(keys: pa.Array, among: pa.Array) -> np.ndarray:
    """Where each of ``keys`` is in ``among`` (-1: not there); Arrow's hash table of strings
    (pandas' of Python strings took three times as long)."""
    if not len(keys) or not len(among):
        return np.full(len(keys), -1, np.int64)
    found = pc.index_in(keys, value_set=among)
    return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)


@dataclass
class State:
    """What the last build left: its fingerprint, its units and the site-wide files it wrote."""

    fingerprint: str
    units: dict[str, Units] = field(default_factory=dict)
    regenerated: list[str] = field(default_factory=list)  # site-relative files rewritten by every build

    def save(self, site: Path) -> None:
        folder = site / STATE
        folder.mkdir(parents=True, exist_ok=True)
        for kind, units in self.units.items():
            feather.write_feather(units.table(), folder / f"{kind}.arrow", compression="uncompressed")
        document = {"format": FORMAT, "fingerprint": self.fingerprint, "units": sorted(self.units),
                    "regenerated": sorted(self.regenerated)}
        (folder / "state.json").write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, site: Path) -> State | None:
        path = site / STATE / "state.json"
        if not path.is_file():
            return None
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("format") != FORMAT:
                return None
            units = {kind: Units.from_table(feather.read_table(site / STATE / f"{kind}.arrow")) for kind in document["units"]}
        except (OSError, ValueError, KeyError, pa.ArrowInvalid):
            return None  # unreadable state: the build is a full one
        return cls(document["fingerprint"], units, document["regenerated"])


RELEASE_WRITER = "release-writer.json"


def keep_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` (Arrow IPC, uncompressed), whole or not at all: kept files
    beside the site are read by the next build."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    feather.write_feather(table, partial, compression="uncompressed")
    partial.replace(path)


def release_writer(site: Path) -> dict | None:
    """Which code wrote the newest data release of ``site`` (saved by :func:`save_release_writer`),
    whatever code built the rest of it; None when not known."""
    try:
        found = json.loads((site / STATE / RELEASE_WRITER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and set(found) == {"version", "writer"} else None


def save_release_writer(site: Path, written_by: dict | None) -> None:
    if written_by is not None:
        (site / STATE).mkdir(parents=True, exist_ok=True)
        (site / STATE / RELEASE_WRITER).write_text(json.dumps(written_by, sort_keys=True) + "\n", encoding="utf-8")


SEARCH_INPUTS = "search-inputs.txt"


def search_inputs(site: Path) -> str | None:
    """The digest of what the search index of ``site`` was made from (saved by
    :func:`save_search_inputs`); None when not known."""
    try:
        found = (site / STATE / SEARCH_INPUTS).read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return found if len(found) == 64 and all(c in "0123456789abcdef" for c in found) else None


def save_search_inputs(site: Path, digest: str) -> None:
    (site / STATE).mkdir(parents=True, exist_ok=True)
    (site / STATE / SEARCH_INPUTS).write_text(digest + "\n", encoding="ascii")


SHELL = "shell-page.txt"  # the rendered shell page (HTML); not .html: the state folder holds no page


def kept_shell(site: Path) -> str | None:
    """The theme's shell page as the last build of ``site`` rendered it (:func:`save_shell`)."""
    try:
        return (site / STATE / SHELL).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def save_shell(site: Path, html: str) -> None:
    (site / STATE).mkdir(parents=True, exist_ok=True)
    (site / STATE / SHELL).write_text(html, encoding="utf-8")


RECORD_DIGESTS = "record-digests.arrow"


def save_record_digests(site: Path, version: str, digests: dict[str, np.ndarray]) -> None:
    """The digest of every published record (per dataset, in record-id order: the rows of data
    release ``version``), for the next build to take for the records it finds unchanged."""
    (site / STATE).mkdir(parents=True, exist_ok=True)
    codes = np.repeat(np.arange(len(digests), dtype=np.int32), [len(d) for d in digests.values()])
    names = pa.DictionaryArray.from_arrays(pa.array(codes, pa.int32()), pa.array(list(digests), pa.string()))
    both = np.vstack(list(digests.values())) if digests else np.zeros((0, 2), np.uint64)
    table = pa.table({"dataset": names, "a": both[:, 0], "b": both[:, 1]})
    feather.write_feather(table.replace_schema_metadata({"version": version}), site / STATE / RECORD_DIGESTS,
                          compression="uncompressed")


def record_digests(site: Path) -> tuple[str, dict[str, np.ndarray]] | None:
    """The record digests :func:`save_record_digests` left in ``site``: the release they are the
    rows of and per dataset the digests; None when there are none or they cannot be read."""
    try:
        table = feather.read_table(site / STATE / RECORD_DIGESTS)
        version = (table.schema.metadata or {})[b"version"].decode()
        names = table["dataset"].combine_chunks().cast(pa.string())
        both = np.column_stack([table["a"].to_numpy(), table["b"].to_numpy()]).astype(np.uint64)
    except (OSError, KeyError, ValueError, pa.ArrowInvalid):
        return None
    found = {}
    for name in pc.unique(names).to_pylist():
        found[name] = both[pc.indices_nonzero(pc.equal(names, name)).to_numpy()]
    return version, found


def site_files(site: Path, skip: set[str]) -> list[str]:
    """Site-relative paths of the files under ``site``, not descending into the folders in
    ``skip`` (site-relative), whose own files directly inside are still listed."""
    found: list[str] = []
    for folder, dirs, files in os.walk(site):
        rel = Path(folder).relative_to(site).as_posix()
        prefix = "" if rel == "." else rel + "/"
        found.extend(prefix + f for f in files)
        dirs[:] = sorted(d for d in dirs if (prefix + d) not in skip and not (prefix == "" and d == STATE))
    return found


# ---------------------------------------------------------------------------------------------
# Putting a build in place


def commit(staged: Path, out: Path, deletions: list[str], whole: tuple[str, ...] = ()) -> tuple[int, int]:
    """Move every file under ``staged`` into ``out`` and delete ``deletions`` (site-relative),
    under a journal that :func:`recover` finishes if this is interrupted. ``whole``: folders
    (site-relative) regenerated whole, put in place with two renames rather than a move per
    file. Returns (moved, deleted)."""
    journal = out / STATE / JOURNAL
    journal.parent.mkdir(parents=True, exist_ok=True)
    listing = staged.parent / "deletions.json"
    listing.write_text(json.dumps(deletions, ensure_ascii=False), encoding="utf-8")
    _write_atomically(journal, json.dumps({"staged": str(staged), "deletions": str(listing), "whole": list(whole)},
                                          ensure_ascii=False))
    return _finish(out, staged, deletions, whole)


def journal_open(out: Path) -> bool:
    """A commit into ``out`` started and did not finish."""
    return (out / STATE / JOURNAL).is_file()


def recover(out: Path) -> bool:
    """Finish a commit that was interrupted, or undo a swap that was; True if there was one."""
    old = out.with_name(out.name + ".old")
    if not out.exists() and old.is_dir():
        old.rename(out)  # died between the two renames of a whole-site swap
        return True
    journal = out / STATE / JOURNAL
    if not journal.is_file():
        return False
    entry = json.loads(journal.read_text(encoding="utf-8"))
    staged = Path(entry["staged"])
    deletions = json.loads(Path(entry["deletions"]).read_text(encoding="utf-8")) if Path(entry["deletions"]).is_file() else []
    _finish(out, staged, deletions, tuple(entry.get("whole", ())))
    shutil.rmtree(staged.parent, ignore_errors=True)
    return True


def _finish(out: Path, staged: Path, deletions: list[str], whole: tuple[str, ...] = ()) -> tuple[int, int]:
    moved = sum(_replace_folder(staged / name, out / name, staged.parent / "replaced") for name in whole)
    moved += _move_tree(str(staged), str(out), skip=STATE) if staged.is_dir() else 0
    deleted = 0
    for rel in deletions:
        path = out / rel
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            continue
        _prune(path.parent, out)
    # the state last: until it is in place, a rerun sees the old state and re-renders
    if (staged / STATE).is_dir():
        for path in (staged / STATE).iterdir():
            if path.name != JOURNAL:
                os.replace(path, out / STATE / path.name)
    (out / STATE / JOURNAL).unlink(missing_ok=True)
    return moved, deleted


def _replace_folder(source: Path, target: Path, aside: Path) -> int:
    """Put the folder ``source`` in place of ``target``: the old one is renamed into ``aside``
    (removed with the staging folder), the new one renamed in. Run again after an interruption,
    it finishes the job: a target already moved aside is not there, a source already moved in
    is not there. Returns the number of files put in place."""
    if not source.is_dir():
        return 0
    files = sum(len(names) for _, _, names in os.walk(source))
    if target.exists():
        aside.mkdir(parents=True, exist_ok=True)
        os.rename(target, aside / f"{target.name}-{len(list(aside.iterdir()))}")
    os.rename(source, target)
    return files


def _move_tree(source: str, target: str, skip: str = "") -> int:
    """Move everything under ``source`` into ``target`` (but ``skip`` directly inside it); return
    the number of files moved. A folder the target lacks is moved whole, with one rename; the
    files of one it has are moved one by one, and the emptied folder is left for the staging
    folder's removal (removing each on its own cost a system call per changed page)."""
    moved = 0
    with os.scandir(source) as listing:
        entries = [e for e in listing if e.name != skip]
    for entry in entries:
        destination = os.path.join(target, entry.name)
        if not entry.is_dir(follow_symlinks=False):
            os.replace(entry.path, destination)
            moved += 1
        elif os.path.isdir(destination):  # the emptied folder goes with the staging folder
            moved += _move_tree(entry.path, destination)
        else:
            moved += sum(len(files) for _, _, files in os.walk(entry.path))
            os.rename(entry.path, destination)
    return moved


def _prune(folder: Path, root: Path) -> None:
    """Remove ``folder`` and its parents up to ``root`` while they are empty."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def swap(staged: Path, out: Path) -> None:
    """Put the complete site ``staged`` at ``out``: one atomic exchange where the system offers
    it (Linux ``renameat2``), else two renames that :func:`recover` can undo."""
    if out.exists() and _exchange(staged, out):
        shutil.rmtree(staged)  # now the old site
        return
    old = out.with_name(out.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        out.rename(old)
    staged.rename(out)
    if old.exists():
        shutil.rmtree(old)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0


def staging_prefix(out: Path) -> str:
    """Staging folders of builds into ``out`` (named after it: a build into a sibling site in the
    same folder never touches them)."""
    return f".gongshi-{out.name}-"


def leftovers(out: Path) -> None:
    """Remove staging folders of builds into ``out`` that died (run after :func:`recover`)."""
    for path in out.parent.glob(staging_prefix(out) + "*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
