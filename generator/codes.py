"""Identifier arithmetic: the 统一社会信用代码 (GB 32100-2015) and the resident ID (GB 11643-1999).

Each check exists twice: a scalar function for one value (used by provenance, tests and the
synthetic generator) and a vectorised one over a NumPy matrix of ASCII bytes (used by the
validation rules, which see a million codes at a time). Tests compare the two.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z; valued 0-30 in this order
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_PLACEHOLDER = "00000000000000000X"  # 个体工商户 without a code: identified by 工商注册号
USCC_REGISTRY_DEPTS = "123456789ANY"  # position 1: 登记管理部门码
USCC_PATTERN = r"^[1-9ANY][0-9A-HJ-NP-RTUW-Y][0-9]{6}[0-9A-HJ-NP-RTUW-Y]{10}$"

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"  # index: weighted sum mod 11
ID_PATTERN = r"^[1-9][0-9]{16}[0-9X]$"

_USCC_VALUE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(USCC_ALPHABET):
    _USCC_VALUE[ord(_c)] = _i
_DIGIT_VALUE = np.full(256, -1, dtype=np.int64)
for _i in range(10):
    _DIGIT_VALUE[ord("0") + _i] = _i
_DIGIT_VALUE[ord("X")] = 10
_USCC_VALUE8 = np.where(_USCC_VALUE < 0, 255, _USCC_VALUE).astype(np.uint8)
_DIGIT_VALUE8 = np.where(_DIGIT_VALUE < 0, 255, _DIGIT_VALUE).astype(np.uint8)


def uscc_check_char(first17: str) -> str:
    """The 18th character of a USCC whose first 17 characters are given."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_checksum_ok(code: str) -> bool:
    """True when ``code`` is 18 characters of the USCC alphabet with a matching check character."""
    if len(code) != 18 or any(c not in USCC_ALPHABET for c in code):
        return False
    return uscc_check_char(code[:17]) == code[17]


def id_check_char(first17: str) -> str:
    """The 18th character of a resident ID whose first 17 digits are given."""
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return ID_CHECK[total % 11]


def id_checksum_ok(number: str) -> bool:
    """True when ``number`` is 17 digits followed by the matching ISO 7064 MOD 11-2 character."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    return id_check_char(number[:17]) == number[17]


def ascii_matrix(values: pa.Array, width: int) -> np.ndarray:
    """Rows of ``width`` ASCII bytes for string values that are exactly ``width`` bytes long.

    The caller filters to such values first; the Arrow data buffer is then one contiguous block
    that NumPy can view without copying each string.
    """
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if len(values) == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offset_type = np.int64 if values.type == pa.large_string() else np.int32
    offsets = np.frombuffer(values.buffers()[1], dtype=offset_type)[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
    start = int(offsets[0])
    return data[start : start + len(values) * width].reshape(len(values), width)


def uscc_checksums_ok(matrix: np.ndarray) -> np.ndarray:
    """Vectorised :func:`uscc_checksum_ok` over an (n, 18) byte matrix."""
    values = _USCC_VALUE8[matrix]  # 255 outside the alphabet
    in_alphabet = values.max(axis=1, initial=0) < 31
    total = np.zeros(len(matrix), dtype=np.int32)
    for i, weight in enumerate(USCC_WEIGHTS):  # column by column: small integers, no (n, 17) temporaries
        column = values[:, i]
        total += np.where(column < 31, column, 0).astype(np.int32) * weight
    return in_alphabet & (((31 - total % 31) % 31) == values[:, 17])


def id_checksums_ok(matrix: np.ndarray) -> np.ndarray:
    """Vectorised :func:`id_checksum_ok` over an (n, 18) byte matrix."""
    values = _DIGIT_VALUE8[matrix]  # 0-9 digits, 10 for X, 255 otherwise
    digits = values[:, :17].max(axis=1, initial=0) <= 9
    total = np.zeros(len(matrix), dtype=np.int32)
    for i, weight in enumerate(ID_WEIGHTS):
        total += np.minimum(values[:, i], 9).astype(np.int32) * weight
    expected = np.frombuffer(ID_CHECK.encode(), dtype=np.uint8)[total % 11]
    return digits & (expected == matrix[:, 17])


MASK = "*"


def mask_one(number: str) -> str:
    """An ID number with its middle hidden: 18-digit IDs keep 6 + 4 (the birth date, positions
    7–14, is hidden: 450102********1234), 15-digit IDs 6 + 3; other documents a quarter at each
    end; very short ones are hidden whole."""
    n = len(number)
    if n == 18:
        head, tail = 6, 4
    elif n == 15:
        head, tail = 6, 3
    else:
        head = tail = n // 4
    return number[:head] + MASK * (n - head - tail) + number[n - tail:] if n - head - tail > 0 else MASK * n


def mask_id_numbers(values: pa.Array) -> pa.Array:
    """:func:`mask_one` over a column; empty values stay empty."""
    return pa.array([mask_one(v) if v else v for v in values.to_pylist()], pa.string())
