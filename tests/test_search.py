"""The static search: the index written by generator/outputs/search.py, read by the site's own
client (site_src/assets/search.js, run under node), the header box and the search page.

Queries are answered by the real client code against written shards and compared with a brute
force over the input: names by substring, codes and document numbers by prefix. The browser test
types into the header box of a built site served under a sub-path, at desktop and phone widths.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from bs4 import BeautifulSoup

from generator.outputs import search
from generator.outputs.disclosures import gather
from generator.outputs.search import fnv1a32, normalise, search_tables, write_search_index
from generator.site import ROOT, build

from .browsing import VIEWPORTS, chromium, serving
from .conftest import AS_OF

CLIENT = ROOT / "site_src" / "assets" / "search.js"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None and os.environ.get("CI") != "true", reason="node is not installed")

RUNNER = r"""
const client = require(process.argv[2]);
const fs = require("fs");
const path = require("path");
const job = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
(async () => {
  const out = {};
  if (job.strings) {
    out.strings = job.strings.map((s) => [client.normalise(s), client.fnv1a32(s)]);
  }
  if (job.queries) {
    out.answers = [];
    for (const q of job.queries) {
      const files = [];
      const load = async (p) => {
        files.push(p);
        return JSON.parse(fs.readFileSync(path.join(job.dir, p), "utf8"));
      };
      const a = await client.searchIndex(q, load);
      out.answers.push(Object.assign({}, a, { error: a.error ? String(a.error) : null, files: files }));
    }
  }
  if (job.pages) {
    const index = JSON.parse(fs.readFileSync(job.pages.index, "utf8"));
    out.pages = job.pages.queries.map((q) => client.searchPages(client.normalise(q), index).map((p) => p.location));
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def run_client(tmp_path: Path, job: dict) -> dict:
    assert NODE, "node is required in CI"
    runner = tmp_path / "runner.js"
    runner.write_text(RUNNER, encoding="utf-8")
    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run([NODE, str(runner), str(CLIENT), str(job_file)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def subjects_table(rows: list[tuple[str, str, str, str]]) -> pa.Table:
    page_id, name, code, category = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [], [])
    return pa.table({"page_id": pa.array(page_id, pa.string()), "name": pa.array(name, pa.string()),
                     "code": pa.array(code, pa.string()), "category": pa.array(category, pa.string())})


def documents_table(rows: list[tuple[str, str, str, str]]) -> pa.Table:
    doc_no, page_id, record_id, dataset = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [], [], [])
    return pa.table({"doc_no": pa.array(doc_no, pa.string()), "page_id": pa.array(page_id, pa.string()),
                     "record_id": pa.array(record_id, pa.string()), "dataset": pa.array(dataset, pa.string())})


ORG = "法人及非法人组织"
SHOP = "个体工商户"
XINYUAN = ("91450100MA5K00001X", "广西鑫源贸易有限公司", "91450100MA5K00001X", ORG)
HOSTILE = ("91450100MA5K00002Y", '<script>window.__pwned=1</script>鑫源"引号"\\反斜杠\x07有限公司', "91450100MA5K00002Y", ORG)
SMALL_SUBJECTS = [
    XINYUAN,
    HOSTILE,
    ("91450100MA5K00003A", "广西鑫源贸易有限公司", "91450100MA5K00003A", ORG),  # same name, another subject
    ("91450100MA5K00003A", "广西鑫源贸易有限公司", "91450100MA5K00003A", ORG),  # the same row twice
    ("91450100MA5K00004B", "南宁ＡＢＣ（广西）科技有限公司", "91450100MA5K00004B", ORG),  # full-width lookalikes
    ("91450100MA5K00005C", "南宁鑫原贸易有限公司", "91450100MA5K00005C", ORG),  # 原, not 源
    ("ZC450100600123456", "南宁市青秀区鑫源粉店", "450100600123456", SHOP),
    ("", "李某某", "", "自然人"),
    ("45010219800101123X", "王某某", "45010219800101123X", "自然人"),
    ("../../etc", "坏的主体", "../../etc", ORG),
    ("abc", "小写的主体", "abc", ORG),
]
SMALL_DOCUMENTS = [
    ("桂市监罚〔2025〕12号", XINYUAN[0], "a1b2c3d4e5f6a7b8c9d0", "行政处罚"),
    ("桂市监罚〔2025〕12号", XINYUAN[0], "a1b2c3d4e5f6a7b8c9d0", "行政处罚"),  # repeated row
    ("桂市监罚〔2025〕12号", "91450100MA5K00005C", "ffffffffffffffffff01", "行政处罚"),  # one decision, two subjects
    ("桂市监罚〔2025〕120号", XINYUAN[0], "0000000000000000000a", "行政处罚"),
    ("南市监许【2024】7号", "ZC450100600123456", "0000000000000000000b", "行政许可"),
    ("南市监许〔2024〕8号", "", "0000000000000000000c", "行政许可"),  # a person's record: no page
    ("南市监许〔2024〕9号", XINYUAN[0], "bad id/..", "行政许可"),
]


def read_index(folder: Path) -> dict[str, object]:
    return {p.relative_to(folder).as_posix(): json.loads(p.read_text(encoding="utf-8")) for p in folder.rglob("*.json")}


# --------------------------------------------------------------------------------------------
# Python side


def test_normalise():
    assert normalise(" 桂市监罚【2025】１２号 ") == "桂市监罚(2025)12号"
    assert normalise("桂市监罚〔2025〕12号") == normalise("桂市监罚[2025]12号") == normalise("桂市监罚（2025）12 号")
    assert normalise("91450100ma5k00001x\u3000") == "91450100MA5K00001X"
    assert normalise("ＡＢＣ\u200b\tｄｅｆ") == "ABCDEF"
    assert normalise("鑫源") != normalise("鑫原")
    assert fnv1a32("") == 0x811C9DC5 and fnv1a32("a") == 0xE40C292C and fnv1a32("foobar") == 0xBF9CF968


def test_vectorised_helpers_agree_with_the_scalar_ones():
    texts = ["广西鑫源", "ＡＢＣ（）", "a\tb\u200bc", "", "𠀀𪚥x", '"\\', "〔2025〕"]
    cps, lengths = search._codepoints(pa.array(texts))
    strings = search._strings(*search._normalise_codepoints(cps, lengths)).to_pylist()
    assert strings == [normalise(t) for t in texts]
    assert search._fnv1a32_many(pa.array(texts, pa.large_string())).tolist() == [fnv1a32(t) for t in texts]
    assert search._json_strings(pa.array(texts)).to_pylist() == [json.dumps(t, ensure_ascii=False) for t in texts]
    for column in (["甲", 'a"b'], ["甲", "a\\b"], ["甲", "a\x01b"], ["甲", "乙"], ["", ""], []):  # each byte class alone
        assert search._json_strings(pa.array(column, pa.string())).to_pylist() == [json.dumps(t, ensure_ascii=False)
                                                                                      for t in column]


def test_small_index_content(tmp_path):
    stats = write_search_index(tmp_path / "index", subjects_table(SMALL_SUBJECTS), documents_table(SMALL_DOCUMENTS))
    files = read_index(tmp_path / "index")
    meta = files["meta.json"]
    assert meta["format"] == 2 and meta["names"]["entries"] == 6 and meta["codes"]["entries"] == 6
    assert meta["docs"]["datasets"] == ["行政处罚", "行政许可"] and meta["docs"]["entries"] == 4
    assert stats["files"] == len(files) and stats["bytes"] == sum(p.stat().st_size for p in (tmp_path / "index").rglob("*.json"))
    text = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "index").rglob("*.json"))
    for absent in ("李某某", "王某某", "坏的主体", "小写的主体", "../", "0000000000000000000c", "bad id"):
        assert absent not in text
    # every name list entry is [page id, name] with the name as given, markup and all
    names: dict[str, set[str]] = {}
    for path, content in files.items():
        if path.startswith("n/"):
            lists = [v[1] for v in content.values() if isinstance(v[1], list)] if "-" not in path else list(content.values())
            for entry in (e for lst in lists for e in lst):
                names.setdefault(entry[0], set()).add(entry[1])
    assert names[HOSTILE[0]] == {HOSTILE[1]}
    assert names["91450100MA5K00003A"] == {"广西鑫源贸易有限公司"}
    assert set(names) == {r[0] for r in SMALL_SUBJECTS[:7]}
    # the gram 鑫源 is in the shard its hash says, with its true count
    shard = fnv1a32("鑫源") % meta["names"]["shards"]
    assert files[f"n/{shard}.json"]["鑫源"][0] == 4
    assert files["c/b0.json"]["files"] == [name for name in (p[2:-5] for p in files if p.startswith("c/")) if name != "b0"]
    codes = files[f"c/{files['c/b0.json']['files'][0]}.json"]
    assert ["450100600123456", "南宁市青秀区鑫源粉店", "ZC450100600123456"] in codes
    assert [XINYUAN[0], XINYUAN[1]] in codes
    docs = [e for p, c in files.items() if p.startswith("d/") and "/b" not in p for e in c]
    assert ["桂市监罚〔2025〕12号", XINYUAN[0], "a1b2c3d4e5f6a7b8c9d0", 0, XINYUAN[1]] in docs
    assert ["南市监许【2024】7号", "ZC450100600123456", "0000000000000000000b", 1, "南宁市青秀区鑫源粉店"] in docs


def test_same_input_same_bytes_whatever_the_row_order(tmp_path):
    subjects, documents = generated_input(random.Random(5), 300)
    write_search_index(tmp_path / "a", subjects, documents)
    order = list(range(subjects.num_rows))
    random.Random(1).shuffle(order)
    doc_order = list(range(documents.num_rows))
    random.Random(2).shuffle(doc_order)
    write_search_index(tmp_path / "b", subjects.take(pa.array(order)), documents.take(pa.array(doc_order)))
    a = {p.relative_to(tmp_path / "a"): p.read_bytes() for p in (tmp_path / "a").rglob("*") if p.is_file()}
    b = {p.relative_to(tmp_path / "b"): p.read_bytes() for p in (tmp_path / "b").rglob("*") if p.is_file()}
    assert a == b and len(a) > 10


def test_rewrites_an_old_index_but_not_another_folder(tmp_path):
    folder = tmp_path / "searchindex"
    write_search_index(folder, subjects_table(SMALL_SUBJECTS), documents_table(SMALL_DOCUMENTS))
    (folder / "n" / "stale.json").write_text("{}", encoding="utf-8")
    write_search_index(folder, subjects_table(SMALL_SUBJECTS[:1]), documents_table([]))
    assert not (folder / "n" / "stale.json").exists()
    assert json.loads((folder / "meta.json").read_text(encoding="utf-8"))["docs"]["shards"] == 0
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError):
        write_search_index(other, subjects_table(SMALL_SUBJECTS), documents_table([]))
    assert (other / "keep.txt").exists()


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_new_code_changes_its_own_shard_not_every_shard_after_it(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "SORTED_SHARD_BYTES", 1200)
    monkeypatch.setattr(search, "SORTED_SPLIT", 8)
    subjects, documents = generated_input(random.Random(3), 3000)
    write_search_index(tmp_path / "a", subjects, documents)
    early = ("9145" + "0" * 14, "广西新开业有限公司", "9145" + "0" * 14, ORG)  # sorts before every other code
    write_search_index(tmp_path / "b", pa.concat_tables([subjects, subjects_table([early])]), documents)
    a, b = files_of(tmp_path / "a"), files_of(tmp_path / "b")
    shards = sorted_shards(b, "c")
    assert len(shards) > 40
    changed = [p for p in shards if a.get(p) != b[p]]
    assert 1 <= len(changed) <= 3, changed
    # every shard holds at least half the target size and at most twice it (the last may be short)
    sizes = [len(b[p]) for p in shards]
    assert all(600 <= size <= 2401 for size in sizes[:-1]), sizes


def sorted_shards(files: dict[str, bytes], folder: str) -> list[str]:
    """The sorted shards of ``folder`` in key order, as the blocks list them."""
    blocks = json.loads(files["meta.json"])["codes" if folder == "c" else "docs"]
    count = -(-blocks["shards"] // blocks["block"])
    return [f"{folder}/{name}.json" for k in range(count) for name in json.loads(files[f"{folder}/b{k}.json"])["files"]]


def test_a_document_before_every_other_leaves_the_shards_after_its_own_as_they_were(tmp_path, monkeypatch):
    """Shards are named by their bytes: when a shard splits, those after it keep their names
    (named by their place, every one after it would be new to an incremental build)."""
    monkeypatch.setattr(search, "SORTED_SHARD_BYTES", 1200)
    monkeypatch.setattr(search, "SORTED_SPLIT", 8)
    subjects, documents = generated_input(random.Random(3), 3000)
    write_search_index(tmp_path / "a", subjects, documents)
    page = subjects["page_id"][0].as_py()
    first = [("A" + "0" * 12 + f"{i:03d}号", page, f"f{i:019x}", "行政许可") for i in range(60)]
    write_search_index(tmp_path / "b", subjects, pa.concat_tables([documents, documents_table(first)]))
    a, b = files_of(tmp_path / "a"), files_of(tmp_path / "b")
    before, after = sorted_shards(a, "d"), sorted_shards(b, "d")
    assert len(after) > len(before) + 1 > 40  # the new entries make shards of their own, before the others
    same = len(before) - 2  # the cuts are where they were from the second old cut on at the latest
    assert after[-same:] == before[-same:] and all(a[p] == b[p] for p in before[-same:])
    for path in after:
        assert path == f"d/{hashlib.blake2b(b[path], digest_size=8).hexdigest()}.json"


def test_cuts_bounds(monkeypatch):
    monkeypatch.setattr(search, "SORTED_SHARD_BYTES", 1000)
    sizes = np.array([100] * 50 + [5000] + [100] * 50, np.int64)
    cuts = search._cuts(sizes, np.arange(101, dtype=np.uint32) * 7).tolist()
    assert cuts[0] == 0 and cuts[-1] == 101 and cuts == sorted(set(cuts))
    ends = np.r_[0, np.cumsum(sizes)]
    spans = [(a, b, int(ends[b] - ends[a])) for a, b in itertools.pairwise(cuts)]
    assert (50, 51, 5000) in spans  # an entry larger than the most a shard may hold is a shard alone
    assert all(500 <= size <= 2000 for a, b, size in spans[:-1] if b - a > 1), spans


def test_unchanged_files_are_linked_to_the_previous_index(tmp_path):
    subjects, documents = generated_input(random.Random(4), 2000)
    write_search_index(tmp_path / "old", subjects, documents)
    more = pa.concat_tables([subjects, subjects_table([("91450000MA5XXXXX0Y", "柳州新开业科技有限公司", "91450000MA5XXXXX0Y", ORG)])])
    stats = write_search_index(tmp_path / "new", more, documents, previous=tmp_path / "old")
    write_search_index(tmp_path / "fresh", more, documents)
    old, new = files_of(tmp_path / "old"), files_of(tmp_path / "new")
    assert new == files_of(tmp_path / "fresh")  # the same bytes as an index written afresh
    same = sorted(p for p in new if old.get(p) == new[p])
    assert stats["linked"] == same and 0 < len(same) < len(new)
    for path in new:
        linked = (tmp_path / "new" / path).stat().st_ino == (tmp_path / "old" / path).stat().st_ino \
            if path in old else False
        assert linked == (path in same), path
    assert stats["files"] == len(new)


def test_name_files_are_what_the_format_says(tmp_path, monkeypatch):
    """The name directory and packs, written from one array of tokens, equal the files the
    module's description gives, built here entry by entry: with shards left empty, inline and
    packed lists, several lists to a pack, truncated lists, and names that need escaping."""
    for name, value in (("DIRECTORY_SHARD_BYTES", 256), ("INLINE", 2), ("PACK_BYTES", 400), ("NAME_CAP", 4)):
        monkeypatch.setattr(search, name, value)
    subjects, documents = generated_input(random.Random(7), 150)
    subjects = pa.concat_tables([subjects, subjects_table([HOSTILE, XINYUAN])])
    write_search_index(tmp_path / "i", subjects, documents)
    written = {path: data.decode("utf-8") for path, data in files_of(tmp_path / "i").items() if path.startswith("n/")}
    shards = json.loads((tmp_path / "i" / "meta.json").read_text(encoding="utf-8"))["names"]["shards"]

    rows = search._clean_subjects(subjects).to_pylist()
    ranked = sorted(rows, key=lambda r: (len(normalise(r["name"])), normalise(r["name"]), r["page_id"]))
    lists: dict[str, list[str]] = {}
    for row in ranked:
        text = normalise(row["name"])
        for gram in sorted(set(text) | {text[i:i + 2] for i in range(len(text) - 1)}):
            lists.setdefault(gram, []).append(json.dumps([row["page_id"], row["name"]], ensure_ascii=False,
                                                         separators=(",", ":")))
    key = {gram: (fnv1a32(gram) % shards, ord(gram[0]), ord(gram[1]) if len(gram) > 1 else 0) for gram in lists}
    expected: dict[str, str] = {}
    directory: dict[int, list[str]] = {s: [] for s in range(shards)}
    packs: dict[tuple[int, int], list[str]] = {}
    filled: dict[int, int] = {}
    for gram in sorted(lists, key=key.get):
        shard, entries = key[gram][0], lists[gram]
        gram_json = json.dumps(gram, ensure_ascii=False)
        listed = "[" + ",".join(entries[:search.NAME_CAP]) + "]"
        if len(entries) <= search.INLINE:
            directory[shard].append(f"{gram_json}:[{len(entries)},{listed}]")
            continue
        member = f"{gram_json}:{listed}"
        size = len(member.encode("utf-8"))
        number = max((k for s, k in packs if s == shard), default=0)
        if shard in filled and filled[shard] + size > search.PACK_BYTES:
            number, filled[shard] = number + 1, 0
        filled[shard] = filled.get(shard, 0) + size
        packs.setdefault((shard, number), []).append(member)
        directory[shard].append(f"{gram_json}:[{len(entries)},{number}]")
    for shard, members in directory.items():
        expected[f"n/{shard}.json"] = "{" + ",".join(members) + "}"
    for (shard, number), members in packs.items():
        expected[f"n/{shard}-{number}.json"] = "{" + ",".join(members) + "}"

    assert written == expected
    assert "{}" in written.values()  # a shard without grams
    assert any(len(json.loads(text)) > 1 for path, text in written.items() if "-" in path)  # a pack of several lists
    assert any(len(v) > search.NAME_CAP for v in lists.values())

def test_empty_input(tmp_path):
    stats = write_search_index(tmp_path / "i", subjects_table([]), documents_table([]))
    assert stats["entries"] == {"subjects": 0, "grams": 0, "codes": 0, "documents": 0}
    assert json.loads((tmp_path / "i" / "n" / "0.json").read_text(encoding="utf-8")) == {}


# --------------------------------------------------------------------------------------------
# Python and the client agree


@needs_node
def test_normalisation_and_hash_are_the_same_in_python_and_js(tmp_path):
    every_bmp = [chr(cp) for cp in range(0x10000) if not 0xD800 <= cp < 0xE000]
    samples = ["桂市监罚〔2025〕12号", "桂市监罚【2025】12号", "ＡＢＣ　ｄｅｆ", " 91450100ma5k00001x ", "鑫源", "\u200b x\t\n",
               "𠀀𪚥", "😀(x)", "<script>", "", "a" * 300]
    rng = random.Random(7)
    randoms = ["".join(rng.choice(every_bmp) for _ in range(rng.randint(1, 12))) for _ in range(500)]
    strings = every_bmp + samples + randoms
    result = run_client(tmp_path, {"strings": strings})["strings"]
    assert [r[0] for r in result] == [normalise(s) for s in strings]
    assert [r[1] for r in result] == [fnv1a32(s) for s in strings]


@needs_node
def test_client_answers_the_issue_queries(tmp_path):
    folder = tmp_path / "index"
    write_search_index(folder, subjects_table(SMALL_SUBJECTS), documents_table(SMALL_DOCUMENTS))
    queries = ["鑫源", " 91450100ma5k0000 ", "91450100MA5K00001X", "4501006001", "桂市监罚[2025]12号", "桂市监罚（2025）12",
               "南市监许〔2024〕7号", "abc（广西）", "鑫", "script", "鑫源贸易有限公司分公司", "", "坏的"]
    a = dict(zip(queries, run_client(tmp_path, {"dir": str(folder), "queries": queries})["answers"], strict=True))
    ids = {q: [s["id"] for s in answer["subjects"]] for q, answer in a.items()}
    assert set(ids["鑫源"]) == {XINYUAN[0], HOSTILE[0], "91450100MA5K00003A", "ZC450100600123456"}
    assert ids["鑫源"][0] == "ZC450100600123456"  # shortest name first
    assert a["鑫源"]["subjectsComplete"] and a["鑫源"]["documents"] == []
    assert ids[" 91450100ma5k0000 "][:2] == [XINYUAN[0], HOSTILE[0]] and len(ids[" 91450100ma5k0000 "]) == 5
    assert ids["91450100MA5K00001X"] == [XINYUAN[0]]
    assert ids["4501006001"] == ["ZC450100600123456"]
    assert a["4501006001"]["subjects"][0]["code"] == "450100600123456"
    assert [(d["record"], d["id"], d["dataset"]) for d in a["桂市监罚[2025]12号"]["documents"]] == [
        ("a1b2c3d4e5f6a7b8c9d0", XINYUAN[0], "行政处罚"), ("ffffffffffffffffff01", "91450100MA5K00005C", "行政处罚")]
    assert a["桂市监罚[2025]12号"]["documents"][0]["name"] == XINYUAN[1]
    assert [d["record"] for d in a["桂市监罚（2025）12"]["documents"]] == [  # a prefix: 120号, then 12号
        "0000000000000000000a", "a1b2c3d4e5f6a7b8c9d0", "ffffffffffffffffff01"]
    assert [d["record"] for d in a["南市监许〔2024〕7号"]["documents"]] == ["0000000000000000000b"]
    assert ids["abc（广西）"] == ["91450100MA5K00004B"]
    assert set(ids["鑫"]) == {XINYUAN[0], HOSTILE[0], "91450100MA5K00003A", "91450100MA5K00005C", "ZC450100600123456"}
    assert ids["script"] == [HOSTILE[0]] and a["script"]["subjects"][0]["name"] == HOSTILE[1]
    assert ids["鑫源贸易有限公司分公司"] == [] and a["鑫源贸易有限公司分公司"]["subjectsComplete"]
    assert ids[""] == [] and a[""]["files"] == []
    assert ids["坏的"] == []
    assert all(answer["error"] is None for answer in a.values())


def generated_input(rng: random.Random, n: int) -> tuple[pa.Table, pa.Table]:
    """Subjects with names over a small alphabet (many shared grams), codes sharing prefixes."""
    chars = "广西鑫源贸易有限公司南宁科技ＡB（）"
    alnum = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    subjects = []
    for i in range(n):
        name = "".join(rng.choice(chars) for _ in range(rng.randint(2, 9)))
        if i % 9 == 0:
            reg = "4501" + "".join(rng.choice("0123456789") for _ in range(11))
            subjects.append((f"ZC{reg}", name, reg, SHOP))
        else:
            code = "9145" + "".join(rng.choice(alnum[:4]) for _ in range(4)) + "".join(rng.choice(alnum) for _ in range(10))
            subjects.append((code, name, code, ORG))
    subjects.append(XINYUAN)
    documents = []
    for i in range(n * 2):
        subject = subjects[rng.randrange(len(subjects))][0]
        word, dataset = rng.choice([("罚", "行政处罚"), ("许", "行政许可"), ("信", "严重失信主体名单")])
        opening, closing = rng.choice(["〔〕", "【】", "[]", "（）"])
        doc = f"{rng.choice(['桂', '南', '柳'])}市监{word}{opening}{rng.randint(2023, 2025)}{closing}{rng.randint(1, 40)}号"
        documents.append((doc, subject, f"{i:020x}", dataset))
    return subjects_table(subjects), documents_table(documents)


def brute_force(subjects: pa.Table, documents: pa.Table, q: str) -> tuple[set[str], list[str], list[str]]:
    """Name hits (page ids), code hits and document hits (record ids, in index order) for ``q``."""
    qn = normalise(q)
    rows = subjects.to_pylist()
    names = {r["page_id"] for r in rows if qn and qn in normalise(r["name"])}
    codes = sorted({(normalise(r["code"]), r["page_id"]) for r in rows if normalise(r["code"]).startswith(qn)})
    datasets = sorted(set(documents["dataset"].to_pylist()))
    docs = sorted({(normalise(d["doc_no"]), datasets.index(d["dataset"]), d["page_id"], d["record_id"], d["doc_no"])
                   for d in documents.to_pylist() if normalise(d["doc_no"]).startswith(qn)})
    return names, [page for _, page in codes], [d[3] for d in docs]


@needs_node
@pytest.mark.parametrize("tiny", [False, True], ids=["defaults", "tiny-shards"])
def test_client_agrees_with_brute_force(tmp_path, monkeypatch, tiny):
    if tiny:  # many packs, many sorted shards across several blocks
        for name, value in {"INLINE": 2, "PACK_BYTES": 400, "SORTED_SHARD_BYTES": 300, "BLOCK": 3,
                            "DIRECTORY_SHARD_BYTES": 200}.items():
            monkeypatch.setattr(search, name, value)
    rng = random.Random(11)
    subjects, documents = generated_input(rng, 400)
    folder = tmp_path / "index"
    stats = write_search_index(folder, subjects, documents)
    if tiny:
        assert stats["shards"]["codes"] > 3 * 3 and stats["shards"]["docs"] > 3 * 3
        assert any((folder / "n").glob("*-2.json"))  # a shard's long lists in several packs
    names = subjects["name"].to_pylist()
    codes = subjects["code"].to_pylist()
    queries = ["鑫源", "广西鑫源贸易有限公司", "ab", "（", "Ｂ（"]
    for _ in range(60):
        name = rng.choice(names)
        start = rng.randrange(len(name))
        queries.append(name[start:start + rng.randint(1, 5)])
    queries += [rng.choice(codes)[:k] for k in (4, 5, 6, 8, 12, 18) for _ in range(3)]
    queries += [rng.choice(codes).lower() for _ in range(3)]
    docs = documents["doc_no"].to_pylist()
    queries += [rng.choice(docs) for _ in range(20)] + [rng.choice(docs)[:k] for k in (6, 7, 9) for _ in range(4)]
    answers = run_client(tmp_path, {"dir": str(folder), "queries": queries})["answers"]
    for q, a in zip(queries, answers, strict=True):
        name_hits, code_hits, doc_hits = brute_force(subjects, documents, q)
        qn = normalise(q)
        code = re.fullmatch(r"[0-9A-Z]{2,}", qn) is not None
        found = [s["id"] for s in a["subjects"]]
        if code and len(qn) >= 4 and re.search(r"[0-9]", qn):  # a code: looked up by prefix only
            expected = list(dict.fromkeys(code_hits))
            assert found == expected[:len(found)] and (found or not expected), q
        elif code:
            assert set(found) <= name_hits | set(code_hits), q
            expected = None
        else:
            assert set(found) <= name_hits, q
            expected = name_hits
        if a["subjectsComplete"] and expected is not None:
            assert set(found) == set(expected), q
        found_docs = [d["record"] for d in a["documents"]]
        if len(qn) >= 2 and re.search(r"[0-9()]", qn) and (not code or len(qn) >= 6):
            assert found_docs == doc_hits[:len(found_docs)] and (found_docs or not doc_hits), q
            if a["documentsComplete"]:
                assert found_docs == doc_hits, q
        else:
            assert found_docs == [], q
    assert any(a["documents"] for a in answers) and any(len(a["subjects"]) > 3 for a in answers)
    if tiny:  # a scan on from the last shard of a block reads the next block's names
        assert any(len({f for f in a["files"] if re.fullmatch(r"[cd]/b\d+\.json", f)}) > 1 for a in answers)


@needs_node
def test_long_lists_are_truncated_honestly(tmp_path, monkeypatch):
    monkeypatch.setattr(search, "NAME_CAP", 5)
    rows = [(f"9145010000000{i:04d}X", f"南宁鑫源{'贸易' * (i % 4)}{i}号有限公司", f"9145010000000{i:04d}X", ORG) for i in range(20)]
    rows.append(("91450100000009999X", "南宁鑫源甲有限公司", "91450100000009999X", ORG))
    folder = tmp_path / "index"
    write_search_index(folder, subjects_table(rows), documents_table([]))
    shard = fnv1a32("鑫源") % json.loads((folder / "meta.json").read_text(encoding="utf-8"))["names"]["shards"]
    entry = json.loads((folder / "n" / f"{shard}.json").read_text(encoding="utf-8"))["鑫源"]
    assert entry[0] == 21  # the true count, though at most 5 are listed
    queries = ["鑫源", "鑫源甲", "贸易", "南宁鑫源贸易贸易贸易"]
    a = dict(zip(queries, run_client(tmp_path, {"dir": str(folder), "queries": queries})["answers"], strict=True))
    assert not a["鑫源"]["subjectsComplete"] and a["鑫源"]["nameCount"] == 21
    shortest = sorted(rows, key=lambda r: (len(r[1]), r[1]))[:5]
    assert [s["id"] for s in a["鑫源"]["subjects"]] == [r[0] for r in shortest]
    assert a["鑫源甲"]["subjectsComplete"] and [s["id"] for s in a["鑫源甲"]["subjects"]] == ["91450100000009999X"]
    assert not a["贸易"]["subjectsComplete"] and len(a["贸易"]["subjects"]) == 5
    # every bigram of this one is truncated: the answer is what the shortest list holds, said to be incomplete
    assert not a["南宁鑫源贸易贸易贸易"]["subjectsComplete"]
    assert all("贸易贸易贸易" in s["name"] for s in a["南宁鑫源贸易贸易贸易"]["subjects"])


# --------------------------------------------------------------------------------------------
# The built site: markup, then a real browser


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The demo site under /gongshi/, with a search index that also holds a hostile name."""
    root = tmp_path_factory.mktemp("search-site")
    out = root / "gongshi"
    result = build(ROOT / "datasets", out, AS_OF)
    subjects, documents = search_tables(gather(result.decisions))
    extra = subjects_table([HOSTILE])
    write_search_index(out / "searchindex", pa.concat_tables([subjects.cast(extra.schema), extra]), documents)
    page = out / "subjects" / HOSTILE[0] / "index.html"
    if not page.exists():
        page.parent.mkdir(parents=True)
        page.write_text("<!doctype html><meta charset=utf-8><title>主体</title><h1>主体</h1>", encoding="utf-8")
    return root, out, subjects, documents


def test_index_of_the_demo_site(site):
    _, out, subjects, documents = site
    meta = json.loads((out / "searchindex" / "meta.json").read_text(encoding="utf-8"))
    assert meta["docs"]["datasets"] == sorted(["行政许可", "行政处罚", "守信激励名单", "严重失信主体名单"])
    with_page = pc.sum(pc.not_equal(documents["page_id"], "")).as_py()
    assert 0 < meta["docs"]["entries"] <= with_page < documents.num_rows  # persons' records have no page
    assert meta["names"]["entries"] == len(set(subjects["page_id"].to_pylist()) - {""}) + 1  # and the hostile one
    for page_id in set(subjects["page_id"].to_pylist()) - {""}:
        assert (out / "subjects" / page_id / "index.html").is_file()


def test_header_box_is_a_plain_form_on_every_page(site):
    _, out, _, _ = site
    pages = [out / "index.html", out / "about" / "index.html", out / "search" / "index.html"]
    pages += [p for p in sorted((out / "subjects").glob("*/index.html")) if HOSTILE[0] not in str(p)][:2]
    for path in pages:
        html = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        assert not html.select('[data-md-component="search"]'), path
        assert html.find("form", attrs={"name": "search"}) is None, path
        box = html.select_one("[data-gongshi-search]")
        form = box.select_one("form.md-search__form")
        assert form["method"] == "get" and not form["action"].startswith(("/", "http"))
        if "subjects" not in path.parts:  # pages mkdocs rendered; generated pages get the action from search.js
            page_url = "http://site/" + path.parent.relative_to(out).as_posix().strip(".") + "/"
            assert urljoin(page_url.replace("//site//", "//site/"), form["action"]) == "http://site/search/", path
        query = form.select_one("input.md-search__input[name=q]")
        assert query.get("aria-label")
        script = [s for s in html.find_all("script") if s.get("src", "").endswith("assets/search.js")]
        assert len(script) == 1 and script[0].has_attr("defer") and not script[0]["src"].startswith("/"), path


def test_search_page_markup(site):
    _, out, _, _ = site
    html = BeautifulSoup((out / "search" / "index.html").read_text(encoding="utf-8"), "html.parser")
    app = html.select_one("#gongshi-search")
    field = app.select_one("input[name=q]")
    assert app.select_one(f"label[for={field['id']}]").get_text(strip=True)
    assert app.select_one("[role=status]")["aria-live"] == "polite"
    assert len(app.select("section ol")) == 3
    assert not app.find_all("script") and not html.select("article script")
    assert html.select_one('head link[rel=stylesheet][href="../assets/search.css"]')  # mkdocs.yml extra_css
    assert (out / "assets" / "search.css").is_file() and (out / "assets" / "search.js").is_file()
    index = json.loads((out / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert not any(d["location"].startswith("search/") for d in index["docs"])


@needs_node
def test_page_results_come_from_materials_index(site, tmp_path):
    _, out, _, _ = site
    pages = run_client(tmp_path, {"pages": {"index": str(out / "search" / "search_index.json"),
                                            "queries": ["数据字典", "不存在的词语甲乙丙"]}})["pages"]
    assert "data/dictionary/" in pages[0] and pages[1] == []


@pytest.fixture(scope="module")
def served(site):
    with serving(site[0]) as url:
        yield url + "gongshi/"


@pytest.fixture(scope="module")
def browser():
    with chromium() as instance:
        yield instance


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_header_box_leads_to_results(served, site, browser, viewport, tmp_path):
    _, out, subjects, documents = site
    context = browser.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))

    def open_header_box() -> None:
        if viewport == "phone":
            page.click("label.md-header__button[for=__search]")  # the header magnifier toggles the box
        else:
            page.click("[data-gongshi-search] input[name=q]")
        page.wait_for_function("document.activeElement && document.activeElement.matches('[data-gongshi-search] input')")
        assert page.locator("[data-gongshi-search] input[name=q]").is_visible()
        assert page.evaluate("document.getElementById('__search').checked")

    # a hand-written page: type a name fragment into the header box and press Enter
    page.goto(served + "about/")
    open_header_box()
    page.keyboard.press("Escape")
    assert not page.evaluate("document.getElementById('__search').checked")
    open_header_box()
    page.keyboard.type("鑫源\"引号")
    page.keyboard.press("Enter")
    page.wait_for_url(served + "search/?q=*")
    link = page.locator("[data-section=subjects] ol a").first
    link.wait_for()
    assert link.inner_text().startswith('<script>window.__pwned=1</script>鑫源"引号"')
    assert link.get_attribute("href") == served + f"subjects/{HOSTILE[0]}/"
    assert page.evaluate("window.__pwned") is None  # the name's <script> is text, never markup
    assert page.locator("#gongshi-q").input_value() == "鑫源\"引号"
    page.screenshot(path=str(tmp_path / f"{viewport}-name.png"), full_page=True)

    # a generated subject page two folders deep: the header box still goes to the search page
    subject = next(p for p in sorted((out / "subjects").iterdir()) if p.name != HOSTILE[0] and not p.name.startswith("ZC"))
    row = subjects.filter(pc.equal(subjects["page_id"], subject.name)).to_pylist()[0]
    page.goto(served + f"subjects/{subject.name}/")
    open_header_box()
    page.keyboard.type(" " + subject.name[:12].lower() + " ")
    page.keyboard.press("Enter")
    page.wait_for_url(served + "search/?q=*")
    page.locator(f"[data-section=subjects] ol a[href='{served}subjects/{subject.name}/']").wait_for()
    assert row["name"] in page.locator("[data-section=subjects]").inner_text()

    # a document number in other brackets, typed into the page's own box: results without a reload
    doc = documents.filter(pc.equal(documents["page_id"], subject.name)).to_pylist()[0]
    page.fill("#gongshi-q", doc["doc_no"].replace("〔", "【").replace("〕", "】"))
    page.press("#gongshi-q", "Enter")
    target = served + f"subjects/{subject.name}/#r-{doc['record_id']}"
    page.wait_for_function("target => [...document.querySelectorAll('[data-section=documents] a')].some(a => a.href === target)",
                           arg=target)
    assert "q=" in page.url
    status = page.locator("[role=status]").inner_text()
    assert "找到" in status and "条文书" in status
    page.screenshot(path=str(tmp_path / f"{viewport}-doc.png"), full_page=True)

    # nothing found says so
    page.goto(served + "search/?q=" + "不存在的主体甲乙丙丁")
    page.wait_for_function("document.querySelector('[role=status]').textContent.includes('没有找到')")
    context.close()
    assert errors == []


def test_the_inputs_digest_changes_with_any_value_and_not_with_chunking():
    from generator.outputs.search import inputs_digest

    subjects = pa.table({"page_id": pa.array(["A1", "B2"], pa.large_string()), "name": pa.array(["甲公司", "乙公司"], pa.large_string()),
                         "code": pa.array(["A1", "B2"], pa.large_string()), "category": pa.array(["法人", "法人"], pa.large_string())})
    documents = pa.table({"doc_no": pa.array(["文1"], pa.large_string()), "page_id": pa.array(["A1"], pa.large_string()),
                          "record_id": pa.array(["r1"], pa.large_string()), "dataset": pa.array(["行政处罚"], pa.large_string())})
    digest = inputs_digest(subjects, documents)
    assert len(digest) == 64
    rechunked = pa.concat_tables([subjects.slice(0, 1), subjects.slice(1)])
    assert inputs_digest(rechunked, documents) == digest
    assert inputs_digest(subjects.slice(1), documents) != digest
    assert inputs_digest(subjects.set_column(2, "code", pa.array(["A1", "B2"], pa.string())), documents) == digest  # another string type
    # a value moved from one string to the next gives the same bytes, not the same offsets
    moved = subjects.set_column(1, "name", pa.array(["甲公司乙", "公司"], pa.large_string()))
    assert inputs_digest(moved, documents) != digest
    assert inputs_digest(subjects, documents.set_column(0, "doc_no", pa.array(["文2"], pa.large_string()))) != digest
