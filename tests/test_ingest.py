"""Reading: encodings, header styles, XLSX, malformed rows, and nothing lost."""

from __future__ import annotations

import csv
import io

import pytest
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import Folder, csv_text, flatten, row

ENCODINGS = ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16"]
STYLES = ["title", "title_fullwidth", "code", "name"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_encoding_is_detected(folder, encoding):
    folder.write("penalties", "a.csv", [row("penalties"), row("penalties", decision_doc_no="2号")], encoding=encoding)
    intake = folder.intake()
    [source] = intake.sources
    assert source.encoding == {"gbk": "gb18030", "utf-16": "utf-16"}.get(encoding, encoding)
    assert (source.read, source.published, intake.problems) == (2, 2, [])
    assert intake.records["penalties"]["subject_name"].to_pylist() == ["南宁青秀鑫源贸易有限公司"] * 2


@pytest.mark.parametrize("style", STYLES)
def test_each_header_style(folder, style):
    folder.write("licensing", "a.csv", [row("licensing")], style=style)
    intake = folder.intake()
    assert intake.problems == []
    assert intake.sources[0].header_style == {"title_fullwidth": "title"}.get(style, style)
    assert intake.records["licensing"]["decision_doc_no"].to_pylist() == ["南市监许〔2024〕1号"]


def test_mixed_header_styles_any_order_and_extra_columns(folder):
    text = csv_text("penalties", [row("penalties")], style="code")
    header, body = text.split("\n", 1)
    cells = header.split(",")
    cells[0] = "行政相对人名称"  # title
    cells[1] = "subject_category"  # id
    reordered = list(zip(cells, next(csv.reader([body.split("\n")[0]])), strict=True))[::-1]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["序号", *[h for h, _ in reordered]])
    w.writerow(["1", *[v for _, v in reordered]])
    folder.write("penalties", "mixed.csv", text=out.getvalue())
    intake = folder.intake()
    assert intake.sources[0].header_style == "code+name+title"
    assert flatten(intake, "row", "value", "rule") == [[None, "序号", "header.unknown_column"]]
    assert intake.published == 1


def test_tab_separated(folder):
    folder.write("redlist", "a.txt", text=csv_text("redlist", [row("redlist")]).replace(",", "\t"))
    intake = folder.intake()
    assert (intake.sources[0].format, intake.published, intake.problems) == ("tsv", 1, [])


def test_duplicate_header_reported_first_kept(folder):
    text = csv_text("penalties", [row("penalties")])
    header, body = text.split("\n", 1)
    folder.write("penalties", "a.csv", text=header + ",处罚决定日期\n" + body.replace("\n", ",2099-01-01\n"))
    intake = folder.intake()
    assert flatten(intake, "field", "rule") == [["decision_date", "header.duplicate_column"]]
    assert intake.records["penalties"]["decision_date"].to_pylist() == ["2024-03-05"]


def test_unrecognised_header_withholds_file(folder):
    folder.write("penalties", "a.csv", text="甲,乙,丙\n1,2,3\n4,5,6\n")
    intake = folder.intake()
    assert [p.rule for p in intake.problems].count("header.unrecognised") == 1
    assert (intake.read, intake.withheld) == (2, 2)
    assert intake.failed


def test_rows_with_wrong_cell_counts_are_withheld_and_numbered(folder):
    text = csv_text("penalties", [row("penalties", decision_doc_no=f"{i}号") for i in range(4)])
    lines = text.splitlines()
    lines[2] += ",extra"  # row 3: one cell too many
    lines[3] = lines[3].rsplit(",", 2)[0]  # row 4: two cells short
    lines.insert(4, "")  # a blank line: not a row
    folder.write("penalties", "a.csv", text="\n".join(lines) + "\n")
    intake = folder.intake()
    assert flatten(intake, "row", "rule") == [[3, "row.cell_count"], [4, "row.cell_count"]]
    assert (intake.read, intake.published, intake.withheld) == (4, 2, 2)
    assert intake.records["penalties"]["_row"].to_pylist() == [2, 6]


def test_quoted_newlines_and_commas_inside_cells(folder):
    folder.write("penalties", "a.csv", [row("penalties", violation_facts="第一行,\n第二行\"引号\"")])
    intake = folder.intake()
    assert intake.records["penalties"]["violation_facts"].to_pylist() == ["第一行,\n第二行\"引号\""]


def test_undecodable_bytes_withhold_only_their_rows(folder):
    good = csv_text("penalties", [row("penalties"), row("penalties", decision_doc_no="2号", violation_facts="XX")])
    data = good.encode("utf-8").replace(b"XX", b"\xff\xfe\xfa")
    folder.write("penalties", "a.csv", data=data)
    intake = folder.intake()
    assert flatten(intake, "row", "field", "rule") == [[3, "violation_facts", "encoding.invalid_bytes"]]
    assert intake.published == 1


def test_empty_and_header_only_files(folder):
    folder.write("penalties", "empty.csv", text="")
    folder.write("penalties", "header.csv", text=csv_text("penalties", []))
    intake = folder.intake()
    assert flatten(intake, "file", "rule") == [["penalties/empty.csv", "file.empty"]]
    assert intake.read == 0 and not intake.failed


def test_file_without_provenance_is_not_published(folder):
    folder.write("penalties", "a.csv", [row("penalties")], provenance=False)
    intake = folder.intake()
    assert flatten(intake, "file", "row", "rule") == [["penalties/a.csv", None, "provenance.missing"]]
    assert (intake.read, intake.withheld, intake.failed) == (1, 1, True)


def test_unsupported_files_and_unknown_folders_are_reported(folder):
    (folder.root / "penalties" / "notes.pdf").write_bytes(b"%PDF")
    (folder.root / "penalties" / "README.md").write_text("说明", encoding="utf-8")
    (folder.root / "other").mkdir()
    intake = folder.intake()
    assert flatten(intake, "file", "rule") == [["other", "dataset.unknown_folder"], ["penalties/notes.pdf", "file.unsupported"]]


def write_workbook(path, sheets):
    book = xlsxwriter.Workbook(str(path))
    date_format = book.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets:
        sheet = book.add_worksheet(name)
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                if hasattr(value, "year"):
                    sheet.write_datetime(r, c, value, date_format)
                else:
                    sheet.write(r, c, value)
    book.close()


def test_xlsx_with_dates_serials_numbers_and_several_sheets(folder):
    from datetime import datetime

    names = list(row("penalties"))
    header = [n for n in names]
    first = [row("penalties")[n] for n in names]
    first[names.index("decision_date")] = datetime(2024, 3, 5)
    first[names.index("fine_amount_wan")] = 0.2
    second = [row("penalties", decision_doc_no="2号")[n] for n in names]
    second[names.index("decision_date")] = 45356  # Excel serial of 2024-03-05
    path = folder.root / "penalties" / "book.xlsx"
    write_workbook(path, [("说明", [["本工作簿为示例"]]), ("数据", [header, first, second]),
                          ("更多", [header, [row("penalties", decision_doc_no="3号")[n] for n in names]])])
    folder.provenance(path)
    intake = folder.intake()
    assert [s.file for s in intake.sources] == ["penalties/book.xlsx#数据", "penalties/book.xlsx#更多"]
    assert flatten(intake, "file", "rule", "value")[0] == ["penalties/book.xlsx", "xlsx.sheet_ignored", "说明"]
    records = intake.records["penalties"]
    assert records["decision_date"].to_pylist()[:2] == ["2024-03-05", "2024-03-05"]
    assert records["fine_amount_wan"].to_pylist()[0] == "0.2"
    assert records["_row"].to_pylist() == [2, 3, 2]
    assert intake.problems[1:] == []


def test_corrupt_xlsx_is_reported_and_the_rest_builds(folder):
    (folder.root / "penalties" / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    folder.provenance(folder.root / "penalties" / "broken.xlsx")
    folder.write("penalties", "good.csv", [row("penalties")])
    intake = folder.intake()
    assert flatten(intake, "file", "rule") == [["penalties/broken.xlsx", "file.unreadable"]]
    assert intake.published == 1 and intake.failed


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.lists(st.lists(cells, min_size=0, max_size=30), min_size=0, max_size=8),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
def test_garbage_rows_never_crash_and_never_vanish(tmp_path_factory, garbage, encoding):
    folder = Folder(tmp_path_factory.mktemp("garbage"))
    good = csv_text("penalties", [row("penalties")])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(garbage)
    text = good + out.getvalue()
    data = text.encode(encoding, errors="replace")
    folder.write("penalties", "g.csv", data=data)
    intake = folder.intake()  # reconciles: read = published + withheld, each withheld row has a reason
    non_blank = sum(1 for r in garbage if any(c.strip() for c in r))
    assert intake.read >= 1 + non_blank - sum(1 for r in garbage if any(("\n" in c or "\r" in c) for c in r))
    assert intake.read == intake.published + intake.withheld
