"""Tests of the synthetic disclosure generator (generator/synth.py).

The files are read back the way a department's export would be (CSV with a sniffed encoding,
XLSX with python-calamine) and checked by a small validator written here, independent of the
generator: required fields per subject category, enums, check characters, date order, record
keys, and the provenance sidecars.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml
from python_calamine import CalamineWorkbook

from generator import synth
from generator.codes import USCC_PLACEHOLDER, id_checksum_ok, uscc_checksum_ok

AS_OF = dt.date(2025, 3, 15)
SCHEMAS = {d: json.loads((synth.SCHEMA_DIR / f"{d}.json").read_text(encoding="utf-8")) for d in synth.DATASETS}
SIDECAR_KEYS = ["submitting_unit", "submitting_unit_uscc", "authority", "authority_uscc", "submitted_at",
                "approved_by", "approved_at"]
OPEN = dt.date.max


# --------------------------------------------------------------------------------------------
# Reading the tree back
# --------------------------------------------------------------------------------------------


def sniff_encoding(raw: bytes) -> str:
    """utf-8-sig when there is a BOM, utf-8 when it decodes, else gb18030."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def read_table(path: Path) -> tuple[list[str], list[list]]:
    """Header and rows of a CSV or XLSX data file."""
    if path.suffix == ".xlsx":
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        return [str(h) for h in rows[0]], [list(r) for r in rows[1:]]
    raw = path.read_bytes()
    rows = list(csv.reader(io.StringIO(raw.decode(sniff_encoding(raw)), newline="")))
    return rows[0], rows[1:]


def header_lookup(dataset: str) -> dict[str, tuple[str, str]]:
    """Every accepted header text -> (field name, header style)."""
    lookup: dict[str, tuple[str, str]] = {}
    for f in SCHEMAS[dataset]["fields"]:
        for style in ("name", "code", "title_fullwidth", "title"):  # later styles win on equal text
            if style == "code" and "code" not in f:
                continue
            lookup[synth.header_text(f, style)] = (f["name"], style)
    return lookup


def clean(value) -> str:
    """What a reader makes of a text cell: NFKC (full-width digits) and stripped."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def parse_date(value) -> dt.date | None:
    """A date in any of the forms the generator writes (OPEN for 长期)."""
    if value in ("", None):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)):
        return dt.date(1899, 12, 30) + dt.timedelta(days=int(value))
    text = clean(value)
    if text == "长期":
        return OPEN
    for form in ("%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, form).date()
        except ValueError:
            pass
    raise ValueError(f"not a date: {value!r}")


def parse_amount(value) -> float | None:
    """An amount in 万元 (number cell or text)."""
    if value in ("", None):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    text = clean(value)
    assert re.fullmatch(r"\d+(\.\d{1,4})?", text), text
    return float(text)


def records_of(out: Path, dataset: str):
    """(file name, header style, extras, record dict) for every row of a dataset."""
    lookup = header_lookup(dataset)
    for path in sorted((out / dataset).iterdir()):
        if path.name.endswith(".provenance.yaml"):
            continue
        header, rows = read_table(path)
        mapped = [lookup.get(h) for h in header]
        styles = {m[1] for m in mapped if m}
        extras = tuple(h for h, m in zip(header, mapped, strict=True) if m is None)
        for row in rows:
            record = {m[0]: v for m, v in zip(mapped, row, strict=True) if m}
            yield path.name, styles, extras, record


# --------------------------------------------------------------------------------------------
# An independent validator
# --------------------------------------------------------------------------------------------


def subject_code(record: dict) -> str:
    """The code that identifies a record's subject (USCC, 工商注册号 or ID number)."""
    uscc = clean(record.get("subject_uscc"))
    if uscc and uscc != USCC_PLACEHOLDER:
        return uscc
    return clean(record.get("subject_business_reg_no")) or clean(record.get("subject_id_no"))


def row_problems(dataset: str, record: dict, regions: set[str]) -> list[str]:
    """Everything wrong with one record; empty when the record is valid."""
    schema = SCHEMAS[dataset]
    problems = []
    category = clean(record.get("subject_category"))
    dates = {}
    for f in schema["fields"]:
        name = f["name"]
        raw = record.get(name)
        value = clean(raw)
        required = f.get("constraints", {}).get("required") or category in f.get("requiredFor", ())
        if required and not value:
            problems.append(f"{name} missing")
        if not value:
            continue
        constraints = f.get("constraints", {})
        if "enum" in constraints and value not in constraints["enum"] and value not in f.get("enumAliases", {}):
            problems.append(f"{name} not in enum: {value}")
        if "pattern" in constraints and not re.fullmatch(constraints["pattern"], value):
            problems.append(f"{name} does not match pattern: {value}")
        if "itemEnum" in f:
            items = re.split(r"[;；、，,]", value)
            if not set(items) <= set(f["itemEnum"]):
                problems.append(f"{name} has unknown items: {value}")
        if f["type"] == "date":
            dates[name] = parse_date(raw)
        if f["type"] == "number":
            parse_amount(raw)
        if (f.get("identifier") == "uscc" and value != USCC_PLACEHOLDER
                and (not uscc_checksum_ok(value) or value[2:8] not in regions)):
            problems.append(f"{name} invalid: {value}")
        if name in ("subject_id_no", "legal_rep_id_no") and (not id_checksum_ok(value) or value[:6] not in regions):
            problems.append(f"{name} invalid: {value}")
    uscc = clean(record.get("subject_uscc"))
    if uscc == USCC_PLACEHOLDER and not re.fullmatch(r"\d{15}", clean(record.get("subject_business_reg_no"))):
        problems.append("placeholder USCC without 工商注册号")
    if category == "自然人":
        if uscc or clean(record.get("legal_rep_name")):
            problems.append("natural person with USCC or legal representative")
        id_no = clean(record.get("subject_id_no"))
        decided = dates.get(schema["decisionDateField"])
        if id_no and decided:
            born = dt.datetime.strptime(id_no[6:14], "%Y%m%d").date()
            if (born.year + 18, born.month, born.day) > (decided.year, decided.month, decided.day):
                problems.append("natural person not adult at decision")
    if category == "个体工商户" and not (uscc.startswith("92") or uscc == USCC_PLACEHOLDER):
        problems.append(f"individual business with USCC {uscc}")
    if category == "法人及非法人组织" and uscc.startswith("92"):
        problems.append("organisation with an individual-business USCC")
    decided = dates.get(schema["decisionDateField"])
    if decided and not (AS_OF - dt.timedelta(days=4 * 366) <= decided <= AS_OF):
        problems.append(f"decision date outside the window: {decided}")
    if dates.get("valid_from") and dates["valid_from"] > AS_OF:
        problems.append("valid_from after as_of")
    for first, second in schema["dateOrder"]:
        if dates.get(first) and dates.get(second) and dates[first] > dates[second]:
            problems.append(f"{first} after {second}")
    if dataset == "penalties":
        categories = clean(record.get("penalty_categories"))
        if "罚款" in categories and not (parse_amount(record.get("fine_amount_wan")) or 0) > 0:
            problems.append("罚款 without a fine")
        if "没收" in categories and not (parse_amount(record.get("confiscation_amount_wan")) or 0) > 0:
            problems.append("没收 without an amount")
    if dataset in ("redlist", "blacklist"):
        status = clean(record.get("status"))
        removed = dates.get("removed_date")
        if (status == "已移出") != bool(removed) or (removed and removed > AS_OF):
            problems.append(f"status {status} with removed_date {removed}")
        if (status == "已移出") != bool(clean(record.get("removal_reason"))):
            problems.append("removal_reason does not match status")
    return problems


def read_regions() -> dict[str, tuple[str, str]]:
    with (synth.DATA_DIR / "regions.csv").open(encoding="utf-8", newline="") as fh:
        return {row["code"]: (row["name"], row["parent"]) for row in csv.DictReader(fh)}


def tree_digest(out: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file in a tree."""
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, synth.SynthSummary]:
    """A 3,000-record tree with small files, so that every variation shows up."""
    out = tmp_path_factory.mktemp("synth") / "data"
    return out, synth.synthesize(3000, 11, out, AS_OF, rows_per_file=200)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_same_arguments_give_the_same_bytes(tmp_path):
    first = synth.synthesize(1200, 5, tmp_path / "a", AS_OF, rows_per_file=150)
    second = synth.synthesize(1200, 5, tmp_path / "b", AS_OF, rows_per_file=150)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    assert [f.path for f in first.files] == [f.path for f in second.files]


def test_parallel_workers_write_the_same_bytes(tmp_path):
    synth.synthesize(800, 9, tmp_path / "serial", AS_OF, rows_per_file=100, workers=1)
    synth.synthesize(800, 9, tmp_path / "parallel", AS_OF, rows_per_file=100, workers=2)
    assert tree_digest(tmp_path / "serial") == tree_digest(tmp_path / "parallel")


def test_another_seed_gives_other_data(tmp_path):
    synth.synthesize(300, 1, tmp_path / "a", AS_OF)
    synth.synthesize(300, 2, tmp_path / "b", AS_OF)
    assert tree_digest(tmp_path / "a") != tree_digest(tmp_path / "b")


def test_summary_counts_equal_rows_written(tree):
    out, summary = tree
    assert summary.records == synth.split_records(3000)
    assert summary.total_records == 3000
    for f in summary.files:
        _, rows = read_table(out / f.path)
        assert len(rows) == f.rows, f.path
        assert 1 <= f.rows <= 200
    for dataset in synth.DATASETS:
        assert sum(1 for _ in records_of(out, dataset)) == summary.records[dataset]
        data_files = [p for p in (out / dataset).iterdir() if not p.name.endswith(".provenance.yaml")]
        assert len(data_files) == sum(1 for f in summary.files if f.dataset == dataset)


def test_records_split_between_datasets():
    assert synth.split_records(1_000_000) == {"licensing": 450000, "penalties": 350000, "redlist": 80000,
                                              "blacklist": 120000}
    for n in (0, 1, 7, 2001):
        assert sum(synth.split_records(n).values()) == n


def test_every_encoding_header_style_and_xlsx_appear(tree):
    out, summary = tree
    csv_files = [f for f in summary.files if f.file_format == "csv"]
    assert {sniff_encoding((out / f.path).read_bytes()) for f in csv_files} == set(synth.ENCODINGS)
    for f in csv_files:
        assert sniff_encoding((out / f.path).read_bytes()) == f.encoding, f.path
    for dataset in synth.DATASETS:
        files = [f for f in summary.files if f.dataset == dataset]
        assert any(f.file_format == "xlsx" for f in files), dataset
        assert {f.header_style for f in files} == set(
            synth.LIST_HEADER_STYLES if dataset in synth.LIST_DATASETS else synth.HEADER_STYLES)
    xlsx_share = sum(f.file_format == "xlsx" for f in summary.files) / len(summary.files)
    assert 0.08 <= xlsx_share <= 0.25
    assert any(f.extra_columns for f in summary.files)
    assert any(not f.extra_columns for f in summary.files)


def test_headers_read_back_in_the_declared_style(tree):
    out, summary = tree
    declared = {f.path.split("/")[1]: f for f in summary.files}
    seen = set()
    for dataset in synth.DATASETS:
        for name, styles, extras, _ in records_of(out, dataset):
            f = declared[name]
            if f.header_style == "title_fullwidth":  # titles without brackets read the same in both
                assert "title_fullwidth" in styles and styles <= {"title_fullwidth", "title"}, name
            else:
                assert styles == {f.header_style}, name
            assert set(extras) == set(f.extra_columns) <= set(synth.EXTRA_COLUMNS), name
            seen.add(name)
    assert seen == set(declared)


def test_file_names_are_ascii_and_meaningful(tree):
    _, summary = tree
    for f in summary.files:
        name = f.path.split("/")[1]
        assert name.isascii()
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*-[a-z]+-\d{4}(-\d{4})?(-part\d+)?\.(csv|xlsx)", name), name


def test_all_rows_are_valid(tree):
    out, _ = tree
    regions = set(read_regions())
    problems = []
    for dataset in synth.DATASETS:
        for name, _, _, record in records_of(out, dataset):
            problems += [f"{dataset}/{name}: {p}" for p in row_problems(dataset, record, regions)]
    assert problems[:20] == []


def test_record_keys_are_unique(tree):
    out, _ = tree
    for dataset in synth.DATASETS:
        key_fields = SCHEMAS[dataset]["recordKey"]
        keys = Counter()
        for _, _, _, record in records_of(out, dataset):
            keys[(*tuple(clean(record.get(k)) for k in key_fields), subject_code(record))] += 1
        assert [k for k, n in keys.items() if n > 1] == [], dataset


def test_all_codes_carry_valid_check_characters(tree):
    out, _ = tree
    usccs, ids = set(), set()
    for dataset in synth.DATASETS:
        for _, _, _, record in records_of(out, dataset):
            for name in ("subject_uscc", "authority_uscc", "source_unit_uscc"):
                value = clean(record.get(name))
                if value and value != USCC_PLACEHOLDER:
                    usccs.add(value)
            for name in ("subject_id_no", "legal_rep_id_no"):
                if clean(record.get(name)):
                    ids.add(clean(record.get(name)))
    assert usccs and all(uscc_checksum_ok(u) for u in usccs)
    assert ids and all(id_checksum_ok(i) for i in ids)
    prefixes = {u[:2] for u in usccs}
    assert {"91", "92", "93", "11", "12", "52"} <= prefixes
    assert {p[0] for p in prefixes} >= {"A", "N", "Y"} or {"N2", "Y1"} <= prefixes


def test_subjects_recur_with_one_name_per_code(tree):
    out, summary = tree
    names = defaultdict(set)
    datasets = defaultdict(set)
    counts = Counter()
    categories = Counter()
    placeholders = 0
    for dataset in synth.DATASETS:
        for _, _, _, record in records_of(out, dataset):
            code = subject_code(record)
            placeholders += clean(record.get("subject_uscc")) == USCC_PLACEHOLDER
            names[code].add(clean(record["subject_name"]))
            datasets[code].add(dataset)
            counts[code] += 1
            categories[clean(record["subject_category"])] += 1
    assert all(len(n) == 1 for n in names.values())
    assert max(counts.values()) >= 3
    assert sum(len(d) >= 2 for d in datasets.values()) >= 20
    assert len(counts) <= summary.subjects
    assert categories["法人及非法人组织"] > categories["个体工商户"] > categories["自然人"] > 0
    assert placeholders > 0


def test_noise_full_width_digits_and_stray_spaces_appear(tree):
    out, _ = tree
    fullwidth = spaces = 0
    for dataset in synth.DATASETS:
        for _, _, _, record in records_of(out, dataset):
            for value in record.values():
                if isinstance(value, str):
                    fullwidth += any("０" <= c <= "９" for c in value)
                    spaces += value != value.strip()
    assert fullwidth > 0 and spaces > 0


def test_dates_come_in_several_forms(tree):
    out, _ = tree
    forms = Counter()
    for _, _, _, record in records_of(out, "licensing"):
        value = record.get("decision_date")
        if isinstance(value, str):
            forms[re.sub(r"\d", "9", value)] += 1
        else:
            forms[type(value).__name__] += 1
    assert {"9999-99-99", "99999999"} <= set(forms)
    assert any("年" in f for f in forms) and any("/" in f for f in forms)


def test_xlsx_files_hold_real_dates_serials_and_numbers(tree):
    out, summary = tree
    kinds = Counter()
    for f in summary.files:
        if f.file_format != "xlsx":
            continue
        _header, rows = read_table(out / f.path)
        for row in rows:
            kinds.update(type(v).__name__ for v in row)
    assert kinds["date"] > 0 and kinds["float"] > 0 and kinds["str"] > 0


def test_penalties_use_2021_and_older_category_names(tree):
    out, _ = tree
    items = Counter()
    separators = Counter()
    for _, _, _, record in records_of(out, "penalties"):
        value = clean(record["penalty_categories"])
        items.update(re.split(r"[;；、，,]", value))
        separators.update(c for c in value if c in ";；、，,")
    assert items["罚款"] > 0 and items["警告"] > 0
    assert len(separators) >= 2


def test_licence_status_lists_and_open_ended_validity(tree):
    out, _ = tree
    statuses, valid_to = Counter(), Counter()
    for _, _, _, record in records_of(out, "licensing"):
        statuses[clean(record.get("status"))] += 1
        valid_to[clean(record.get("valid_to")) == "长期"] += 1
    assert statuses["有效"] > statuses["无效"] > 0 and valid_to[True] > 0
    for dataset in ("redlist", "blacklist"):
        listed = Counter(clean(r["status"]) for _, _, _, r in records_of(out, dataset))
        assert listed["在列"] > listed["已移出"] > 0, dataset


def test_every_file_has_a_provenance_sidecar(tree):
    out, summary = tree
    for f in summary.files:
        sidecar = out / (f.path + ".provenance.yaml")
        text = sidecar.read_text(encoding="utf-8")
        record = yaml.safe_load(text)
        assert list(record) == SIDECAR_KEYS, f.path
        submitted = dt.datetime.fromisoformat(str(record["submitted_at"]))
        approved = dt.datetime.fromisoformat(str(record["approved_at"]))
        assert submitted.utcoffset() == approved.utcoffset() == dt.timedelta(hours=8)
        assert dt.timedelta(days=1) <= approved.replace(hour=0, minute=0, second=0) - submitted.replace(
            hour=0, minute=0, second=0) <= dt.timedelta(days=3)
        assert approved.date() < AS_OF
        assert uscc_checksum_ok(record["authority_uscc"]) and uscc_checksum_ok(record["submitting_unit_uscc"])
        assert record["authority"] == f.authority
        assert "审核员" in record["approved_by"]
        dataset = f.dataset
        decision_field = SCHEMAS[dataset]["decisionDateField"]
        newest = max(parse_date(r[decision_field]) for name, _, _, r in records_of(out, dataset)
                     if name == f.path.split("/")[1])
        assert submitted.date() > newest
    sidecars = [p for p in out.rglob("*.provenance.yaml")]
    assert len(sidecars) == len(summary.files)


def test_rows_name_the_files_authority(tree):
    out, summary = tree
    authority = {f.path.split("/")[1]: f.authority for f in summary.files}
    for dataset in synth.DATASETS:
        for name, _, _, record in records_of(out, dataset):
            assert clean(record["authority"]) == authority[name]


def test_regions_table_is_guangxi():
    regions = read_regions()
    cities = [c for c, (_, parent) in regions.items() if parent == "450000"]
    assert regions["450000"][0] == "广西壮族自治区"
    assert len(cities) == 14 and regions["450100"][0] == "南宁市" and regions["451400"][0] == "崇左市"
    for code, (name, parent) in regions.items():
        assert re.fullmatch(r"45\d{4}", code) and name
        assert parent == "" or parent in regions
        if parent and parent != "450000":
            assert code[:4] == parent[:4]
    for city in cities:
        assert sum(parent == city for _, parent in regions.values()) >= 3


def test_authorities_have_fixed_valid_codes():
    vocab = synth.load_vocabulary()
    codes = [a.uscc for a in vocab.authorities]
    assert len(set(codes)) == len(codes)
    for a in vocab.authorities:
        assert a.uscc.startswith("11" + a.jurisdiction.code) and uscc_checksum_ok(a.uscc)
        assert a.centre_uscc.startswith("12" + a.jurisdiction.code) and uscc_checksum_ok(a.centre_uscc)
        a.name.encode("gb18030")
    assert synth.fixed_uscc("11", "450100", "南宁市市场监督管理局", set()) == next(
        a.uscc for a in vocab.authorities if a.name == "南宁市市场监督管理局")


def test_check_character_helpers_match_references():
    # GB 32100 example 91350100M000100Y43: its 组织机构代码 M000100Y4 ends in the GB 11714 check.
    assert synth.org_code_check_char("M000100Y") == "4"
    # 工商注册号 (GB/T 17710 MOD 11,10), compared with a plain scalar implementation.
    import numpy as np

    def scalar(first14: str) -> str:
        p = 10
        for c in first14:
            s = (p + int(c)) % 10 or 10
            p = 2 * s % 11
        return str((11 - p) % 10)

    samples = ["45010260000001", "45030212345678", "11010800000001"]
    matrix = np.frombuffer("".join(samples).encode(), dtype=np.uint8).reshape(3, 14)
    assert [chr(c) for c in synth._registration_no_checks(matrix)] == [scalar(s) for s in samples]


def test_summary_describes_itself(tree):
    _, summary = tree
    line = summary.describe()
    assert "3000 条" in line and "行政许可 1350 条" in line and str(summary.files_written) in line


def test_amounts_in_wan_yuan():
    assert synth.wan_text(2000) == "0.2"
    assert synth.wan_text(12345) == "1.2345"
    assert synth.wan_text(50000) == "5"
    assert synth.wan_text(7) == "0.0007"


def test_refuses_a_tree_that_already_has_files(tmp_path):
    (tmp_path / "licensing").mkdir()
    (tmp_path / "licensing" / "old.csv").write_text("x", encoding="utf-8")
    with pytest.raises(synth.SynthesisError, match="请换一个空的 --out 目录"):
        synth.synthesize(100, 1, tmp_path, AS_OF)
    with pytest.raises(synth.SynthesisError):
        synth.synthesize(-1, 1, tmp_path / "new", AS_OF)


def test_everything_encodes_in_gb18030(tree):
    out, _ = tree
    for path in out.rglob("*.csv"):
        raw = path.read_bytes()
        raw.decode(sniff_encoding(raw)).encode("gb18030")


def test_days_puts_every_decision_in_the_last_days_before_the_lag(tmp_path):
    from generator.intake import run_intake

    synth.synthesize(600, 7, tmp_path, AS_OF, days=14)
    intake = run_intake(tmp_path, AS_OF)
    assert (intake.read, intake.withheld) == (600, 0)
    last = AS_OF - dt.timedelta(days=synth.PUBLICATION_LAG_DAYS)
    first = last - dt.timedelta(days=13)
    dates = []
    for dataset, field in (("licensing", "decision_date"), ("penalties", "decision_date"),
                           ("redlist", "listed_date"), ("blacklist", "listed_date")):
        dates += [dt.date.fromisoformat(d) for d in intake.records[dataset][field].to_pylist()]
    assert len(dates) == 600
    assert first <= min(dates) and max(dates) <= last
    assert len(set(dates)) > 7  # spread over the days, not all on one
    names = sorted(p.name for p in tmp_path.rglob("*") if p.suffix in (".csv", ".xlsx"))
    assert names and [n for n in names if f"{AS_OF.year}-{AS_OF.year}" in n] == []  # one year: named by that year
