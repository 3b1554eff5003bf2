"""Benchmark: the static search index for a million subjects.

    python benchmarks/search_index.py                      # 1,000,000 subjects, 1,300,000 documents
    python benchmarks/search_index.py --subjects 200000

Draws the subjects with the synthetic generator's subject pool (generator/synth.py: names,
USCCs, 工商注册号; natural persons left out as they get no page), invents document numbers in the
generator's style (南市监罚〔2025〕12号) for 1.3 documents per subject, then
1. writes the index into a temporary folder (generator/outputs/search.py): wall time, files,
   bytes, the largest shard of each kind;
2. runs ~200 queries through the site's own client (site_src/assets/search.js under node), each
   as a first query with nothing cached, and reports the bytes each transfers (uncompressed):
   name substrings of 2–6 characters taken from real names plus very common ones (有限公司,
   贸易, 科技 …), single characters, USCC / registration-number prefixes of 2–18 characters and
   document numbers (whole, in other bracket kinds, and prefixes). Each answer is checked: the
   subject or document the query was taken from must be found unless the answer says it is
   truncated;
3. adds ADDED documents (``--added``, default 1,000; 0 skips this), three in ten about new
   subjects, and writes the index again beside the first, as an incremental build does (files the
   first holds byte for byte are linked): wall time, user and system CPU, files written and linked.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator import synth  # noqa: E402
from generator.cli import small_pages  # noqa: E402
from generator.codes import USCC_PLACEHOLDER  # noqa: E402
from generator.outputs.search import write_search_index  # noqa: E402

CLIENT = ROOT / "site_src" / "assets" / "search.js"
COMMON = ["有限公司", "贸易", "科技", "有限责任公司", "公司", "南宁市", "广西", "专业合作社", "股份有限公司", "商贸有限公司",
          "科技有限公司", "建筑工程", "南宁", "有限"]
DOC_WORDS = {"行政许可": ["许", "许可", "审批"], "行政处罚": ["罚", "处罚", "罚决字"], "守信激励名单": ["信"],
             "严重失信主体名单": ["信", "失信"]}
DOC_SHARES = [0.45, 0.35, 0.08, 0.12]
RUNNER = r"""
const client = require(process.argv[2]);
const fs = require("fs");
const path = require("path");
const dir = process.argv[3];
const queries = JSON.parse(fs.readFileSync(process.argv[4], "utf8"));
(async () => {
  const out = [];
  for (const q of queries) {
    let bytes = 0;
    const files = [];
    const cache = new Map();
    const load = (p) => {
      if (!cache.has(p)) {
        const data = fs.readFileSync(path.join(dir, p));
        bytes += data.length;
        files.push(p);
        cache.set(p, Promise.resolve(JSON.parse(data.toString("utf8"))));
      }
      return cache.get(p);
    };
    const started = process.hrtime.bigint();
    const a = await client.searchIndex(q, load);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    out.push({ q, bytes, files: files.length, ms, subjects: a.subjects.map((s) => s.id), complete: a.subjectsComplete,
               documents: a.documents.map((d) => d.record), documentsComplete: a.documentsComplete });
  }
  process.stdout.write(JSON.stringify(out));
})();
"""


def make_subjects(count: int, seed: int) -> pa.Table:
    """About ``count`` subjects with pages, from the synthetic generator's subject pool."""
    vocab = synth.load_vocabulary()
    window = synth.Window.before(dt.date(2026, 11, 20))
    pool = synth.build_subject_pool(round(count / (1 - synth.POOL_SHARES[2])), np.random.default_rng([seed, 99]), vocab,
                                    window.first_day, np.zeros(0, dtype="S18"))
    keep = pool.category != synth.PERSON
    uscc = pool.uscc[keep].astype(str)
    reg = pool.business_reg_no[keep].astype(str)
    placeholder = uscc == USCC_PLACEHOLDER
    page_id = np.where(placeholder, np.char.add("ZC", reg), uscc)
    code = np.where(placeholder, reg, uscc)
    category = np.array(synth.CATEGORY_TEXT)[pool.category[keep]]
    return pa.table({"page_id": page_id, "name": pool.name[keep].astype(str), "code": code, "category": category})


def make_documents(subjects: pa.Table, count: int, seed: int) -> pa.Table:
    """``count`` documents in the generator's style; some subjects get many, a few numbers repeat."""
    rng = np.random.default_rng([seed, 7])
    vocab = synth.load_vocabulary()
    prefixes = [a.doc_prefix for a in vocab.authorities]
    titles = list(DOC_WORDS)
    dataset = rng.choice(len(titles), size=count, p=DOC_SHARES)
    word_index = np.array([rng.integers(0, len(DOC_WORDS[titles[d]])) for d in range(len(titles))])
    words = np.array([DOC_WORDS[titles[d]][word_index[d]] for d in range(len(titles))])[dataset]
    authority = rng.integers(0, len(prefixes), count)
    year = rng.integers(2022, 2027, count)
    group = (authority * 8 + dataset) * 10 + (year - 2022)
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], group[order], side="left")
    serial = np.empty(count, dtype=np.int64)
    serial[order] = np.arange(count) - starts + 1
    text = pc.binary_join_element_wise(pa.array(np.array(prefixes)[authority]), pa.array(words), "〔",
                                       pc.cast(pa.array(year), pa.string()), "〕", pc.cast(pa.array(serial), pa.string()), "号", "")
    n = subjects.num_rows
    subject = np.minimum((n * rng.random(count) ** 1.7).astype(np.int64), n - 1)
    shared = rng.random(count) < 0.02  # a decision about several subjects: the previous number again
    take = np.where(shared, np.maximum(np.arange(count) - 1, 0), np.arange(count))
    raw = rng.integers(0, 256, (count, 10), dtype=np.uint8)
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = np.empty((count, 20), dtype=np.uint8)
    chars[:, 0::2] = hexdigits[raw >> 4]
    chars[:, 1::2] = hexdigits[raw & 15]
    record_id = pa.LargeStringArray.from_buffers(count, pa.py_buffer(np.arange(0, 20 * count + 1, 20, dtype=np.int64).tobytes()),
                                                 pa.py_buffer(chars.tobytes()))
    return pa.table({"doc_no": text.take(pa.array(take)), "page_id": subjects["page_id"].take(pa.array(subject)),
                     "record_id": record_id, "dataset": pa.array(np.array(titles)[dataset])})


def make_queries(subjects: pa.Table, documents: pa.Table, seed: int) -> list[dict]:
    """~200 queries with what each must find: (kind, query, expected page id or record id)."""
    rng = np.random.default_rng([seed, 3])
    names = subjects["name"].to_pylist()
    ids = subjects["page_id"].to_pylist()
    codes = subjects["code"].to_pylist()
    queries = [{"kind": "common", "q": q, "expect": None} for q in COMMON]
    for i in rng.choice(len(names), 86, replace=False).tolist():
        name = names[i]
        length = int(rng.integers(2, 7))
        start = int(rng.integers(0, max(1, len(name) - length + 1)))
        queries.append({"kind": "name", "q": name[start:start + length], "expect": ids[i]})
    for i in rng.choice(len(names), 6, replace=False).tolist():
        queries.append({"kind": "char", "q": names[i][int(rng.integers(0, len(names[i])))], "expect": None})
    for i in rng.choice(len(codes), 50, replace=False).tolist():
        length = int(rng.integers(2, 19))
        q = codes[i][:length]
        if i % 3 == 0:
            q = f" {q.lower()} "
        queries.append({"kind": "code", "q": q, "expect": ids[i]})
    doc_no = documents["doc_no"].to_pylist()
    records = documents["record_id"].to_pylist()
    for n, i in enumerate(rng.choice(len(doc_no), 44, replace=False).tolist()):
        q = doc_no[i]
        if n % 4 == 1:
            q = q.replace("〔", "[").replace("〕", "]")
        elif n % 4 == 2:
            q = q.replace("〔", "（").replace("〕", "）").replace("号", " 号")
        elif n % 4 == 3:
            q = q[:q.index("〕") + 1]  # a prefix: the authority, the word and the year
        queries.append({"kind": "doc" if n % 4 != 3 else "doc prefix", "q": q, "expect": records[i] if n % 4 != 3 else None})
    return queries


def percentile(values: list[int], p: float) -> int:
    return int(np.percentile(np.array(values), p, method="higher"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--documents", type=int, default=None, help="default: 1.3 per subject")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None,
                        help="write the index here and keep it (with --added, the second one beside it, NAME-next)")
    parser.add_argument("--added", type=int, default=1000, help="documents added for the second index (0: none)")
    args = parser.parse_args()
    small_pages()  # NumPy's pages as in `gongshi`
    node = shutil.which("node")
    if node is None:
        raise SystemExit("需要 node 运行 site_src/assets/search.js。")

    started = time.perf_counter()
    subjects = make_subjects(args.subjects, args.seed)
    documents = make_documents(subjects, args.documents or round(subjects.num_rows * 1.3), args.seed)
    print(f"synthetic input: {subjects.num_rows:,} subjects, {documents.num_rows:,} documents "
          f"({time.perf_counter() - started:.1f} s to draw)")

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "searchindex"
        started, cpu = time.perf_counter(), time.process_time()
        stats = write_search_index(folder, subjects, documents)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"write_search_index: {seconds:.1f} s wall, {cpu:.1f} s CPU (all threads), peak RSS {peak:,.0f} MiB "
              f"(with the synthetic input); {stats['files']:,} files, {stats['bytes'] / 1024**2:,.1f} MiB; "
              f"largest file {stats['largest_shard_bytes'] / 1024:,.1f} KiB")
        print("  largest per kind: " + ", ".join(f"{k} {v / 1024:,.1f} KiB" for k, v in stats["largest"].items()))
        print(f"  entries: {stats['entries']}; shards: {stats['shards']}")

        queries = make_queries(subjects, documents, args.seed)
        query_file = Path(tmp) / "queries.json"
        query_file.write_text(json.dumps([q["q"] for q in queries], ensure_ascii=False), encoding="utf-8")
        runner = Path(tmp) / "runner.js"
        runner.write_text(RUNNER, encoding="utf-8")
        run = subprocess.run([node, str(runner), str(CLIENT), str(folder), str(query_file)], capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f"node failed:\n{run.stderr}")
        answers = json.loads(run.stdout)
        if args.added:
            rewrite(folder, subjects, documents, args.added, args.seed)
    report(queries, answers)


def rewrite(folder: Path, subjects: pa.Table, documents: pa.Table, added: int, seed: int) -> None:
    """The index again after ``added`` more documents (three in ten about new subjects), written
    beside ``folder`` as an incremental build writes it: the cost of a batch of new records."""
    newcomers = make_subjects(max(1, round(added * 0.3)), seed + 1)
    more = make_documents(pa.concat_tables([subjects, newcomers]), added, seed + 1)
    subjects, documents = pa.concat_tables([subjects, newcomers]), pa.concat_tables([documents, more])
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    stats = write_search_index(folder.with_name(folder.name + "-next"), subjects, documents, previous=folder)
    after, seconds = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
    print(f"after adding {added:,} documents ({newcomers.num_rows:,} new subjects), beside the first index: {seconds:.1f} s "
          f"wall, CPU user {after.ru_utime - before.ru_utime:.1f} s, system {after.ru_stime - before.ru_stime:.1f} s; "
          f"{stats['files'] - len(stats['linked']):,} files written, {len(stats['linked']):,} linked")


def report(queries: list[dict], answers: list[dict]) -> None:
    transferred = [a["bytes"] for a in answers]
    print(f"first query, {len(answers)} queries: median {percentile(transferred, 50) / 1024:,.1f} KiB, "
          f"p95 {percentile(transferred, 95) / 1024:,.1f} KiB, max {max(transferred) / 1024:,.1f} KiB "
          f"(uncompressed; files per query: max {max(a['files'] for a in answers)})")
    kinds = sorted({q["kind"] for q in queries})
    for kind in kinds:
        rows = [(q, a) for q, a in zip(queries, answers, strict=True) if q["kind"] == kind]
        sizes = [a["bytes"] for _, a in rows]
        truncated = sum(1 for _, a in rows if not a["complete"])
        print(f"  {kind:<10} {len(rows):>3} queries: median {percentile(sizes, 50) / 1024:6.1f} KiB, "
              f"max {max(sizes) / 1024:6.1f} KiB; subject results truncated in {truncated}")
    worst = max(zip(queries, answers, strict=True), key=lambda qa: qa[1]["bytes"])
    print(f"  largest: {worst[0]['q']!r} ({worst[0]['kind']}) {worst[1]['bytes'] / 1024:,.1f} KiB in {worst[1]['files']} files")
    misses = []
    for q, a in zip(queries, answers, strict=True):
        if q["expect"] is None:
            continue
        if q["kind"] in ("doc",):
            if q["expect"] not in a["documents"] and a["documentsComplete"]:
                misses.append(q)
        elif q["expect"] not in a["subjects"] and a["complete"]:
            misses.append(q)
    print(f"  checks: {len(misses)} queries missed what they were drawn from" + (f": {misses[:5]}" if misses else ""))
    if max(transferred) >= 300 * 1024 or misses:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
