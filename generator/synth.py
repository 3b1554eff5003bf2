"""Deterministic synthetic disclosures: a fictitious Guangxi dataset tree for demos and benchmarks.

:func:`synthesize` writes ``out/licensing``, ``out/penalties``, ``out/redlist`` and
``out/blacklist``: data files as departments export them (CSV in UTF-8, UTF-8 with BOM or
GB18030, or XLSX; Chinese titles, national codes or snake_case ids as headers; varied date
forms; a few stray spaces and full-width digits) and beside each a ``<file>.provenance.yaml``
sidecar. Every row is valid against ``generator/schemas``: required fields per subject
category, enums, check characters, date order, unique record keys.

The same arguments give the same bytes: all randomness comes from seeded generators (one per
data file, derived from the seed, the dataset and the file's number), iteration is ordered and
no clock is read. Subjects, authorities and word lists are invented or taken from
``generator/data``; the data are fictitious.

The generator holds the subject pool (about ``records / 2`` subjects, as NumPy arrays) and one
file's rows at a time, so a million records fit in a few hundred megabytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import json
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .codes import ID_CHECK, ID_WEIGHTS, USCC_ALPHABET, USCC_PLACEHOLDER, USCC_WEIGHTS, uscc_check_char
from .errors import ConfigError

DATA_DIR = Path(__file__).parent / "data"
SCHEMA_DIR = Path(__file__).parent / "schemas"

DATASETS = ("licensing", "penalties", "redlist", "blacklist")
DATASET_TITLES = {"licensing": "行政许可", "penalties": "行政处罚", "redlist": "守信激励名单", "blacklist": "严重失信主体名单"}
DATASET_SHARES = (0.45, 0.35, 0.08, 0.12)
LIST_DATASETS = ("redlist", "blacklist")

ENCODINGS = ("utf-8", "utf-8-sig", "gb18030")
HEADER_STYLES = ("title", "title_fullwidth", "code", "name")
LIST_HEADER_STYLES = ("title", "title_fullwidth", "name")  # the lists have no national codes
EXTRA_COLUMNS = ("序号", "内部编号", "导出时间", "批次号")  # not in any schema; the reader ignores them

ORG, INDIV, PERSON = 0, 1, 2
SUBJECT_KINDS = {"org": ORG, "indiv": INDIV, "person": PERSON}
CATEGORY_TEXT = ("法人及非法人组织", "个体工商户", "自然人")
POOL_SHARES = (0.78, 0.14, 0.08)  # subjects by category
DATASET_MIX = {  # records by subject category
    "licensing": (0.66, 0.22, 0.12),
    "penalties": (0.55, 0.28, 0.17),
    "redlist": (0.92, 0.08, 0.0),
    "blacklist": (0.80, 0.12, 0.08),
}
LOCAL_SHARE = 0.9  # a city authority's records are mostly about subjects registered in its city
REUSE_SKEW = 1.7  # >1: some subjects collect many records

WINDOW_YEARS = 4  # decisions fall in the four years before as_of ...
PUBLICATION_LAG_DAYS = 7  # ... and at least this many days before it
YEAR_SPLIT_ROWS = 200  # an authority with at least this many rows exports one file per year
OPEN_END = -1  # valid_to 长期
NO_DATE = 0
EXCEL_EPOCH = dt.date(1899, 12, 30).toordinal()
UNIX_EPOCH = dt.date(1970, 1, 1).toordinal()

DATE_STYLES = ("iso", "slash", "cjk", "compact", "slash_padded")
DATE_STYLE_WEIGHTS = (0.40, 0.20, 0.15, 0.15, 0.10)
XLSX_DATE_MODES = ("date", "serial", "text")
XLSX_DATE_FORMATS = ("yyyy-mm-dd", "yyyy/m/d", 'yyyy"年"m"月"d"日"')

ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714 组织机构代码
FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
HALF_TO_FULL_BRACKETS = str.maketrans({"(": "（", ")": "）", "（": "(", "）": ")"})

# 2021 行政处罚法 names → the names older systems still export.
LEGACY_PENALTY_NAMES = {
    "通报批评": "警告",
    "暂扣许可证件": "暂扣或者吊销许可证",
    "吊销许可证件": "暂扣或者吊销许可证",
    "降低资质等级": "其他",
    "限制开展生产经营活动": "其他",
    "责令关闭": "其他",
    "限制从业": "其他",
}
# Optional columns a department's export may lack altogether (kept in groups).
DROPPABLE = {
    "licensing": (("subject_org_code", "subject_tax_reg_no"), ("subject_inst_cert_no", "subject_social_org_reg_no"),
                  ("legal_rep_id_type", "legal_rep_id_no"), ("certificate_name",), ("license_no",), ("status",),
                  ("remarks",)),
    "penalties": (("subject_org_code", "subject_tax_reg_no"), ("subject_inst_cert_no", "subject_social_org_reg_no"),
                  ("legal_rep_id_type", "legal_rep_id_no"), ("suspended_revoked_licence",),
                  ("penalty_valid_until",), ("publicity_end_date",), ("remarks",)),
    "redlist": (("subject_org_code", "subject_tax_reg_no"), ("subject_inst_cert_no", "subject_social_org_reg_no"),
                ("legal_rep_id_type", "legal_rep_id_no"), ("valid_until",), ("remarks",)),
}
DROPPABLE["blacklist"] = DROPPABLE["redlist"]


class SynthesisError(ConfigError):
    """The generator cannot run with the arguments given (the message says what to change)."""


# --------------------------------------------------------------------------------------------
# Public result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthFile:
    """One data file written: where, what and how it is encoded."""

    dataset: str
    path: str  # relative to ``out``, POSIX separators
    rows: int
    file_format: str  # "csv" or "xlsx"
    encoding: str | None  # "utf-8", "utf-8-sig", "gb18030"; None for XLSX
    header_style: str  # "title", "title_fullwidth", "code" or "name"
    extra_columns: tuple[str, ...]
    authority: str


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`synthesize` wrote: the files (sorted by path) and records per dataset."""

    out: Path
    subjects: int
    records: dict[str, int]
    files: tuple[SynthFile, ...]

    @property
    def total_records(self) -> int:
        """All records written, over the four datasets."""
        return sum(self.records.values())

    @property
    def files_written(self) -> int:
        """Number of data files (sidecars not counted)."""
        return len(self.files)

    def describe(self) -> str:
        """One line for the command line: what was written where."""
        parts = "，".join(f"{DATASET_TITLES[d]} {n} 条" for d, n in self.records.items())
        return (f"已在 {self.out} 生成虚构示例数据 {self.total_records} 条（{self.files_written} 个文件，"
                f"{self.subjects} 个主体）：{parts}。")


# --------------------------------------------------------------------------------------------
# Reference data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Jurisdiction:
    """The autonomous region or one of its cities, with the districts subjects register in."""

    index: int  # 0 for the region, 1..14 for cities
    code: str
    name: str
    short: str
    slug: str
    doc: str
    weight: float
    districts: tuple[tuple[str, str], ...]  # (code, name) of county-level divisions

    @property
    def is_region(self) -> bool:
        """True for 广西壮族自治区 itself."""
        return self.code == "450000"


@dataclass(frozen=True)
class Authority:
    """A publishing department with its fixed USCC, file-name slug and 代字."""

    name: str
    uscc: str
    department: str
    jurisdiction: Jurisdiction
    slug: str  # nanning-scjgj
    doc_prefix: str  # 南市监
    centre_name: str  # the jurisdiction's credit centre
    centre_uscc: str


@dataclass(frozen=True)
class Vocabulary:
    """Everything read from ``generator/data`` and ``generator/schemas``."""

    jurisdictions: tuple[Jurisdiction, ...]
    authorities: tuple[Authority, ...]
    reviewers: tuple[str, ...]
    names: dict
    matters: dict  # dataset -> department -> spec
    schemas: dict  # dataset -> schema dict


@functools.lru_cache(maxsize=1)
def load_vocabulary() -> Vocabulary:
    """Read the word lists, regions, authorities and schemas the generator draws on."""
    regions = _read_regions(DATA_DIR / "regions.csv")
    spec = _read_yaml("authorities.yaml")
    jurisdictions = []
    for index, entry in enumerate(spec["jurisdictions"]):
        code = entry["code"]
        districts = tuple((c, n) for c, (n, parent) in regions.items() if parent == code and code != "450000")
        jurisdictions.append(Jurisdiction(index, code, regions[code][0], entry["short"], entry["slug"], entry["doc"],
                                          float(entry["weight"]), districts))
    authorities = _build_authorities(jurisdictions, spec["departments"], spec["credit_centre"])
    lists = _read_yaml("lists.yaml")
    matters = {"licensing": _read_yaml("licensing.yaml"), "penalties": _read_yaml("penalties.yaml"),
               "redlist": lists["redlist"], "blacklist": lists["blacklist"]}
    schemas = {d: json.loads((SCHEMA_DIR / f"{d}.json").read_text(encoding="utf-8")) for d in DATASETS}
    return Vocabulary(tuple(jurisdictions), authorities, tuple(spec["reviewers"]), _read_yaml("names.yaml"),
                      matters, schemas)


def _read_yaml(name: str) -> dict:
    """One YAML file from ``generator/data``."""
    return yaml.safe_load((DATA_DIR / name).read_text(encoding="utf-8"))


def _read_regions(path: Path) -> dict[str, tuple[str, str]]:
    """GB/T 2260 codes of Guangxi: code -> (name, parent code)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return {row["code"]: (row["name"], row["parent"]) for row in csv.DictReader(fh)}


def _build_authorities(jurisdictions: Sequence[Jurisdiction], departments: list[dict],
                       centre_pattern: str) -> tuple[Authority, ...]:
    """Every department at every level it exists, each with a fixed, unique USCC."""
    taken: set[str] = set()
    authorities = []
    for jur in jurisdictions:
        centre_name = centre_pattern.format(name=jur.name)
        centre_uscc = fixed_uscc("12", jur.code, centre_name, taken)
        for dept in departments:
            if jur.is_region:
                if "region" not in dept:
                    continue
                name = dept["region"]
                slug = f"{jur.slug}-{dept.get('region_slug', dept['slug'])}"
                prefix = dept.get("region_doc", jur.doc + dept["abbr"])
            else:
                if "city" not in dept:
                    continue
                name = dept["city"].format(city=jur.name)
                slug = f"{jur.slug}-{dept['slug']}"
                prefix = jur.doc + dept["abbr"]
            authorities.append(Authority(name, fixed_uscc("11", jur.code, name, taken), dept["slug"], jur, slug,
                                         prefix, centre_name, centre_uscc))
    return tuple(authorities)


def fixed_uscc(category: str, region: str, name: str, taken: set[str]) -> str:
    """A valid USCC for a public body, derived from its name (the same for every seed)."""
    salt = 0
    while True:
        digest = hashlib.sha256(f"{name}#{salt}".encode()).digest()
        body = ("MB" if digest[0] % 2 else "00") + "".join(str(b % 10) for b in digest[1:7])
        first17 = category + region + body + org_code_check_char(body)
        code = first17 + uscc_check_char(first17)
        if code not in taken:
            taken.add(code)
            return code
        salt += 1


# --------------------------------------------------------------------------------------------
# Check characters, vectorised over (n, k) matrices of ASCII bytes
# --------------------------------------------------------------------------------------------

_USCC_VALUE = np.zeros(256, dtype=np.int32)
for _i, _c in enumerate(USCC_ALPHABET):
    _USCC_VALUE[ord(_c)] = _i
_USCC_BYTES = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
_ORG_VALUE = np.zeros(256, dtype=np.int32)  # GB 11714: digits 0-9, letters A=10 ... Z=35
for _i in range(10):
    _ORG_VALUE[48 + _i] = _i
for _i in range(26):
    _ORG_VALUE[65 + _i] = 10 + _i
_ID_CHECK_BYTES = np.frombuffer(ID_CHECK.encode(), dtype=np.uint8)
_DIGIT_BYTES = np.frombuffer(b"0123456789", dtype=np.uint8)
_ORG_CHECK_BYTES = np.frombuffer(b"0123456789X0", dtype=np.uint8)  # index: 11 - sum mod 11 (11 -> 0)


def org_code_check_char(body8: str) -> str:
    """The 9th character of a 组织机构代码 (GB 11714) whose first 8 characters are given."""
    total = sum(int(_ORG_VALUE[ord(c)]) * w for c, w in zip(body8, ORG_CODE_WEIGHTS, strict=True))
    return chr(_ORG_CHECK_BYTES[11 - total % 11])


def _org_code_checks(body: np.ndarray) -> np.ndarray:
    """Vectorised :func:`org_code_check_char` over an (n, 8) byte matrix."""
    total = _ORG_VALUE[body] @ np.array(ORG_CODE_WEIGHTS, dtype=np.int32)
    return _ORG_CHECK_BYTES[11 - total % 11]


def _uscc_checks(first17: np.ndarray) -> np.ndarray:
    """USCC check characters for an (n, 17) byte matrix."""
    total = _USCC_VALUE[first17] @ np.array(USCC_WEIGHTS, dtype=np.int32)
    return _USCC_BYTES[(31 - total % 31) % 31]


def _id_checks(first17: np.ndarray) -> np.ndarray:
    """Resident-ID check characters (ISO 7064 MOD 11-2) for an (n, 17) digit-byte matrix."""
    total = (first17.astype(np.int32) - 48) @ np.array(ID_WEIGHTS, dtype=np.int32)
    return _ID_CHECK_BYTES[total % 11]


def _registration_no_checks(first14: np.ndarray) -> np.ndarray:
    """工商注册号 check digits (ISO 7064 MOD 11,10) for an (n, 14) digit-byte matrix."""
    p = np.full(len(first14), 10, dtype=np.int64)
    for column in range(first14.shape[1]):
        s = (p + first14[:, column].astype(np.int64) - 48) % 10
        s[s == 0] = 10
        p = (2 * s) % 11
    return _DIGIT_BYTES[(11 - p) % 10]


def _ascii_rows(values: Sequence[str] | np.ndarray, width: int) -> np.ndarray:
    """An (n, width) byte matrix from n ASCII strings of exactly ``width`` characters."""
    codes = np.asarray(values).astype(f"S{width}")
    return np.ascontiguousarray(codes).view(np.uint8).reshape(len(codes), width).copy()


def _as_strings(matrix: np.ndarray) -> np.ndarray:
    """Byte-string array (dtype S) from an (n, k) byte matrix."""
    matrix = np.ascontiguousarray(matrix)
    return matrix.view(f"S{matrix.shape[1]}").reshape(len(matrix))


def _random_digits(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """An (n, k) matrix of random ASCII digits."""
    return _DIGIT_BYTES[rng.integers(0, 10, (n, k), dtype=np.uint8)]


def _make_unique(values: np.ndarray, regenerate: Callable[[np.ndarray], np.ndarray],
                 reserved: np.ndarray | None = None) -> np.ndarray:
    """Regenerate duplicated entries (and entries in ``reserved``) until all values differ."""
    while True:
        duplicate = _duplicates(values)
        if reserved is not None and len(reserved):
            duplicate |= np.isin(values, reserved)
        bad = np.flatnonzero(duplicate)
        if bad.size == 0:
            return values
        values[bad] = regenerate(bad)


def _duplicates(values: np.ndarray) -> np.ndarray:
    """True for every byte string equal to an earlier one.

    Sorts 64-bit hashes instead of the strings, then compares the few equal-hash candidates.
    """
    n, width = len(values), values.dtype.itemsize
    matrix = np.ascontiguousarray(values).view(np.uint8).reshape(n, width)
    digest = np.zeros(n, dtype=np.uint64)
    for column in range(width):  # polynomial hash modulo 2**64 (wrap-around intended)
        digest = digest * np.uint64(1_000_003) + matrix[:, column]
    order = np.argsort(digest, kind="stable")
    same = np.flatnonzero(digest[order][1:] == digest[order][:-1])
    candidates = np.unique(np.concatenate([order[same], order[same + 1]]))
    duplicate = np.zeros(n, dtype=bool)
    seen: set[bytes] = set()
    for i in candidates.tolist():
        value = values[i]
        duplicate[i] = value in seen
        seen.add(value)
    return duplicate


# --------------------------------------------------------------------------------------------
# Subjects
# --------------------------------------------------------------------------------------------


@dataclass
class SubjectPool:
    """The fictitious subjects records are about, sorted by (category, city).

    Codes are fixed-width byte strings (b"" where absent) to keep a million-record pool small.
    """

    category: np.ndarray  # int8: ORG, INDIV, PERSON
    city: np.ndarray  # int16: jurisdiction index 1..14
    name: np.ndarray  # object str
    uscc: np.ndarray  # S18; placeholder for some 个体工商户, b"" for natural persons
    business_reg_no: np.ndarray  # S15: 工商注册号 of placeholder 个体工商户 and of old enterprises
    id_no: np.ndarray  # S18: natural persons' resident ID
    rep_name: np.ndarray  # object str: legal representative / operator
    rep_id_no: np.ndarray  # S18
    prefix: np.ndarray  # U2: USCC categories (91, 12, N2 ...) of organisations
    legacy: np.ndarray  # bool: registered before the 2015 reform, so legacy codes exist
    ranges: np.ndarray  # (3, n_jurisdictions, 2): start, length of each (category, city)
    category_ranges: np.ndarray  # (3, 2)

    def __len__(self) -> int:
        return len(self.category)

    def pick(self, categories: np.ndarray, city: int | None, rng: np.random.Generator) -> np.ndarray:
        """Subjects for records of the given categories, mostly local to ``city`` when given."""
        n = len(categories)
        start = self.category_ranges[categories, 0]
        length = self.category_ranges[categories, 1]
        if city is not None:
            local = (rng.random(n) < LOCAL_SHARE) & (self.ranges[categories, city, 1] > 0)
            start = np.where(local, self.ranges[categories, city, 0], start)
            length = np.where(local, self.ranges[categories, city, 1], length)
        offset = (length * rng.random(n) ** REUSE_SKEW).astype(np.int64)
        return start + np.minimum(offset, length - 1)


def build_subject_pool(count: int, rng: np.random.Generator, vocab: Vocabulary, first_day: int,
                       reserved_usccs: np.ndarray) -> SubjectPool:
    """Draw ``count`` fictitious subjects: organisations, individual businesses, natural persons."""
    sizes = _category_sizes(count)
    category = np.repeat(np.arange(3, dtype=np.int8), sizes)
    cities = vocab.jurisdictions[1:]
    city_weights = np.array([j.weight for j in cities])
    city = np.concatenate([np.sort(rng.choice(len(cities), size=s, p=city_weights / city_weights.sum()))
                           for s in sizes]).astype(np.int16) + 1
    district = _draw_districts(city, vocab, rng)
    names = np.empty(count, dtype=object)
    uscc = np.zeros(count, dtype="S18")
    reg_no = np.zeros(count, dtype="S15")
    prefix = np.zeros(count, dtype="U2")
    legacy = np.zeros(count, dtype=bool)
    org = slice(0, sizes[0])
    indiv = slice(sizes[0], sizes[0] + sizes[1])
    person = slice(sizes[0] + sizes[1], count)
    rep_names = _person_names(count, rng, vocab)
    _draw_organisations(org, city, district, rng, vocab, names, uscc, reg_no, prefix, legacy)
    _draw_individual_businesses(indiv, district, rep_names, rng, vocab, names, uscc, reg_no)
    names[person] = rep_names[person]
    rep_names[person] = ""
    _dedupe_names(names, sizes, rng, vocab)
    real = np.flatnonzero((uscc != b"") & (uscc != USCC_PLACEHOLDER.encode()))
    uscc[real] = _make_unique(uscc[real].copy(), lambda bad: _reshuffle_uscc(uscc[real][bad], rng),
                              reserved_usccs)
    placeholder_regs = np.flatnonzero(reg_no != b"")
    reg_no[placeholder_regs] = _make_unique(reg_no[placeholder_regs].copy(),
                                            lambda bad: _reshuffle_registration(reg_no[placeholder_regs][bad], rng))
    id_no, rep_id = _draw_resident_ids(category, district, person, rng, vocab, first_day)
    ranges, category_ranges = _pool_ranges(category, city, len(vocab.jurisdictions))
    return SubjectPool(category, city, names, uscc, reg_no, id_no, rep_names, rep_id, prefix, legacy,
                       ranges, category_ranges)


def _category_sizes(count: int) -> tuple[int, int, int]:
    """How many organisations, individual businesses and natural persons a pool holds."""
    indiv = max(1, round(count * POOL_SHARES[1]))
    person = max(1, round(count * POOL_SHARES[2]))
    return count - indiv - person, indiv, person


def _draw_districts(city: np.ndarray, vocab: Vocabulary, rng: np.random.Generator) -> np.ndarray:
    """A county-level division code (as str) inside each subject's city."""
    district = np.empty(len(city), dtype="U6")
    u = rng.random(len(city))
    for jur in vocab.jurisdictions[1:]:
        mask = city == jur.index
        codes = np.array([c for c, _ in jur.districts])
        district[mask] = codes[(u[mask] * len(codes)).astype(np.int64)]
    return district


def _district_names(vocab: Vocabulary) -> dict[str, tuple[str, str, str]]:
    """District code -> (city name, district name, city short name)."""
    return {code: (jur.name, name, jur.short) for jur in vocab.jurisdictions[1:] for code, name in jur.districts}


def _person_names(n: int, rng: np.random.Generator, vocab: Vocabulary) -> np.ndarray:
    """Fictitious Chinese names: a (mostly common) surname and one or two given characters."""
    surnames = vocab.names["surnames"]
    given = vocab.names["given"]
    s = (len(surnames) * rng.random(n) ** 2).astype(np.int64)
    g1 = rng.integers(0, len(given), n)
    g2 = np.where(rng.random(n) < 0.7, rng.integers(0, len(given), n), -1)
    return np.array([surnames[a] + given[b] + (given[c] if c >= 0 else "")
                     for a, b, c in zip(s.tolist(), g1.tolist(), g2.tolist(), strict=True)], dtype=object)


def _trade_names(n: int, rng: np.random.Generator, vocab: Vocabulary) -> list[str]:
    """Invented two-character 字号 (two different characters)."""
    chars = vocab.names["trade_chars"]
    a = rng.integers(0, len(chars), n)
    b = rng.integers(0, len(chars) - 1, n)
    b = b + (b >= a)
    return [chars[i] + chars[j] for i, j in zip(a.tolist(), b.tolist(), strict=True)]


def _draw_organisations(rows: slice, city: np.ndarray, district: np.ndarray, rng: np.random.Generator,
                        vocab: Vocabulary, names: np.ndarray, uscc: np.ndarray, reg_no: np.ndarray,
                        prefix: np.ndarray, legacy: np.ndarray) -> None:
    """Names, USCCs and legacy registration numbers of 法人及非法人组织 subjects."""
    n = rows.stop - rows.start
    if n == 0:
        return
    kinds = vocab.names["organisation_kinds"]
    weights = np.array([k["weight"] for k in kinds], dtype=float)
    kind = rng.choice(len(kinds), size=n, p=weights / weights.sum())
    trade = _trade_names(n, rng, vocab)
    places = _district_names(vocab)
    region = district[rows].copy()
    words = {key: vocab.names[key] for key in ("cooperative", "institution", "township", "association",
                                                 "private_nonprofit", "foundation", "industries")}
    suffixes = vocab.names["company_suffixes"]
    suffix_p = np.array([s["weight"] for s in suffixes], dtype=float)
    suffix = rng.choice(len(suffixes), size=n, p=suffix_p / suffix_p.sum()).tolist()
    style = rng.choice(4, size=n, p=(0.25, 0.3, 0.3, 0.15)).tolist()
    pick = rng.integers(0, 1 << 30, n).tolist()
    city_codes = [vocab.jurisdictions[c].code for c in city[rows].tolist()]
    out = []
    for i in range(n):
        spec = kinds[kind[i]]
        city_name, district_name, short = places[region[i]]
        if spec["pattern"] == "company":
            industry = words["industries"][pick[i] % len(words["industries"])]
            place, region[i] = _company_place(style[i], short, city_name, district_name, region[i], city_codes[i])
            out.append(f"{place}{trade[i]}{industry}{suffixes[suffix[i]]['text']}")
            continue
        fill = {key: values[pick[i] % len(values)] for key, values in words.items()}
        out.append(spec["pattern"].format(district=city_name + district_name, city=city_name, trade=trade[i], **fill))
        if spec["pattern"].startswith("广西"):
            region[i] = "450000"
        elif "{city}" in spec["pattern"]:
            region[i] = city_codes[i]
    names[rows] = out
    prefixes = np.array([k["prefix"] for k in kinds])[kind]
    prefix[rows] = prefixes
    is_enterprise = np.array([k["body"] == "enterprise" for k in kinds])[kind]
    legacy[rows] = is_enterprise & (rng.random(n) < 0.35)
    body = _organisation_bodies([k["body"] for k in kinds], kind, legacy[rows], rng)
    first17 = np.concatenate([_ascii_rows(prefixes, 2), _ascii_rows(region, 6), body], axis=1)
    uscc[rows] = _as_strings(np.concatenate([first17, _uscc_checks(first17)[:, None]], axis=1))
    old = np.flatnonzero(legacy[rows])
    reg_no[rows.start + old] = _registration_numbers(region[old], rng, "0123")


def _company_place(style: int, short: str, city_name: str, district_name: str, district_code: str,
                   city_code: str) -> tuple[str, str]:
    """Where a company's name says it is, and the registering region that goes with it."""
    if style == 0:
        return "广西", "450000"
    if style == 1:
        return short, city_code
    if style == 3 and district_name[-1] in "县市":
        return district_name, district_code
    return city_name, city_code


def _organisation_bodies(bodies: list[str], kind: np.ndarray, legacy: np.ndarray,
                         rng: np.random.Generator) -> np.ndarray:
    """USCC positions 9-17 (the 组织机构代码 with its GB 11714 check) as an (n, 9) matrix.

    New enterprises get MA5x-style codes, older ones eight digits; public bodies 0xxxxxxx;
    social organisations, cooperatives and others a two-letter series (MJ, MF, ...).
    """
    n = len(kind)
    body = _random_digits(rng, n, 8)
    letters = np.frombuffer(b"KLMNPQRTUWXY", dtype=np.uint8)
    for k, spec in enumerate(bodies):
        mask = kind == k
        if spec == "enterprise":
            new = mask & ~legacy
            count = int(new.sum())
            body[new, :3] = np.frombuffer(b"MA5", dtype=np.uint8)
            body[new, 3] = letters[rng.integers(0, len(letters), count)]
            body[new, 4:] = _USCC_BYTES[rng.integers(0, 31, (count, 4))]
            body[mask & legacy, 0] = _DIGIT_BYTES[rng.integers(1, 10, int((mask & legacy).sum()))]
        elif spec == "0":
            body[mask, 0] = ord("0")
        else:
            body[mask, :2] = np.frombuffer(spec.encode(), dtype=np.uint8)
    return np.concatenate([body, _org_code_checks(body)[:, None]], axis=1)


def _registration_numbers(regions: np.ndarray, rng: np.random.Generator, types: str) -> np.ndarray:
    """15-digit 工商注册号: region, a type digit from ``types``, serial, MOD 11,10 check."""
    n = len(regions)
    if n == 0:
        return np.zeros(0, dtype="S15")
    type_digit = np.frombuffer(types.encode(), dtype=np.uint8)[rng.integers(0, len(types), n)]
    first14 = np.concatenate([_ascii_rows(regions, 6), type_digit[:, None], _random_digits(rng, n, 7)], axis=1)
    return _as_strings(np.concatenate([first14, _registration_no_checks(first14)[:, None]], axis=1))


def _reshuffle_registration(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """New serials (same region and type digit) for duplicated 工商注册号."""
    matrix = values.view(np.uint8).reshape(len(values), 15).copy()
    matrix[:, 7:14] = _random_digits(rng, len(values), 7)
    matrix[:, 14] = _registration_no_checks(matrix[:, :14])
    return _as_strings(matrix)


def _reshuffle_uscc(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """New 主体标识码 digits (same category, region and series) for duplicated USCCs."""
    matrix = values.view(np.uint8).reshape(len(values), 18).copy()
    matrix[:, 12:16] = _random_digits(rng, len(values), 4)
    matrix[:, 16] = _org_code_checks(matrix[:, 8:16])
    matrix[:, 17] = _uscc_checks(matrix[:, :17])
    return _as_strings(matrix)


def _draw_individual_businesses(rows: slice, district: np.ndarray, operators: np.ndarray,
                                rng: np.random.Generator, vocab: Vocabulary, names: np.ndarray,
                                uscc: np.ndarray, reg_no: np.ndarray) -> None:
    """个体工商户: shop names, 92-USCCs, or the placeholder USCC with a 工商注册号."""
    n = rows.stop - rows.start
    if n == 0:
        return
    places = _district_names(vocab)
    shops = vocab.names["shops"]
    trade = _trade_names(n, rng, vocab)
    shop = rng.integers(0, len(shops), n).tolist()
    style = rng.random(n).tolist()
    region = district[rows]
    out = []
    for i in range(n):
        city_name, district_name, _ = places[region[i]]
        operator = operators[rows.start + i]
        if style[i] < 0.05:
            out.append(operator)  # no 字号: registered under the operator's name
        elif style[i] < 0.35:
            out.append(f"{city_name}{district_name}{operator[0]}记{shops[shop[i]]}")
        else:
            out.append(f"{city_name}{district_name}{trade[i]}{shops[shop[i]]}")
    names[rows] = out
    placeholder = rng.random(n) < 0.3
    coded = np.flatnonzero(~placeholder)
    body = _random_digits(rng, len(coded), 8)
    body[:, :3] = np.frombuffer(b"MA5", dtype=np.uint8)
    body = np.concatenate([body, _org_code_checks(body)[:, None]], axis=1)
    first17 = np.concatenate([_ascii_rows(np.full(len(coded), "92"), 2), _ascii_rows(region[coded], 6), body],
                             axis=1)
    uscc[rows.start + coded] = _as_strings(np.concatenate([first17, _uscc_checks(first17)[:, None]], axis=1))
    held = np.flatnonzero(placeholder)
    uscc[rows.start + held] = USCC_PLACEHOLDER.encode()
    reg_no[rows.start + held] = _registration_numbers(region[held], rng, "6789")


def _dedupe_names(names: np.ndarray, sizes: tuple[int, int, int], rng: np.random.Generator,
                  vocab: Vocabulary) -> None:
    """Give organisations and individual businesses distinct names (one more 字号 character)."""
    places = sorted({"广西"} | {p for jur in vocab.jurisdictions[1:] for p in (jur.name, jur.short)} |
                    {jur.name + d for jur in vocab.jurisdictions[1:] for _, d in jur.districts} |
                    {d for jur in vocab.jurisdictions[1:] for _, d in jur.districts}, key=lambda p: (-len(p), p))
    seen: set[str] = set()
    extra = vocab.names["trade_chars"]
    for i in range(sizes[0] + sizes[1]):
        name = names[i]
        while name in seen:
            name = _vary_name(name, extra[int(rng.integers(0, len(extra)))], places)
        seen.add(name)
        names[i] = name


def _vary_name(name: str, char: str, places: Sequence[str]) -> str:
    """A near-variant of a taken name: one more character right after the place name."""
    for place in places:
        if name.startswith(place):
            return name[: len(place)] + char + name[len(place):]
    return name + char


def _draw_resident_ids(category: np.ndarray, district: np.ndarray, person: slice, rng: np.random.Generator,
                       vocab: Vocabulary, first_day: int) -> tuple[np.ndarray, np.ndarray]:
    """18-digit resident IDs of natural persons and of every legal representative, all distinct.

    Everyone is 22-65 years old at the start of the window, so adult at every decision.
    """
    n = len(category)
    births = (first_day - rng.integers(22 * 366, 65 * 365, 2 * n) - UNIX_EPOCH).astype("datetime64[D]")
    year = births.astype("datetime64[Y]")
    month = births.astype("datetime64[M]")
    yyyymmdd = ((year.astype(np.int64) + 1970) * 10000 + ((month - year).astype(np.int64) + 1) * 100
                + (births - month).astype(np.int64) + 1)
    birth = (48 + yyyymmdd[:, None] // 10 ** np.arange(7, -1, -1) % 10).astype(np.uint8)
    address = _ascii_rows(district, 6)
    first17 = np.concatenate([np.concatenate([address, address]), birth, _random_digits(rng, 2 * n, 3)], axis=1)
    ids = _as_strings(np.concatenate([first17, _id_checks(first17)[:, None]], axis=1)).copy()

    def regenerate(bad: np.ndarray) -> np.ndarray:
        matrix = ids[bad].view(np.uint8).reshape(len(bad), 18).copy()
        matrix[:, 14:17] = _random_digits(rng, len(bad), 3)
        matrix[:, 17] = _id_checks(matrix[:, :17])
        return _as_strings(matrix)

    ids = _make_unique(ids, regenerate)
    id_no = np.zeros(n, dtype="S18")
    id_no[person] = ids[:n][person]
    rep_id = ids[n:].copy()
    rep_id[person] = b""
    return id_no, rep_id


def _pool_ranges(category: np.ndarray, city: np.ndarray, n_jurisdictions: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each (category, city) block and of each category in the sorted pool."""
    ranges = np.zeros((3, n_jurisdictions, 2), dtype=np.int64)
    category_ranges = np.zeros((3, 2), dtype=np.int64)
    for c in range(3):
        rows = np.flatnonzero(category == c)
        category_ranges[c] = (rows[0], len(rows)) if len(rows) else (0, 0)
        for j in range(n_jurisdictions):
            block = rows[city[rows] == j]
            if len(block):
                ranges[c, j] = (block[0], len(block))
    return ranges, category_ranges


# --------------------------------------------------------------------------------------------
# Planning: which authority publishes which file
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilePlan:
    """One data file to write: its name, rows and export format."""

    stem: str
    rows: int
    part: int
    file_format: str
    encoding: str | None
    header_style: str


@dataclass(frozen=True)
class GroupPlan:
    """An authority's records over a period (a year or the whole window), split into files."""

    dataset: str
    dataset_index: int
    index: int
    authority: Authority
    first_day: int
    last_day: int
    rows: int
    files: tuple[FilePlan, ...]


@dataclass(frozen=True)
class Window:
    """The decision dates of a run: the four years before as_of, less the publication lag."""

    as_of: dt.date
    first_day: int
    last_day: int

    @classmethod
    def before(cls, as_of: dt.date, days: int | None = None) -> Window:
        """The window ending a publication lag before ``as_of``: four years long, or ``days``."""
        last = as_of.toordinal() - PUBLICATION_LAG_DAYS
        if days is not None:
            return cls(as_of, last - days + 1, last)
        try:
            start = as_of.replace(year=as_of.year - WINDOW_YEARS)
        except ValueError:  # 29 February
            start = as_of.replace(year=as_of.year - WINDOW_YEARS, day=28)
        return cls(as_of, start.toordinal() + 1, last)


def split_records(records: int) -> dict[str, int]:
    """Records per dataset: 45 / 35 / 8 / 12 per cent, the remainder to the blacklist."""
    counts = {d: round(records * share) for d, share in zip(DATASETS[:-1], DATASET_SHARES[:-1], strict=True)}
    counts["blacklist"] = records - sum(counts.values())
    return counts


def plan_disclosures(records: int, seed: int, window: Window, rows_per_file: int,
                     vocab: Vocabulary) -> list[GroupPlan]:
    """Decide every file before anything is written: authority, period, rows and format."""
    groups: list[GroupPlan] = []
    for d_index, (dataset, count) in enumerate(split_records(records).items()):
        if count == 0:
            continue
        rng = random.Random(f"gongshi-synth:{seed}:{dataset}")
        roster = _roster(dataset, vocab)
        chosen = _choose_authorities(roster, count, rng)
        shares = _allocate(count, [w * rng.lognormvariate(0, 0.5) for _, w in chosen])
        pending = []
        for (authority, _), rows in zip(chosen, shares, strict=True):
            for first, last, period_rows in _periods(rows, window, dataset):
                pending.append((authority, first, last, period_rows))
        groups.extend(_assign_formats(dataset, d_index, pending, window, rows_per_file, rng))
    return groups


def _roster(dataset: str, vocab: Vocabulary) -> list[tuple[Authority, float]]:
    """Authorities that publish ``dataset``, weighted by department and jurisdiction."""
    departments = vocab.matters[dataset]
    return [(a, departments[a.department]["weight"] * a.jurisdiction.weight)
            for a in vocab.authorities if a.department in departments]


def _choose_authorities(roster: list[tuple[Authority, float]], count: int,
                        rng: random.Random) -> list[tuple[Authority, float]]:
    """About sqrt(count)/6 authorities (at least 3), drawn by weight without replacement; a
    department already drawn is less likely again, so small runs still show several kinds."""
    wanted = min(len(roster), count, max(3, round(math.sqrt(count) / 6)))
    weights = [w for _, w in roster]
    chosen: list[int] = []
    for _ in range(wanted):
        free = [i for i in range(len(roster)) if i not in chosen]
        target = rng.random() * sum(weights[i] for i in free)
        pick = free[-1]
        for i in free:
            target -= weights[i]
            if target <= 0:
                pick = i
                break
        chosen.append(pick)
        department = roster[pick][0].department
        weights = [w * 0.3 if roster[j][0].department == department else w for j, w in enumerate(weights)]
    return [roster[i] for i in sorted(chosen)]


def _allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder), at least 1 each."""
    n = len(weights)
    base = [1] * n if total >= n else [0] * n
    rest = total - sum(base)
    scale = sum(weights)
    exact = [rest * w / scale for w in weights]
    counts = [b + math.floor(e) for b, e in zip(base, exact, strict=True)]
    order = sorted(range(n), key=lambda i: (-(exact[i] - math.floor(exact[i])), i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _day_weights(first: int, last: int, window: Window, dataset: str) -> np.ndarray:
    """Relative frequency of decision dates: volumes grow over time, list entries more so."""
    position = (np.arange(first, last + 1) - window.first_day) / max(1, window.last_day - window.first_day)
    if dataset in LIST_DATASETS:
        return np.exp(2.0 * position)
    return 1.0 + 0.3 * position


def _periods(rows: int, window: Window, dataset: str) -> list[tuple[int, int, int]]:
    """An authority's rows as one multi-year period or, when large, one period per year."""
    if rows < YEAR_SPLIT_ROWS:
        return [(window.first_day, window.last_day, rows)]
    spans = []
    first_year = dt.date.fromordinal(window.first_day).year
    last_year = dt.date.fromordinal(window.last_day).year
    for year in range(first_year, last_year + 1):
        first = max(window.first_day, dt.date(year, 1, 1).toordinal())
        last = min(window.last_day, dt.date(year, 12, 31).toordinal())
        spans.append((first, last, float(_day_weights(first, last, window, dataset).sum())))
    counts = _allocate(rows, [w for _, _, w in spans]) if rows >= len(spans) else [rows] + [0] * (len(spans) - 1)
    return [(first, last, n) for (first, last, _), n in zip(spans, counts, strict=True) if n]


def _assign_formats(dataset: str, d_index: int, pending: list[tuple[Authority, int, int, int]], window: Window,
                    rows_per_file: int, rng: random.Random) -> list[GroupPlan]:
    """Name each file and spread formats: ~1 in 8 XLSX (smaller files), encodings and header
    styles cycled so that every one appears once a dataset has a few files."""
    stems = []
    for authority, first, last, rows in pending:
        parts = max(1, math.ceil(rows / rows_per_file))
        y0, y1 = dt.date.fromordinal(first).year, dt.date.fromordinal(last).year
        period = str(y0) if y0 == y1 else f"{y0}-{y1}"  # a window within one year: "2026", not "2026-2026"
        base = f"{authority.slug}-{period}"
        sizes = _allocate(rows, [1.0] * parts)
        stems.append([(f"{base}-part{p + 1}" if parts > 1 else base, size) for p, size in enumerate(sizes)])
    flat = [(g, p) for g, parts in enumerate(stems) for p in range(len(parts))]
    n_files = len(flat)
    n_xlsx = 0 if n_files < 2 else max(1, round(n_files / 8))
    by_size = sorted(range(n_files), key=lambda i: (stems[flat[i][0]][flat[i][1]][1], i))
    xlsx = set(rng.sample(by_size[: max(n_xlsx, (n_files + 1) // 2)], n_xlsx))
    styles = _cycled(LIST_HEADER_STYLES if dataset in LIST_DATASETS else HEADER_STYLES, n_files, rng)
    encodings = iter(_cycled(ENCODINGS, n_files - len(xlsx), rng))
    formats = {}
    for i, key in enumerate(flat):
        is_xlsx = i in xlsx
        formats[key] = ("xlsx" if is_xlsx else "csv", None if is_xlsx else next(encodings), styles[i])
    groups = []
    for g, ((authority, first, last, rows), parts) in enumerate(zip(pending, stems, strict=True)):
        files = tuple(FilePlan(stem, size, p, *formats[(g, p)]) for p, (stem, size) in enumerate(parts))
        groups.append(GroupPlan(dataset, d_index, g, authority, first, last, rows, files))
    return groups


def _cycled(options: Sequence[str], n: int, rng: random.Random) -> list[str]:
    """``n`` choices that go through all options (in shuffled rounds) before repeating."""
    out: list[str] = []
    while len(out) < n:
        round_ = list(options)
        rng.shuffle(round_)
        out.extend(round_)
    return out[:n]


# --------------------------------------------------------------------------------------------
# Per-file style
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportStyle:
    """How one department's export looks (drawn per file)."""

    date_style: int
    mixed_dates: bool
    dropped: frozenset[str]
    extras: tuple[str, ...]
    noisy: bool
    shuffled_rows: bool
    line_terminator: str
    zero_amounts: bool
    separator: str
    legacy_categories: bool
    legacy_status: bool
    legacy_codes: float
    rep_ids: float
    source_is_centre: bool
    hyphenated_org_code: bool
    sheet_name: str


def draw_style(dataset: str, rng: np.random.Generator) -> ExportStyle:
    """A plausible export style for a file of ``dataset``."""
    dropped = frozenset(f for group in DROPPABLE[dataset] if rng.random() < 0.25 for f in group)
    n_extra = int(rng.choice(3, p=(0.65, 0.2, 0.15)))
    extras = tuple(sorted(rng.choice(len(EXTRA_COLUMNS), size=n_extra, replace=False).tolist()))
    return ExportStyle(
        date_style=int(rng.choice(len(DATE_STYLES), p=DATE_STYLE_WEIGHTS)),
        mixed_dates=bool(rng.random() < 0.25),
        dropped=dropped,
        extras=tuple(EXTRA_COLUMNS[i] for i in extras),
        noisy=bool(rng.random() < 0.35),
        shuffled_rows=bool(rng.random() < 0.25),
        line_terminator="\r\n" if rng.random() < 0.7 else "\n",
        zero_amounts=bool(rng.random() < 0.3),
        separator=str(rng.choice([";", ";", ";", "、", "，"])),
        legacy_categories=bool(rng.random() < 0.12),
        legacy_status=bool(rng.random() < 0.12),
        legacy_codes=float(rng.choice([0.0, 0.5, 1.0])),
        rep_ids=float(rng.choice([0.0, 0.6, 1.0])),
        source_is_centre=bool(rng.random() < 0.4),
        hyphenated_org_code=bool(rng.random() < 0.5),
        sheet_name=str(rng.choice(["Sheet1", "数据", "导出数据", "公示信息"])),
    )


# --------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------


@dataclass
class DateColumn:
    """Dates as ordinals (NO_DATE empty, OPEN_END 长期), rendered per file style."""

    days: np.ndarray


@dataclass
class AmountColumn:
    """Amounts in whole yuan (-1 empty), written in 万元."""

    yuan: np.ndarray


Column = list | DateColumn | AmountColumn


class DateText:
    """Textual forms of every date a run can write, looked up by ordinal."""

    def __init__(self, first_day: int, last_day: int):
        self.base = first_day
        days = range(first_day, last_day + 1)
        dates = [dt.date.fromordinal(d) for d in days]
        forms = (
            lambda d: f"{d.year:04d}-{d.month:02d}-{d.day:02d}",
            lambda d: f"{d.year}/{d.month}/{d.day}",
            lambda d: f"{d.year}年{d.month}月{d.day}日",
            lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}",
            lambda d: f"{d.year:04d}/{d.month:02d}/{d.day:02d}",
        )
        self.table = np.array([[form(d) for d in dates] for form in forms], dtype=object)
        self.years = np.array([d.year for d in dates], dtype=np.int64)

    def render(self, days: np.ndarray, styles: np.ndarray) -> list[str]:
        """Text for each day in the given style; "" for NO_DATE and 长期 for OPEN_END."""
        dated = days > 0
        index = np.where(dated, days - self.base, 0)
        if dated.any() and not (index[dated].min() >= 0 and index[dated].max() < self.table.shape[1]):
            raise ValueError("date outside the rendered range")  # a generator bug, not a user error
        text = self.table[styles, index]
        text[days == NO_DATE] = ""
        text[days == OPEN_END] = "长期"
        return text.tolist()

    def year(self, days: np.ndarray) -> np.ndarray:
        """Calendar year of each ordinal."""
        return self.years[days - self.base]


def wan_text(yuan: int) -> str:
    """An amount in yuan as 万元 text with at most four decimals (2000 -> "0.2")."""
    whole, rest = divmod(yuan, 10000)
    return str(whole) if rest == 0 else f"{whole}.{rest:04d}".rstrip("0")


@dataclass
class FileContext:
    """What generating one file needs besides its own rows."""

    vocab: Vocabulary
    pool: SubjectPool
    window: Window
    dates: DateText
    plan: GroupPlan
    style: ExportStyle
    rng: np.random.Generator


def subject_columns(ctx: FileContext, idx: np.ndarray) -> dict[str, Column]:
    """The subject fields shared by all four datasets, for the subjects ``idx``."""
    pool, rng, style = ctx.pool, ctx.rng, ctx.style
    n = len(idx)
    category = pool.category[idx]
    uscc = pool.uscc[idx].astype("U18")
    legacy = pool.legacy[idx] & (rng.random(n) < style.legacy_codes)
    reg_no = pool.business_reg_no[idx].astype("U15")
    reg_no = np.where((uscc == USCC_PLACEHOLDER) | legacy, reg_no, "")
    org_code = np.where(legacy, np.char.add(np.char.add(_slice(uscc, 8, 16), "-" if style.hyphenated_org_code
                                                           else ""), _slice(uscc, 16, 17)), "")
    tax_no = np.where(legacy, _slice(uscc, 2, 17), "")
    prefix = pool.prefix[idx]
    certified = rng.random(n) < style.legacy_codes
    inst = np.flatnonzero((prefix == "12") & certified)
    social = np.flatnonzero(np.isin(prefix, ("51", "52", "53")) & certified)
    inst_cert = np.full(n, "", dtype=object)
    inst_cert[inst] = [f"事证第1{u[2:8]}{i % 1000000:06d}号" for u, i in zip(uscc[inst].tolist(), idx[inst].tolist(), strict=True)]
    social_cert = np.full(n, "", dtype=object)
    social_cert[social] = [f"桂民证字第{i % 1000000:06d}号" for i in idx[social].tolist()]
    shows_rep_id = (category != PERSON) & (rng.random(n) < style.rep_ids)
    is_person = category == PERSON
    return {
        "subject_name": pool.name[idx].tolist(),
        "subject_category": np.array(CATEGORY_TEXT, dtype=object)[category].tolist(),
        "subject_uscc": uscc.tolist(),
        "subject_business_reg_no": reg_no.tolist(),
        "subject_org_code": org_code.tolist(),
        "subject_tax_reg_no": tax_no.tolist(),
        "subject_inst_cert_no": inst_cert.tolist(),
        "subject_social_org_reg_no": social_cert.tolist(),
        "legal_rep_name": pool.rep_name[idx].tolist(),
        "legal_rep_id_type": np.where(shows_rep_id, "身份证", "").tolist(),
        "legal_rep_id_no": np.where(shows_rep_id, pool.rep_id_no[idx].astype("U18"), "").tolist(),
        "subject_id_type": np.where(is_person, "身份证", "").tolist(),
        "subject_id_no": pool.id_no[idx].astype("U18").tolist(),
    }


def _slice(values: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Characters ``start:stop`` of each fixed-width string."""
    width = values.dtype.itemsize // 4
    chars = values.view("U1").reshape(len(values), width)[:, start:stop]
    return np.ascontiguousarray(chars).view(f"U{stop - start}").reshape(len(values))


def authority_columns(ctx: FileContext, n: int) -> dict[str, Column]:
    """Authority and data-source fields, the same on every row of a file."""
    authority = ctx.plan.authority
    source = (authority.centre_name, authority.centre_uscc) if ctx.style.source_is_centre else (
        authority.name, authority.uscc)
    return {"authority": [authority.name] * n, "authority_uscc": [authority.uscc] * n,
            "source_unit": [source[0]] * n, "source_unit_uscc": [source[1]] * n}


def _mixed_categories(dataset: str, available: Sequence[bool], rng: np.random.Generator, n: int) -> np.ndarray:
    """Subject category of each record, from the dataset's mix restricted to what applies."""
    mix = np.array(DATASET_MIX[dataset]) * np.array(available, dtype=float)
    if mix.sum() == 0:
        mix = np.array(available, dtype=float)
    return rng.choice(3, size=n, p=mix / mix.sum()).astype(np.int8)


def _choose_by_category(options: list[dict], categories: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each record, one of ``options`` (dicts with subjects and weight) fitting its category."""
    chosen = np.zeros(len(categories), dtype=np.int64)
    for c in range(3):
        rows = np.flatnonzero(categories == c)
        fit = [i for i, o in enumerate(options) if c in o["_subjects"]]
        if len(rows) == 0:
            continue
        weights = np.array([options[i]["weight"] for i in fit], dtype=float)
        chosen[rows] = np.array(fit)[rng.choice(len(fit), size=len(rows), p=weights / weights.sum())]
    return chosen


def _numbers(rng: np.random.Generator, ranges: np.ndarray) -> np.ndarray:
    """Random integers within per-row inclusive [low, high] ranges (an (n, 2) array)."""
    return ranges[:, 0] + (rng.random(len(ranges)) * (ranges[:, 1] - ranges[:, 0] + 1)).astype(np.int64)


def _add_years(days: np.ndarray, years: np.ndarray) -> np.ndarray:
    """The day before the same date ``years`` later (validity of whole years)."""
    return days + np.round(years * 365.2425).astype(np.int64) - 1


def _doc_numbers(prefix: str, word: str, years: np.ndarray, serials: np.ndarray) -> list[str]:
    """Document numbers like 南市监处罚〔2023〕56号, unique per authority by construction."""
    return [f"{prefix}{word}〔{y}〕{s}号" for y, s in zip(years.tolist(), serials.tolist(), strict=True)]


def _flatten(spec: dict, key: str) -> list[dict]:
    """A department's matters with subject categories as sets."""
    items = []
    for item in spec[key]:
        item = dict(item)
        item["_subjects"] = {SUBJECT_KINDS[s] for s in item["subjects"]}
        item.setdefault("weight", 1)
        items.append(item)
    return items


def licensing_columns(ctx: FileContext, days: np.ndarray, serials: np.ndarray) -> dict[str, Column]:
    """行政许可 records of one file."""
    rng, n, window = ctx.rng, len(days), ctx.window
    spec = ctx.vocab.matters["licensing"][ctx.plan.authority.department]
    matters = _flatten(spec, "matters")
    categories = _mixed_categories("licensing", [any(c in m["_subjects"] for m in matters) for c in range(3)], rng, n)
    idx = ctx.pool.pick(categories, _home_city(ctx), rng)
    matter = _choose_by_category(matters, categories, rng)
    columns = subject_columns(ctx, idx)
    years = ctx.dates.year(days)
    usccs = columns["subject_uscc"]
    small = rng.integers(1, 30, n).tolist()
    region = ctx.plan.authority.jurisdiction.code
    titles, kinds, certificates, numbers, contents, validity = [], [], [], [], [], []
    pick = rng.integers(0, 1 << 30, n).tolist()
    for i, m in enumerate(matter.tolist()):
        spec_m = matters[m]
        fields = {"region": region, "year": int(years[i]), "yy": int(years[i]) % 100, "serial": int(serials[i]),
                  "n": small[i], "uscc": usccs[i]}
        titles.append(spec_m["title"])
        kinds.append(spec_m["category"])
        certificates.append(spec_m["certificate"])
        numbers.append(spec_m["number"].format(**fields))
        contents.append(spec_m["contents"][pick[i] % len(spec_m["contents"])].format(**fields))
        validity.append(spec_m["years"][pick[i] % len(spec_m["years"])])
    valid_from = np.where(rng.random(n) < 0.75, days, days + rng.integers(1, 21, n))
    valid_from = np.minimum(valid_from, window.last_day)
    validity = np.array(validity, dtype=np.int64)
    valid_to = np.where(validity == 0, OPEN_END, _add_years(valid_from, validity))
    expired = (valid_to != OPEN_END) & (valid_to < window.as_of.toordinal())
    status = np.where(expired | (rng.random(n) < 0.05), "无效", "有效")
    if ctx.style.legacy_status:
        status = np.where(status == "有效", "0", "1")
    remarks = np.where(rng.random(n) < 0.12, np.array(["新办", "延续", "变更", "补证"])[rng.integers(0, 4, n)], "")
    columns.update({
        "decision_doc_title": titles,
        "decision_doc_no": _doc_numbers(ctx.plan.authority.doc_prefix, spec["doc_word"], years, serials),
        "license_category": kinds,
        "certificate_name": certificates,
        "license_no": numbers,
        "license_content": contents,
        "decision_date": DateColumn(days),
        "valid_from": DateColumn(valid_from),
        "valid_to": DateColumn(valid_to),
        "status": status.tolist(),
        "remarks": remarks.tolist(),
    })
    columns.update(authority_columns(ctx, n))
    return columns


def _home_city(ctx: FileContext) -> int | None:
    """The city whose subjects a city authority mostly deals with (None at region level)."""
    jurisdiction = ctx.plan.authority.jurisdiction
    return None if jurisdiction.is_region else jurisdiction.index


def _penalty_outcomes(matters: list[dict]) -> list[dict]:
    """Every (matter, outcome) pair as one option, weighted and restricted by subject category."""
    options = []
    for m_index, matter in enumerate(matters):
        outcomes = matter["outcomes"]
        total = sum(o.get("weight", 1) for o in outcomes)
        for outcome in outcomes:
            subjects = {SUBJECT_KINDS[s] for s in outcome.get("subjects", matter["subjects"])}
            options.append({"matter": m_index, "categories": tuple(outcome["categories"]),
                            "fine": outcome.get("fine", (0, 0)), "confiscation": outcome.get("confiscation", (0, 0)),
                            "_subjects": subjects, "weight": matter.get("weight", 1) * outcome.get("weight", 1) / total})
    return options


def _penalty_content(categories: tuple[str, ...], fine: int, confiscation: int, n: int, licence: str,
                     other: str) -> str:
    """处罚内容 in words, consistent with the categories and amounts."""
    words = {
        "警告": "警告", "通报批评": "通报批评", "罚款": f"罚款人民币{fine}元",
        "没收违法所得": f"没收违法所得人民币{confiscation}元" if confiscation else "没收违法所得",
        "没收非法财物": "没收非法财物",
        "暂扣许可证件": f"暂扣{licence or '许可证件'}{n % 6 + 1}个月", "吊销许可证件": f"吊销{licence or '许可证件'}",
        "降低资质等级": "降低资质等级", "责令停产停业": f"责令停产停业{n % 20 + 10}日", "责令关闭": "责令关闭",
        "限制开展生产经营活动": f"限制开展生产经营活动{n % 6 + 1}个月", "限制从业": f"{n % 5 + 1}年内限制从业",
        "行政拘留": f"行政拘留{n % 10 + 5}日", "其他": other or "责令改正",
    }
    if "没收违法所得" in categories and "没收非法财物" in categories:
        words["没收非法财物"] = "没收非法财物"
    return "，".join(words[c] for c in categories)


def penalty_columns(ctx: FileContext, days: np.ndarray, serials: np.ndarray) -> dict[str, Column]:
    """行政处罚 records of one file."""
    rng, n, style = ctx.rng, len(days), ctx.style
    spec = ctx.vocab.matters["penalties"][ctx.plan.authority.department]
    matters = _flatten(spec, "matters")
    options = _penalty_outcomes(matters)
    categories = _mixed_categories("penalties", [any(c in o["_subjects"] for o in options) for c in range(3)], rng, n)
    idx = ctx.pool.pick(categories, _home_city(ctx), rng)
    option = _choose_by_category(options, categories, rng)
    columns = subject_columns(ctx, idx)
    fine = _amounts(rng, np.array([options[o]["fine"] for o in option.tolist()], dtype=np.int64).reshape(n, 2),
                    rounded=True)
    confiscation = _amounts(rng, np.array([options[o]["confiscation"] for o in option.tolist()],
                                          dtype=np.int64).reshape(n, 2), rounded=False)
    years = ctx.dates.year(days)
    inspected = ctx.dates.render(days - rng.integers(3, 60, n), np.full(n, 2))
    small = rng.integers(1, 1 << 30, n).tolist()
    value = (rng.integers(1, 1000, n) * rng.choice([1, 10, 100], size=n)).tolist()
    pick = rng.integers(0, 1 << 30, n).tolist()
    region = ctx.plan.authority.jurisdiction.code
    types, facts, bases, category_text, content, licences = [], [], [], [], [], []
    usccs = columns["subject_uscc"]
    for i, o in enumerate(option.tolist()):
        opt = options[o]
        matter = matters[opt["matter"]]
        low, high = matter.get("n", (1, 12))
        k = low + small[i] % (high - low + 1)
        fields = {"date": inspected[i], "n": k, "value": value[i], "year": int(years[i]),
                  "prev_year": int(years[i]) - 1, "uscc": usccs[i], "region": region, "serial": small[i] % 999999}
        types.append(matter["type"])
        facts.append(matter["facts"][pick[i] % len(matter["facts"])].format(**fields))
        bases.append(matter["basis"])
        names = opt["categories"]
        if style.legacy_categories:
            names = tuple(dict.fromkeys(LEGACY_PENALTY_NAMES.get(c, c) for c in names))
        category_text.append(style.separator.join(names))
        suspends = {"暂扣许可证件", "吊销许可证件"} & set(opt["categories"])
        licence = matter.get("licence", "").format(**fields) if suspends else ""
        licences.append(licence)
        content.append(_penalty_content(opt["categories"], int(fine[i]), int(confiscation[i]), k, licence,
                                        matter.get("other", "")))
    severity_days = np.where(fine >= 100000, 3 * 365, np.where(fine >= 10000, 365, 92))
    publicity = np.where(rng.random(n) < 0.6, days + severity_days, NO_DATE)
    valid_until = np.where(rng.random(n) < 0.4, days + 3 * 365, NO_DATE)
    empty = 0 if style.zero_amounts else -1
    remarks = np.where(rng.random(n) < 0.05, "已履行完毕", "")
    columns.update({
        "decision_doc_no": _doc_numbers(ctx.plan.authority.doc_prefix, spec["doc_word"], years, serials),
        "violation_type": types,
        "violation_facts": facts,
        "legal_basis": bases,
        "penalty_categories": category_text,
        "penalty_content": content,
        "fine_amount_wan": AmountColumn(np.where(fine > 0, fine, empty)),
        "confiscation_amount_wan": AmountColumn(np.where(confiscation > 0, confiscation, empty)),
        "suspended_revoked_licence": licences,
        "decision_date": DateColumn(days),
        "penalty_valid_until": DateColumn(valid_until),
        "publicity_end_date": DateColumn(publicity),
        "remarks": remarks.tolist(),
    })
    columns.update(authority_columns(ctx, n))
    return columns


def _amounts(rng: np.random.Generator, ranges: np.ndarray, rounded: bool) -> np.ndarray:
    """Yuan amounts within per-row ranges ([0, 0] gives 0); fines rounded as officials do."""
    amount = _numbers(rng, ranges)
    if rounded:
        step = np.where(ranges[:, 1] <= 2000, 10, np.where(ranges[:, 1] <= 50000, 100, 1000))
        amount = np.maximum(ranges[:, 0], amount // step * step)
    return np.where(ranges[:, 1] > 0, amount, 0)


def list_columns(ctx: FileContext, days: np.ndarray, serials: np.ndarray) -> dict[str, Column]:
    """Red or black list entries of one file."""
    rng, n, window = ctx.rng, len(days), ctx.window
    dataset = ctx.plan.dataset
    spec = ctx.vocab.matters[dataset][ctx.plan.authority.department]
    lists = _flatten(spec, "lists")
    categories = _mixed_categories(dataset, [any(c in item["_subjects"] for item in lists) for c in range(3)], rng, n)
    idx = ctx.pool.pick(categories, _home_city(ctx), rng)
    chosen = _choose_by_category(lists, categories, rng)
    columns = subject_columns(ctx, idx)
    years = ctx.dates.year(days)
    small = rng.integers(1, 1 << 30, n).tolist()
    value = (rng.integers(10, 5000, n) * 100).tolist()
    names, reasons, validity = [], [], []
    for i, k in enumerate(chosen.tolist()):
        item = lists[k]
        low, high = item.get("n", (1, 12))
        fields = {"year": int(years[i]), "prev_year": int(years[i]) - 1, "n": low + small[i] % (high - low + 1),
                  "value": value[i]}
        names.append(item["name"])
        reasons.append(item["reasons"][small[i] % len(item["reasons"])].format(**fields))
        years_valid = item["years"][(small[i] >> 8) % len(item["years"])]
        validity.append(0 if years_valid is None else years_valid)
    validity = np.array(validity, dtype=np.int64)
    valid_until = np.where(validity == 0, NO_DATE, _add_years(days, validity))
    status, removed, reason = _list_exits(dataset, days, valid_until, window, rng)
    columns.update({
        "list_name": names,
        "listing_reason": reasons,
        "listing_basis": _doc_numbers(ctx.plan.authority.doc_prefix, spec["doc_word"], years, serials),
        "listed_date": DateColumn(days),
        "valid_until": DateColumn(valid_until),
        "removed_date": DateColumn(removed),
        "removal_reason": reason,
        "status": status,
        "remarks": [""] * n,
    })
    columns.update(authority_columns(ctx, n))
    return columns


def _list_exits(dataset: str, listed: np.ndarray, valid_until: np.ndarray, window: Window,
                rng: np.random.Generator) -> tuple[list[str], np.ndarray, list[str]]:
    """Status, removed_date and removal_reason: expired entries leave on valid_until (期满),
    some leave early (修复 from black lists, 撤销 from either), the rest are 在列."""
    n = len(listed)
    expired = (valid_until != NO_DATE) & (valid_until <= window.last_day)
    latest = np.where(expired, valid_until, window.last_day)
    early = (rng.random(n) < np.where(expired, 0.2, 0.1)) & (latest - listed > 30)
    removed = np.where(early, listed + 30 + (rng.random(n) * (latest - listed - 30)).astype(np.int64),
                       np.where(expired, valid_until, NO_DATE))
    early_reason = np.where(rng.random(n) < (0.75 if dataset == "blacklist" else 0.0), "修复", "撤销")
    reason = np.where(early, early_reason, np.where(expired, "期满", ""))
    status = np.where(removed != NO_DATE, "已移出", "在列")
    return status.tolist(), removed, reason.tolist()


DATASET_COLUMNS = {"licensing": licensing_columns, "penalties": penalty_columns,
                   "redlist": list_columns, "blacklist": list_columns}


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def header_text(field_spec: dict, style: str) -> str:
    """A column header in the given style (title, title_fullwidth, code or name)."""
    if style == "title":
        return field_spec["title"]
    if style == "title_fullwidth":
        return field_spec["title"].translate(HALF_TO_FULL_BRACKETS)
    if style == "code":  # fields without a national code (the status fields) keep their title
        return field_spec.get("code", field_spec["title"])
    return field_spec["name"]


def add_noise(columns: dict[str, Column], schema: dict, rng: np.random.Generator) -> None:
    """Stray spaces around a few text values and full-width digits in a few codes."""
    n = len(columns["subject_name"])
    text_fields = [f["name"] for f in schema["fields"] if f.get("normalize") in ("text", "code")
                   and isinstance(columns.get(f["name"]), list)]
    for name in sorted(rng.choice(text_fields, size=min(3, len(text_fields)), replace=False).tolist()):
        values = columns[name]
        for row in rng.integers(0, n, max(1, n // 60)).tolist():
            if values[row]:
                values[row] = (" " + values[row], values[row] + " ", " " + values[row] + "  ")[row % 3]
    for name in ("subject_uscc", "subject_id_no", "legal_rep_id_no"):
        values = columns.get(name)
        if isinstance(values, list):
            for row in rng.integers(0, n, max(1, n // 80)).tolist():
                values[row] = values[row].translate(FULLWIDTH_DIGITS)


def extra_column(name: str, n: int, plan: GroupPlan, exported: dt.datetime, part: int) -> list[str]:
    """Values of a column that is not in the schema (serial number, internal id, export time)."""
    if name == "序号":
        return [str(i) for i in range(1, n + 1)]
    if name == "内部编号":
        tag = plan.authority.department.upper()
        return [f"{tag}{exported:%Y}{part:02d}{i:06d}" for i in range(1, n + 1)]
    if name == "导出时间":
        return [f"{exported:%Y-%m-%d %H:%M:%S}"] * n
    return [f"PC{exported:%Y%m%d}{part + 1:02d}"] * n


def write_csv(path: Path, header: list[str], columns: list[list[str]], encoding: str, line_terminator: str) -> None:
    """A CSV file as departments export it."""
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator=line_terminator)
        writer.writerow(header)
        writer.writerows(zip(*columns, strict=True))


def write_xlsx(path: Path, header: list[str], columns: list[list], created: dt.datetime, sheet_name: str,
               date_formats: dict[int, str]) -> None:
    """An XLSX file (xlsxwriter, constant memory): str cells as text, float as numbers,
    date as Excel dates (formatted per column), int as bare numbers (e.g. serial dates)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                               "strings_to_formulas": False, "strings_to_urls": False})
    workbook.set_properties({"created": created, "author": "gongshi synth"})
    sheet = workbook.add_worksheet(sheet_name)
    formats = {c: workbook.add_format({"num_format": f}) for c, f in date_formats.items()}
    for c, text in enumerate(header):
        sheet.write_string(0, c, text)
    write_string, write_number, write_datetime = sheet.write_string, sheet.write_number, sheet.write_datetime
    n = len(columns[0]) if columns else 0
    for r in range(n):
        row = r + 1
        for c, values in enumerate(columns):
            value = values[r]
            if value is None or value == "":
                continue
            kind = type(value)
            if kind is str:
                write_string(row, c, value)
            elif kind is dt.date:
                write_datetime(row, c, value, formats[c])
            else:
                write_number(row, c, value)
    workbook.close()


def render_for_csv(column: Column, ctx: FileContext, styles: np.ndarray) -> list[str]:
    """Text cells of one column."""
    if isinstance(column, DateColumn):
        return ctx.dates.render(column.days, styles)
    if isinstance(column, AmountColumn):
        return [wan_text(y) if y >= 0 else "" for y in column.yuan.tolist()]
    return column


def render_for_xlsx(column: Column, ctx: FileContext, styles: np.ndarray, mode: str) -> list:
    """Typed cells of one column: amounts as numbers, dates as dates, serials or text."""
    if isinstance(column, AmountColumn):
        return [y / 10000 if y >= 0 else None for y in column.yuan.tolist()]
    if isinstance(column, DateColumn) and mode != "text":
        days = column.days.tolist()
        if mode == "serial":
            return [d - EXCEL_EPOCH if d > 0 else ("长期" if d == OPEN_END else None) for d in days]
        return [dt.date.fromordinal(d) if d > 0 else ("长期" if d == OPEN_END else None) for d in days]
    return render_for_csv(column, ctx, styles)


def provenance_times(window: Window, rng: np.random.Generator) -> tuple[dt.datetime, dt.datetime]:
    """submitted_at (after every decision in the file, before as_of) and approved_at (1-3 days
    later, still before as_of), in China Standard Time."""
    tz = dt.timezone(dt.timedelta(hours=8))
    as_of = window.as_of.toordinal()
    submitted_day = as_of - int(rng.integers(3, PUBLICATION_LAG_DAYS))
    approved_day = submitted_day + int(rng.integers(1, min(3, as_of - 1 - submitted_day) + 1))

    def at(day: int) -> dt.datetime:
        d = dt.date.fromordinal(day)
        return dt.datetime(d.year, d.month, d.day, int(rng.integers(9, 18)), int(rng.integers(0, 60)),
                           int(rng.integers(0, 60)), tzinfo=tz)

    return at(submitted_day), at(approved_day)


def write_provenance(path: Path, ctx: FileContext, submitted: dt.datetime, approved: dt.datetime) -> None:
    """The ``<file>.provenance.yaml`` sidecar: who submitted the file, for which authority, and
    who approved it when."""
    authority = ctx.plan.authority
    source = (authority.centre_name, authority.centre_uscc) if ctx.style.source_is_centre else (
        authority.name, authority.uscc)
    reviewer = ctx.vocab.reviewers[int(ctx.rng.integers(0, len(ctx.vocab.reviewers)))]
    record = {
        "submitting_unit": source[0],
        "submitting_unit_uscc": source[1],
        "authority": authority.name,
        "authority_uscc": authority.uscc,
        "submitted_at": submitted.isoformat(),
        "approved_by": f"{authority.centre_name} 审核员 {reviewer}",
        "approved_at": approved.isoformat(),
    }
    text = yaml.safe_dump(record, allow_unicode=True, sort_keys=False, default_flow_style=False, width=1000)
    path.write_text(text, encoding="utf-8", newline="\n")


def _xlsx_date_modes(fields: list[dict], columns: dict[str, Column],
                     rng: np.random.Generator) -> dict[str, tuple[str, str | None]]:
    """How each date column of an XLSX file is written: real Excel dates (with a number format),
    bare serial numbers or text; the date columns take turns so a file mixes them."""
    offset = int(rng.integers(0, len(XLSX_DATE_MODES)))
    modes = {}
    date_fields = [f["name"] for f in fields if isinstance(columns[f["name"]], DateColumn)]
    for i, name in enumerate(date_fields):
        mode = XLSX_DATE_MODES[(offset + i) % len(XLSX_DATE_MODES)]
        number_format = XLSX_DATE_FORMATS[int(rng.integers(0, len(XLSX_DATE_FORMATS)))] if mode == "date" else None
        modes[name] = (mode, number_format)
    return modes


def write_disclosure_file(out: Path, ctx: FileContext, file_plan: FilePlan, days: np.ndarray,
                          serials: np.ndarray) -> SynthFile:
    """Generate one file's rows, write them in the file's format, then its sidecar."""
    dataset, style, rng = ctx.plan.dataset, ctx.style, ctx.rng
    schema = ctx.vocab.schemas[dataset]
    columns = DATASET_COLUMNS[dataset](ctx, days, serials)
    n = len(days)
    if style.noisy:
        add_noise(columns, schema, rng)
    # the fields the generator makes (not the optional status fields), less those this export drops
    fields = [f for f in schema["fields"] if f["name"] in columns and f["name"] not in style.dropped]
    order = rng.permutation(len(fields)).tolist()
    fields = [fields[i] for i in order]
    submitted, approved = provenance_times(ctx.window, rng)
    exported = submitted.replace(tzinfo=None) - dt.timedelta(minutes=int(rng.integers(5, 600)))
    header = [header_text(f, file_plan.header_style) for f in fields]
    date_styles = np.where(rng.random(n) < (0.1 if style.mixed_dates else 0.0),
                           rng.integers(0, len(DATE_STYLES), n), style.date_style)
    row_order = rng.permutation(n)
    path = out / dataset / f"{file_plan.stem}.{file_plan.file_format}"
    is_xlsx = file_plan.file_format == "xlsx"
    modes = _xlsx_date_modes(fields, columns, rng) if is_xlsx else {}
    table = []  # (header, cells, Excel date format or None)
    for f, text in zip(fields, header, strict=True):
        mode, number_format = modes.get(f["name"], ("text", None))
        column = columns[f["name"]]
        cells = render_for_xlsx(column, ctx, date_styles, mode) if is_xlsx else render_for_csv(column, ctx, date_styles)
        if style.shuffled_rows:
            cells = [cells[i] for i in row_order.tolist()]
        table.append((text, cells, number_format))
    for name in style.extras:
        cells = list(range(1, n + 1)) if is_xlsx and name == "序号" else extra_column(name, n, ctx.plan, exported,
                                                                                     file_plan.part)
        at = 0 if name == "序号" else int(rng.integers(0, len(table) + 1))
        table.insert(at, (name, cells, None))
    header = [text for text, _, _ in table]
    cells = [values for _, values, _ in table]
    if is_xlsx:
        date_formats = {c: f for c, (_, _, f) in enumerate(table) if f is not None}
        write_xlsx(path, header, cells, exported, style.sheet_name, date_formats)
    else:
        write_csv(path, header, cells, file_plan.encoding, style.line_terminator)
    write_provenance(path.with_name(path.name + ".provenance.yaml"), ctx, submitted, approved)
    return SynthFile(dataset, f"{dataset}/{path.name}", n, file_plan.file_format, file_plan.encoding,
                     file_plan.header_style, style.extras, ctx.plan.authority.name)


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


@dataclass
class RunContext:
    """Shared by every group of a run (inherited by worker processes)."""

    vocab: Vocabulary
    pool: SubjectPool
    window: Window
    dates: DateText
    out: Path
    seed: int


_RUN: RunContext | None = None


def group_days(run: RunContext, group: GroupPlan) -> tuple[np.ndarray, np.ndarray]:
    """Sorted decision dates of a group and their document serials (increasing within a year)."""
    rng = np.random.default_rng([run.seed, group.dataset_index, group.index, 0])
    weights = _day_weights(group.first_day, group.last_day, run.window, group.dataset)
    days = np.sort(group.first_day + rng.choice(len(weights), size=group.rows, p=weights / weights.sum()))
    years = run.dates.year(days)
    steps = np.cumsum(rng.integers(1, 4, group.rows))
    year_start = np.searchsorted(years, years, side="left")
    serials = steps - np.where(year_start > 0, steps[np.maximum(year_start - 1, 0)], 0)
    return days, serials


def write_group(group: GroupPlan) -> list[SynthFile]:
    """Write every file of one group (uses the run context set up by :func:`synthesize`)."""
    run = _RUN
    assert run is not None, "write_group runs inside synthesize()"
    days, serials = group_days(run, group)
    written = []
    start = 0
    for file_plan in group.files:
        rng = np.random.default_rng([run.seed, group.dataset_index, group.index, file_plan.part + 1])
        style = draw_style(group.dataset, rng)
        ctx = FileContext(run.vocab, run.pool, run.window, run.dates, group, style, rng)
        stop = start + file_plan.rows
        written.append(write_disclosure_file(run.out, ctx, file_plan, days[start:stop], serials[start:stop]))
        start = stop
    return written


def synthesize(records: int, seed: int, out: Path, as_of: dt.date, rows_per_file: int = 20000, *,
               workers: int | None = None, days: int | None = None) -> SynthSummary:
    """Write a fictitious, valid disclosure dataset tree of ``records`` records into ``out``.

    ``out`` gets ``licensing/``, ``penalties/``, ``redlist/`` and ``blacklist/``, each with data
    files of at most ``rows_per_file`` rows and a ``.provenance.yaml`` sidecar per file. Decision
    and listing dates fall in the four years (or the ``days`` days) before ``as_of``, less the
    publication lag. The same arguments give
    byte-identical files. ``workers`` processes write files in parallel (default: 2 for runs of
    100,000 records or more, else 1); the output does not depend on it.
    """
    global _RUN
    _check_arguments(records, seed, out, rows_per_file)
    out = Path(out)
    plans = plan_disclosures(records, seed, Window.before(as_of, days), rows_per_file, load_vocabulary())
    for dataset in DATASETS:
        (out / dataset).mkdir(parents=True, exist_ok=True)
    count = _worker_count(workers, records)
    if count == 1:
        _RUN = prepare_run(records, seed, out, as_of, days)
        try:
            written = [f for group in plans for f in write_group(group)]
        finally:
            _RUN = None
    else:
        written = _write_in_parallel(plans, count, (records, seed, out, as_of, days))
    files = tuple(sorted(written, key=lambda f: f.path))
    counts = {d: sum(f.rows for f in files if f.dataset == d) for d in DATASETS}
    return SynthSummary(out, pool_size(records), counts, files)


def pool_size(records: int) -> int:
    """Subjects in the pool: half the records, at least 50."""
    return max(50, records // 2)


def prepare_run(records: int, seed: int, out: Path, as_of: dt.date, days: int | None = None) -> RunContext:
    """Everything the files of a run share; the same in every process for the same arguments."""
    vocab = load_vocabulary()
    window = Window.before(as_of, days)
    reserved = np.array(sorted({a.uscc.encode() for a in vocab.authorities} |
                               {a.centre_uscc.encode() for a in vocab.authorities}), dtype="S18")
    pool = build_subject_pool(pool_size(records), np.random.default_rng([seed, 99]), vocab, window.first_day,
                              reserved)
    dates = DateText(window.first_day - 400, window.last_day + 7 * 366)
    return RunContext(vocab, pool, window, dates, out, seed)


def _start_worker(records: int, seed: int, out: Path, as_of: dt.date, days: int | None) -> None:
    """Worker-process initialiser: rebuild the run context (the pool is seeded, so identical)."""
    global _RUN
    _RUN = prepare_run(records, seed, out, as_of, days)


def _check_arguments(records: int, seed: int, out: Path, rows_per_file: int) -> None:
    """Refuse arguments that cannot give a clean, reproducible tree."""
    if records < 0:
        raise SynthesisError(f"记录数不能为负数（{records}）。请改用例如 --records 2000。")
    if seed < 0:
        raise SynthesisError(f"随机种子不能为负数（{seed}）。请改用例如 --seed 1。")
    if rows_per_file < 1:
        raise SynthesisError(f"每个文件至少 1 行（{rows_per_file}）。请改用例如 --rows-per-file 20000。")
    for dataset in DATASETS:
        folder = Path(out) / dataset
        if folder.is_dir() and any(folder.iterdir()):
            raise SynthesisError(f"{folder} 中已有文件，生成的示例数据会与之混在一起。"
                                 "请换一个空的 --out 目录，或先删除旧目录。")


def _worker_count(workers: int | None, records: int) -> int:
    """Processes to use: as asked, else 2 (if there are 2 cores) for runs of 100,000 records or more."""
    if workers is not None:
        return max(1, workers)
    if records < 100_000:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


def _write_in_parallel(plans: list[GroupPlan], workers: int, run_arguments: tuple) -> list[SynthFile]:
    """Write groups in fresh ("spawn") worker processes, largest groups first.

    Spawned workers rebuild the seeded subject pool instead of inheriting it: forking a process
    that already runs NumPy's threads is unsafe (and deprecated from Python 3.12).
    """
    import multiprocessing

    ordered = sorted(plans, key=lambda g: -g.rows)
    with multiprocessing.get_context("spawn").Pool(workers, initializer=_start_worker,
                                                   initargs=run_arguments) as processes:
        return [f for files in processes.imap_unordered(write_group, ordered, chunksize=1) for f in files]
