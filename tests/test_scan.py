"""The personal-data scanner over output files, and the build refusing to publish a leak."""

from __future__ import annotations

import gzip
import re
import shutil

import pyarrow as pa
import pytest
from click.testing import CliRunner

from generator import site
from generator.cli import main
from generator.errors import BuildError
from generator.scan import scan
from generator.scan import scan_values as real_scan_values
from generator.site import ROOT, build

from .conftest import AS_OF, PERSON, PERSON_ID, resident_id, row
from .test_opendata import LATER

X_ID = next(i for i in (resident_id(f"450102198001{d:02d}123") for d in range(1, 29)) if i.endswith("X"))
LEGAL_REP_BAD_CHECK = "450102197001011230" if resident_id("45010219700101123")[-1] != "0" else "450102197001011231"


@pytest.mark.parametrize(("content", "kinds"), [
    (f"<td>{PERSON_ID}</td>", ["id_number"]),
    (f'{{"id": "{X_ID.lower()}"}}', ["id_number"]),  # a lower-case check character is still an ID
    (f"<td>{PERSON_ID[:6]}********{PERSON_ID[14:]}</td>", []),  # masked: fine
    ("统一社会信用代码 91450100MA5K000019", []),  # not an ID number
    ("文书号 450102198001011230456", []),  # a longer number that merely contains ID-like digits
    (f"法定代表人证件 {LEGAL_REP_BAD_CHECK}", ["known_id_number"]),  # wrong check character, but known from input
    ("联系电话 13812345678", ["mobile"]),
    ("金额 13812345678901", []),
])
def test_findings(tmp_path, content, kinds):
    (tmp_path / "page.html").write_text(content, encoding="utf-8")
    findings = scan(tmp_path, known={LEGAL_REP_BAD_CHECK})
    assert [f.kind for f in findings] == kinds
    for f in findings:
        assert PERSON_ID not in f.value and LEGAL_REP_BAD_CHECK not in f.value


def test_compressed_files_are_scanned(tmp_path):
    (tmp_path / "sitemap.xml.gz").write_bytes(gzip.compress(f"<loc>{PERSON_ID}</loc>".encode()))
    assert [f.kind for f in scan(tmp_path)] == ["id_number"]


def test_release_values_are_scanned_once_from_the_parquet_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    release = tmp_path / "data" / "releases" / "1"
    release.mkdir(parents=True)
    pq.write_table(pa.table({"id": [PERSON_ID]}), release / "a.parquet")
    (release / "a.csv").write_text(f"id\n{PERSON_ID}\n", encoding="utf-8")
    (release / "a.jsonl").write_text(f'{{"id":"{PERSON_ID}"}}\n', encoding="utf-8")
    (release / "b.csv").write_text(f"编号\n{PERSON_ID}\n", encoding="utf-8")  # no Parquet file beside it: read
    assert sorted(f.file for f in scan(tmp_path, encoded=["data/releases/1"])) == ["data/releases/1/a.parquet",
                                                                                 "data/releases/1/b.csv"]
    assert len(scan(tmp_path)) == 4


def test_scan_command(tmp_path):
    (tmp_path / "a.json").write_text(f'["{PERSON_ID}"]', encoding="utf-8")
    result = CliRunner().invoke(main, ["scan", str(tmp_path)])
    masked = PERSON_ID[:6] + "********" + PERSON_ID[14:]
    assert (result.exit_code, result.output) == (1, f"a.json: 身份证号码 {masked}\n扫描 1 个文件，发现 1 处个人信息。请在发布前处理。\n")


@pytest.mark.parametrize("page", ["site_src/index.md", "templates/pages/listing.html"])  # a hand-written page, generated pages
def test_build_refuses_to_publish_a_leak_and_keeps_the_last_site(folder, tmp_path, page):
    folder.write("penalties", "a.csv", [row("penalties", legal_rep_id_no=LEGAL_REP_BAD_CHECK)])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    project = tmp_path / "project"
    for name in ("site_src", "templates"):
        shutil.copytree(ROOT / name, project / name)
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    page = project / page
    page.write_text(page.read_text(encoding="utf-8") + f"\n联系人证件 {LEGAL_REP_BAD_CHECK}\n", encoding="utf-8")
    with pytest.raises(BuildError, match="输入中的证件号码 450102"):
        build(folder.root, out, AS_OF, project=project)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_demo_build_has_no_personal_data(tmp_path):
    result = build(ROOT / "datasets", tmp_path / "site", AS_OF)  # the build itself scans; scan again to be explicit
    from generator.site import known_id_numbers

    assert known_id_numbers(result.intake)  # the demo does carry ID numbers in its input
    assert scan(tmp_path / "site", known_id_numbers(result.intake)) == []


def test_parquet_text_columns_are_scanned(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": ["a", PERSON_ID]}), tmp_path / "data.parquet", compression="zstd")
    assert [f.kind for f in scan(tmp_path)] == ["id_number"]


@pytest.mark.parametrize("parallel_from", [20_000, 1])
def test_findings_in_a_batch_of_small_files_name_their_own_file(tmp_path, monkeypatch, parallel_from):
    """Small files are searched together (and, on a large site, by one process per core); each
    finding still names the file it is in."""
    import generator.scan as scanner

    monkeypatch.setattr(scanner, "PARALLEL_FILES", parallel_from)
    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    for i in range(300):
        (tmp_path / f"{i:03d}.html").write_text("<p>统一社会信用代码 914501001234567890</p>\n" * (i % 3) + ("" if i % 2 else "\n"),
                                                 encoding="utf-8")
    (tmp_path / "150.html").write_text(f"<p>a</p>\n<p>b</p>\n<p>{PERSON_ID}</p>", encoding="utf-8")
    (tmp_path / "151.json").write_text('{"phone": "13812345678"}', encoding="utf-8")
    found = [(f.file, f.kind) for f in scan(tmp_path)]
    assert found == [("150.html", "id_number"), ("151.json", "mobile")]


@pytest.mark.parametrize("literals", [20_000, 0])
def test_known_numbers_of_other_shapes(tmp_path, monkeypatch, literals):
    """A passport number the input carried is found, whether looked for by one pattern or, when
    there are very many such numbers, by looking every token up."""
    import generator.scan as scanner

    monkeypatch.setattr(scanner, "LITERALS", literals)
    (tmp_path / "a.html").write_text("<p>护照 e12345678 </p>\n<p>E123456789</p>", encoding="utf-8")
    (tmp_path / "b.html").write_text("<p>E1234567</p>", encoding="utf-8")
    found = [(f.file, f.kind, f.value) for f in scan(tmp_path, ["E12345678", "450102198001011234"])]
    assert [(file, kind) for file, kind, _ in found] == [("a.html", "known_id_number")]
    assert "12345" not in found[0][2]
    # made ready once (as a build does, for all its scans), the numbers find the same
    prepared = scanner.KnownNumbers.of(["e12345678", "450102198001011234", "short"])
    assert prepared.upper == {"E12345678", "450102198001011234"}
    assert [(f.file, f.kind, f.value) for f in scan(tmp_path, prepared)] == found
    assert scanner.scan_values("t", pa.table({"v": ["x E12345678 y"]}), prepared)[0].kind == "known_id_number"


def test_build_refuses_a_release_that_would_publish_id_numbers(folder, tmp_path, monkeypatch):
    """The new data release is scanned beside the build; what it finds stops the build too."""
    import generator.outputs.opendata as opendata

    folder.write("penalties", "a.csv", [row("penalties", **PERSON)])
    out = tmp_path / "site"
    monkeypatch.setenv("GONGSHI_WORKERS", "2")
    monkeypatch.setattr(opendata, "protect", lambda dataset, table: table)  # the masking forgotten
    with pytest.raises(BuildError) as raised:
        build(folder.root, out, AS_OF)
    assert re.search(r"\ndata/releases/[0-9.-]+/penalties/\d{4}-\d{2}\.parquet: 身份证号码 450102\*{8}", str(raised.value))
    assert not out.exists()


def test_a_later_release_is_scanned_for_its_new_and_changed_records(folder, tmp_path, monkeypatch):
    """A release after the first scans only the records that are not in the one before as they
    were, from the values: a new record that would publish an ID number stops the build."""
    import generator.outputs.opendata as opendata

    folder.write("penalties", "a.csv", [row("penalties")])
    out = tmp_path / "site"
    build(folder.root, out, AS_OF)
    folder.write("penalties", "b.csv", [row("penalties", decision_doc_no="桂罚〔2026〕2号", **PERSON)])
    monkeypatch.setenv("GONGSHI_WORKERS", "1")  # the scan runs inline: what it was given can be seen
    monkeypatch.setattr(opendata, "protect", lambda dataset, table: table)  # the masking forgotten
    scanned = []
    monkeypatch.setattr(site, "scan_values", lambda label, table, known: scanned.append((label, table.num_rows))
                        or real_scan_values(label, table, known))
    with pytest.raises(BuildError) as raised:
        build(folder.root, out, LATER)
    assert re.search(r"\ndata/releases/2026-11-24\.1/penalties/\d{4}-\d{2}\.parquet: 身份证号码 450102\*{8}", str(raised.value))
    # the new record only, in its month's file
    assert [n for label, n in scanned if re.fullmatch(r"2026-11-24\.1/penalties/\d{4}-\d{2}\.parquet", label)] == [1]
    assert (out / "data" / "releases" / "index.json").is_file() and not (out / "data" / "releases" / "2026-11-24.1").exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_search_index_is_scanned_beside_the_build(folder, tmp_path, monkeypatch, workers):
    """The search index is scanned where it is written; what is found there stops the build."""
    import generator.site as site_module
    from generator.outputs import search

    real = search.search_tables

    def leaking(disclosures):
        subjects, documents = real(disclosures)
        return subjects.set_column(1, "name", pa.array([f"某公司{PERSON_ID}"] * subjects.num_rows, pa.large_string())), documents

    folder.write("penalties", "a.csv", [row("penalties")])
    monkeypatch.setenv("GONGSHI_WORKERS", workers)
    monkeypatch.setattr(site_module, "search_tables", leaking)
    with pytest.raises(BuildError) as raised:
        build(folder.root, tmp_path / "site", AS_OF)
    assert re.search(r"\nsearchindex/n/\d+\.json: 身份证号码 450102\*{8}", str(raised.value))
    assert not (tmp_path / "site").exists()
