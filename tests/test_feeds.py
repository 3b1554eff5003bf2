"""Feeds: a new, a corrected and a withdrawn record in the right feeds; RFC 4287 structure, RFC 6721
tombstones and RFC 5005 archives; hostile text escaped; both renderers byte for byte; the demo."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from urllib.parse import quote

import feedparser
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from lxml import etree

from generator.disclosure import decide_all
from generator.intake import run_intake
from generator.outputs import feeds
from generator.outputs.feeds import build_feeds, feed_links, plan_feeds, write_feeds
from generator.outputs.opendata import build_open_data, public_columns, read_release_records
from generator.schema import load_dataset
from generator.site import ROOT

from .conftest import AUTHORITY, COMPANY, PERSON, PERSON_ID, row, uscc

A = "{http://www.w3.org/2005/Atom}"
AT = "{http://purl.org/atompub/tombstones/1.0}"
FH = "{http://purl.org/syndication/history/1.0}"
DC = "{http://purl.org/dc/elements/1.1/}"
FIRST, LATER = date(2026, 11, 23), date(2026, 11, 24)
SITE = {"name": "测试公示站", "tag_authority": "credit.example.gov.cn,2026"}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
IRI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$")
OTHER = uscc("91450300MA5K00002")  # a second company, registered in 桂林 (450300)


# ---------------------------------------------------------------------------------------------
# Building release histories


def releases(folder, tmp_path: Path, steps: list[tuple[date, dict[str, list[dict]]]]):
    """Write each step's rows, decide and make its release; the last step's decisions and data."""
    previous = None
    for k, (as_of, rows) in enumerate(steps):
        for dataset, records in rows.items():
            (folder.root / dataset / "a.csv").unlink(missing_ok=True)
            folder.write(dataset, "a.csv", records)
        intake = run_intake(folder.root, as_of)
        decisions = decide_all(intake)
        data = tmp_path / f"data{k}"
        build_open_data(decisions, intake.provenance, as_of, previous, data, SITE["name"])
        previous = data
    return decisions, previous, as_of


def penalty(number: int, **changes: str) -> dict[str, str]:
    return row("penalties", **{"decision_doc_no": f"南市监罚〔2026〕{number}号", "decision_date": "2026-06-01", **changes})


@pytest.fixture
def history(folder, tmp_path):
    """Release 1: five penalties of one company, one of another, one of a natural person. Release 2:
    no. 2 corrected, no. 3 revoked, no. 4 repaired, no. 6 new."""
    first = [penalty(i) for i in range(1, 6)]
    first.append(penalty(7, subject_name="桂林漓江贸易有限公司", subject_uscc=OTHER))
    first.append(penalty(8, **PERSON))
    second = [dict(r) for r in first]
    second[1]["penalty_content"] = "罚款3000元"
    second[2]["revoked_date"] = "2026-11-20"
    second[3]["repair_date"] = "2026-11-20"
    second.append(penalty(6, decision_date="2026-11-01"))
    decisions, data, as_of = releases(folder, tmp_path, [(FIRST, {"penalties": first}), (LATER, {"penalties": second})])
    out = tmp_path / "site"
    stats = build_feeds(decisions, data, out, as_of, SITE, region_name=lambda code: f"地区{code}")
    ids = {r["decision_doc_no"]: r["record_id"] for v in ("2026-11-23.1", "2026-11-24.1")
           for r in read_release_records(data / "releases" / v, "penalties").to_pylist()}
    number = {i: ids[f"南市监罚〔2026〕{i}号"] for i in (1, 2, 3, 4, 5, 6, 7, 8)}
    return out, stats, number, decisions, data


def atom(out: Path, path: str) -> etree._Element:
    return etree.fromstring((out / path).read_bytes())


def events(doc: etree._Element) -> list[tuple[str, str, str]]:
    """(kind, record id, updated/when) of a document's entries and tombstones, in document order."""
    found = []
    for child in doc:
        if child.tag == f"{A}entry":
            found.append(("entry", child.findtext(f"{A}id").rsplit("/", 1)[1], child.findtext(f"{A}updated")[:10]))
        elif child.tag == f"{AT}deleted-entry":
            found.append(("deleted", child.get("ref").rsplit("/", 1)[1], child.get("when")[:10]))
    return found


def tag(rid: str) -> str:
    return f"tag:credit.example.gov.cn,2026:record/{rid}"


# ---------------------------------------------------------------------------------------------
# Standards checks


def check_atom(data: bytes) -> etree._Element:
    """RFC 4287 structure (ids, titles, updated, links, authors), RFC 6721 tombstones, RFC 5005 markers."""
    doc = etree.fromstring(data)
    assert doc.tag == f"{A}feed"
    for name in ("id", "title", "updated"):
        assert len(doc.findall(f"{A}{name}")) == 1, name
    assert IRI.match(doc.findtext(f"{A}id"))
    assert RFC3339.match(doc.findtext(f"{A}updated"))
    assert doc.findtext(f"{A}title").strip()
    assert [link for link in doc.findall(f"{A}link") if link.get("rel") == "self"]
    feed_author = doc.find(f"{A}author/{A}name") is not None
    for link in doc.iter(f"{A}link"):
        assert link.get("href") is not None
    seen = set()
    for entry in doc.findall(f"{A}entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{A}{name}")) == 1, name
        for name in ("published", "summary", "content"):
            assert len(entry.findall(f"{A}{name}")) <= 1, name
        entry_id = entry.findtext(f"{A}id")
        assert IRI.match(entry_id) and entry_id not in seen
        seen.add(entry_id)
        assert RFC3339.match(entry.findtext(f"{A}updated"))
        if entry.find(f"{A}published") is not None:
            assert RFC3339.match(entry.findtext(f"{A}published"))
            assert entry.findtext(f"{A}published") <= entry.findtext(f"{A}updated")
        alternates = [link for link in entry.findall(f"{A}link") if link.get("rel", "alternate") == "alternate"]
        assert alternates or entry.find(f"{A}content") is not None
        assert feed_author or entry.find(f"{A}author/{A}name") is not None
        for category in entry.findall(f"{A}category"):
            assert category.get("term")
    for tombstone in doc.findall(f"{AT}deleted-entry"):
        assert IRI.match(tombstone.get("ref")) and RFC3339.match(tombstone.get("when"))
        assert tombstone.get("ref") not in seen, "an entry and its tombstone in one document"
        seen.add(tombstone.get("ref"))
        assert len(tombstone.findall(f"{AT}comment")) <= 1
        assert all(child.tag in (f"{AT}comment", f"{AT}by", f"{A}link", f"{A}source") for child in tombstone)
    assert all(child.getparent() is doc for child in doc.iter(f"{AT}deleted-entry"))
    return doc


def check_parses(path: Path) -> feedparser.FeedParserDict:
    parsed = feedparser.parse(path.read_bytes())
    assert not parsed.bozo, (path, parsed.get("bozo_exception"))
    return parsed


def all_documents(out: Path) -> list[Path]:
    return sorted(p for p in (out / "feeds").rglob("*") if p.is_file())


def render_both(plan) -> int:
    """Every document of ``plan`` by feedgen and by the fast renderer: they must be identical."""
    count = 0
    for family in plan.families:
        for i in range(len(family)):
            lo, hi = int(family.starts[i]), int(family.starts[i + 1])
            values = feeds.entry_values(plan.rows(family.rows[lo:hi]), plan.context)
            updated = values["updated"].to_pylist()
            feed = feeds.document(plan, family, i, updated[0][:10] if updated else None)
            assert feeds.feedgen_documents(feed, values, plan.context) == feeds.fast_documents(feed, values, plan.context), feed.path
            count += 1
    return count


# ---------------------------------------------------------------------------------------------
# New, corrected and withdrawn records


def test_new_corrected_and_withdrawn_records_in_every_feed_that_carries_them(history):
    out, _, number, _, _ = history
    expected = [("entry", number[6], "2026-11-24"), ("entry", number[2], "2026-11-24"),
                ("deleted", number[3], "2026-11-24"), ("deleted", number[4], "2026-11-24"),
                ("entry", number[1], "2026-11-23"), ("entry", number[5], "2026-11-23")]
    company_feeds = ["feeds/datasets/penalties.atom", f"feeds/authorities/{AUTHORITY[1]}.atom", "feeds/regions/450100.atom",
                     f"feeds/subjects/{COMPANY}.atom"]
    for path in company_feeds:
        got = [e for e in events(atom(out, path)) if e[1] in {number[i] for i in (1, 2, 3, 4, 5, 6)}]
        assert sorted(got[:2]) == sorted(expected[:2]) and sorted(got[2:4]) == sorted(expected[2:4]), path
        assert sorted(got[4:]) == sorted(expected[4:]), path
    everything = events(atom(out, "feeds/all.atom"))
    assert {e[1] for e in everything} == set(number.values())
    assert [e[2] for e in everything] == sorted((e[2] for e in everything), reverse=True)  # newest first
    assert events(atom(out, "feeds/datasets/licensing.atom")) == []
    assert number[6] not in {e[1] for e in events(atom(out, f"feeds/subjects/{OTHER}.atom"))}
    assert [e[1] for e in events(atom(out, "feeds/regions/450300.atom"))] == [number[7]]


def test_withdrawals_are_routed_once_per_release_and_kept(history, tmp_path, monkeypatch):
    """Where a withdrawn record was shown is read from the release before the one that removed it,
    once: kept beside the site, the next plan reads no Parquet file for it, and plans the same."""
    _, _, number, decisions, data = history
    plan = feeds.plan_feeds(decisions, data, date(2026, 11, 24), SITE)
    cache = tmp_path / "history"
    kept = feeds.plan_feeds(decisions, data, date(2026, 11, 24), SITE, history_cache=cache)
    [folder] = (cache / feeds.ROUTING_FOLDER).iterdir()  # named by the code that routed
    [routing] = folder.iterdir()
    assert routing.name.startswith("2026-11-24.1-") and "~penalties~" in routing.name
    assert sorted(feather.read_table(routing)["record_id"].to_pylist()) == sorted([number[3], number[4]])

    def no_reading(*args):
        raise AssertionError("a release read again")

    stale = cache / feeds.ROUTING_FOLDER / "0123456789abcdef" / routing.name  # another code's routing
    stale.parent.mkdir()
    stale.write_bytes(routing.read_bytes())
    monkeypatch.setattr(feeds, "_routing", no_reading)
    again = feeds.plan_feeds(decisions, data, date(2026, 11, 24), SITE, history_cache=cache)
    assert plan.made.equals(kept.made) and plan.made.equals(again.made) and plan.events.equals(again.events)
    withdrawn = again.made.filter(pc.equal(again.made["kind"], 1))
    assert sorted(withdrawn["record_id"].to_pylist()) == sorted([number[3], number[4]])
    assert set(withdrawn["page_id"].to_pylist()) == {COMPANY}
    assert not stale.parent.exists() and routing.is_file()


def test_entries_say_what_was_decided_by_whom_and_when(history):
    out, _, number, _, _ = history
    doc = atom(out, f"feeds/subjects/{COMPANY}.atom")
    [new] = [e for e in doc.findall(f"{A}entry") if e.findtext(f"{A}id") == tag(number[6])]
    assert new.findtext(f"{A}title") == "行政处罚：南宁青秀鑫源贸易有限公司（南市监罚〔2026〕6号）"
    assert new.findtext(f"{A}published") == "2026-11-01T00:00:00+08:00"
    assert new.findtext(f"{A}updated") == "2026-11-24T00:00:00+08:00"
    assert new.findtext(f"{A}author/{A}name") == AUTHORITY[0]
    assert new.find(f"{A}link").get("href") == f"subjects/{COMPANY}/#r-{number[6]}"
    assert (new.find(f"{A}category").get("term"), new.find(f"{A}category").get("label")) == ("penalties", "行政处罚")
    assert "处罚内容：罚款2000元" in new.findtext(f"{A}summary")
    [corrected] = [e for e in doc.findall(f"{A}entry") if e.findtext(f"{A}id") == tag(number[2])]
    assert corrected.findtext(f"{A}published") == "2026-06-01T00:00:00+08:00"
    assert "处罚内容：罚款3000元" in corrected.findtext(f"{A}summary")
    assert "2026-11-24 更新：内容更正" in corrected.findtext(f"{A}summary")
    assert doc.get("{http://www.w3.org/XML/1998/namespace}base") == "../../"
    assert doc.findtext(f"{A}updated") == "2026-11-24T00:00:00+08:00"
    assert doc.findtext(f"{A}id") == f"tag:credit.example.gov.cn,2026:feed/subject/{COMPANY}"


def test_withdrawals_carry_reason_date_and_id_and_nothing_of_the_record(history):
    out, _, number, _, _ = history
    doc = atom(out, "feeds/all.atom")
    tombstones = {t.get("ref"): t for t in doc.findall(f"{AT}deleted-entry")}
    assert set(tombstones) == {tag(number[3]), tag(number[4])}
    assert tombstones[tag(number[3])].get("when") == "2026-11-24T00:00:00+08:00"
    assert tombstones[tag(number[3])].findtext(f"{AT}comment").startswith("决定已撤销、变更或依法不予公开：")
    assert tombstones[tag(number[4])].findtext(f"{AT}comment").startswith("已信用修复：")
    assert number[4] in tombstones[tag(number[4])].findtext(f"{AT}comment")
    rss = etree.fromstring((out / f"feeds/subjects/{COMPANY}.rss").read_bytes())
    notices = {i.findtext("guid"): i for i in rss.iter("item") if i.findtext("title").startswith("撤回公示")}
    assert set(notices) == {f"tag:credit.example.gov.cn,2026:withdrawal/{number[i]}/2026-11-24" for i in (3, 4)}
    for notice in notices.values():
        assert notice.findtext("pubDate") == "Tue, 24 Nov 2026 00:00:00 +0800"
        assert notice.findtext("link") == "data/feeds/#withdrawals"
        assert notice.find(f"{DC}creator") is None
    for path in all_documents(out):  # the withdrawn records' content is nowhere, archives included
        text = path.read_text(encoding="utf-8")
        assert "〔2026〕3号" not in text and "〔2026〕4号" not in text, path


def test_natural_persons_have_no_feed_and_no_identity_number_in_any(history):
    out, _, number, _, _ = history
    [entry] = [e for e in atom(out, "feeds/all.atom").findall(f"{A}entry") if e.findtext(f"{A}id") == tag(number[8])]
    assert entry.find(f"{A}link").get("href") == "datasets/penalties/"
    assert entry.findtext(f"{A}title") == "行政处罚：李某某（南市监罚〔2026〕8号）"
    assert not (out / "feeds" / "regions" / ".atom").exists()
    masked = PERSON_ID[:6] + "********" + PERSON_ID[-4:]
    for path in all_documents(out):
        text = path.read_text(encoding="utf-8")
        assert PERSON_ID not in text and masked not in text and PERSON_ID[6:14] not in text, path


def test_every_feed_is_valid_atom_or_rss_and_parses_in_a_feed_reader(history):
    out, stats, _, _, _ = history
    documents = all_documents(out)
    assert len(documents) == stats.documents
    for path in documents:
        parsed = check_parses(path)
        if path.suffix == ".atom":
            check_atom(path.read_bytes())
            assert parsed.version == "atom10"
        else:
            assert parsed.version == "rss20"
            channel = etree.fromstring(path.read_bytes()).find("channel")
            for name in ("title", "link", "description"):
                assert channel.findtext(name), name
            for item in channel.iter("item"):
                assert item.findtext("title") and item.findtext("guid")


def test_archives_walk_the_whole_history_with_rfc5005_links(history, monkeypatch, tmp_path):
    out, _, number, decisions, data = history
    monkeypatch.setattr(feeds, "ARCHIVE_PAGE", 2)  # release 1 (7 records) spans 4 pages, release 2 (4 changes) 2
    small = tmp_path / "small"
    write_feeds(plan_feeds(decisions, data, LATER, SITE), small)
    for site_root, parent, members in ((out, "all", set(number.values())), (small, "all", set(number.values())),
                                       (small, "datasets/penalties", set(number.values()))):
        current = f"feeds/{parent}.atom"
        doc = check_atom((site_root / current).read_bytes())
        link = {x.get("rel"): x.get("href") for x in doc.findall(f"{A}link")}
        seen, pages, newer = [], [], None
        while "prev-archive" in link:
            page = link["prev-archive"]
            doc = check_atom((site_root / page).read_bytes())
            pages.append(page)
            link = {x.get("rel"): x.get("href") for x in doc.findall(f"{A}link")}
            assert doc.find(f"{FH}archive") is not None
            assert link["current"] == current and link["self"] == page
            assert link.get("next-archive") == newer
            newer = page
            seen += [e[1] for e in events(doc)]
        assert sorted(seen) == sorted(members), site_root  # every event exactly once
        assert all(p.startswith(f"feeds/{parent}/archive/") for p in pages)
    names = sorted(p.stem for p in (small / "feeds" / "all" / "archive").iterdir())
    assert names == ["2026-11-23.1-1", "2026-11-23.1-2", "2026-11-23.1-3", "2026-11-23.1-4", "2026-11-24.1-1",
                     "2026-11-24.1-2"]
    assert [e[1] for e in events(atom(out, "feeds/all/archive/2026-11-24.1.atom"))][:2] == [number[6], number[2]]


def test_archive_pages_of_a_release_keep_their_names_and_content_in_later_builds(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(feeds, "ARCHIVE_PAGE", 2)
    rows = [penalty(i) for i in range(1, 8)]
    steps = [(FIRST, {"penalties": rows})]
    decisions, data, as_of = releases(folder, tmp_path, steps)
    build_feeds(decisions, data, tmp_path / "one", as_of, SITE)
    steps.append((LATER, {"penalties": [*rows, penalty(9, decision_date="2026-11-02")]}))
    decisions, data, as_of = releases(folder, tmp_path / "again", steps)
    build_feeds(decisions, data, tmp_path / "two", as_of, SITE)
    before = {p.name: p.read_bytes() for p in (tmp_path / "one" / "feeds" / "all" / "archive").iterdir()}
    after = {p.name: p.read_bytes() for p in (tmp_path / "two" / "feeds" / "all" / "archive").iterdir()}
    assert set(before) < set(after)
    for name, content in before.items():  # only the newest old page gains a next-archive link
        assert after[name] == content or name == max(before), name


# ---------------------------------------------------------------------------------------------
# Hostile text


HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(1)>]]>&amp;\x00\x01\x08\x0b\x0c\x0e\x1f\x7f\x85\ufffe\t\n\r'


def hostile_history(tmp_path: Path):
    """A release history written by hand: two penalties whose every public column is hostile
    text, one of them withdrawn in the second release."""
    dataset = load_dataset("penalties")
    names = public_columns(dataset)
    ids = ["aaaa" + HOSTILE, "bbbb" + HOSTILE]

    def record(rid: str) -> dict[str, str]:
        values = {name: f"{name}{HOSTILE}" for name in names}
        values.update(record_id=rid, subject_category="法人及非法人组织", subject_uscc=COMPANY, authority_uscc=AUTHORITY[1],
                      decision_date="2026-06-01", display_until="2027-05-31", disclosure_status="displayed",
                      under_objection="true")
        return values

    table = pa.table({name: pa.array([record(i)[name] for i in ids], pa.string()) for name in names})
    data = tmp_path / "data"
    versions = [("2026-11-23.1", "2026-11-23", {"added": [{"record_id": i, "reason": "new"} for i in ids], "modified": [],
                                                "removed": []}),
                ("2026-11-24.1", "2026-11-24", {"added": [], "modified": [], "removed": [{"record_id": ids[1], "reason": "revoked"}]})]
    for version, _, change in versions:
        (data / "releases" / version).mkdir(parents=True)
        (data / "releases" / version / "changes.json").write_text(json.dumps([{"dataset": "penalties", **change}]))
    pq.write_table(table, data / "releases" / "2026-11-23.1" / "penalties.parquet")
    index = {"latest": "2026-11-24.1", "releases": [
        {"version": v, "date": d, "changes": {"penalties": {k: len(c[k]) for k in ("added", "modified", "removed")}}}
        for v, d, c in versions]}
    (data / "releases" / "index.json").write_text(json.dumps(index))
    return data, {"penalties": table.slice(0, 1)}


def test_markup_and_control_characters_in_every_field_come_out_escaped_and_well_formed(tmp_path):
    data, published = hostile_history(tmp_path)
    plan = plan_feeds({"penalties": None}, data, LATER, {"name": "站" + HOSTILE, "tag_authority": "example.org,2026"},
                      region_name=lambda code: "地区" + HOSTILE, published=published)
    out = tmp_path / "site"
    stats = write_feeds(plan, out)
    assert (stats.records, stats.withdrawn) == (1, 1)
    assert render_both(plan) > 10
    clean = feeds.clean(HOSTILE)
    assert clean == '<script>alert(1)</script>"><img src=x onerror=alert(1)>]]>&amp;   '
    for path in all_documents(out):
        raw = path.read_bytes()
        assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xc2[\x80-\x9f]|\xef\xbf\xbe", raw), path
        assert b"<script" not in raw and b"<img" not in raw, path
        doc = etree.fromstring(raw)
        assert not [e for e in doc.iter() if etree.QName(e).localname in ("script", "img")]
        check_parses(path)
        if path.suffix == ".atom":
            check_atom(raw)
    doc = atom(out, "feeds/all.atom")
    entry = doc.find(f"{A}entry")
    assert entry.findtext(f"{A}title") == f"行政处罚：subject_name{clean}（decision_doc_no{clean}）"
    assert entry.findtext(f"{A}author/{A}name") == f"authority{clean}"
    assert f"penalty_content{clean}" in entry.findtext(f"{A}summary")
    assert entry.findtext(f"{A}id") == f"tag:example.org,2026:record/aaaa{quote(clean, safe='')}"  # a valid IRI
    tombstone = doc.find(f"{AT}deleted-entry")
    assert tombstone.get("ref") == f"tag:example.org,2026:record/bbbb{quote(clean, safe='')}"
    assert f"bbbb{clean}" in tombstone.findtext(f"{AT}comment")
    assert doc.findtext(f"{A}author/{A}name") == f"站{clean}".strip()
    region = atom(out, "feeds/regions/450100.atom")
    assert region.findtext(f"{A}title") == f"地区{clean}：公示信息"
    parsed = feedparser.parse((out / "feeds/all.rss").read_bytes())
    assert [e.title for e in parsed.entries] == [f"撤回公示：行政处罚记录 bbbb{clean}".strip(),
                                                 f"行政处罚：subject_name{clean}（decision_doc_no{clean}）"]


# ---------------------------------------------------------------------------------------------
# Determinism, renderers, links


def test_same_input_same_bytes_serial_or_parallel(history, tmp_path, monkeypatch):
    out, _, _, decisions, data = history
    again = tmp_path / "again"
    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    monkeypatch.setattr(feeds, "CHUNKS", {"feedgen": 1, "archive": 1, "fast": 1})
    monkeypatch.setattr(feeds, "ALONE", {"feedgen": 0, "archive": 0, "fast": 0})  # forked workers, however few
    build_feeds(decisions, data, again, LATER, SITE, region_name=lambda code: f"地区{code}")
    first = {p.relative_to(out): p.read_bytes() for p in all_documents(out)}
    second = {p.relative_to(again): p.read_bytes() for p in all_documents(again)}
    assert first == second


@pytest.mark.parametrize("chunk", [1, 2000])
def test_writing_only_some_documents_writes_them_as_a_whole_build_does(history, tmp_path, monkeypatch, chunk):
    """An incremental build writes only the documents whose mask is true (every other one, here:
    never two neighbours together), each byte for byte as when every document is written."""
    from generator.outputs.feeds import family_label

    out, _, _, decisions, data = history
    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    monkeypatch.setattr(feeds, "CHUNKS", {"feedgen": chunk, "archive": chunk, "fast": chunk})
    monkeypatch.setattr(feeds, "ALONE", {"feedgen": 0, "archive": 0, "fast": 0})
    plan = plan_feeds(decisions, data, LATER, SITE, region_name=lambda code: f"地区{code}")
    only = {family_label(f): np.arange(len(f)) % 2 == 1 for f in plan.families}
    some = tmp_path / "some"
    write_feeds(plan, some, only)
    written = {p.relative_to(some): p.read_bytes() for p in all_documents(some)}
    expected = {p.relative_to(out): p.read_bytes() for p in all_documents(out)}
    chosen = [f.path for family in plan.families for i in range(len(family)) if i % 2 == 1
              for f in [feeds.document(plan, family, i, None)]]
    assert sorted(str(p) for p in written) == sorted(
        {f"{path}.{ext}" for path in chosen for ext in ("atom", "rss")} & {str(p) for p in expected})
    assert written and all(written[p] == expected[p] for p in written)


def test_feedgen_and_the_fast_renderer_write_the_same_bytes(history):
    _, stats, _, decisions, data = history
    for base in ("", "https://credit.example.gov.cn/"):
        plan = plan_feeds(decisions, data, LATER, SITE, region_name=lambda code: f"地区{code}", base_url=base)
        assert render_both(plan) * 2 > stats.documents


def test_absolute_links_under_a_site_url(history, tmp_path):
    _, _, number, decisions, data = history
    out = tmp_path / "absolute"
    build_feeds(decisions, data, out, LATER, SITE, base_url="https://credit.example.gov.cn/")
    doc = atom(out, f"feeds/subjects/{COMPANY}.atom")
    assert doc.get("{http://www.w3.org/XML/1998/namespace}base") is None
    links = {x.get("rel"): x.get("href") for x in doc.findall(f"{A}link")}
    assert links["self"] == f"https://credit.example.gov.cn/feeds/subjects/{COMPANY}.atom"
    assert links["alternate"] == f"https://credit.example.gov.cn/subjects/{COMPANY}/"
    hrefs = [e.find(f"{A}link").get("href") for e in doc.findall(f"{A}entry")]
    assert f"https://credit.example.gov.cn/subjects/{COMPANY}/#r-{number[1]}" in hrefs
    assert doc.findtext(f"{A}entry/{A}id").startswith("tag:credit.example.gov.cn,2026:record/")  # ids ignore the URL


def test_feed_links_for_pages():
    assert feed_links("all") == [
        {"type": "application/atom+xml", "title": "全部公示信息（Atom）", "href": "feeds/all.atom"},
        {"type": "application/rss+xml", "title": "全部公示信息（RSS）", "href": "feeds/all.rss"}]
    assert feed_links("dataset", "blacklist")[0] == {"type": "application/atom+xml", "title": "严重失信主体名单（Atom）",
                                                     "href": "feeds/datasets/blacklist.atom"}
    assert feed_links("subject", COMPANY)[1]["href"] == f"feeds/subjects/{COMPANY}.rss"
    assert feed_links("region", "450100")[0]["href"] == "feeds/regions/450100.atom"
    for kind, key in (("subject", "../x"), ("subject", ""), ("authority", "a/b"), ("dataset", "nope"), ("page", "X")):
        with pytest.raises(ValueError):
            feed_links(kind, key)
    head = feeds.alternate_head(f"subjects/{COMPANY}/")
    assert head.count('<link rel="alternate"') == 2 and f'href="../../feeds/subjects/{COMPANY}.atom"' in head
    assert feeds.alternate_head("").count("feeds/all.") == 2
    assert 'href="../../../feeds/regions/450100.rss"' in feeds.alternate_head("regions/450100/3/")
    assert feeds.alternate_head("datasets/penalties/", "https://x.cn/").count('href="https://x.cn/feeds/datasets/penalties.') == 2
    assert feeds.alternate_head("about/") == feeds.alternate_head("subjects/../") == feeds.alternate_head("months/2026-01/") == ""


def test_feeds_page_lists_every_feed(history):
    _, _, _, decisions, data = history
    plan = plan_feeds(decisions, data, LATER, SITE, region_name=lambda code: f"地区{code}")
    context = feeds.feeds_page_context(plan)
    assert [d["key"] for d in context["datasets"]] == ["licensing", "penalties", "redlist", "blacklist"]
    assert [(a["key"], a["name"]) for a in context["authorities"]] == [(AUTHORITY[1], AUTHORITY[0])]
    assert [(r["key"], r["name"]) for r in context["regions"]] == [("450100", "地区450100"), ("450300", "地区450300")]
    assert context["subjects"] == 2 and context["all"]["archive"] == "../../feeds/all/archive/2026-11-24.1.atom"
    from generator.site import template_environment

    html = template_environment(ROOT).get_template("feeds/feeds-page.html").render(**context)
    for link in (context["all"]["atom"], context["datasets"][1]["rss"], context["authorities"][0]["atom"]):
        assert f'href="{link}"' in html


# ---------------------------------------------------------------------------------------------
# The demo


@pytest.mark.slow
def test_demo_feeds_over_a_year_parse_and_validate(tmp_path):
    """The bundled demo built on 2026-11-20 and a year later: records expire, so the feeds carry
    withdrawals; every document parses (feedparser, no bozo) and every Atom one validates."""
    previous = None
    for k, as_of in enumerate((date(2026, 11, 20), date(2027, 11, 20))):
        intake = run_intake(ROOT / "datasets", as_of)
        decisions = decide_all(intake)
        data = tmp_path / f"data{k}"
        build_open_data(decisions, intake.provenance, as_of, previous, data, SITE["name"])
        previous = data
    out = tmp_path / "site"
    plan = plan_feeds(decisions, previous, as_of, {"name": "公示 · 公共信用信息公示"})
    stats = write_feeds(plan, out)
    assert render_both(plan) == stats.documents - len(plan.family("subject")) - sum(
        len(plan.family(kind)) for kind in ("all", "dataset", "authority", "region"))
    assert stats.withdrawn > 50 and stats.records > 500 and stats.archive_pages >= 2
    documents = all_documents(out)
    assert len(documents) == stats.documents
    for path in documents:
        check_parses(path)
        if path.suffix == ".atom":
            check_atom(path.read_bytes())


def test_relative_links_resolve_from_where_a_reader_fetched_the_feed(history):
    out, _, number, _, _ = history
    for suffix in (".atom", ".rss"):
        path = f"feeds/subjects/{COMPANY}{suffix}"
        parsed = feedparser.parse((out / path).read_bytes(),
                                  response_headers={"content-location": f"https://credit.example.gov.cn/{path}"})
        assert parsed.feed.link == f"https://credit.example.gov.cn/subjects/{COMPANY}/"
        links = {e.link for e in parsed.entries}
        assert f"https://credit.example.gov.cn/subjects/{COMPANY}/#r-{number[1]}" in links
        assert "https://credit.example.gov.cn/data/feeds/#withdrawals" in links or suffix == ".atom"


@pytest.mark.parametrize("hexadecimal", [True, False])
def test_stream_order_equals_the_four_key_sort(hexadecimal):
    """The stream's order made from ranks and numbers is Arrow's sort by STREAM_ORDER, ties and
    all; ids of another shape take Arrow's sort."""
    import hashlib

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from generator.outputs.feeds import STREAM_ORDER, stream_order

    rng = np.random.default_rng(5)
    n = 300
    days = ["2026-11-20", "2026-11-19", "2025-01-01", "2024-12-31"]
    ids = [hashlib.sha256(str(i).encode()).hexdigest()[:20] for i in range(n)]
    if not hexadecimal:
        ids[4] = "withdrawn-4"
    made = pa.table({"date": pa.array([days[i] for i in rng.integers(0, 4, n)], pa.string()),
                     "rel": pa.array(rng.integers(-1, 3, n).astype(np.int32)),
                     "published": pa.array([["", *days][i] for i in rng.integers(0, 5, n)], pa.string()),
                     "record_id": pa.array(ids, pa.string())})
    assert stream_order(made).tolist() == pc.sort_indices(made, sort_keys=STREAM_ORDER).to_pylist()


def test_release_history_is_read_once_and_kept_as_rows(history, tmp_path, monkeypatch):
    """Each release's change file becomes rows kept beside the site, and what the feeds need of
    them all (each id's last change, in the order ids first appear, and its last removal) is kept
    as a summary: a later read takes the summary and reads no release again, and stale entries
    go. A dict built change by change is the reference."""
    import json as jsonlib

    from generator.incremental import generator_code
    from generator.outputs import history as release_history

    _, _, number, _, data = history
    reference_changed: dict[str, tuple[int, str]] = {}
    reference_removed: dict[str, tuple[int, str, str]] = {}
    versions = [r["version"] for r in jsonlib.loads((data / "releases" / "index.json").read_text())["releases"]]
    for i, version in enumerate(versions):
        for entry in jsonlib.loads((data / "releases" / version / "changes.json").read_text()):
            reference_changed.update((e["record_id"], (i, "new")) for e in entry["added"])
            reference_changed.update((e["record_id"], (i, e["reason"])) for e in entry["modified"])
            reference_removed.update((e["record_id"], (i, entry["dataset"], e["reason"])) for e in entry["removed"])
    cache = tmp_path / "history-cache"
    cache.mkdir()
    (cache / "2020-01-01.1-stale.arrow").write_bytes(b"")
    (cache / "summary" / "other-code").mkdir(parents=True)
    found = [feeds.read_history(data), feeds.read_history(data, cache)]
    assert sorted(p.name.rsplit("-", 1)[0] for p in cache.glob("*.arrow")) == sorted(versions)  # the stale one went
    assert [p.name for p in (cache / "summary").iterdir()] == [generator_code()[:16]]  # other code's summaries went
    loads = jsonlib.loads
    monkeypatch.setattr(feeds.json, "loads", lambda text, *a, **k: pytest.fail("a change file read again")
                        if text.lstrip().startswith("[") else loads(text, *a, **k))
    for module in (feeds, release_history):
        monkeypatch.setattr(module, "release_changes", lambda *a: pytest.fail("a release's rows read again"))
    found.append(feeds.read_history(data, cache))
    for h in found:
        ids, releases, reasons = h.last_changes
        assert list(zip(ids.to_pylist(), releases.tolist(), reasons.tolist(), strict=True)) == \
            [(k, *v) for k, v in reference_changed.items()]
        removed = h.summary.removed
        assert {rid: (i, dataset, reason) for rid, i, dataset, reason in zip(
            *(removed[c].to_pylist() for c in ("record_id", "release", "dataset", "reason")), strict=True)} == reference_removed
    assert reference_changed[number[2]] == (1, "corrected") and number[3] in reference_removed


def test_withdrawal_notices_are_made_by_arrow_as_one_by_one():
    """The withdrawal notices of a batch, made with Arrow, say what the notice of each record
    says: every reason, an unknown or missing one, and ids cleaned of what XML cannot carry."""
    from generator.outputs.feeds import WITHDRAWAL_REASONS, clean, column, withdrawal_comment, withdrawal_comments

    dataset = load_dataset("penalties")
    rids = ["0123456789abcdef0123", "bad\x01id\twith\ncontrols", "", "记录"] * 3
    reasons = [*WITHDRAWAL_REASONS, "unknown", None, "", "expired", "revoked", "repaired", "objection", "expired"]
    shown = column(pa.table({"record_id": pa.array(rids, pa.string())}), "record_id")
    assert shown.to_pylist() == [clean(r) for r in rids]
    made = withdrawal_comments(dataset, shown, pa.array(reasons, pa.string()), "2026-11-20")
    assert made.to_pylist() == [withdrawal_comment(dataset, clean(rid), reason or "", "2026-11-20")
                                for rid, reason in zip(rids, reasons, strict=True)]
