"""Hostile and broken inputs: the reader never crashes, loses no row, and says what is wrong.

Each case is a small file (bytes built here) with the outcome expected: rows read, published
and withheld, and the rules that must fire. Every case also reconciles: every withheld row has
a recorded reason.
"""

from __future__ import annotations

import csv
import io

import pytest
import xlsxwriter

from generator.codes import USCC_PLACEHOLDER

from .conftest import csv_text, row

P = "penalties"
GOOD = csv_text(P, [row(P)])
HEADER, BODY = GOOD.split("\n", 1)
BODY = BODY.rstrip("\n")


def with_rows(*rows: dict) -> str:
    return csv_text(P, list(rows))


def many(n: int, **changes) -> str:
    return csv_text(P, [row(P, decision_doc_no=f"{i}号", **changes) for i in range(n)])


def cells_of(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text)))


MARKUP = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "javascript:alert(1)", "<svg onload=alert(1)>"]
FORMULAS = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", '=HYPERLINK("http://x")']

CASES: list[tuple[str, bytes, tuple[int, int, int], set[str]]] = [
    # (name, file bytes, (read, published, withheld), rules that must appear)
    ("empty file", b"", (0, 0, 0), {"file.empty"}),
    ("only a BOM", b"\xef\xbb\xbf", (0, 0, 0), {"file.empty"}),
    ("only blank lines", b"\n\n\n", (0, 0, 0), {"file.empty"}),
    ("header only", HEADER.encode() + b"\n", (0, 0, 0), set()),
    ("header without newline", HEADER.encode(), (0, 0, 0), set()),
    ("no final newline", GOOD.rstrip("\n").encode(), (1, 1, 0), set()),
    ("CRLF line endings", GOOD.replace("\n", "\r\n").encode(), (1, 1, 0), set()),
    ("CR-only line endings", GOOD.replace("\n", "\r").encode(), (1, 1, 0), set()),
    ("UTF-8 with BOM", b"\xef\xbb\xbf" + GOOD.encode(), (1, 1, 0), set()),
    ("GB18030", GOOD.encode("gb18030"), (1, 1, 0), set()),
    ("UTF-16 with BOM", GOOD.encode("utf-16"), (1, 1, 0), set()),
    ("truncated inside a multibyte character", GOOD.encode()[:-4], (1, 0, 1), set()),
    ("truncated inside a quoted cell", (GOOD.rstrip("\n") + '\n"unfinished').encode(), (2, 1, 1), {"row.cell_count"}),
    ("invalid UTF-8 bytes in one row", many(2).encode().replace("1号".encode(), b"1\xff\xfe"), (2, 1, 1),
     {"encoding.invalid_bytes"}),
    ("GB18030 and UTF-8 mixed", (HEADER + "\n").encode("gb18030") + many(2).split("\n", 1)[1].encode("utf-8"), (2, 0, 2),
     {"encoding.invalid_bytes"}),
    ("BOM in the middle of a cell", GOOD.replace("虚假宣传", "虚假\ufeff宣传").encode(), (1, 1, 0), set()),
    ("zero-width space in a code", GOOD.replace(row(P)["subject_uscc"], "\u200b" + row(P)["subject_uscc"]).encode(),
     (1, 1, 0), set()),
    ("NUL byte in a text cell", GOOD.replace("虚假宣传", "虚假\x00宣传").encode(), (1, 1, 0), set()),
    ("control characters in text", GOOD.replace("虚假宣传", "虚假\x07\x1b宣传").encode(), (1, 1, 0), set()),
    ("too many cells", (GOOD.rstrip("\n") + ",extra\n").encode(), (1, 0, 1), {"row.cell_count"}),
    ("too few cells", (HEADER + "\n" + ",".join(cells_of(BODY)[:5]) + "\n").encode(), (1, 0, 1), {"row.cell_count"}),
    ("one good, one short row", (GOOD + ",".join(cells_of(BODY)[:3]) + "\n").encode(), (2, 1, 1), {"row.cell_count"}),
    ("quotes and newlines inside cells", with_rows(row(P, violation_facts='他说"你好",\n然后\r\n离开')).encode(), (1, 1, 0),
     set()),
    ("a 1 MB cell", with_rows(row(P, violation_facts="事" * 350_000)).encode(), (1, 1, 0), set()),
    ("duplicated header", (HEADER + ",行政处罚决定书文号\n" + BODY + ",另一号\n").encode(), (1, 1, 0),
     {"header.duplicate_column"}),
    ("unknown columns", (HEADER + ",序号,备用\n" + BODY + ",1,x\n").encode(), (1, 1, 0), {"header.unknown_column"}),
    ("missing required column", csv_text(P, [{k: v for k, v in row(P).items() if k != "decision_date"}]).encode(),
     (1, 0, 1), {"required"}),
    ("unrecognised header", b"a,b,c\n1,2,3\n", (1, 0, 1), {"header.unrecognised"}),
    ("header in the wrong dataset", csv_text("redlist", [row("redlist")]).encode(), None, set()),
    ("semicolon-separated", GOOD.replace(",", ";").encode(), (1, 1, 0), set()),
    ("tab-separated", GOOD.replace(",", "\t").encode(), (1, 1, 0), set()),
    ("blank rows between rows", (GOOD + "\n,,,\n\n" + BODY.replace("1号", "2号") + "\n").encode(), (2, 2, 0), set()),
    ("full-width digits and letters in codes", with_rows(row(P, subject_uscc="".join(
        chr(ord(c) + 0xFEE0) for c in row(P)["subject_uscc"]))).encode(), (1, 1, 0), set()),
    ("lookalike letter O for zero in a code", with_rows(row(P, subject_uscc=row(P)["subject_uscc"].replace("0", "O", 1))).encode(),
     (1, 0, 1), {"uscc.format"}),
    ("Cyrillic lookalike in a code", with_rows(row(P, subject_uscc="А" + row(P)["subject_uscc"][1:])).encode(), (1, 0, 1),
     {"uscc.format"}),
    ("legacy checksum", with_rows(row(P, subject_uscc=row(P)["subject_uscc"][:-1] + ("0" if row(P)["subject_uscc"][-1] != "0"
                                                                                       else "1"))).encode(),
     (1, 1, 0), {"uscc.checksum"}),
    ("placeholder without registration number", with_rows(row(P, subject_category="个体工商户", subject_uscc=USCC_PLACEHOLDER)).encode(),
     (1, 0, 1), {"uscc.placeholder"}),
    ("identical duplicate rows", (GOOD + BODY + "\n").encode(), (2, 2, 0), {"duplicate.identical"}),
    ("conflicting duplicate rows", (GOOD + BODY.replace("罚款2000元", "罚款5000元") + "\n").encode(), (2, 1, 1),
     {"duplicate.superseded"}),
    ("date 0000-00-00", with_rows(row(P, decision_date="0000-00-00")).encode(), (1, 0, 1), {"date.format"}),
    ("date 2024-02-30", with_rows(row(P, decision_date="2024-02-30")).encode(), (1, 0, 1), {"date.format"}),
    ("date with time", with_rows(row(P, decision_date="2024-03-05 14:30:00")).encode(), (1, 1, 0), set()),
    ("date in full-width digits", with_rows(row(P, decision_date="２０２４年３月５日")).encode(), (1, 1, 0), set()),
    ("Excel serial date", with_rows(row(P, decision_date="45356")).encode(), (1, 1, 0), set()),
    ("serial date too small", with_rows(row(P, decision_date="12")).encode(), (1, 0, 1), {"date.format"}),
    ("two-digit year", with_rows(row(P, decision_date="24-03-05")).encode(), (1, 0, 1), {"date.format"}),
    ("amount with thousands separators and unit", with_rows(row(P, fine_amount_wan="1,200.50万元")).encode(), (1, 1, 0),
     set()),
    ("amount in scientific notation", with_rows(row(P, fine_amount_wan="1e3")).encode(), (1, 0, 1), {"amount.format"}),
    ("negative amount", with_rows(row(P, fine_amount_wan="-0.2")).encode(), (1, 0, 1), {"amount.negative"}),
    ("path-like document number", with_rows(row(P, decision_doc_no="../../etc/passwd")).encode(), (1, 1, 0), set()),
    ("absolute path and NUL in a document number", with_rows(row(P, decision_doc_no="/tmp/x\x00y")).encode(), (1, 1, 0),
     set()),
    ("very long header cell", (HEADER + "," + "列" * 70_000 + "\n" + BODY + ",x\n").encode(), (1, 1, 0),
     {"header.unknown_column"}),
    *[(f"markup in text: {m[:20]}", with_rows(row(P, violation_facts=m, subject_name="某公司" + m)).encode(), (1, 1, 0), set())
      for m in MARKUP],
    *[(f"formula in text: {f[:12]}", with_rows(row(P, violation_facts=f, remarks=f)).encode(), (1, 1, 0), set())
      for f in FORMULAS],
]


@pytest.mark.parametrize(("data", "expected", "rules"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_csv(folder, data, expected, rules):
    folder.write(P, "hostile.csv", data=data)
    intake = folder.intake()  # reconciles: read = published + withheld; each withheld row has a reason
    counts = (intake.read, intake.published, intake.withheld)
    if expected is not None:
        assert counts == expected
    assert rules <= {p.rule for p in intake.problems}


def test_control_characters_never_reach_the_records(folder):
    folder.write(P, "hostile.csv", [row(P, violation_type="虚假\x00\x07\x1b\x7f宣传", violation_facts="第一行\n第二行\t")])
    [record] = folder.intake().records[P].to_pylist()
    assert (record["violation_type"], record["violation_facts"]) == ("虚假宣传", "第一行\n第二行")


def test_wrong_dataset_header_is_reported(folder):
    folder.write(P, "hostile.csv", data=csv_text("redlist", [row("redlist")]).encode())
    intake = folder.intake()
    assert intake.withheld == intake.read == 1
    assert {p.rule for p in intake.problems} >= {"required"}


def test_enough_cases():
    assert len(CASES) >= 60


def write_book(path, build):
    book = xlsxwriter.Workbook(str(path))
    build(book)
    book.close()


def test_xlsx_with_merged_cells_formulas_and_several_sheets(folder):
    names = list(row(P))
    values = [row(P)[n] for n in names]

    def build(book):
        notes = book.add_worksheet("说明")
        notes.merge_range("A1:D1", "本工作簿由某系统导出", None)
        data = book.add_worksheet("数据")
        data.write_row(0, 0, names)
        data.write_row(1, 0, values)
        second = [row(P, decision_doc_no="2号")[n] for n in names]
        data.write_row(2, 0, second)
        data.write_formula(2, names.index("fine_amount_wan"), "=0.1+0.1", None, 0.2)
        data.merge_range(3, 0, 3, 3, "合计", None)

    path = folder.root / P / "book.xlsx"
    write_book(path, build)
    folder.provenance(path)
    intake = folder.intake()
    assert (intake.read, intake.published, intake.withheld) == (3, 2, 1)  # the merged 合计 row is withheld, not lost
    assert intake.records[P]["fine_amount_wan"].to_pylist() == ["0.2", "0.2"]
    assert {"xlsx.sheet_ignored", "required"} <= {p.rule for p in intake.problems}
