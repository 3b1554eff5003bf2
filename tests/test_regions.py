"""Tests of the national GB/T 2260 table (generator/data/gb2260.csv) and its lookups (generator/regions.py)."""

from __future__ import annotations

import csv
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from generator import regions
from generator.regions import TABLE, Region, all_regions, province_of, region

DATA_DIR = TABLE.parent


def test_exact_county():
    assert region("450103") == Region("450103", "青秀区", "广西壮族自治区南宁市青秀区", "450000")


@pytest.mark.parametrize(("code", "name"), [("110101", "东城区"), ("450103", "青秀区"), ("440305", "南山区"),
                                            ("650000", "新疆维吾尔自治区"), ("450100", "南宁市")])
def test_well_known_codes(code, name):
    found = region(code)
    assert found is not None
    assert (found.code, found.name) == (code, name)


@pytest.mark.parametrize(("code", "expected"), [
    # 横县 450127 became 横州市 450181 in 2021: codes registered before still name 南宁市.
    ("450127", Region("450100", "南宁市", "广西壮族自治区南宁市", "450000")),
    ("450199", Region("450100", "南宁市", "广西壮族自治区南宁市", "450000")),
])
def test_falls_back_to_prefecture(code, expected):
    assert region(code) == expected


@pytest.mark.parametrize(("code", "expected"), [
    # 江北区 500105 was folded into 两江新区; 重庆 has no prefecture level, so the province is next.
    ("500105", Region("500000", "重庆市", "重庆市", "500000")),
    ("459999", Region("450000", "广西壮族自治区", "广西壮族自治区", "450000")),
    ("810101", Region("810000", "香港特别行政区", "香港特别行政区", "810000")),
])
def test_falls_back_to_province(code, expected):
    assert region(code) == expected


@pytest.mark.parametrize("junk", ["", "abc", "../../", "9999999", "99999", "4501031", " 450103", "450103\n", "45 103",
                                  "４５０１０３", "４50103", "²50103", "000000", "990101", "-45010", None])
def test_junk_is_none(junk):
    assert region(junk) is None
    assert province_of(junk) is None


@pytest.mark.parametrize(("code", "full_name"), [
    ("110101", "北京市东城区"),  # municipality: no 市辖区 in between
    ("110000", "北京市"),
    ("500101", "重庆市万州区"),
    ("652301", "新疆维吾尔自治区昌吉回族自治州昌吉市"),  # county of an autonomous prefecture of an autonomous region
    ("451421", "广西壮族自治区崇左市扶绥县"),
    ("429004", "湖北省仙桃市"),  # county-level city directly under the province
    ("659001", "新疆维吾尔自治区石河子市"),
])
def test_full_names(code, full_name):
    found = region(code)
    assert found is not None
    assert found.full_name == full_name


def test_province_of():
    for code in ("450103", "450127", "459999", "450000"):
        assert province_of(code) == Region("450000", "广西壮族自治区", "广西壮族自治区", "450000")
    assert province_of("990101") is None


def test_every_synthetic_region_resolves_exactly():
    """The synthetic generator's Guangxi table must agree with the national one, code and name."""
    with (DATA_DIR / "regions.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for row in rows:
        found = region(row["code"])
        assert found is not None, row
        assert (found.code, found.name, found.province) == (row["code"], row["name"], "450000")


def test_table_shape():
    """One row per division, sorted, at the levels and counts of a current edition, and no pseudo-levels."""
    lines = (DATA_DIR / "gb2260.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "code,name"
    codes = [line.split(",")[0] for line in lines[1:]]
    assert codes == sorted(set(codes))
    table = all_regions()
    assert all(re.fullmatch(r"[0-9]{6}", code) and re.fullmatch(r"[\u4e00-\u9fff·]+", name) for code, name in table.items())
    provinces = [c for c in table if c.endswith("0000")]
    prefectures = [c for c in table if c.endswith("00") and not c.endswith("0000")]
    counties = [c for c in table if not c.endswith("00")]
    assert len(provinces) == 34
    assert 330 <= len(prefectures) <= 340
    assert 2800 <= len(counties) <= 2900
    assert all(c[:2] + "0000" in table for c in table)
    assert not {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"} & set(table.values())


def test_all_regions_is_a_copy():
    table = all_regions()
    table["450103"] = "改过的"
    del table["110101"]
    assert all_regions()["450103"] == "青秀区"
    assert region("110101") is not None


def test_lookups_are_cached():
    assert region("450103") is region("450103")
    assert regions._table.cache_info().currsize == 1


@given(st.from_regex(r"[0-9]{6}", fullmatch=True))
def test_any_code_resolves_to_itself_or_a_parent(code):
    found = region(code)
    if found is None:
        assert code[:2] + "0000" not in all_regions()
        return
    assert found.code in (code, code[:4] + "00", code[:2] + "0000")
    assert found.province == code[:2] + "0000"
    assert found.full_name.startswith(all_regions()[found.province])
    assert found.full_name.endswith(found.name)


@given(st.text(max_size=8))
def test_arbitrary_text_never_raises(text):
    found = region(text)
    assert found is None or re.fullmatch(r"[0-9]{6}", text)
