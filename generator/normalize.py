"""Clean raw cells into the canonical text every later step relies on.

One function per ``normalize`` kind in the schemas. All work on whole Arrow columns at once.
Values that cannot be understood are left as given (trimmed) so that a rule can report them
exactly as the department wrote them.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .schema import Dataset, Field

OPEN_END = "9999-12-31"  # how an open-ended validity ("长期") is written
OPEN_END_WORDS = ("长期", "长期有效", "永久", "永久有效", "无固定期限", "无期限")
TRIM = " \t\r\n\u3000\u00a0\ufeff\u200b"
CONTROL = "[\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]"
CATEGORY_SEPARATORS = r"[;,、|/\s]+"  # after NFKC full-width ；，become ; and ,
_EXCEL_EPOCH = np.datetime64("1899-12-30", "D")


def normalise_table(dataset: Dataset, columns: dict[str, pa.Array], length: int
                    ) -> tuple[dict[str, pa.Array], dict[str, np.ndarray]]:
    """Every schema field, cleaned, and for date fields which rows hold a real date. A field
    absent from the file is a column of empty strings."""
    empty = pa.array([""] * length, type=pa.string())
    out: dict[str, pa.Array] = {}
    real_dates: dict[str, np.ndarray] = {}
    for f in dataset.fields:
        if f.name not in columns:
            out[f.name] = empty
            if f.type == "date":
                real_dates[f.name] = np.zeros(length, dtype=bool)
        elif f.type == "date":
            out[f.name], real_dates[f.name] = dates_with_validity(columns[f.name], open_end=f.normalize == "date_open_end")
        else:
            out[f.name] = normalise_column(f, columns[f.name])
    return out, real_dates


def normalise_column(f: Field, values: pa.Array) -> pa.Array:
    kind = f.normalize
    if kind == "text":
        return trim(values)
    if kind == "code":
        return code(values)
    if kind == "enum":
        return enum(values, f.enum_aliases)
    if kind == "categories":
        return categories(values)
    if kind == "date":
        return dates(values)
    if kind == "date_open_end":
        return dates(values, open_end=True)
    if kind == "amount_wan":
        return amounts_wan(values)
    raise ValueError(f"unknown normalize kind {kind!r} for field {f.name}")


def trim(values: pa.Array) -> pa.Array:
    """Without surrounding white space and without control characters (NUL, ESC, DEL…: never
    content, and XML cannot carry them); tabs and line breaks inside a value stay."""
    values = pc.utf8_trim(values, characters=TRIM)
    if has_control_bytes(values):
        values = pc.replace_substring_regex(values, pattern=CONTROL, replacement="")
    return values


def has_control_bytes(values: pa.Array) -> bool:
    """Whether any value holds a control character, read straight off the data buffer (UTF-8
    never uses bytes below 0x20 or 0x7F inside other characters)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not len(values) or values.buffers()[2] is None:
        return False
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset: values.offset + len(values) + 1]
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    control = (data < 0x20) | (data == 0x7F)
    return bool(control.any() and (control & (data != 0x09) & (data != 0x0A) & (data != 0x0D)).any())


def nfkc(values: pa.Array) -> pa.Array:
    """Full-width letters, digits and punctuation become half-width (９１４５ → 9145).
    Only non-ASCII values are touched: ASCII is already in NFKC, and most codes are ASCII."""
    non_ascii = pc.invert(pc.string_is_ascii(values))
    if not pc.any(non_ascii).as_py():
        return values
    changed = pc.utf8_normalize(values.filter(non_ascii), form="NFKC")
    return pc.replace_with_mask(values, non_ascii, changed)


def code(values: pa.Array) -> pa.Array:
    """Identifiers: half-width, no white space anywhere, upper case."""
    values = nfkc(values)
    ascii_only = pc.all(pc.string_is_ascii(values)).as_py() is not False
    if ascii_only:
        if pc.any(pc.match_substring_regex(values, pattern=r"\s")).as_py():
            values = pc.replace_substring_regex(values, pattern=r"\s+", replacement="")
        return pc.ascii_upper(values)
    return pc.utf8_upper(pc.replace_substring_regex(values, pattern="[\\s\u200b\ufeff]+", replacement=""))


def enum(values: pa.Array, aliases: dict[str, str]) -> pa.Array:
    values = trim(nfkc(values))
    return map_values(values, aliases) if aliases else values


def map_values(values: pa.Array, mapping: dict[str, str]) -> pa.Array:
    """Replace values found in ``mapping``; leave the others."""
    keys = pa.array(list(mapping), type=pa.string())
    index = pc.index_in(values, value_set=keys)
    mapped = pc.take(pa.array(list(mapping.values()), type=pa.string()), index)
    return pc.if_else(pc.is_null(index), values, mapped)


def categories(values: pa.Array) -> pa.Array:
    """Several penalty categories in one cell, whatever the separator, joined by ';'."""
    values = trim(nfkc(values))
    values = pc.replace_substring_regex(values, pattern=r"^" + CATEGORY_SEPARATORS + "|" + CATEGORY_SEPARATORS + "$",
                                        replacement="")
    parts = pc.split_pattern_regex(values, pattern=CATEGORY_SEPARATORS)
    return pc.binary_join(parts, ";")


def dates(values: pa.Array, open_end: bool = False) -> pa.Array:
    """Dates normalised to ISO 8601; see :func:`dates_with_validity`."""
    return dates_with_validity(values, open_end)[0]


def dates_with_validity(values: pa.Array, open_end: bool = False) -> tuple[pa.Array, np.ndarray]:
    """Dates in the forms departments use, as ISO 8601: 2024-03-05, 2024/3/5, 2024.3.5,
    2024年3月5日, 20240305, Excel serial numbers (45356), with or without a time of day.
    With ``open_end``, 长期 and its synonyms become 9999-12-31."""
    cleaned = trim(nfkc(values))
    cleaned = pc.replace_substring_regex(cleaned, pattern=r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$", replacement="")
    if open_end:
        cleaned = map_values(cleaned, dict.fromkeys(OPEN_END_WORDS, OPEN_END))
    iso = parse_dates(cleaned)
    parsed = ~np.isnat(iso)
    if not parsed.any():
        return cleaned, parsed
    as_text = pc.cast(pa.array(iso, type=pa.date32()), pa.string())
    return pc.if_else(pa.array(parsed), as_text, cleaned), parsed


def parse_dates(cleaned: pa.Array) -> np.ndarray:
    """The dates in ``cleaned`` as datetime64[D]; NaT where a value is not a real date.

    ISO dates, the common case, go through Arrow's strptime in one pass; a round trip back to
    text rejects the dates strptime would roll over (2024-02-30). Only the other values are
    tried against the other forms."""
    n = len(cleaned)
    iso = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    shaped = pc.match_substring_regex(cleaned, pattern=r"^\d{4}-\d{2}-\d{2}$")
    if pc.any(shaped).as_py():
        parsed = pc.cast(pc.strptime(cleaned, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
        exact = pc.and_(shaped, pc.equal(pc.cast(parsed, pa.string()), cleaned))
        exact_np = pc.fill_null(exact, False).to_numpy(zero_copy_only=False)
        days = pc.fill_null(pc.cast(parsed, pa.int32()), 0).to_numpy(zero_copy_only=False).astype("datetime64[D]")
        iso[exact_np] = days[exact_np]
        rest = ~pc.fill_null(shaped, False).to_numpy(zero_copy_only=False) & pc.not_equal(cleaned, "").to_numpy(
            zero_copy_only=False)
    else:
        rest = pc.not_equal(cleaned, "").to_numpy(zero_copy_only=False)
    if rest.any():
        index = np.flatnonzero(rest)
        iso[index] = _parse_other_forms(cleaned.take(pa.array(index)))
    return iso


def _parse_other_forms(cleaned: pa.Array) -> np.ndarray:
    """2024/3/5, 2024.3.5, 2024年3月5日, 20240305 and Excel serial numbers."""
    n = len(cleaned)
    year = np.zeros(n, dtype=np.int64)
    month = np.zeros(n, dtype=np.int64)
    day = np.zeros(n, dtype=np.int64)
    found = np.zeros(n, dtype=bool)
    for pattern in (r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?$", r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})$"):
        parts = pc.extract_regex(cleaned, pattern=pattern)
        hit = (~np.asarray(pc.is_null(parts).to_numpy(zero_copy_only=False))) & ~found
        if hit.any():
            for target, name in ((year, "y"), (month, "m"), (day, "d")):
                column = pc.cast(pc.fill_null(pc.struct_field(parts, name), "0"), pa.int64()).to_numpy()
                target[hit] = column[hit]
            found |= hit
    iso = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    ok = found & (year >= 1900) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    if ok.any():
        first = ((year[ok] - 1970) * 12 + (month[ok] - 1)).astype("datetime64[M]").astype("datetime64[D]")
        candidate = first + (day[ok] - 1)
        same_month = candidate.astype("datetime64[M]") == first.astype("datetime64[M]")
        idx = np.flatnonzero(ok)
        iso[idx[same_month]] = candidate[same_month]
    serial = pc.extract_regex(cleaned, pattern=r"^(?P<n>\d{5})(?:\.0+)?$")
    is_serial = (~np.asarray(pc.is_null(serial).to_numpy(zero_copy_only=False))) & ~found
    if is_serial.any():
        number = pc.cast(pc.fill_null(pc.struct_field(serial, "n"), "0"), pa.int64()).to_numpy()
        iso[is_serial] = _EXCEL_EPOCH + number[is_serial]
    return iso


def real_iso_dates(values: pa.Array) -> np.ndarray:
    """Which values are real dates written as YYYY-MM-DD (what :func:`dates` produces)."""
    shaped = pc.match_substring_regex(values, pattern=r"^\d{4}-\d{2}-\d{2}$").to_numpy(zero_copy_only=False)
    return shaped & ~np.isnat(parse_dates(values))


def amounts_wan(values: pa.Array) -> pa.Array:
    """Amounts in 万元: thousands separators and a 万元 unit removed; values stated in 元 are
    converted (2000元 → 0.2)."""
    cleaned = pc.replace_substring_regex(trim(nfkc(values)), pattern=r"[,\s]", replacement="")
    cleaned = pc.replace_substring_regex(cleaned, pattern=r"^(-?\d+(?:\.\d+)?)(?:万元|万)$", replacement=r"\1")
    in_yuan = pc.match_substring_regex(cleaned, pattern=r"^-?\d+(?:\.\d+)?元$")
    if not pc.any(in_yuan).as_py():
        return cleaned
    texts = cleaned.to_pylist()
    for i in np.flatnonzero(in_yuan.to_numpy(zero_copy_only=False)):
        texts[i] = _yuan_to_wan(texts[i][:-1])
    return pa.array(texts, type=pa.string())


def _yuan_to_wan(text: str) -> str:
    try:
        value = Decimal(text) / Decimal(10000)
    except InvalidOperation:
        return text + "元"
    return format(value.normalize(), "f")
