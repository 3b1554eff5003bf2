"""The static search index: subjects by name, by code and by document number, in small JSON shards.

The site has no server, so a query runs in the browser (``site_src/assets/search.js``) against
files written here into ``<site>/searchindex/``. With a million subjects the browser fetches only
the few shards a query needs: the first query transfers well under 300 KB (uncompressed).

Normalisation (:func:`normalise`, the same in search.js): full-width ASCII becomes half-width;
every bracket kind 〔〕【】〖〗﹝﹞﹙﹚［］（）[]() becomes ``(`` or ``)``; whitespace, control and
zero-width characters are removed; ASCII letters become upper case. Names, codes, document numbers
and queries are all compared in this form; the files keep the original text for display.

Hash: FNV-1a, 32 bits, over the UTF-8 bytes of the (normalised) gram: :func:`fnv1a32`.

Files (all JSON, UTF-8, no whitespace; the same input gives the same bytes)::

    meta.json            {"format": 2, "names": {"shards", "cap", "inline", "entries", "grams"},
                          "codes": {"shards", "block", "top", "entries"},
                          "docs": {"shards", "block", "top", "entries", "datasets"}}
    n/<s>.json           name directory shard s: {gram: [count, [entry, ...]] or [count, k]}
    n/<s>-<k>.json       pack k of shard s: {gram: [entry, ...], ...} for grams of more than inline entries
    c/<name>.json, c/b<k>.json   codes: a sorted shard, named by its bytes; block k of shard boundaries
    d/<name>.json, d/b<k>.json   document numbers: the same

Names. Every distinct character (unigram) and every distinct pair of adjacent characters
(bigram) of a subject's normalised name is a gram. A gram lives in directory shard
``fnv1a32(gram) % names.shards`` (a power of two, chosen so shards average about
``DIRECTORY_SHARD_BYTES``). Its value starts with its count, the true number of subjects whose
name contains it; then comes its list when ``count <= inline``, else the number ``k`` of the pack
file holding the list (long lists of one shard are packed in key order into files of up to
``PACK_BYTES``). Lists hold at most ``cap`` entries ``[page_id, name]``, in the global subject
order: shortest normalised name first, then the name, then the page id. A list with
``count > cap`` is truncated, and says so by its count.

A query of one character looks up that unigram; a longer query looks up its bigrams: first a
few (the first, the last and evenly spaced ones between), more only while every list found is
truncated. A missing gram means no name matches. The client keeps the entries of the shortest
list whose normalised name contains the whole normalised query: exact results when that list is
complete, the first matches otherwise (and it says so).

Codes and document numbers. Entries sorted by their normalised key are cut into shards of about
``SORTED_SHARD_BYTES``. Where a cut falls depends on the entries around it, not on how many came
before (:func:`_cuts`): a shard ends before an entry whose key hashes to a multiple of
``SORTED_SPLIT`` once it holds half the target size, and at twice the target size at the latest,
so adding a code or a document number changes its own shard and the boundary blocks, not every
shard after it. A shard's file is named by its bytes (the first 16 hex digits of their BLAKE2b
digest), not by its place: a shard that moved because one before it split keeps its name, so an
incremental build links it, and a name never changes meaning, so a cache may keep the file for
good. ``top[k]`` is the first key of block k, and ``b<k>.json`` is ``{"keys", "files"}``: the
first keys and the file names of the ``block`` shards of block k (shard ``k * block + j``). A
prefix ``p`` is looked up in the last block whose first key is ``< p``, then in the last shard
there whose first key is ``< p`` (or shard 0), scanning on to the next shards (into the next
block's) while keys still start with ``p``. Keys and comparisons are by Unicode code point.

    code entry   [code, name] when page_id == code, else [code, name, page_id]
    doc entry    [doc_no, page_id, record_id, dataset, name]; dataset indexes docs.datasets;
                 the key is normalise(doc_no)

Links: ``<site root>/subjects/<page_id>/`` and, for documents, ``…/#r-<record_id>``. Page ids are
``[0-9A-Z]`` only (rows with anything else are left out), so no value becomes a path.

Written with NumPy and Arrow kernels over all rows at once: names become one array of code
points, grams are 64-bit keys sorted with the subject's rank, and every file is a run of the
bytes of one Arrow string array (the name files' tokens are put in file order by one take), so
the text is copied once; Python loops run per file, not per entry.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..threads import side_by_side

if TYPE_CHECKING:
    from .disclosures import Disclosures

FORMAT = 2  # 2: sorted shards named by their bytes, blocks {"keys", "files"}
NAME_CAP = 1000  # entries kept per gram list (the true count is stored beside)
INLINE = 16  # lists of at most this many entries live inside their directory shard
DIRECTORY_SHARD_BYTES = 8 * 1024  # average name directory shard: the shard count is a power of two near this
PACK_BYTES = 64 * 1024  # long lists of a directory shard are packed into files of up to this size
SORTED_SHARD_BYTES = 32 * 1024  # code and document shards are cut at about this size
SORTED_SPLIT = 256  # one entry in SORTED_SPLIT, by its key's hash, may begin a shard (see _cuts)
BLOCK = 64  # sorted shards per boundary block
PERSON = "自然人"
DOCUMENT_FIELDS = {"licensing": "decision_doc_no", "penalties": "decision_doc_no", "redlist": "listing_basis",
                   "blacklist": "listing_basis"}
PAGE_ID = r"^[0-9A-Z]{1,40}$"
RECORD_ID = r"^[0-9A-Za-z_-]{1,64}$"

FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193
_CP_BITS = 21  # a code point fits in 21 bits; a bigram key (first << 21 | second) in 42

OPENING = "〔【〖﹝﹙［（[("
CLOSING = "〕】〗﹞﹚］）])"
REMOVED = ([*range(0x00, 0x21), 0x7F, *range(0x80, 0xA1), 0x1680, *range(0x2000, 0x200C), 0x2028, 0x2029, 0x202F,
            0x205F, 0x3000, 0xFEFF])


# --------------------------------------------------------------------------------------------
# Normalisation and hashing (search.js implements the same)


@functools.cache
def _mapping() -> dict[int, int | None]:
    """Code point -> replacement code point (None: removed), for every code point that changes."""
    table: dict[int, int | None] = {}
    for cp in range(0xFF01, 0xFF5F):  # full-width ASCII
        table[cp] = cp - 0xFEE0
    for cp in range(ord("a"), ord("z") + 1):
        table[cp] = cp - 32
    for cp in range(ord("ａ"), ord("ｚ") + 1):
        table[cp] = cp - 0xFEE0 - 32
    for char in OPENING:
        table[ord(char)] = ord("(")
    for char in CLOSING:
        table[ord(char)] = ord(")")
    for cp in REMOVED:
        table[cp] = None
    return {cp: new for cp, new in table.items() if new != cp}


@functools.cache
def _code_point_table() -> np.ndarray:
    """The mapping as an array over all code points; 0 means removed."""
    table = np.arange(0x110000, dtype=np.uint32)
    for cp, new in _mapping().items():
        table[cp] = 0 if new is None else new
    return table


def normalise(text: str) -> str:
    """The form names, codes, document numbers and queries are compared in."""
    return text.translate(_mapping())


def fnv1a32(text: str) -> int:
    """FNV-1a (32 bits) over the UTF-8 bytes of ``text``."""
    h = FNV_OFFSET
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFF
    return h


# --------------------------------------------------------------------------------------------
# Entry point


def write_search_index(folder: Path, subjects: pa.Table, documents: pa.Table, previous: Path | None = None) -> dict:
    """Write the index for ``subjects`` (``page_id``, ``name``, ``code``, ``category``) and
    ``documents`` (``doc_no``, ``page_id``, ``record_id``, ``dataset``) into ``folder``, replacing
    an earlier index there. A file whose bytes ``previous`` (the index the site has now) already
    holds under the same name is linked to that file, not written again: ``linked`` in the result
    lists them. Returns counts and sizes."""
    folder = Path(folder)
    _clear(folder)
    subjects = _clean_subjects(subjects)
    writer = _Writer(folder, previous)
    names = _write_names(writer, subjects)
    codes = _write_sorted(writer, "c", "codes", *_code_entries(subjects))
    docs_entries, datasets = _doc_entries(documents, subjects)
    docs = _write_sorted(writer, "d", "docs", *docs_entries)
    docs["datasets"] = datasets
    meta = {"format": FORMAT, "names": names, "codes": codes, "docs": docs}
    writer.write("meta.json", json.dumps(meta, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(), "meta")
    return writer.stats(names, codes, docs)


def inputs_digest(subjects: pa.Table, documents: pa.Table) -> str:
    """SHA-256 of the index's inputs: per column, its name and the digests of its values' lengths
    and of their bytes, read chunk by chunk where they are (the same values in other chunks give
    the same digest): the same digest, the same index."""
    digest = hashlib.sha256()
    for table in (subjects, documents):
        digest.update(f"{table.num_rows}\n".encode())
        for name in table.column_names:
            column = table[name]
            if column.type != pa.large_string() or column.null_count:  # not as search_tables makes them
                column = pa.chunked_array([_text(column)])
            lengths, text = hashlib.sha256(), hashlib.sha256()
            for chunk in column.chunks:
                offsets, data = _buffers(chunk)
                lengths.update(np.diff(offsets).astype("<i8").tobytes())
                text.update(memoryview(data)[:int(offsets[-1])])
            digest.update(f"{name}\n".encode() + lengths.digest() + text.digest())
    return digest.hexdigest()


def search_tables(disclosures: Disclosures) -> tuple[pa.Table, pa.Table]:
    """The subjects and documents :func:`write_search_index` takes, from the published records
    (``outputs.disclosures.Disclosures``: per dataset, a table with ``page_id``). Documents are
    the decisions' numbers (许可、处罚决定书文号) and the lists' listing bases (列入文号)."""
    subjects, documents = [], []
    for name, records in disclosures.by_dataset.items():
        t = records.table
        page_id = _text(t["page_id"])
        code = pc.if_else(pc.starts_with(page_id, "ZC"), _text(t["subject_business_reg_no"]), _text(t["subject_uscc"]))
        subjects.append(pa.table({"page_id": page_id, "name": _text(t["subject_name"]), "code": code,
                                  "category": _text(t["subject_category"])}))
        field = DOCUMENT_FIELDS.get(name)
        if field in t.column_names:
            title = pa.array([records.dataset.title] * t.num_rows, pa.large_string())
            documents.append(pa.table({"doc_no": _text(t[field]), "page_id": page_id, "record_id": _text(t["record_id"]),
                                       "dataset": title}))
    empty = pa.array([], pa.large_string())
    return (pa.concat_tables(subjects) if subjects else pa.table(dict.fromkeys(("page_id", "name", "code", "category"), empty)),
            pa.concat_tables(documents) if documents else pa.table(dict.fromkeys(("doc_no", "page_id", "record_id", "dataset"),
                                                                                  empty)))


def _clear(folder: Path) -> None:
    """Start from an empty folder; an earlier index (it has meta.json) is removed first."""
    if folder.exists():
        if (folder / "meta.json").is_file():
            shutil.rmtree(folder)
        elif any(folder.iterdir()):
            raise ValueError(f"{folder} 不是空文件夹，也不是搜索索引：不覆盖。")
    folder.mkdir(parents=True, exist_ok=True)


class _Writer:
    """Writes files and keeps count. Creating a file costs more than writing its few kilobytes, so
    files are made with os.open (a third of open()'s cost) by a few threads (system calls release
    the GIL), each writing its share of them."""

    THREADS = 4

    def __init__(self, root: Path, previous: Path | None = None):
        self.root = root
        self.previous = previous
        self.files = 0
        self.bytes = 0
        self.largest: dict[str, int] = {}
        self.made: set[str] = set()
        self.linked: list[str] = []  # files the previous index already held, byte for byte

    def write(self, path: str, data: bytes, kind: str) -> None:
        self.write_many([path], pa.array([data], pa.large_binary()), kind)

    def write_many(self, paths: list[str], contents: pa.Array, kind: str) -> None:
        """One file per string of ``contents`` (a large_string array), without copying each to Python."""
        offsets, data = _buffers(_array(contents))
        self.write_spans(paths, data, offsets, kind)

    def write_spans(self, paths: list[str], data: bytes | pa.Buffer, bounds: np.ndarray, kind: str,
                    named_by_content: bool = False) -> None:
        """File i holds ``data[bounds[i]:bounds[i + 1]]``. Files ``named_by_content`` (the name is
        made from the bytes) are written once per name, and a file of that name and size in the
        previous index is linked without reading it."""
        view = memoryview(data)
        spans = list(itertools.pairwise(bounds.tolist()))
        if named_by_content:  # one file per name: the same name, the same bytes
            unique = dict(zip(paths, spans, strict=True))
            paths, spans = list(unique), list(unique.values())
        self._folders(paths)
        root, previous = str(self.root), (str(self.previous) if self.previous is not None else None)
        jobs = [(f"{root}/{path}", view[a:b], previous and f"{previous}/{path}", named_by_content)
                for path, (a, b) in zip(paths, spans, strict=True)]
        runs = [jobs[i::self.THREADS] for i in range(self.THREADS)]
        with ThreadPoolExecutor(self.THREADS) as pool:
            done = [result for run in pool.map(lambda run: [_put_file(*job) for job in run], runs) for result in run]
        order = [i for k in range(self.THREADS) for i in range(k, len(jobs), self.THREADS)]
        self.linked += sorted(paths[i] for i, (_, written) in zip(order, done, strict=True) if not written)
        self._count(kind, [size for size, _ in done])

    def _folders(self, paths: list[str]) -> None:
        for parent in sorted({p.rpartition("/")[0] for p in paths} - self.made - {""}):
            (self.root / parent).mkdir(parents=True, exist_ok=True)
            self.made.add(parent)

    def _count(self, kind: str, sizes: list[int]) -> None:
        self.files += len(sizes)
        self.bytes += sum(sizes)
        self.largest[kind] = max(self.largest.get(kind, 0), *sizes, 0)

    def stats(self, names: dict, codes: dict, docs: dict) -> dict:
        shards = {k: v for k, v in self.largest.items() if k != "meta"}
        return {
            "files": self.files, "bytes": self.bytes, "largest_shard_bytes": max(shards.values(), default=0),
            "largest": dict(sorted(shards.items())),
            "entries": {"subjects": names["entries"], "grams": names["grams"], "codes": codes["entries"],
                        "documents": docs["entries"]},
            "shards": {"names": names["shards"], "codes": codes["shards"], "docs": docs["shards"]},
            "linked": sorted(self.linked),
        }


def _put_file(path: str, data: bytes | memoryview, previous: str | None, named_by_content: bool = False
              ) -> tuple[int, bool]:
    """Write ``data`` to ``path``, or link ``path`` to ``previous`` when that file holds the same
    bytes (a link costs a twentieth of creating and writing a file): for a file whose name is
    made from its bytes, when it has the same size; its size, and whether it was written."""
    if previous is not None and (_same_size(previous, data) if named_by_content else _same_bytes(previous, data)):
        try:
            os.link(previous, path)
            return memoryview(data).nbytes, False
        except OSError:  # another file system, or links not allowed: write it
            pass
    return _write_file(path, data), True


def _same_size(path: str, data: bytes | memoryview) -> bool:
    try:
        return os.stat(path).st_size == memoryview(data).nbytes
    except OSError:
        return False


def _same_bytes(path: str, data: bytes | memoryview) -> bool:
    size = memoryview(data).nbytes
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        # bytes against bytes: one memcmp (a memoryview compares item by item, five times slower)
        return os.fstat(fd).st_size == size and os.read(fd, size + 1) == bytes(data)
    finally:
        os.close(fd)


def _write_file(path: str, data: bytes | memoryview) -> int:
    view = memoryview(data)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    return memoryview(data).nbytes


# --------------------------------------------------------------------------------------------
# Subjects


def _clean_subjects(subjects: pa.Table) -> pa.Table:
    """Subjects with a usable page id, no natural persons, one row per (page id, name)."""
    columns = {name: _text(subjects[name]) for name in ("page_id", "name", "code", "category")}
    table = pa.table(columns)
    keep = pc.and_(pc.match_substring_regex(table["page_id"], PAGE_ID), pc.not_equal(table["category"], PERSON))
    table = table.filter(keep)
    # a subject has a row per record: repeated rows go first, by integer codes of the values
    # (a hash each), so the string sort below sorts each distinct row once
    codes = [pc.dictionary_encode(table[c]).combine_chunks().indices.to_numpy().astype(np.int64)
             for c in table.column_names]
    order = np.lexsort(codes[::-1])
    distinct = np.zeros(len(order), dtype=bool)
    distinct[:1] = True
    for code in codes:
        ordered = code[order]
        distinct[1:] |= ordered[1:] != ordered[:-1]
    table = table.take(pa.array(order[distinct]))
    table = table.take(pc.sort_indices(table, [("page_id", "ascending"), ("name", "ascending"), ("code", "ascending"),
                                               ("category", "ascending")]))
    return _drop_repeats(table, ["page_id", "name"])


def _text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if column.type == pa.large_string() and not column.null_count:  # as search_tables makes them: nothing to do
        return column
    return pc.fill_null(pc.cast(column, pa.large_string()), "")


def _drop_repeats(table: pa.Table, keys: list[str]) -> pa.Table:
    """Rows of a table sorted by ``keys`` whose keys differ from the previous row's."""
    if table.num_rows < 2:
        return table
    differs = np.zeros(table.num_rows, dtype=bool)
    differs[0] = True
    for key in keys:
        column = table[key].combine_chunks()
        differs[1:] |= pc.not_equal(column[1:], column[:-1]).to_numpy(zero_copy_only=False)
    return table.filter(pa.array(differs))


# --------------------------------------------------------------------------------------------
# Names


def _write_names(writer: _Writer, subjects: pa.Table) -> dict:
    n = subjects.num_rows
    cps, lengths = _codepoints(subjects["name"])
    cps, lengths = _normalise_codepoints(cps, lengths)
    normalised = _strings(cps, lengths)
    rank_order = pc.sort_indices(pa.table({"l": pa.array(lengths), "n": normalised, "p": subjects["page_id"]}),
                                 [("l", "ascending"), ("n", "ascending"), ("p", "ascending")]).to_numpy()
    rank = np.empty(n, dtype=np.int64)
    rank[rank_order] = np.arange(n)
    ranked = subjects.select(["page_id", "name"]).take(pa.array(rank_order))
    fragments = _array(pc.binary_join_element_wise(_s('["'), ranked["page_id"], _s('",'), _json_strings(ranked["name"]),
                                                   _s("]"), _s("")))
    fragment_bytes = np.diff(_buffers(fragments)[0])

    keys, ranks = _postings(cps, lengths, rank)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if len(keys) else np.zeros(0, np.int64)
    counts = np.diff(np.append(starts, len(keys)))
    grams = keys[starts] if len(keys) else np.zeros(0, np.uint64)
    del keys
    # the first NAME_CAP postings of each gram, without an index over all postings
    kept_counts = np.minimum(counts, NAME_CAP)
    kept_group = np.repeat(np.arange(len(starts)), kept_counts)
    kept_starts = np.cumsum(kept_counts) - kept_counts
    kept_ranks = ranks[np.arange(len(kept_group)) + (starts - kept_starts)[kept_group]]
    del ranks

    first = (grams >> np.uint64(_CP_BITS)).astype(np.uint32)
    second = (grams & np.uint64((1 << _CP_BITS) - 1)).astype(np.uint32)
    pairs = np.stack([first, second], axis=1).ravel()
    gram_text = _strings(pairs[pairs > 0], 1 + (second > 0).astype(np.int64))
    gram_json = pc.binary_join_element_wise(_s('"'), _escape(gram_text), _s('"'), _s(""))
    inline = counts <= INLINE

    # sizes first: they decide the number of directory shards and the packs
    list_bytes = np.bincount(kept_group, weights=fragment_bytes[kept_ranks] + 1, minlength=len(grams)).astype(np.int64) + 1
    member_bytes = np.diff(_buffers(gram_json)[0]) + 1 + list_bytes
    directory_bytes = member_bytes + 12
    shards = _power_of_two(float(np.where(inline, directory_bytes, directory_bytes - list_bytes).sum()) / DIRECTORY_SHARD_BYTES)
    shard = (_fnv1a32_many(gram_text) % np.uint32(shards)).astype(np.int64)
    order = np.lexsort((grams, shard))  # grams by (shard, key)
    external = order[~inline[order]]
    pack = np.full(len(grams), -1, dtype=np.int64)
    pack[external] = _packs(shard[external], member_bytes[external])

    # Every file is written from one array of tokens: each subject's entry with and without a
    # comma after it, and per gram the text before and after its list in the directory and in a
    # pack (brackets, commas and braces included). One take puts the tokens in the order of the
    # files, so a file is a run of its bytes: the lists are copied once, not joined and wrapped.
    g = len(grams)
    ordered_shards = shard[order]
    first_in_shard = np.ones(g, dtype=bool)
    first_in_shard[order[1:]] = ordered_shards[1:] != ordered_shards[:-1]
    last_in_shard = np.ones(g, dtype=bool)
    last_in_shard[order[:-1]] = ordered_shards[1:] != ordered_shards[:-1]
    pack_key = shard * (g + 1) + pack  # the file a long list is in (directory order)
    ext_key = pack_key[external]
    first_in_pack = np.ones(g, dtype=bool)
    first_in_pack[external[1:]] = ext_key[1:] != ext_key[:-1]
    last_in_pack = np.ones(g, dtype=bool)
    last_in_pack[external[:-1]] = ext_key[1:] != ext_key[:-1]
    inline_arr = pa.array(inline)
    count_text = pc.cast(pa.array(counts), pa.large_string())
    opening = pc.if_else(pa.array(first_in_shard), _s("{"), _s(","))
    closing = pc.if_else(pa.array(last_in_shard), _s("}"), _s(""))
    pointer = pc.binary_join_element_wise(pc.cast(pa.array(pack), pa.large_string()), _s("]"), closing, _s(""))
    directory_head = pc.binary_join_element_wise(opening, gram_json, _s(":["), count_text, _s(","),
                                                 pc.if_else(inline_arr, _s("["), pointer), _s(""))
    directory_tail = pc.binary_join_element_wise(_s("]]"), closing, _s(""))
    pack_head = pc.binary_join_element_wise(pc.if_else(pa.array(first_in_pack), _s("{"), _s(",")), gram_json, _s(":["),
                                            _s(""))
    pack_tail = pc.if_else(pa.array(last_in_pack), _s("]}"), _s("]"))
    vocabulary = pa.concat_arrays([_array(pc.binary_join_element_wise(fragments, _s(","), _s(""))), fragments,
                                   *(_array(a) for a in (directory_head, directory_tail, pack_head, pack_tail)),
                                   pa.array(["{}"], pa.large_string())])
    head, tail, pack_head_at, pack_tail_at, empty = 2 * n, 2 * n + g, 2 * n + 2 * g, 2 * n + 3 * g, 2 * n + 4 * g

    # the directory: per shard, its grams in key order (an empty shard is "{}")
    empty_shards = np.setdiff1d(np.arange(shards), ordered_shards)
    segment_shard = np.concatenate([ordered_shards, empty_shards])
    segment_gram = np.concatenate([order, np.full(len(empty_shards), -1, np.int64)])
    by_shard = np.argsort(segment_shard, kind="stable")
    segment_shard, segment_gram = segment_shard[by_shard], segment_gram[by_shard]
    is_gram = segment_gram >= 0
    gram_or_0 = np.where(is_gram, segment_gram, 0)
    with_list = is_gram.copy()
    with_list[is_gram] = inline[segment_gram[is_gram]]
    tokens, starts = _token_run(np.where(is_gram, head + gram_or_0, empty), np.where(with_list, segment_gram, -1),
                                np.where(with_list, tail + gram_or_0, -1), kept_counts, kept_starts, kept_ranks, n)
    file_starts = starts[np.searchsorted(segment_shard, np.arange(shards), "left")]
    directory_files = (tokens, np.append(file_starts, len(tokens)))

    # the packs: long lists, each between its head and tail, in directory order
    tokens, starts = _token_run(pack_head_at + external, external, pack_tail_at + external, kept_counts, kept_starts,
                                kept_ranks, n)
    pack_starts = np.flatnonzero(first_in_pack[external])
    pack_files = (tokens, np.append(starts[pack_starts], len(tokens)))
    both = np.concatenate([directory_files[0], pack_files[0]])
    text = vocabulary.take(pa.array(both))
    offsets, data = _buffers(text)
    split = len(directory_files[0])
    writer.write_spans([f"n/{s}.json" for s in range(shards)], data, offsets[directory_files[1]], "names")
    paths = [f"n/{s}-{k}.json" for s, k in zip(shard[external][pack_starts].tolist(), pack[external][pack_starts].tolist(),
                                               strict=True)]
    writer.write_spans(paths, data, offsets[split + pack_files[1]], "name_packs")
    return {"shards": shards, "cap": NAME_CAP, "inline": INLINE, "entries": n, "grams": len(grams)}


def _token_run(heads: np.ndarray, lists: np.ndarray, tails: np.ndarray, kept_counts: np.ndarray, kept_starts: np.ndarray,
               kept_ranks: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Token numbers for segments one after another: a segment is its head token, then (when its
    ``lists`` gram is not -1) the gram's list (each entry's token with a comma after it, the last
    one's without), then its tail token (when not -1). Returns the tokens and each segment's
    first position among them."""
    has_list = lists >= 0
    gram = np.where(has_list, lists, 0)
    listed = np.where(has_list, kept_counts[gram] if len(kept_counts) else 0, 0)
    lengths = 1 + listed + (tails >= 0)
    starts = np.cumsum(lengths) - lengths
    tokens = np.empty(int(lengths.sum()), dtype=np.int64)
    tokens[starts] = heads
    has_tail = tails >= 0
    tokens[(starts + 1 + listed)[has_tail]] = tails[has_tail]
    total = int(listed.sum())
    if total:
        within = np.arange(total) - np.repeat(np.cumsum(listed) - listed, listed)
        ranks = kept_ranks[np.repeat(kept_starts[gram], listed) + within]
        last = within == np.repeat(listed - 1, listed)
        tokens[np.repeat(starts + 1, listed) + within] = ranks + np.where(last, n, 0)
    return tokens, starts


def _packs(shards: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Pack numbers for long lists in (shard, key) order: consecutive lists of a shard share a
    file while it stays within PACK_BYTES (a list larger than that has a file of its own)."""
    out = np.empty(len(shards), dtype=np.int64)
    current, k, filled = -1, 0, 0
    for i, (s, size) in enumerate(zip(shards.tolist(), sizes.tolist(), strict=True)):
        if s != current:
            current, k, filled = s, 0, 0
        elif filled + size > PACK_BYTES:
            k, filled = k + 1, 0
        out[i] = k
        filled += size
    return out


def _postings(cps: np.ndarray, lengths: np.ndarray, rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (gram key, subject rank) once, grouped by key (unigrams, then bigrams), ranks ascending
    within a key. A unigram's key is ``cp << 21``, a bigram's ``first << 21 | second``."""
    if len(cps) == 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    char_rank = np.repeat(rank.astype(np.uint64), lengths)  # per character, its subject's rank
    c = cps.astype(np.uint64)
    pair = char_rank[1:] == char_rank[:-1]  # two characters of one name (ranks are unique)
    parts = [(c << np.uint64(_CP_BITS), char_rank),
             ((c[:-1][pair] << np.uint64(_CP_BITS)) | c[1:][pair], char_rank[:-1][pair])]
    del c, char_rank
    bits = max(1, int(len(lengths) - 1).bit_length())
    done = side_by_side(lambda part: _sorted_unique(*part, bits), parts)  # NumPy sorts without the GIL
    return np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done])


def _sorted_unique(keys: np.ndarray, ranks: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(key, rank) pairs sorted and without repeats."""
    if 2 * _CP_BITS + bits <= 64:
        composite = (keys << np.uint64(bits)) | ranks.astype(np.uint64)
        composite.sort()
        new = np.empty(len(composite), dtype=bool)
        new[:1] = True
        np.not_equal(composite[1:], composite[:-1], out=new[1:])
        composite = composite[new]
        return composite >> np.uint64(bits), (composite & np.uint64((1 << bits) - 1)).astype(np.int64)
    order = np.lexsort((ranks, keys))  # more than 4 million subjects: keys and ranks sorted apart
    keys, ranks = keys[order], ranks[order]
    new = np.concatenate([[True], (keys[1:] != keys[:-1]) | (ranks[1:] != ranks[:-1])])
    return keys[new], ranks[new]


def _power_of_two(x: float) -> int:
    n = 1
    while n < x:
        n *= 2
    return n


# --------------------------------------------------------------------------------------------
# Codes and document numbers: sorted shards


def _code_entries(subjects: pa.Table) -> tuple[pa.Array, pa.Array]:
    """(keys, entry texts) sorted by key: one entry per (code, page id)."""
    cps, lengths = _codepoints(subjects["code"])
    key = _strings(*_normalise_codepoints(cps, lengths))
    table = pa.table({"k": key, "p": subjects["page_id"], "n": subjects["name"]})
    table = table.filter(pc.greater(pc.utf8_length(table["k"]), 0))
    table = table.take(pc.sort_indices(table, [("k", "ascending"), ("p", "ascending"), ("n", "ascending")]))
    table = _drop_repeats(table, ["k", "p"])
    k, p, name = (table[c].combine_chunks() for c in ("k", "p", "n"))
    same = pc.equal(k, p)
    key, name = _json_strings(k), _json_strings(name)
    short = pc.binary_join_element_wise(_s("["), key, _s(","), name, _s("]"), _s(""))
    long = pc.binary_join_element_wise(_s("["), key, _s(","), name, _s(',"'), p, _s('"]'), _s(""))
    return k, _array(pc.if_else(same, short, long))


def _doc_entries(documents: pa.Table, subjects: pa.Table) -> tuple[tuple[pa.Array, pa.Array], list[str]]:
    columns = {name: _text(documents[name]) for name in ("doc_no", "page_id", "record_id", "dataset")}
    table = pa.table(columns)
    table = table.filter(pc.and_(pc.match_substring_regex(table["page_id"], PAGE_ID),
                                 pc.match_substring_regex(table["record_id"], RECORD_ID)))
    cps, lengths = _codepoints(table["doc_no"])
    table = table.append_column("k", _strings(*_normalise_codepoints(cps, lengths)))
    table = table.filter(pc.greater(pc.utf8_length(table["k"]), 0))
    datasets = sorted(pc.unique(table["dataset"]).to_pylist())
    dataset = pc.cast(pc.index_in(table["dataset"], value_set=pa.array(datasets, pa.large_string())), pa.int64())
    table = table.drop_columns(["dataset"]).append_column("s", dataset)
    table = table.take(pc.sort_indices(table, [("k", "ascending"), ("s", "ascending"), ("page_id", "ascending"),
                                               ("record_id", "ascending"), ("doc_no", "ascending")]))
    table = _drop_repeats(table, ["k", "s", "page_id", "record_id"])
    # the subject's name: the first row of its page id (subjects are sorted by page id, then name)
    first_rows = _drop_repeats(subjects.select(["page_id", "name"]), ["page_id"])
    where = pc.index_in(table["page_id"], value_set=first_rows["page_id"].combine_chunks())
    table = table.append_column("n", pc.fill_null(pc.take(first_rows["name"].combine_chunks(), where), ""))
    t = {c: table[c].combine_chunks() for c in table.column_names}
    entries = pc.binary_join_element_wise(
        _s("["), _json_strings(t["doc_no"]), _s(',"'), t["page_id"], _s('","'), t["record_id"], _s('",'),
        pc.cast(t["s"], pa.large_string()), _s(","), _json_strings(t["n"]), _s("]"), _s(""))
    return (t["k"], _array(entries)), datasets


def _write_sorted(writer: _Writer, folder: str, kind: str, keys: pa.Array, entries: pa.Array) -> dict:
    """Cut sorted entries into shards of about SORTED_SHARD_BYTES; boundaries in blocks."""
    n = len(entries)
    if n == 0:
        return {"shards": 0, "block": BLOCK, "top": [], "entries": 0}
    offsets = _cuts(np.diff(_buffers(entries)[0]) + 1, _fnv1a32_many(keys))
    shards = len(offsets) - 1
    # each entry with the bracket or comma before it and the bracket after the last of a shard:
    # a shard is then a run of the array's bytes
    first, last = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    first[offsets[:-1]], last[offsets[1:] - 1] = True, True
    text = pc.binary_join_element_wise(pc.if_else(pa.array(first), _s("["), _s(",")), entries,
                                       pc.if_else(pa.array(last), _s("]"), _s("")), _s(""))
    bounds, data = _buffers(_array(text))
    names = _content_names(data, bounds[offsets])
    writer.write_spans([f"{folder}/{name}.json" for name in names], data, bounds[offsets], kind, named_by_content=True)
    first_keys = keys.take(pa.array(offsets[:-1])).to_pylist()
    for k in range(0, shards, BLOCK):
        block = json.dumps({"keys": first_keys[k:k + BLOCK], "files": names[k:k + BLOCK]}, ensure_ascii=False,
                           separators=(",", ":"))
        writer.write(f"{folder}/b{k // BLOCK}.json", block.encode(), f"{kind}_blocks")
    return {"shards": shards, "block": BLOCK, "top": first_keys[::BLOCK], "entries": n}


CONTENT_NAME = 16  # hex digits of a sorted shard's name (64 bits of its BLAKE2b digest)


def _content_names(data: bytes | pa.Buffer, bounds: np.ndarray) -> list[str]:
    """The name of each file ``data[bounds[i]:bounds[i + 1]]``: from its bytes alone."""
    view = memoryview(data)
    ends = bounds.tolist()
    return [hashlib.blake2b(view[a:b], digest_size=CONTENT_NAME // 2).hexdigest() for a, b in itertools.pairwise(ends)]


def _cuts(sizes: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Where shards of entries (their ``sizes`` in bytes, the ``hashes`` of their keys) begin, and
    the end: a shard is at least half of ``SORTED_SHARD_BYTES`` (unless it is the last) and ends
    before the first entry after that whose hash is a multiple of ``SORTED_SPLIT``, or before the
    entry that would take it past twice ``SORTED_SHARD_BYTES`` (or after its first entry, when
    that alone is larger). A cut depends only on the entries since the cut before it, so an entry
    added or removed moves the cuts of its own neighbourhood; the cuts after the next one chosen
    by a hash are where they were."""
    n = len(sizes)
    ends = np.cumsum(sizes)
    starts = ends - sizes
    candidates = np.flatnonzero(hashes % SORTED_SPLIT == 0)
    least, most = SORTED_SHARD_BYTES // 2, 2 * SORTED_SHARD_BYTES
    cuts, at = [0], 0
    while at < n:
        first_allowed = max(at + 1, int(np.searchsorted(starts, starts[at] + least, "left")))
        past_most = max(at + 1, int(np.searchsorted(ends, starts[at] + most, "right")))
        k = int(np.searchsorted(candidates, first_allowed, "left"))
        at = min(int(candidates[k]) if k < len(candidates) else n, past_most, n)
        cuts.append(at)
    return np.array(cuts, np.int64)


# --------------------------------------------------------------------------------------------
# Vectorised text helpers


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _buffers(array: pa.Array) -> tuple[np.ndarray, bytes | pa.Buffer]:
    """Byte offsets (relative to the first string) and data buffer of a large_string array."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64)[array.offset:array.offset + len(array) + 1]
    data = array.buffers()[2]
    if data is None:
        return np.zeros(len(array) + 1, np.int64), b""
    if offsets[0]:
        data = data[int(offsets[0]):]
        offsets = offsets - offsets[0]
    return offsets, data


def _codepoints(strings: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """All strings' code points (uint32, concatenated) and each string's length in code points."""
    strings = _text(strings)
    offsets, data = _buffers(strings)
    text = bytes(memoryview(data)[:int(offsets[-1])]).decode("utf-8")
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    lengths = pc.utf8_length(strings).to_numpy(zero_copy_only=False).astype(np.int64)
    return cps, lengths


def _normalise_codepoints(cps: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mapped = _code_point_table()[cps]
    keep = mapped != 0
    if keep.all():
        return mapped, lengths
    owner = np.repeat(np.arange(len(lengths)), lengths)
    return mapped[keep], np.bincount(owner[keep], minlength=len(lengths)).astype(np.int64)


def _strings(cps: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """The large_string array of consecutive runs of ``cps`` of the given lengths."""
    width = 1 + (cps >= 0x80).astype(np.int64) + (cps >= 0x800) + (cps >= 0x10000)
    byte_ends = np.concatenate([[0], np.cumsum(width)])
    char_ends = np.concatenate([[0], np.cumsum(lengths)])
    offsets = byte_ends[char_ends].astype(np.int64)
    data = cps.astype("<u4").tobytes().decode("utf-32-le").encode("utf-8")
    return pa.LargeStringArray.from_buffers(len(lengths), pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


_QUOTING = (ord('"'), ord("\\"))  # bytes JSON escapes in text...
_CONTROL = 0x20  # ... and the control characters, the bytes below this


def _has_bytes(strings: pa.Array, quoting: bool = False, control: bool = False) -> bool:
    """Whether any string's UTF-8 holds a byte JSON must escape (``quoting``: a quote or a
    backslash; ``control``: a control character). A comparison over the data buffer: far cheaper
    than a string kernel when the answer is no (as it is for nearly every column)."""
    offsets, data = _buffers(_array(strings))
    if not len(data):
        return False
    octets = np.frombuffer(data, dtype=np.uint8)[:int(offsets[-1])]
    return bool((quoting and any((octets == b).any() for b in _QUOTING)) or (control and (octets < _CONTROL).any()))


def _escape(strings: pa.Array) -> pa.Array:
    """JSON string escaping of text without control characters."""
    if not _has_bytes(strings, quoting=True):
        return strings
    return pc.replace_substring(pc.replace_substring(strings, "\\", "\\\\"), '"', '\\"')


def _json_strings(strings: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Each string as a JSON string literal, as ``json.dumps(s, ensure_ascii=False)`` writes it."""
    strings = _text(strings)
    quoted = pc.binary_join_element_wise(_s('"'), _escape(strings), _s('"'), _s(""))
    if not _has_bytes(strings, control=True):
        return quoted
    control = pc.match_substring_regex(strings, "[\\x00-\\x1f]").to_numpy(zero_copy_only=False)
    values = quoted.to_numpy(zero_copy_only=False).astype(object)
    for i in np.flatnonzero(control).tolist():
        values[i] = json.dumps(strings[i].as_py(), ensure_ascii=False)
    return pa.array(values, pa.large_string())


def _fnv1a32_many(strings: pa.Array) -> np.ndarray:
    """:func:`fnv1a32` of every string of a large_string array."""
    offsets, data = _buffers(strings)
    data = np.frombuffer(data, dtype=np.uint8) if len(data) else np.zeros(0, np.uint8)
    lengths = np.diff(offsets)
    h = np.full(len(lengths), FNV_OFFSET, dtype=np.uint64)
    for k in range(int(lengths.max(initial=0))):
        m = lengths > k
        h[m] = ((h[m] ^ data[offsets[:-1][m] + k]) * np.uint64(FNV_PRIME)) & np.uint64(0xFFFFFFFF)
    return h.astype(np.uint32)
