"""The search index prepared again from the last build's state (generator/outputs/search_state.py)
equals the index prepared from everything: table for table and file for file, after records are
added, removed and changed; and where it cannot (another set of datasets, another state) it says
so and the build prepares everything."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from generator.outputs.search import Prepared, prepare, write_prepared
from generator.outputs.search_state import MadeFrom, _matches_fixed_width, prepared_again, state_file

TITLES = ["行政许可", "行政处罚", "守信激励名单", "严重失信主体名单"]
ORG, PERSON = "法人及非法人组织", "自然人"
CHARS = "广西鑫源贸易有限公司南宁科技ＡB（）"


def records(rng: random.Random, n: int, start: int = 0, ids: str = "r{}") -> list[dict]:
    """Records about n // 2 subjects: some with two names, some natural persons, some with page
    ids the index leaves out, document numbers shared between subjects; record ids ``ids``."""
    rows = []
    for i in range(start, start + n):
        subject = rng.randrange(n // 2 + start)
        page_id = f"9145{subject:014d}" if subject % 13 else f"ZC4501{subject:09d}"
        named = random.Random(subject)  # a subject's name is the same in each of its records
        name = "".join(named.choice(CHARS) for _ in range(2 + subject % 7))
        if i % 11 == 0:
            name += "（曾用名）"
        rows.append({"page_id": page_id if i % 29 else "bad/id", "name": name, "code": page_id.removeprefix("ZC"),
                     "category": PERSON if subject % 17 == 0 else ORG, "dataset": TITLES[i % 4], "record_id": ids.format(i),
                     "doc_no": f"南市监罚〔2025〕{rng.randrange(n)}号" if i % 23 else ""})
    return rows


def tables(rows: list[dict]) -> tuple[pa.Table, pa.Table]:
    def column(key: str) -> pa.Array:
        return pa.array([r[key] for r in rows], pa.large_string())

    subjects = pa.table({k: column(k) for k in ("page_id", "name", "code", "category", "dataset", "record_id")})
    documents = pa.table({k: column(k) for k in ("doc_no", "page_id", "record_id", "dataset")})
    return subjects, documents


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def made_from(rows: list[dict]) -> MadeFrom:
    subjects, documents = tables(rows)
    return MadeFrom(subjects, documents, prepare(subjects, documents))


def again_equals_afresh(before: MadeFrom, rows: list[dict], tmp_path: Path) -> None:
    subjects, documents = tables(rows)
    again, afresh = prepared_again(before, subjects, documents), prepare(subjects, documents)
    assert again is not None, "prepared afresh where the state should have served"
    assert again.subjects.equals(afresh.subjects) and again.documents.equals(afresh.documents)
    assert again.datasets == afresh.datasets
    write_prepared(tmp_path / "again", again)
    write_prepared(tmp_path / "afresh", afresh)
    assert files_of(tmp_path / "again") == files_of(tmp_path / "afresh")


BASE = records(random.Random(1), 600)
FIXED = "{:020x}"  # record ids of one length, as the intake makes them: matched by binary search


def ids_of(rows: list[dict]) -> str:
    return "r{}" if rows[0]["record_id"].startswith("r") else FIXED


def changed(change, base: list[dict] = BASE) -> list[dict]:
    rows = [dict(r) for r in base]
    change(rows)
    return rows


@pytest.mark.parametrize("change", [
    pytest.param(lambda rows: rows.extend(records(random.Random(2), 40, start=600, ids=ids_of(rows))),
                 id="records added, new and known subjects"),
    pytest.param(lambda rows: rows.__delitem__(slice(100, 160)), id="records removed"),
    pytest.param(lambda rows: rows[5].update(name="全新名称有限公司"), id="a name changed"),
    pytest.param(lambda rows: rows[7].update(code="91450000000000000X"), id="a code changed"),
    pytest.param(lambda rows: rows[9].update(page_id="91450000000000999Y"), id="a record moved to another subject"),
    pytest.param(lambda rows: rows[12].update(doc_no="南市监罚〔2026〕1号"), id="a document number changed"),
    pytest.param(lambda rows: rows[3].update(category=PERSON), id="a subject became a natural person"),
    pytest.param(lambda rows: rows.extend([dict(rows[4]), dict(rows[4], record_id=rows[5]["record_id"])]),
                 id="rows repeated, keys repeated"),
    pytest.param(lambda rows: rows.reverse(), id="the same rows in another order"),
    pytest.param(lambda rows: None, id="nothing changed"),
])
@pytest.mark.parametrize("ids", ["r{}", FIXED])
def test_prepared_again_equals_prepared_afresh(change, ids, tmp_path):
    base = records(random.Random(1), 600, ids=ids)
    again_equals_afresh(made_from(base), changed(change, base), tmp_path)


def test_a_change_in_the_datasets_numbered_prepares_everything():
    before = made_from(BASE)
    gone = tables([r for r in BASE if r["dataset"] != "守信激励名单"])
    assert prepared_again(before, *gone) is None
    new = tables([*BASE, dict(BASE[1], dataset="新的名单", record_id="x1")])
    assert prepared_again(before, *new) is None
    assert prepared_again(before, tables(BASE)[0].drop_columns(["record_id"]), tables(BASE)[1]) is None  # rows without keys


def test_the_state_is_read_back_only_for_the_index_it_was_saved_for(tmp_path):
    before = made_from(BASE)
    before.save(tmp_path, "a" * 64)
    assert MadeFrom.load(tmp_path, "b" * 64) is None
    assert MadeFrom.load(tmp_path, None) is None
    loaded = MadeFrom.load(tmp_path, "a" * 64)
    assert loaded is not None and loaded.prepared.datasets == before.prepared.datasets
    assert loaded.subjects.equals(before.subjects) and loaded.prepared.documents.equals(before.prepared.documents)
    assert loaded.documents.equals(before.documents)  # saved as its numbers only, the rest taken from the subjects
    assert state_file(tmp_path, "documents").stat().st_size < state_file(tmp_path, "subjects").stat().st_size / 2
    again_equals_afresh(loaded, changed(lambda rows: rows.extend(records(random.Random(3), 20, start=600))), tmp_path)
    other = before.prepared.subjects.append_column("rank", pa.array(range(before.prepared.subjects.num_rows)))
    MadeFrom(before.subjects, before.documents, Prepared(other, before.prepared.documents, [])).save(tmp_path, "a" * 64)
    assert MadeFrom.load(tmp_path, "a" * 64) is None  # tables of another shape: saved by other code
    state_file(tmp_path, "documents").write_bytes(b"not arrow")
    assert MadeFrom.load(tmp_path, "a" * 64) is None


def test_record_ids_of_one_length_are_matched_as_a_hash_table_matches_them():
    rows = records(random.Random(5), 400, ids=FIXED)
    before_rows = [*rows[:300], dict(rows[10], name="又一个"), *rows[::-7]]  # repeated keys, out of order
    now_rows = [*rows[50:], *records(random.Random(6), 30, start=900, ids=FIXED)]
    before, now = tables(before_rows)[0], tables(now_rows)[0]
    fast = _matches_fixed_width(before, now)
    assert fast is not None
    joined = [pc.binary_join_element_wise(t["dataset"], t["record_id"], pa.scalar("|", pa.large_string())) for t in (now, before)]
    by_hash = pc.fill_null(pc.index_in(joined[0], value_set=joined[1]), -1).to_numpy(zero_copy_only=False)
    assert fast.tolist() == by_hash.tolist()
    assert _matches_fixed_width(*tables(records(random.Random(5), 40))[:1] * 2) is None  # ids of several lengths
