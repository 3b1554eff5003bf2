"""Open data releases: valid data packages, exact change files, replay, immutability, chaining."""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import os
import shutil
from datetime import date

import numpy as np
import pyarrow as pa
import pytest
from frictionless import system
from frictionless import validate as frictionless_validate

from generator.outputs.opendata import (
    ROWS,
    WRITERS,
    KeptRecords,
    Reuse,
    RowEnds,
    diff,
    json_escape,
    neutralise,
    neutralise_column,
    public_columns,
    read_jsonl,
    read_release_table,
    replay,
    rows_to_table,
)
from generator.schema import load_dataset
from generator.site import ROOT, build

from .conftest import AS_OF, row

LATER = date(2026, 11, 24)


def validate(path: str):
    """frictionless validate, as a user would run it on a downloaded release."""
    with system.use_context(trusted=True):  # the release lives under an absolute temporary path
        return frictionless_validate(path)


def release(out, version):
    return out / "data" / "releases" / version


def changes_of(out, version, dataset):
    [entry] = [c for c in json.loads((release(out, version) / "changes.json").read_text(encoding="utf-8"))
               if c["dataset"] == dataset]
    return entry


@pytest.fixture
def two_releases(folder, tmp_path):
    """A first build, then departments add a penalty, correct one, revoke one and repair one."""
    base = [row("penalties", decision_doc_no=f"{i}号", decision_date="2026-06-01") for i in range(1, 6)]
    path = folder.write("penalties", "a.csv", base)
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    first = {p.relative_to(out): p.read_bytes() for p in release(out, "2026-11-23.1").rglob("*") if p.is_file()}
    changed = [dict(r) for r in base]
    changed[1]["penalty_content"] = "罚款3000元"  # corrected
    changed[2]["revoked_date"] = "2026-11-01"  # revoked
    changed[3]["repair_date"] = "2026-11-20"  # repaired, after the 3-month minimum
    changed.append(row("penalties", decision_doc_no="6号", decision_date="2026-11-01"))  # new
    path.unlink()
    folder.write("penalties", "a.csv", changed)
    build(folder.root, out, LATER)
    return out, first


def test_first_build_makes_a_valid_release(two_releases):
    out, _ = two_releases
    for version in ("2026-11-23.1", "2026-11-24.1"):
        report = validate(str(release(out, version) / "datapackage.json"))
        assert report.valid, report.flatten(["taskName", "rowNumber", "fieldName", "type", "note"])[:5]


def test_change_files_list_exactly_the_changes_with_reasons(two_releases):
    out, _ = two_releases
    changes = changes_of(out, "2026-11-24.1", "penalties")
    new_records = read_jsonl(release(out, "2026-11-24.1") / "penalties.jsonl")
    by_doc = {r["decision_doc_no"]: r["record_id"] for r in read_jsonl(release(out, "2026-11-23.1") / "penalties.jsonl")}
    by_doc.update({r["decision_doc_no"]: r["record_id"] for r in new_records})
    assert [(e["record_id"], e["reason"]) for e in changes["added"]] == [(by_doc["6号"], "new")]
    assert [(e["record_id"], e["reason"], e["fields"]) for e in changes["modified"]] == [
        (by_doc["2号"], "corrected", {"penalty_content": ["罚款2000元", "罚款3000元"]})]
    assert sorted((e["record_id"], e["reason"]) for e in changes["removed"]) == sorted(
        [(by_doc["3号"], "revoked"), (by_doc["4号"], "repaired")])
    for dataset in ("licensing", "redlist", "blacklist"):
        assert changes_of(out, "2026-11-24.1", dataset) == {"dataset": dataset, "added": [], "modified": [], "removed": []}
    csv_lines = (release(out, "2026-11-24.1") / "changes.csv").read_text(encoding="utf-8-sig").splitlines()
    assert csv_lines[0] == "dataset,record_id,change,reason,field,old,new"
    assert f"penalties,{by_doc['2号']},modified,corrected,penalty_content,罚款2000元,罚款3000元" in csv_lines


def test_replaying_changes_reproduces_the_next_release_byte_for_byte(two_releases):
    out, _ = two_releases
    dataset = load_dataset("penalties")
    columns = public_columns(dataset)
    before = read_jsonl(release(out, "2026-11-23.1") / "penalties.jsonl")
    replayed = replay(columns, before, changes_of(out, "2026-11-24.1", "penalties"))
    for fmt, write in WRITERS.items():
        assert write(rows_to_table(columns, replayed)) == (release(out, "2026-11-24.1") / f"penalties.{fmt}").read_bytes(), fmt


def test_published_releases_never_change_and_no_change_makes_no_release(two_releases, folder):
    out, first = two_releases
    build(folder.root, out, LATER)  # nothing changed since the second release
    index = json.loads((out / "data" / "releases" / "index.json").read_text(encoding="utf-8"))
    assert [r["version"] for r in index["releases"]] == ["2026-11-23.1", "2026-11-24.1"]
    assert index["latest"] == "2026-11-24.1"
    assert {p.relative_to(out): p.read_bytes() for p in release(out, "2026-11-23.1").rglob("*") if p.is_file()} == first
    latest = out / "data" / "latest"
    assert sorted(p.name for p in latest.iterdir()) == sorted(p.name for p in release(out, "2026-11-24.1").iterdir())


def test_a_fresh_checkout_continues_the_chain_from_the_published_site(two_releases, folder, tmp_path):
    out, _ = two_releases
    published = tmp_path / "downloaded"
    shutil.copytree(out / "data", published / "data")  # all a fresh CI run needs: the published data/
    fresh = tmp_path / "fresh-site"
    build(folder.root, fresh, date(2026, 11, 25), previous=published)
    index = json.loads((fresh / "data" / "releases" / "index.json").read_text(encoding="utf-8"))
    assert [r["version"] for r in index["releases"]] == ["2026-11-23.1", "2026-11-24.1"]  # nothing changed on the 25th


def test_same_day_rebuild_with_changes_gets_the_next_sequence_number(folder, tmp_path):
    path = folder.write("redlist", "a.csv", [row("redlist")])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    path.unlink()
    folder.write("redlist", "a.csv", [row("redlist", listing_reason="连续五年守合同重信用")])
    build(folder.root, out, AS_OF)
    index = json.loads((out / "data" / "releases" / "index.json").read_text(encoding="utf-8"))
    assert [r["version"] for r in index["releases"]] == ["2026-11-23.1", "2026-11-23.2"]


def test_release_csv_and_jsonl_hold_the_parquet_values(folder, tmp_path):
    """What the personal-data scan relies on when it reads a release's values once, from its
    Parquet files: CSV and JSON Lines are the same table in other encodings."""
    hostile = '=HYPERLINK("http://example.invalid","点击")\n"引号"\t\\'
    folder.write("penalties", "a.csv", [row("penalties", decision_doc_no=f"{i}号", violation_facts=hostile if i == 1 else f"事实{i}")
                                        for i in range(1, 4)])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    data = out / "data" / "latest"
    for name in ("licensing", "penalties", "redlist", "blacklist"):
        values = read_release_table(data / f"{name}.parquet")
        expected = values.to_pylist()
        assert read_jsonl(data / f"{name}.jsonl") == expected
        with open(data / f"{name}.csv", encoding="utf-8-sig", newline="") as f:
            assert list(csv.DictReader(f)) == [{k: neutralise(v) for k, v in r.items()} for r in expected]
        assert len(expected) == (3 if name == "penalties" else 0)


def test_csv_neutralises_formula_cells_but_jsonl_keeps_values(folder, tmp_path):
    hostile = '=HYPERLINK("http://example.invalid","点击")'
    folder.write("penalties", "a.csv", [row("penalties", violation_facts=hostile, remarks="@SUM(A1)")])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    csv_text = (out / "data" / "latest" / "penalties.csv").read_bytes()
    assert csv_text.startswith(b"\xef\xbb\xbf")
    assert "'=HYPERLINK(" in csv_text.decode("utf-8-sig") and "'@SUM(A1)" in csv_text.decode("utf-8-sig")
    [record] = read_jsonl(out / "data" / "latest" / "penalties.jsonl")
    assert (record["violation_facts"], record["remarks"]) == (hostile, "@SUM(A1)")


CELLS = ["", "纯文本", "=1+1", "+86", "-3", "@SUM(A1)", "\t制表", "\r回车", "中=间", 'say "hi"', "C:\\路径\\",
         "行\n尾", "\x01控制", "“中文引号”", "a\\\"b", None]


@pytest.mark.parametrize("values", [
    pa.array(CELLS, pa.string()),
    pa.array(CELLS, pa.string()).slice(3, 9),  # an array that starts inside its buffers
    pa.chunked_array([pa.array(CELLS[:7], pa.string()), pa.array(CELLS[7:], pa.string())]),
    pa.array(["纯文本", "无需处理", None], pa.string()),  # nothing to change: the fast path
    pa.array([], pa.string()),
], ids=["all", "slice", "chunked", "plain", "empty"])
def test_cells_are_escaped_and_neutralised_exactly_as_one_at_a_time(values):
    cells = values.to_pylist()
    assert neutralise_column(values).to_pylist() == [None if v is None else neutralise(v) for v in cells]
    assert json_escape(values).to_pylist() == [None if v is None else json.dumps(v, ensure_ascii=False)[1:-1] for v in cells]


def _records(ids: list[str], facts: dict[str, str] | None = None) -> pa.Table:
    facts = facts or {}
    return pa.table({"record_id": pa.array(ids, pa.string()),
                     "violation_facts": pa.array([facts.get(i, f"事实 {i}") for i in ids], pa.string()),
                     "remarks": pa.array([CELLS[sum(map(ord, i)) % len(CELLS)] or "" for i in ids], pa.string())})


@pytest.mark.parametrize("copy", ["kernel", "refused", "partly", "absent"])
@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_unchanged_rows_are_copied_from_the_release_before_to_the_same_bytes(fmt, copy, tmp_path, monkeypatch):
    """Rows with quotes, line feeds and formula cells; records added first, last and between,
    changed, removed; the new file is what writing every row gives, whether the kernel copies
    the old rows, refuses (another file system), stops part-way or has no such call."""
    real_copy = os.copy_file_range
    calls = []

    def partly(source, target, count, offset_src=None, offset_dst=None):
        calls.append(count)
        if len(calls) > 1:
            raise OSError(errno.EXDEV, "cross-device")
        return real_copy(source, target, min(count, 7), offset_src)

    if copy == "refused":
        monkeypatch.setattr(os, "copy_file_range", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EXDEV, "x")))
    elif copy == "partly":
        monkeypatch.setattr(os, "copy_file_range", partly)
    elif copy == "absent":
        monkeypatch.delattr(os, "copy_file_range")
    dataset = load_dataset("penalties")
    before = _records([f"r{k:03d}" for k in range(1, 200, 2)])
    ids = sorted({*before["record_id"].to_pylist()[5:90], "r000", "r050", "r998", "r999"} - {"r041", "r043"})
    after = _records(ids, {"r011": '新"事实"\n第二行', "r099": "=改过"})
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / f"penalties.{fmt}").write_bytes(WRITERS[fmt](before))
    change, old_rows = diff(dataset, before, after, dict)
    assert [e["record_id"] for e in change["modified"]] == ["r011", "r099"]
    assert (old_rows >= 0).sum() == after.num_rows - 6  # four new, two changed
    entry = Reuse(tmp_path / "old", "penalties", before, old_rows).write(fmt, after, tmp_path / f"new.{fmt}")
    expected = WRITERS[fmt](after)
    assert (tmp_path / f"new.{fmt}").read_bytes() == expected
    assert entry == {"path": f"new.{fmt}", "bytes": len(expected), "sha256": hashlib.sha256(expected).hexdigest()}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_row_ends_kept_beside_the_site_are_those_a_search_finds_and_give_the_same_bytes(fmt, tmp_path, monkeypatch):
    dataset = load_dataset("penalties")
    before = _records([f"r{k:03d}" for k in range(1, 200, 2)])
    after = _records(sorted({*before["record_id"].to_pylist()[3:], "r000", "r500"}), {"r011": '新"事实"\n第二行'})
    old = WRITERS[fmt](before)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / f"penalties.{fmt}").write_bytes(old)
    sha = hashlib.sha256(old).hexdigest()
    ends = RowEnds(tmp_path / "kept")
    head = len(WRITERS[fmt](before.slice(0, 0)))
    ends.keep(sha, ROWS[fmt](np.frombuffer(old, np.uint8), head))
    _, old_rows = diff(dataset, before, after, dict)
    searched = []
    real_rows = dict(ROWS)
    monkeypatch.setitem(ROWS, fmt, lambda data, start: searched.append(len(data)) or real_rows[fmt](data, start))
    entry = Reuse(tmp_path / "old", "penalties", before, old_rows, {fmt: sha}, ends).write(fmt, after, tmp_path / f"new.{fmt}")
    expected = WRITERS[fmt](after)
    assert (tmp_path / f"new.{fmt}").read_bytes() == expected
    assert len(old) not in searched  # the old file's rows were not searched for
    # the new file's ends were kept, equal to what a search finds; entries of other files go
    new_ends = ends.find(entry["sha256"], after.num_rows, len(expected))
    assert np.array_equal(new_ends, real_rows[fmt](np.frombuffer(expected, np.uint8), head))
    ends.only([entry])
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == [f"row-ends-{entry['sha256']}.npy"]
    # an entry that does not fit the file (rows or size) is not used
    assert ends.find(entry["sha256"], after.num_rows + 1, len(expected)) is None
    assert ends.find(entry["sha256"], after.num_rows, len(expected) + 1) is None
    assert RowEnds(None).find(entry["sha256"], after.num_rows, len(expected)) is None
    assert ends.find("../" + entry["sha256"][3:], after.num_rows, len(expected)) is None  # only SHA-256 names


def test_records_kept_beside_the_site_are_those_the_release_parquet_holds(folder, tmp_path, monkeypatch):
    """Each release's records are kept beside the site, named by the Parquet file's SHA-256, as
    read_release_table reads that file; the next build maps them instead of decoding Parquet,
    and only the newest release's and the one before stay. An entry that does not fit (another
    row count, not a SHA-256 name, unreadable bytes) is not used."""
    import generator.outputs.opendata as opendata
    from generator.site import history_cache

    out = tmp_path / "site"
    rows = [row("penalties", decision_doc_no=f"{i}号") for i in range(1, 4)]
    folder.write("penalties", "a.csv", rows)
    build(folder.root, out, AS_OF)
    kept_dir = history_cache(out)

    def kept_entries() -> dict[str, dict]:
        index = json.loads((out / "data" / "releases" / "index.json").read_text(encoding="utf-8"))
        return {f"records-{f['sha256']}.ipc": (r["version"], f["path"]) for r in index["releases"] for f in r["files"]
                if f["path"].endswith(".parquet")}

    def names() -> set[str]:
        return {p.name for p in kept_dir.iterdir() if p.name.startswith("records-")}

    assert names() == set(kept_entries())
    [entry] = [f for f in json.loads((out / "data" / "releases" / "index.json").read_text(encoding="utf-8"))
               ["releases"][-1]["files"] if f["path"] == "penalties.parquet"]
    kept = KeptRecords(kept_dir)
    expected = read_release_table(release(out, "2026-11-23.1") / "penalties.parquet")
    assert kept.find(entry["sha256"], 3).equals(expected)
    assert kept.find(entry["sha256"], 4) is None
    assert KeptRecords(None).find(entry["sha256"], 3) is None
    assert kept.find("../" + entry["sha256"][3:], 3) is None

    read = []
    monkeypatch.setattr(opendata, "read_release_table", lambda path: read.append(path.name) or expected)
    for day, number in ((LATER, 4), (LATER, 5)):  # two more releases: the first one's records go
        rows.append(row("penalties", decision_doc_no=f"{number}号"))
        folder.write("penalties", "a.csv", rows)
        build(folder.root, out, day)
    assert read == []
    entries = kept_entries()
    versions = sorted({v for v, _ in entries.values()})
    assert names() == {name for name, (v, _) in entries.items() if v in versions[-2:]}

    (kept_dir / f"records-{entry['sha256']}.ipc").write_bytes(b"not arrow")
    assert kept.find(entry["sha256"], 3) is None


def test_a_release_file_that_is_not_one_row_per_record_is_written_whole(tmp_path):
    before = _records(["a", "b", "c"])
    (tmp_path / "penalties.jsonl").write_bytes(WRITERS["jsonl"](before)[:-1])  # the last line feed lost
    _, old_rows = diff(load_dataset("penalties"), before, _records(["a", "b", "c", "d"]), dict)
    assert Reuse(tmp_path, "penalties", before, old_rows).write("jsonl", before, tmp_path / "new.jsonl") is None
    assert not (tmp_path / "new.jsonl").exists()


def test_catalog_lists_every_dataset_and_distribution(two_releases):
    out, _ = two_releases
    catalog = json.loads((out / "data" / "catalog.jsonld").read_text(encoding="utf-8"))
    assert catalog["@type"] == "dcat:Catalog"
    assert [d["dct:identifier"] for d in catalog["dcat:dataset"]] == ["licensing", "penalties", "redlist", "blacklist"]
    sums = (out / "data" / "latest" / "SHA256SUMS").read_text(encoding="utf-8")
    for d in catalog["dcat:dataset"]:
        assert len(d["dcat:distribution"]) == 3
        for dist in d["dcat:distribution"]:
            assert dist["spdx:checksum"]["spdx:checksumValue"] in sums


def test_demo_releases_validate_and_withhold_personal_data(tmp_path):
    out = tmp_path / "site"
    build(ROOT / "datasets", out, AS_OF)
    report = validate(str(out / "data" / "latest" / "datapackage.json"))
    assert report.valid
    penalties = read_jsonl(out / "data" / "latest" / "penalties.jsonl")
    assert "legal_rep_id_no" not in penalties[0]
    persons = [r for r in penalties if r["subject_category"] == "自然人"]
    assert persons and all("********" in r["subject_id_no"] for r in persons)
    assert all(r["display_until"] >= AS_OF.isoformat() or not r["display_until"] for r in penalties)


def test_the_build_date_cannot_go_back_behind_a_release(folder, tmp_path):
    from generator.errors import BuildError

    folder.write("redlist", "a.csv", [row("redlist")])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    with pytest.raises(BuildError, match=r"早于已发布的最新版本 2026-11-23\.1"):
        build(folder.root, out, date(2026, 11, 22))


def test_demo_a_year_later_records_leave_on_time_in_the_change_files(tmp_path):
    out = tmp_path / "site"
    build(ROOT / "datasets", out, date(2026, 11, 20))
    build(ROOT / "datasets", out, date(2027, 11, 20))
    first = {r["record_id"]: r for name in ("licensing", "penalties", "redlist", "blacklist")
             for r in read_jsonl(release(out, "2026-11-20.1") / f"{name}.jsonl")}
    changes = json.loads((release(out, "2027-11-20.1") / "changes.json").read_text(encoding="utf-8"))
    removed = [e for c in changes for e in c["removed"]]
    assert len(removed) > 100
    for entry in removed:  # every record that left had reached its last day before the second build
        assert entry["reason"] in ("expired", "repaired", "revoked", "objection")
        assert first[entry["record_id"]]["display_until"] < "2027-11-20"
    moved_to_history = [e for c in changes for e in c["modified"] if e["reason"] == "expired"]
    assert moved_to_history and all(e["fields"]["disclosure_status"] == ["in_force", "licence_history"]
                                    for e in moved_to_history)


def test_rows_are_copied_only_from_a_release_the_same_code_wrote(folder, tmp_path, monkeypatch):
    """The site's build state says which code wrote its newest release: other code (a changed
    encoder, another Arrow) may have encoded the same records otherwise, so its rows are not
    copied, and the release after one written by other code is written whole too."""
    import generator.outputs.opendata as opendata
    from generator.incremental import release_writer

    copied = []
    real_write = opendata.Reuse.write
    monkeypatch.setattr(opendata.Reuse, "write", lambda self, fmt, table, path: copied.append(path.name)
                        or real_write(self, fmt, table, path))
    out = tmp_path / "site"
    rows = [row("penalties")]

    def build_with(number: int, day: date) -> str:
        rows.append(row("penalties", decision_doc_no=f"桂罚〔2026〕{number}号"))
        folder.write("penalties", "a.csv", rows)
        copied.clear()
        return build(folder.root, out, day).open_data.releases[-1].version

    first = build(folder.root, out, AS_OF).open_data.releases[-1].version
    assert release_writer(out) == {"version": first, "writer": opendata.writer_fingerprint()}
    monkeypatch.setattr(opendata, "writer_fingerprint", lambda: "other code")
    second = build_with(2, LATER)
    assert copied == [] and release_writer(out) == {"version": second, "writer": "other code"}
    monkeypatch.undo()
    monkeypatch.setattr(opendata.Reuse, "write", lambda self, fmt, table, path: copied.append(path.name)
                        or real_write(self, fmt, table, path))
    build_with(3, LATER)
    assert copied == []  # the release before was written by other code
    build_with(4, LATER)
    assert {"penalties.csv", "penalties.jsonl"} <= set(copied)
    for fmt in ("csv", "jsonl"):
        table = read_release_table(out / "data" / "latest" / "penalties.parquet")
        assert (out / "data" / "latest" / f"penalties.{fmt}").read_bytes() == WRITERS[fmt](table)


@pytest.mark.parametrize("shape", ["hex", "other", "upper", "spaced", "shared-prefix", "empty"])
def test_record_id_numbers_sort_and_join_as_the_strings(shape):
    """Record ids read as numbers (``hex_id_keys``) sort (``id_order``) and are found
    (``IdIndex``) exactly as Arrow sorts and finds the strings; ids of another shape, and a set
    where two ids share their first 16 digits, take the strings' path with the same answers."""
    import numpy as np
    import pyarrow.compute as pc

    from generator.normalize import IdIndex, hex_id_keys
    from generator.outputs.opendata import id_order

    rng = np.random.default_rng(11)
    ids = [hashlib.sha256(str(i).encode()).hexdigest()[:20] for i in rng.permutation(400).tolist()]
    if shape == "other":
        ids[7] = "P:110***:张三"
    elif shape == "upper":  # hexadecimal, but it sorts apart from the lower-case ids
        ids[7] = ids[7].upper() if ids[7].upper() != ids[7] else "ABCDEF" + ids[7][6:]
    elif shape == "spaced":  # 20 characters, hexadecimal digits and a space
        ids[7] = ids[7][:10] + " " + ids[7][11:]
    elif shape == "shared-prefix":
        ids[9] = ids[3][:16] + ("0000" if ids[3][16:] != "0000" else "ffff")
    elif shape == "empty":
        ids = []
    values = pa.array(ids, pa.string())
    assert (hex_id_keys(values) is None) == (shape in ("other", "upper", "spaced"))
    assert id_order(values).tolist() == pc.sort_indices(values).to_pylist()
    wanted = pa.array([*ids[::3], "0" * 20, "f" * 20, ids[3][:16] + "abcd"] if ids else ["0" * 20], pa.string())
    members = values.slice(0, len(ids) // 2)
    expected = pc.fill_null(pc.index_in(wanted, value_set=members), -1).to_pylist()
    assert IdIndex(members).positions(wanted).tolist() == expected
    assert IdIndex(members).positions(pa.chunked_array([wanted])).tolist() == expected
    ordered = members.take(pa.array(id_order(members), pa.int64()))  # a release's order: no sort needed
    assert IdIndex(ordered).positions(wanted, hex_id_keys(wanted)).tolist() == pc.fill_null(
        pc.index_in(wanted, value_set=ordered), -1).to_pylist()


@pytest.mark.parametrize("runs", [20_000, 0])
def test_changes_are_the_same_from_runs_of_slices_or_copies(runs, monkeypatch):
    """The records both releases hold are compared as runs of slices of each (the common case:
    few changes) or, past MATCHED_RUNS runs, as copies: the same changes and rows either way."""
    import generator.outputs.opendata as opendata

    monkeypatch.setattr(opendata, "MATCHED_RUNS", runs)
    before = _records([f"r{k:03d}" for k in range(1, 200, 2)])
    ids = sorted({*before["record_id"].to_pylist()[5:90], "r000", "r050", "r998", "r999"} - {"r041", "r043"})
    after = _records(ids, {"r011": '新"事实"\n第二行', "r099": "=改过", "r101": ""})
    change, old_rows = diff(load_dataset("penalties"), before, after, dict)
    assert [(e["record_id"], e["fields"]) for e in change["modified"]] == [
        ("r011", {"violation_facts": ["事实 r011", '新"事实"\n第二行']}), ("r099", {"violation_facts": ["事实 r099", "=改过"]}),
        ("r101", {"violation_facts": ["事实 r101", ""]})]
    assert [e["record_id"] for e in change["added"]] == ["r000", "r050", "r998", "r999"]
    assert [e["record_id"] for e in change["removed"]] == [f"r{k:03d}" for k in [1, 3, 5, 7, 9, 41, 43, *range(181, 200, 2)]]
    kept = [i for i in ids if i not in {"r000", "r050", "r998", "r999", "r011", "r099", "r101"}]
    assert [before["record_id"][int(r)].as_py() for r in old_rows if r >= 0] == kept
    assert [after["record_id"][k].as_py() for k in np.flatnonzero(old_rows >= 0).tolist()] == kept
