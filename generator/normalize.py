"""Clean raw cells into the canonical text every later step relies on.

One function per ``normalize`` kind in the schemas. All work on whole Arrow columns at once.
Values that cannot be understood are left as given (trimmed) so that a rule can report them
exactly as the department wrote them.
"""

from __future__ import annotations

import unicodedata
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
_RE2_SPACE = np.zeros(256, dtype=bool)
_RE2_SPACE[[0x09, 0x0A, 0x0C, 0x0D, 0x20]] = True
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_ISO_DIGITS = np.array([0, 1, 2, 3, 5, 6, 8, 9])


def _nfkc_stable(cp: int) -> bool:
    """An assigned, non-combining character that NFKC leaves as it is (assigned: its
    normalisation can no longer change in a later Unicode version)."""
    c = chr(cp)
    return (unicodedata.category(c) not in ("Cn", "Cs", "Co") and not unicodedata.combining(c)
            and unicodedata.normalize("NFKC", c) == c)


_NFKC_STABLE_3000 = np.array([_nfkc_stable(cp) for cp in range(0x3000, 0x4000)])


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
    content, and XML cannot carry them); tabs and line breaks inside a value stay.

    (``utf8_trim`` itself is cheaper per value than finding, with NumPy, the few values that
    need it; the control characters are looked for in the bytes, see :func:`has_control_bytes`.)"""
    values = pc.utf8_trim(values, characters=TRIM)
    if has_control_bytes(values):
        values = pc.replace_substring_regex(values, pattern=CONTROL, replacement="")
    return values


def one_array(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The values as one array: a column in one chunk as it is (``combine_chunks`` copies it)."""
    if isinstance(values, pa.ChunkedArray):
        return values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    return values


def string_ranks(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Each string's rank among the distinct values, in Arrow's string order (by UTF-8 bytes):
    equal strings get equal ranks. Sorting many rows of few distinct values (dates, dataset
    names) by these integers, with NumPy's stable sort, orders them as sorting the strings
    would, at a fraction of the cost. The values hold no nulls."""
    coded = pc.dictionary_encode(one_array(values) if isinstance(values, pa.ChunkedArray) else values)
    if coded.null_count:
        raise ValueError("string_ranks: the values hold nulls")
    rank = np.empty(len(coded.dictionary), np.int64)
    rank[pc.sort_indices(coded.dictionary).to_numpy(zero_copy_only=False)] = np.arange(len(coded.dictionary))
    return rank[coded.indices.to_numpy(zero_copy_only=False)]


HEX_ID_DIGITS = 20  # a record id: the first 20 hexadecimal digits of a SHA-256 (opendata.record_id)


def hex_id_keys(ids: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """Record ids as two integers each, (the first 16 hexadecimal digits, the last 4), which
    sort, compare and join as the strings do, at a fraction of the cost of strings; None unless
    every id is 20 lowercase hexadecimal digits (callers then take the strings' path)."""
    ids = one_array(ids) if isinstance(ids, pa.ChunkedArray) else ids
    found = string_buffers(ids.cast(pa.string()) if ids.type == pa.large_string() else ids)
    if found is None:
        return None
    offsets, data = found
    n = len(offsets) - 1
    if len(data) != n * HEX_ID_DIGITS or (n and not (np.diff(offsets) == HEX_ID_DIGITS).all()):
        return None
    try:  # C's hexadecimal reader; it also takes upper case and spaces, which are refused here
        raw = bytes.fromhex(data.tobytes().decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    if len(raw) != n * HEX_ID_DIGITS // 2 or _UPPER_HEX[data].any():
        return None
    packed = np.frombuffer(raw, np.uint8).reshape(n, HEX_ID_DIGITS // 2)  # 10 bytes an id, big-endian
    return packed[:, :8].copy().view(">u8").ravel().astype(np.uint64), packed[:, 8:].copy().view(">u2").ravel().astype(np.uint64)


_UPPER_HEX = np.zeros(256, bool)
_UPPER_HEX[np.frombuffer(b"ABCDEF", np.uint8)] = True


NOT_GIVEN = object()  # an argument left out, where None means something


class IdIndex:
    """Where each of some record ids is in a set of ids (as Arrow's ``index_in``, -1 where it is
    not): by the ids' hexadecimal keys (:func:`hex_id_keys`) and a binary search, which is many
    times faster than a hash table of a million strings; by ``index_in`` for ids of another shape
    or, should two ids of the set share their first 16 digits, for any."""

    def __init__(self, ids: pa.Array, keys: tuple[np.ndarray, np.ndarray] | object | None = NOT_GIVEN) -> None:
        """``keys``: :func:`hex_id_keys` of ``ids``, when the caller has them already."""
        self.ids = ids
        self.sorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        keys = hex_id_keys(ids) if keys is NOT_GIVEN else keys
        if keys is not None:
            high, low = keys
            if (high[1:] > high[:-1]).all():  # in order already (a release's ids are), distinct
                self.sorted = (np.arange(len(high), dtype=np.int64), high, low)
                return
            order = np.argsort(high)  # ids with distinct first digits: those order them
            high = high[order]
            if not (high[1:] == high[:-1]).any():
                self.sorted = (order.astype(np.int64), high, low[order])

    def positions(self, values: pa.Array | pa.ChunkedArray,
                  keys: tuple[np.ndarray, np.ndarray] | object | None = NOT_GIVEN) -> np.ndarray:
        """``keys``: :func:`hex_id_keys` of ``values``, when the caller has them already."""
        if self.sorted is None:
            keys = None
        elif keys is NOT_GIVEN:
            keys = hex_id_keys(values)
        if keys is None:
            values = one_array(values) if isinstance(values, pa.ChunkedArray) else values
            found = pc.index_in(values, value_set=self.ids)
            return pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        order, high, low = self.sorted
        if not len(high):
            return np.full(len(keys[0]), -1, np.int64)
        at = np.minimum(np.searchsorted(high, keys[0]), len(high) - 1)
        return np.where((high[at] == keys[0]) & (low[at] == keys[1]), order[at], -1)


def string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """The offsets (from 0) and the UTF-8 bytes of a string column without nulls, as NumPy views
    of Arrow's buffers (no copy); None for other columns, which take the general path.

    Byte-level questions (is it all ASCII, does any value start with a space, is it 10 bytes
    long) are answered here in one vectorised pass, so that Arrow's kernels only run on columns
    or rows that need them. UTF-8 is self-synchronising, so a byte test never mistakes part of
    one character for another."""
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks != 1:
            return None
        values = values.chunk(0)
    if values.type != pa.string() or values.null_count:
        return None
    n = len(values)
    buffers = values.buffers()
    if n == 0 or buffers[1] is None:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    offsets = np.frombuffer(buffers[1], dtype=np.int32)[values.offset: values.offset + n + 1]
    if buffers[2] is None:
        return np.zeros(n + 1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    data = np.frombuffer(buffers[2], dtype=np.uint8)[offsets[0]: offsets[-1]]
    return offsets - offsets[0], data


def is_ascii(values: pa.Array) -> bool:
    """Whether every value is ASCII (answered from the bytes; True for an empty column)."""
    found = string_buffers(values)
    if found is None:
        return pc.all(pc.string_is_ascii(values)).as_py() is not False
    data = found[1]
    return not len(data) or int(data.max()) < 0x80


def _in_range(data: np.ndarray, low: int, high: int) -> np.ndarray:
    """``low <= data <= high`` for bytes, in one subtraction (wrapping) and one comparison."""
    return (data - np.uint8(low)) <= high - low


def _spaces(data: np.ndarray) -> np.ndarray:
    """Positions of RE2's ``\\s`` bytes (tab, line feed, form feed, carriage return, space)."""
    if not len(data) or int(data.min()) > 0x20:
        return np.zeros(0, dtype=np.int64)
    low = np.flatnonzero(data <= 0x20)
    return low[_RE2_SPACE[data[low]]]


def _rows_holding(offsets: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Which values hold the bytes at ``positions`` (offsets of the data buffer)."""
    rows = np.zeros(len(offsets) - 1, dtype=bool)
    rows[np.searchsorted(offsets, positions, side="right") - 1] = True
    return rows


def _on_rows(values: pa.Array, rows: np.ndarray, change, cheap: bool = False) -> pa.Array:
    """``change`` applied to the values of ``rows`` only (it must keep the others as they are).
    A ``cheap`` change, or one most rows need, is applied to the whole column instead: merging
    costs about what a simple kernel costs. A few changed values are spliced into the column's
    buffers (:func:`_splice`), which copies the other values' bytes in large blocks."""
    changed = np.flatnonzero(rows)
    if cheap or len(changed) > len(rows) // 2:
        return change(values)
    if len(changed) <= _SPLICE_MOST:
        spliced = _splice(values, changed, change(values.take(pa.array(changed))))
        if spliced is not None:
            return spliced
    index = np.arange(len(rows))
    index[changed] = len(rows) + np.arange(len(changed))
    return pa.concat_arrays([values, change(values.filter(pa.array(rows)))]).take(pa.array(index))


_SPLICE_MOST = 2048  # beyond this many changed values, Arrow's take is as quick as a Python loop


def _splice(values: pa.Array, rows: np.ndarray, replacements: pa.Array) -> pa.Array | None:
    """``values`` with the values at ``rows`` (sorted positions) replaced by ``replacements``,
    built straight from the buffers: the unchanged stretches between two replaced values are
    copied as blocks. None when either column is not a plain string column without nulls."""
    found, new = string_buffers(values), string_buffers(replacements)
    if found is None or new is None:
        return None
    offsets, data = found
    new_offsets, new_data = new
    lengths = np.diff(offsets)
    lengths[rows] = np.diff(new_offsets)
    total = int(lengths.sum(dtype=np.int64))
    if total >= 2**31:
        return None
    pieces, start = [], 0
    for k, row in enumerate(rows.tolist()):
        pieces.append(data[start:offsets[row]])
        pieces.append(new_data[new_offsets[k]:new_offsets[k + 1]])
        start = offsets[row + 1]
    pieces.append(data[start:])
    out_offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
    np.cumsum(lengths, out=out_offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(lengths), [None, pa.py_buffer(out_offsets),
                                                             pa.py_buffer(np.concatenate(pieces))])


def has_control_bytes(values: pa.Array) -> bool:
    """Whether any value holds a control character, read straight off the data buffer (UTF-8
    never uses bytes below 0x20 or 0x7F inside other characters)."""
    found = string_buffers(values)
    if found is None:
        return bool(pc.any(pc.match_substring_regex(values, pattern=CONTROL)).as_py())
    data = found[1]
    if not len(data):
        return False
    if (data == 0x7F).any():
        return True
    if int(data.min()) >= 0x20:  # the usual case: one quick pass, no mask over the bytes
        return False
    low = data[data < 0x20]
    return bool(((low != 0x09) & (low != 0x0A) & (low != 0x0D)).any())


def nfkc(values: pa.Array) -> pa.Array:
    """Full-width letters, digits and punctuation become half-width (９１４５ → 9145).
    Only values with characters outside ASCII, the CJK ideographs (U+4000–U+9FFF, lead bytes
    E4–E9) and the stable characters of U+3000–U+3FFF are touched: the others are already in
    NFKC, and most values are such."""
    found = string_buffers(values)
    if found is not None:
        offsets, data = found
        if not len(data) or int(data.max()) < 0x80:
            return values
        leads = np.flatnonzero(_in_range(data, 0xC0, 0xE2) | _in_range(data, 0xEA, 0xFF))
        e3 = np.flatnonzero(data == 0xE3)  # U+3000–U+3FFF: CJK punctuation (〔〕【】、。) is kept as it is
        if len(e3):
            low = ((data[np.minimum(e3 + 1, len(data) - 1)].astype(np.int64) & 0x3F) << 6) | (
                data[np.minimum(e3 + 2, len(data) - 1)] & 0x3F)
            leads = np.concatenate([leads, e3[~_NFKC_STABLE_3000[low]]])
        if not len(leads):
            return values
        return _on_rows(values, _rows_holding(offsets, leads), lambda v: pc.utf8_normalize(v, form="NFKC"))
    if is_ascii(values):
        return values
    non_ascii = pc.invert(pc.string_is_ascii(values))
    if not pc.any(non_ascii).as_py():
        return values
    changed = pc.utf8_normalize(values.filter(non_ascii), form="NFKC")
    return pc.replace_with_mask(values, non_ascii, changed)


def code(values: pa.Array) -> pa.Array:
    """Identifiers: half-width, no white space anywhere, upper case."""
    values = nfkc(values)
    found = string_buffers(values)
    if found is None:
        if is_ascii(values):
            if pc.any(pc.match_substring_regex(values, pattern=r"\s")).as_py():
                values = pc.replace_substring_regex(values, pattern=r"\s+", replacement="")
            return pc.ascii_upper(values)
        return pc.utf8_upper(pc.replace_substring_regex(values, pattern="[\\s\u200b\ufeff]+", replacement=""))
    offsets, data = found
    if not len(data) or int(data.max()) < 0x80:
        # RE2's \s: tab, line feed, form feed, carriage return, space
        spaces = _spaces(data)
        if len(spaces):
            values = _on_rows(values, _rows_holding(offsets, spaces),
                              lambda v: pc.replace_substring_regex(v, pattern=r"\s+", replacement=""))
            offsets, data = string_buffers(values)
        if _in_range(data, 0x61, 0x7A).any():
            values = pc.ascii_upper(values)
        return values
    # RE2's \s is ASCII white space; U+200B and U+FEFF start with E2 and EF
    spaces = np.concatenate([_spaces(data), np.flatnonzero((data == 0xE2) | (data == 0xEF))])
    if len(spaces):
        values = _on_rows(values, _rows_holding(offsets, spaces),
                          lambda v: pc.replace_substring_regex(v, pattern="[\\s\u200b\ufeff]+", replacement=""))
        found = string_buffers(values)
        if found is None:
            return pc.utf8_upper(values)
        offsets, data = found
    # nothing from U+3000 to U+9FFF has an upper case: only other letters need utf8_upper
    cased = np.flatnonzero(_in_range(data, 0x61, 0x7A) | _in_range(data, 0xC0, 0xE2) | _in_range(data, 0xEA, 0xFF))
    if len(cased):
        values = _on_rows(values, _rows_holding(offsets, cased), pc.utf8_upper)
    return values


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
    if _contains_byte(cleaned, ord(":")):  # only a value with a time of day can lose one
        cleaned = pc.replace_substring_regex(cleaned, pattern=r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$",
                                             replacement="")
    if open_end:
        cleaned = map_values(cleaned, dict.fromkeys(OPEN_END_WORDS, OPEN_END))
    iso, shaped = _parse(cleaned)
    parsed = ~np.isnat(iso)
    # a real date already written as YYYY-MM-DD is its own ISO text: only the other forms change
    other = parsed & ~shaped
    if not other.any():
        return cleaned, parsed
    as_text = pc.cast(pa.array(iso[other], type=pa.date32()), pa.string())
    return pc.replace_with_mask(cleaned, pa.array(other), as_text), parsed


def iso_days(days: np.ndarray) -> pa.Array:
    """Days (datetime64[D]) as ISO text, "" for NaT: Arrow's cast of the dates, many times
    faster than NumPy's ``datetime_as_string`` and a Python string per row. NumPy's text is
    kept for years past four digits, where the two may differ."""
    days = days.astype("datetime64[D]")
    known = days[~np.isnat(days)]
    if len(known) and not (np.datetime64("0001-01-01") <= known.min() and known.max() <= np.datetime64("9999-12-31")):
        return pa.array(np.where(np.isnat(days), "", np.datetime_as_string(days, unit="D")).astype(object), pa.string())
    return pc.fill_null(pc.cast(pa.array(days, pa.date32(), from_pandas=True), pa.string()), "")


def parse_dates(cleaned: pa.Array) -> np.ndarray:
    """The dates in ``cleaned`` as datetime64[D]; NaT where a value is not a real date."""
    return _parse(cleaned)[0]


def _byte_rows(data: np.ndarray, starts: np.ndarray, width: int) -> np.ndarray:
    """The ``width`` bytes from each of ``starts`` as a (len(starts), width) matrix (zeros past
    the end of the data)."""
    padded = np.concatenate([data, np.zeros(width, dtype=np.uint8)])
    return np.lib.stride_tricks.sliding_window_view(padded, width)[starts]


def _contains_byte(values: pa.Array, byte: int) -> bool:
    found = string_buffers(values)
    if found is None:
        return True
    return bool((found[1] == byte).any())


def _parse(cleaned: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The dates in ``cleaned`` as datetime64[D] (NaT where a value is not a real date), and
    which values are shaped YYYY-MM-DD.

    ISO dates, the common case, are read straight off the bytes: ten bytes, digits and two
    hyphens, a month of 1–12 and a day that month has (2024-02-30 is not a date). Years before
    1900 go through Arrow's strptime and a round trip back to text, as everything did before.
    Only the values not shaped YYYY-MM-DD are tried against the other forms."""
    n = len(cleaned)
    iso = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    found = string_buffers(cleaned)
    if found is None:
        return _parse_with_arrow(cleaned.combine_chunks() if isinstance(cleaned, pa.ChunkedArray) else cleaned)
    offsets, data = found
    lengths = np.diff(offsets)
    shaped = np.zeros(n, dtype=bool)
    ten = np.flatnonzero(lengths == 10)
    if len(ten):
        cells = _byte_rows(data, offsets[ten], 10)
        digits = cells - np.uint8(48)  # wraps below '0': anything but a digit is > 9
        is_shaped = (digits[:, _ISO_DIGITS] <= 9).all(axis=1) & (cells[:, 4] == 0x2D) & (cells[:, 7] == 0x2D)
        shaped[ten[is_shaped]] = True
        digits = digits[is_shaped].astype(np.int32)
        rows = ten[is_shaped]
        year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
        month = digits[:, 5] * 10 + digits[:, 6]
        day = digits[:, 8] * 10 + digits[:, 9]
        modern = year >= 1900
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        valid_month = (month >= 1) & (month <= 12)
        last_day = _DAYS_IN_MONTH[np.where(valid_month, month, 0)] + (leap & (month == 2))
        ok = modern & valid_month & (day >= 1) & (day <= last_day)
        if ok.any():
            first = ((year[ok] - 1970) * 12 + (month[ok] - 1)).astype("datetime64[M]").astype("datetime64[D]")
            iso[rows[ok]] = first + (day[ok] - 1)
        if not modern.all():
            early = rows[~modern]
            iso[early] = _parse_with_arrow(cleaned.take(pa.array(early)))[0]
    rest = ~shaped & (lengths > 0)
    if rest.any():
        index = np.flatnonzero(rest)
        iso[index] = _parse_other_forms(cleaned.take(pa.array(index)))
    return iso, shaped


def _parse_with_arrow(cleaned: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_parse` through Arrow's strptime (any column, any year)."""
    n = len(cleaned)
    iso = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    shaped_arrow = pc.match_substring_regex(cleaned, pattern=r"^\d{4}-\d{2}-\d{2}$")
    shaped = pc.fill_null(shaped_arrow, False).to_numpy(zero_copy_only=False)
    if shaped.any():
        parsed = pc.cast(pc.strptime(cleaned, format="%Y-%m-%d", unit="s", error_is_null=True), pa.date32())
        exact = pc.and_(shaped_arrow, pc.equal(pc.cast(parsed, pa.string()), cleaned))
        exact_np = pc.fill_null(exact, False).to_numpy(zero_copy_only=False)
        days = pc.fill_null(pc.cast(parsed, pa.int32()), 0).to_numpy(zero_copy_only=False).astype("datetime64[D]")
        iso[exact_np] = days[exact_np]
    rest = ~shaped & pc.fill_null(pc.not_equal(cleaned, ""), False).to_numpy(zero_copy_only=False)
    if rest.any():
        index = np.flatnonzero(rest)
        iso[index] = _parse_other_forms(cleaned.take(pa.array(index)))
    return iso, shaped


_SEPARATORS = np.zeros(256, dtype=bool)
_SEPARATORS[[ord("-"), ord("/"), ord(".")]] = True
_YEAR, _MONTH, _DAY = (tuple("年月日".encode()[i:i + 3]) for i in (0, 3, 6))
# y{4} sep m{1,2} sep d{1,2} 日?: every layout as (separator 1, month digits, separator 2, day
# digits, suffix) byte lengths
_LAYOUTS = [(s1, m, s2, d, suffix) for s1 in (1, 3) for m in (1, 2) for s2 in (1, 3) for d in (1, 2) for suffix in (0, 3)]
_LONGEST = 17
_LAYOUTS_BY_SIZE: dict[int, list[tuple[int, int, int, int, int]]] = {}
for _layout in _LAYOUTS:
    _LAYOUTS_BY_SIZE.setdefault(4 + sum(_layout), []).append(_layout)


def _parse_other_forms(cleaned: pa.Array) -> np.ndarray:
    """2024/3/5, 2024.3.5, 2024年3月5日, 20240305 and Excel serial numbers.

    The forms are read off the bytes, layout by layout (4 digits, a separator of 1 or 3 bytes,
    1 or 2 digits, …): exactly what the regular expressions of
    :func:`_parse_other_forms_regex` accept, without running them."""
    found = string_buffers(cleaned)
    if found is None:
        return _parse_other_forms_regex(cleaned)
    offsets, data = found
    n = len(offsets) - 1
    lengths = np.diff(offsets)
    year = np.zeros(n, dtype=np.int64)
    month = np.zeros(n, dtype=np.int64)
    day = np.zeros(n, dtype=np.int64)
    hit = np.zeros(n, dtype=bool)
    candidates = np.flatnonzero((lengths >= 8) & (lengths <= _LONGEST))
    if len(candidates) and len(data):
        size = lengths[candidates]
        cells = _byte_rows(data, offsets[candidates], _LONGEST)
        digits = cells - np.uint8(48)  # wraps below '0': anything but a digit is > 9
        is_digit = digits <= 9
        year_digits = is_digit[:, :4].all(axis=1)

        def number(rows: np.ndarray, start: int, width: int) -> np.ndarray:
            value = np.zeros(len(rows), dtype=np.int64)
            for k in range(width):
                value = value * 10 + digits[rows, start + k]
            return value

        def separator(rows: np.ndarray, start: int, width: int, word: tuple[int, int, int]) -> np.ndarray:
            if width == 1:
                return _SEPARATORS[cells[rows, start]]
            return (cells[rows, start] == word[0]) & (cells[rows, start + 1] == word[1]) & (cells[rows, start + 2] == word[2])

        for total in range(8, _LONGEST + 1):
            of_size = np.flatnonzero((size == total) & year_digits)
            if not len(of_size):
                continue
            if total == 8:  # 20240305
                rows = of_size[is_digit[of_size, :8].all(axis=1)]
                target = candidates[rows]
                year[target], month[target], day[target] = number(rows, 0, 4), number(rows, 4, 2), number(rows, 6, 2)
                hit[target] = True
                of_size = of_size[~hit[candidates[of_size]]]
            for s1, m, s2, d, suffix in _LAYOUTS_BY_SIZE.get(total, ()):
                if not len(of_size):
                    break
                rows = of_size
                at = 4
                ok = separator(rows, at, s1, _YEAR)
                at += s1
                ok &= is_digit[rows, at:at + m].all(axis=1)
                month_at = at
                at += m
                ok &= separator(rows, at, s2, _MONTH)
                at += s2
                ok &= is_digit[rows, at:at + d].all(axis=1)
                day_at = at
                at += d
                if suffix:
                    ok &= separator(rows, at, 3, _DAY)
                rows = rows[ok]
                target = candidates[rows]
                year[target], month[target], day[target] = number(rows, 0, 4), number(rows, month_at, m), number(rows, day_at, d)
                hit[target] = True
                of_size = of_size[~ok]
    iso = _calendar_days(hit, year, month, day)
    # Excel serial numbers: five digits, perhaps followed by .0, .00, …
    serial = np.flatnonzero(~hit & (lengths >= 5))
    if len(serial):
        starts = offsets[serial]
        five = np.ones(len(serial), dtype=bool)
        value = np.zeros(len(serial), dtype=np.int64)
        for k in range(5):
            byte = data[starts + k].astype(np.int64)
            five &= (byte >= 48) & (byte <= 57)
            value = value * 10 + byte - 48
        tail = lengths[serial] - 5
        fraction = five & (tail >= 2) & (data[np.minimum(starts + 5, len(data) - 1)] == 0x2E)
        if fraction.any():  # then only zeros after the point
            zeros = np.concatenate([[0], np.cumsum(data != 48)])
            fraction &= zeros[np.minimum(starts + 5 + tail, len(data))] - zeros[np.minimum(starts + 6, len(data))] == 0
        is_serial = five & ((tail == 0) | fraction)
        iso[serial[is_serial]] = _EXCEL_EPOCH + value[is_serial]
    return iso


def _calendar_days(found: np.ndarray, year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days for the rows ``found`` whose year, month and day make a real date; NaT elsewhere."""
    iso = np.full(len(found), np.datetime64("NaT"), dtype="datetime64[D]")
    ok = found & (year >= 1900) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= 31)
    if ok.any():
        first = ((year[ok] - 1970) * 12 + (month[ok] - 1)).astype("datetime64[M]").astype("datetime64[D]")
        candidate = first + (day[ok] - 1)
        same_month = candidate.astype("datetime64[M]") == first.astype("datetime64[M]")
        idx = np.flatnonzero(ok)
        iso[idx[same_month]] = candidate[same_month]
    return iso


def _parse_other_forms_regex(cleaned: pa.Array) -> np.ndarray:
    """:func:`_parse_other_forms` with regular expressions (any column)."""
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
    iso = _calendar_days(found, year, month, day)
    serial = pc.extract_regex(cleaned, pattern=r"^(?P<n>\d{5})(?:\.0+)?$")
    is_serial = (~np.asarray(pc.is_null(serial).to_numpy(zero_copy_only=False))) & ~found
    if is_serial.any():
        number = pc.cast(pc.fill_null(pc.struct_field(serial, "n"), "0"), pa.int64()).to_numpy()
        iso[is_serial] = _EXCEL_EPOCH + number[is_serial]
    return iso


def real_iso_dates(values: pa.Array) -> np.ndarray:
    """Which values are real dates written as YYYY-MM-DD (what :func:`dates` produces)."""
    iso, shaped = _parse(values)
    return shaped & ~np.isnat(iso)


def amounts_wan(values: pa.Array) -> pa.Array:
    """Amounts in 万元: thousands separators and a 万元 unit removed; values stated in 元 are
    converted (2000元 → 0.2)."""
    cleaned = trim(nfkc(values))
    found = string_buffers(cleaned)
    if found is None:
        cleaned = pc.replace_substring_regex(cleaned, pattern=r"[,\s]", replacement="")
        cleaned = pc.replace_substring_regex(cleaned, pattern=r"^(-?\d+(?:\.\d+)?)(?:万元|万)$", replacement=r"\1")
    else:
        # most amounts are plain numbers: each expression runs only on the values holding a byte
        # it could change (a comma or RE2's white space; the last byte of 万, E4 B8 87)
        offsets, data = found
        separators = np.concatenate([_spaces(data), np.flatnonzero(data == ord(","))])
        if len(separators):
            cleaned = _on_rows(cleaned, _rows_holding(offsets, separators),
                               lambda v: pc.replace_substring_regex(v, pattern=r"[,\s]", replacement=""))
            offsets, data = string_buffers(cleaned)
        wan = np.flatnonzero(data == 0x87)
        if len(wan):
            cleaned = _on_rows(cleaned, _rows_holding(offsets, wan), lambda v: pc.replace_substring_regex(
                v, pattern=r"^(-?\d+(?:\.\d+)?)(?:万元|万)$", replacement=r"\1"))
            offsets, data = string_buffers(cleaned)
        if not (data == 0x83).any():  # no 元 (E5 85 83) anywhere: nothing to convert
            return cleaned
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
