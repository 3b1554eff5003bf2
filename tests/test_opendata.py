"""Open data releases: valid data packages, exact change files, replay, immutability, chaining."""

from __future__ import annotations

import csv
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
    WRITERS,
    KeptRecords,
    Shards,
    diff,
    json_escape,
    neutralise,
    neutralise_column,
    public_columns,
    read_jsonl,
    read_release_records,
    read_release_table,
    records_key,
    release_files,
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


def month_files(folder, name, fmt):
    """A dataset's files of one format in a release folder, in month order."""
    return sorted((folder / name).glob(f"*.{fmt}"))


def records_of(folder, name):
    """A dataset's records in a release folder, from its JSON Lines files, in record-id order."""
    return sorted((r for path in month_files(folder, name, "jsonl") for r in read_jsonl(path)), key=lambda r: r["record_id"])


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
    new_records = records_of(release(out, "2026-11-24.1"), "penalties")
    by_doc = {r["decision_doc_no"]: r["record_id"] for r in records_of(release(out, "2026-11-23.1"), "penalties")}
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
    before = records_of(release(out, "2026-11-23.1"), "penalties")
    replayed = rows_to_table(columns, replay(columns, before, changes_of(out, "2026-11-24.1", "penalties")))
    shards = Shards.of(dataset, replayed)
    assert shards.months == ["2026-06", "2026-11"]
    for fmt, write in WRITERS.items():
        assert [p.name for p in month_files(release(out, "2026-11-24.1"), "penalties", fmt)] == [f"{m}.{fmt}" for m in shards.months]
        for month, rows in zip(shards.months, shards.rows, strict=True):
            expected = write(replayed.take(pa.array(rows)))
            assert expected == (release(out, "2026-11-24.1") / "penalties" / f"{month}.{fmt}").read_bytes(), (fmt, month)


def test_published_releases_never_change_and_no_change_makes_no_release(two_releases, folder):
    out, first = two_releases
    build(folder.root, out, LATER)  # nothing changed since the second release
    index = json.loads((out / "data" / "releases" / "index.json").read_text(encoding="utf-8"))
    assert [r["version"] for r in index["releases"]] == ["2026-11-23.1", "2026-11-24.1"]
    assert index["latest"] == "2026-11-24.1"
    assert {p.relative_to(out): p.read_bytes() for p in release(out, "2026-11-23.1").rglob("*") if p.is_file()} == first
    latest = out / "data" / "latest"
    assert sorted(p.relative_to(latest) for p in latest.rglob("*")) == sorted(
        p.relative_to(release(out, "2026-11-24.1")) for p in release(out, "2026-11-24.1").rglob("*"))


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
        count = 0
        for path in month_files(data, name, "parquet"):
            expected = read_release_table(path).to_pylist()
            assert read_jsonl(path.with_suffix(".jsonl")) == expected
            with open(path.with_suffix(".csv"), encoding="utf-8-sig", newline="") as f:
                assert list(csv.DictReader(f)) == [{k: neutralise(v) for k, v in r.items()} for r in expected]
            count += len(expected)
        assert count == (3 if name == "penalties" else 0)


def test_csv_neutralises_formula_cells_but_jsonl_keeps_values(folder, tmp_path):
    hostile = '=HYPERLINK("http://example.invalid","点击")'
    folder.write("penalties", "a.csv", [row("penalties", violation_facts=hostile, remarks="@SUM(A1)")])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    [path] = month_files(out / "data" / "latest", "penalties", "csv")
    csv_text = path.read_bytes()
    assert csv_text.startswith(b"\xef\xbb\xbf")
    assert "'=HYPERLINK(" in csv_text.decode("utf-8-sig") and "'@SUM(A1)" in csv_text.decode("utf-8-sig")
    [record] = records_of(out / "data" / "latest", "penalties")
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


def test_a_month_whose_records_are_as_they_were_keeps_the_files_of_the_release_before(folder, tmp_path):
    """A release is one file per dataset, month and format. A month whose records all are as
    they were, none gone, keeps the release before's files (the same files, linked); a month
    with a new, changed or removed record is written again; either way each file is what
    writing the month's records gives."""
    months = {"a": "2026-03-02", "b": "2026-05-10", "c": "2026-07-20", "d": "2026-09-01"}
    rows = {k: [row("penalties", decision_doc_no=f"{k}{i}号", decision_date=day) for i in range(3)] for k, day in months.items()}
    path = folder.write("penalties", "a.csv", [r for k in months for r in rows[k]])
    out = tmp_path / "site"
    first = build(folder.root, out, AS_OF).open_data.releases[-1].version
    rows["a"][1]["penalty_content"] = "罚款3000元"  # changed
    rows["b"].append(row("penalties", decision_doc_no="b9号", decision_date=months["b"]))  # added
    rows["c"].pop()  # removed
    path.unlink()
    folder.write("penalties", "a.csv", [r for k in months for r in rows[k]])
    second = build(folder.root, out, LATER).open_data.releases[-1].version
    old, new = release(out, first) / "penalties", release(out, second) / "penalties"
    for month, kept in (("2026-03", False), ("2026-05", False), ("2026-07", False), ("2026-09", True)):
        for fmt in WRITERS:
            assert os.path.samefile(old / f"{month}.{fmt}", new / f"{month}.{fmt}") == kept, (month, fmt)
    table = read_release_records(release(out, second), "penalties")
    assert table.num_rows == 12
    shards = Shards.of(load_dataset("penalties"), table)
    for month, shard_rows in zip(shards.months, shards.rows, strict=True):
        for fmt, write in WRITERS.items():
            assert (new / f"{month}.{fmt}").read_bytes() == write(table.take(pa.array(shard_rows))), (month, fmt)
    sums = (release(out, second) / "SHA256SUMS").read_text(encoding="utf-8")
    for p in release(out, second).rglob("*"):
        if p.is_file() and p.name != "SHA256SUMS":
            assert f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(release(out, second)).as_posix()}\n" in sums


def test_records_are_sharded_by_the_month_of_their_date():
    dataset = load_dataset("redlist")
    table = pa.table({"record_id": ["r1", "r2", "r3", "r4", "r5"],
                      "listed_date": ["2026-02-01", "2025-12-31", "2026-02-28", "", None]})
    shards = Shards.of(dataset, table)
    assert shards.months == ["2025-12", "2026-02", "undated"]
    assert [r.tolist() for r in shards.rows] == [[1], [0, 2], [3, 4]]
    assert Shards.of(dataset, table.slice(0, 0)) == Shards([], [])


def test_records_kept_beside_the_site_are_those_the_release_parquet_holds(folder, tmp_path, monkeypatch):
    """Each release's records are kept beside the site, named by records_key (the digests of
    its Parquet files), as read_release_records reads them; the next build maps them instead of decoding Parquet,
    and only the newest release's and the one before stay. An entry that does not fit (another
    row count, not a SHA-256 name, unreadable bytes) is not used."""
    import generator.outputs.opendata as opendata
    from generator.site import history_cache

    out = tmp_path / "site"
    rows = [row("penalties", decision_doc_no=f"{i}号") for i in range(1, 4)]
    folder.write("penalties", "a.csv", rows)
    build(folder.root, out, AS_OF)
    kept_dir = history_cache(out)

    def kept_entries() -> dict[str, str]:
        index = json.loads((out / "data" / "releases" / "index.json").read_text(encoding="utf-8"))
        return {f"records-{records_key(release_files(release(out, r['version']), []), name)}.ipc": r["version"]
                for r in index["releases"] for name in ("licensing", "penalties", "redlist", "blacklist")
                if records_key(release_files(release(out, r["version"]), []), name)}

    def names() -> set[str]:
        return {p.name for p in kept_dir.iterdir() if p.name.startswith("records-")}

    assert names() == set(kept_entries())
    files = release_files(release(out, "2026-11-23.1"), [])
    key = records_key(files, "penalties")
    kept = KeptRecords(kept_dir)
    expected = read_release_records(release(out, "2026-11-23.1"), "penalties")
    assert kept.find(key, 3).equals(expected)
    assert kept.find(key, 4) is None
    assert KeptRecords(None).find(key, 3) is None
    assert kept.find("../" + key[3:], 3) is None

    read = []
    monkeypatch.setattr(opendata, "read_release_records", lambda folder, name: read.append(name) or expected)
    for day, number in ((LATER, 4), (LATER, 5)):  # two more releases: the first one's records go
        rows.append(row("penalties", decision_doc_no=f"{number}号"))
        folder.write("penalties", "a.csv", rows)
        build(folder.root, out, day)
    assert read == []
    entries = kept_entries()
    versions = sorted(set(entries.values()))
    assert names() == {name for name, v in entries.items() if v in versions[-2:]}

    (kept_dir / f"records-{key}.ipc").write_bytes(b"not arrow")
    assert kept.find(key, 3) is None


def test_catalog_lists_every_dataset_and_distribution(two_releases):
    out, _ = two_releases
    catalog = json.loads((out / "data" / "catalog.jsonld").read_text(encoding="utf-8"))
    assert catalog["@type"] == "dcat:Catalog"
    assert [d["dct:identifier"] for d in catalog["dcat:dataset"]] == ["licensing", "penalties", "redlist", "blacklist"]
    for d in catalog["dcat:dataset"]:
        package, *by_format = d["dcat:distribution"]
        assert package["dcat:downloadURL"]["@id"].endswith("/data/latest/datapackage.json")
        assert [dist["dcat:mediaType"] for dist in by_format] == ["text/csv", "application/jsonl", "application/vnd.apache.parquet"]
        assert all(dist["dcat:accessURL"] == package["dcat:downloadURL"] for dist in by_format)


def test_demo_releases_validate_and_withhold_personal_data(tmp_path):
    out = tmp_path / "site"
    build(ROOT / "datasets", out, AS_OF)
    report = validate(str(out / "data" / "latest" / "datapackage.json"))
    assert report.valid
    penalties = records_of(out / "data" / "latest", "penalties")
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
             for r in records_of(release(out, "2026-11-20.1"), name)}
    changes = json.loads((release(out, "2027-11-20.1") / "changes.json").read_text(encoding="utf-8"))
    removed = [e for c in changes for e in c["removed"]]
    assert len(removed) > 100
    for entry in removed:  # every record that left had reached its last day before the second build
        assert entry["reason"] in ("expired", "repaired", "revoked", "objection")
        assert first[entry["record_id"]]["display_until"] < "2027-11-20"
    moved_to_history = [e for c in changes for e in c["modified"] if e["reason"] == "expired"]
    assert moved_to_history and all(e["fields"]["disclosure_status"] == ["in_force", "licence_history"]
                                    for e in moved_to_history)


def test_months_are_kept_only_from_a_release_the_same_code_wrote(folder, tmp_path, monkeypatch):
    """The site's build state says which code wrote its newest release: other code (a changed
    encoder, another Arrow) may have encoded the same records otherwise, so its files are not
    kept, and the release after one written by other code is written whole too."""
    import generator.outputs.opendata as opendata
    from generator.incremental import release_writer

    out = tmp_path / "site"
    rows = [row("penalties", decision_date="2026-05-01")]

    def kept_months(number: int, day: date) -> tuple[str, list[str]]:
        rows.append(row("penalties", decision_doc_no=f"桂罚〔2026〕{number}号", decision_date="2026-11-01"))
        folder.write("penalties", "a.csv", rows)
        old = release(out, _newest(out).version) / "penalties"
        version = build(folder.root, out, day).open_data.releases[-1].version
        return version, sorted(p.name for p in (release(out, version) / "penalties").iterdir()
                               if (old / p.name).exists() and os.path.samefile(p, old / p.name))

    first = build(folder.root, out, AS_OF).open_data.releases[-1].version
    assert release_writer(out) == {"version": first, "writer": opendata.writer_fingerprint()}
    monkeypatch.setattr(opendata, "writer_fingerprint", lambda: "other code")
    second, kept = kept_months(2, LATER)
    assert kept == [] and release_writer(out) == {"version": second, "writer": "other code"}
    monkeypatch.undo()
    assert kept_months(3, LATER)[1] == []  # the release before was written by other code
    assert kept_months(4, LATER)[1] == ["2026-05.csv", "2026-05.jsonl", "2026-05.parquet"]


def _newest(out):
    from generator.outputs.opendata import _previous_releases

    return _previous_releases(out / "data")[-1]


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


@pytest.mark.parametrize("full", [True, False])
def test_a_release_made_before_months_is_read_and_the_next_one_is_split(folder, tmp_path, full):
    """A site whose newest release has one file per dataset (as releases were made before they
    were split by month): the next build compares with its records, lists only what changed,
    and writes its own release by month; the old release is left as it was."""
    base = [row("penalties", decision_doc_no=f"{i}号", decision_date=f"2026-0{i}-01") for i in range(1, 5)]
    path = folder.write("penalties", "a.csv", base)
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    old = release(out, "2026-11-23.1")
    for name in ("licensing", "penalties", "redlist", "blacklist"):  # back to one file per dataset
        table = read_release_records(old, name)
        for fmt, write in WRITERS.items():
            (old / f"{name}.{fmt}").write_bytes(write(table))
        shutil.rmtree(old / name)
    shutil.rmtree(old / "schemas")
    (old / "SHA256SUMS").write_text("".join(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
                                            for p in sorted(old.iterdir()) if p.name != "SHA256SUMS"), encoding="utf-8")
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    changed = [dict(r) for r in base]
    changed[1]["penalty_content"] = "罚款3000元"
    path.unlink()
    folder.write("penalties", "a.csv", changed)
    build(folder.root, out, LATER, full=full)
    penalties = changes_of(out, "2026-11-24.1", "penalties")
    assert (len(penalties["added"]), len(penalties["modified"]), len(penalties["removed"])) == (0, 1, 0)
    assert [p.name for p in month_files(release(out, "2026-11-24.1"), "penalties", "csv")] == [
        "2026-01.csv", "2026-02.csv", "2026-03.csv", "2026-04.csv"]
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert validate(str(release(out, "2026-11-24.1") / "datapackage.json")).valid


def test_the_downloads_page_lists_each_datasets_months_newest_first(two_releases):
    from bs4 import BeautifulSoup

    out, _ = two_releases
    page = BeautifulSoup((out / "data" / "downloads" / "index.html").read_text(encoding="utf-8"), "html.parser")
    latest = out / "data" / "latest"
    heading = page.find("h3", id="penalties")
    rows = heading.find_next("details").select("tbody tr")
    assert [r.find("td").get_text() for r in rows] == ["2026-11", "2026-06"]
    for r in rows:
        links = r.select("a")
        month = r.find("td").get_text()
        assert [a["href"] for a in links] == [f"../latest/penalties/{month}.{fmt}" for fmt in ("csv", "jsonl", "parquet")]
        for a, code in zip(links, r.select("code"), strict=True):
            file = (out / "data" / "downloads" / a["href"]).resolve()
            assert code.get_text() == hashlib.sha256(file.read_bytes()).hexdigest()[:16] + "…"
    assert page.find("h3", id="redlist").find_next_sibling("p").get_text() == "当前没有公示的记录。"
    assert not (latest / "redlist").exists() or not any((latest / "redlist").iterdir())
