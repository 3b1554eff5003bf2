"""Subjects: who a published record is about, and where that subject's page lives.

A subject page lives at ``subjects/<page id>/``. The page id is the 统一社会信用代码; an individual
business with the placeholder code (17 zeros + X) is identified by its 工商注册号 as ``ZC<number>``.
Natural persons get no page and no id derived from their ID number: their page id is "" and their
records appear in listings only, masked. Ids are made only of ``[0-9A-Z]``, so no value can become a
path (``../``, ``/``, NUL); a value outside that alphabet gets no page.

Each record keeps a permanent anchor on its subject's page, ``#r-<record id>``; the record id is
the open data's stable id (dataset, record key, public subject identity), never a row number.
"""

from __future__ import annotations

import hashlib
import itertools
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .codes import USCC_PATTERN, USCC_PLACEHOLDER, mask_one
from .normalize import one_array
from .rules.duplicates import KEY_SEPARATOR

if TYPE_CHECKING:
    from .schema import Dataset

PERSON = "自然人"
REG_NO_PATTERN = r"^[0-9A-Z]{8,20}$"
REGION_PATTERN = r"^[1-9][0-9]{5}$"


def page_ids(table: pa.Table) -> pa.Array:
    """Per record, the page id of its subject ("" when the subject gets no page).

    ``table`` needs ``subject_category``, ``subject_uscc`` and ``subject_business_reg_no``."""
    if not table.num_rows:
        return pa.array([], pa.string())
    uscc = pc.fill_null(table["subject_uscc"].combine_chunks(), "")
    reg = pc.fill_null(table["subject_business_reg_no"].combine_chunks(), "")
    person = pc.equal(pc.fill_null(table["subject_category"].combine_chunks(), ""), PERSON)
    good_uscc = pc.and_(pc.match_substring_regex(uscc, USCC_PATTERN), pc.not_equal(uscc, USCC_PLACEHOLDER))
    by_reg = pc.and_(pc.equal(uscc, USCC_PLACEHOLDER), pc.match_substring_regex(reg, REG_NO_PATTERN))
    ids = pc.if_else(good_uscc, uscc, pc.if_else(by_reg, pc.binary_join_element_wise("ZC", reg, ""), ""))
    return pc.if_else(person, "", ids)


def region_codes(table: pa.Table) -> pa.Array:
    """Per record, the 6-digit GB/T 2260 code its subject registered in: USCC characters 3-8, or the
    first six digits of a 工商注册号; "" for natural persons and codes that carry no region."""
    if not table.num_rows:
        return pa.array([], pa.string())
    uscc = pc.fill_null(table["subject_uscc"].combine_chunks(), "")
    reg = pc.fill_null(table["subject_business_reg_no"].combine_chunks(), "")
    from_uscc = pc.utf8_slice_codeunits(uscc, 2, 8)
    from_reg = pc.utf8_slice_codeunits(reg, 0, 6)
    use_uscc = pc.and_(pc.match_substring_regex(uscc, USCC_PATTERN), pc.not_equal(uscc, USCC_PLACEHOLDER))
    code = pc.if_else(use_uscc, from_uscc, from_reg)
    code = pc.if_else(pc.match_substring_regex(code, REGION_PATTERN), code, "")
    person = pc.equal(pc.fill_null(table["subject_category"].combine_chunks(), ""), PERSON)
    return pc.if_else(person, "", code)


def subject_path(page_id: str) -> str:
    """The subject page's path relative to the site root."""
    return f"subjects/{page_id}/"


def record_anchor(record_id: str) -> str:
    return f"r-{record_id}"


RECORD_ID = "_record_id"  # the intake's column of record ids (computed once per input file)


def record_ids(dataset: Dataset, table: pa.Table) -> pa.Array:
    """The record id of every row of ``table``: its :data:`RECORD_ID` column when the intake
    made one, else computed from the identity columns."""
    if RECORD_ID in table.column_names:
        return one_array(table[RECORD_ID])
    return pa.array(record_id(dataset, {n: one_array(table[n]) for n in identity_columns(dataset)}), pa.string())


def record_id(dataset: Dataset, columns: dict[str, pa.Array]) -> list[str]:
    """A stable id per record: a hash of the dataset, the record key (authority code and document
    number, or list and listing basis) and the subject's public identity. Natural persons enter
    with their masked ID number and name: the id reveals nothing that is not published.

    The key text is assembled column by column and hashed straight from Arrow's buffer (SHA-256,
    the first 20 hex digits): at a million records, a per-row Python loop was most of the cost."""
    n = len(columns["subject_name"])
    if not n:
        return []
    text = lambda name: pc.fill_null(columns[name], "")  # noqa: E731
    uscc, reg = text("subject_uscc"), text("subject_business_reg_no")
    person = pc.binary_join_element_wise("P:", _masked(text("subject_id_no")), ":", text("subject_name"), "")
    subject = pc.if_else(pc.and_(pc.not_equal(uscc, ""), pc.not_equal(uscc, "00000000000000000X")), uscc,
                         pc.if_else(pc.not_equal(reg, ""), pc.binary_join_element_wise("GSZC:", reg, ""), person))
    keys = pc.binary_join_element_wise(dataset.name, *(text(p) for p in dataset.record_key), subject, KEY_SEPARATOR)
    keys = keys.cast(pa.large_string())
    offsets = np.frombuffer(keys.buffers()[1], np.int64)[keys.offset:keys.offset + n + 1].tolist()
    data = memoryview(keys.buffers()[2] or b"")
    sha256 = hashlib.sha256
    return [sha256(data[a:b]).hexdigest()[:20] for a, b in itertools.pairwise(offsets)]


def _masked(id_numbers: pa.Array) -> pa.Array:
    """Masked ID numbers (mask_one) for the non-empty ones; few rows are natural persons."""
    where = pc.indices_nonzero(pc.not_equal(id_numbers, "")).to_numpy()
    if not len(where):
        return id_numbers
    values = np.array(id_numbers.to_pylist(), dtype=object)
    values[where] = [mask_one(v) for v in values[where].tolist()]
    return pa.array(values.tolist(), pa.string())




def identity_columns(dataset: Dataset) -> list[str]:
    """The columns a record id is made from (see :func:`record_id`)."""
    return [*dict.fromkeys(("subject_name", "subject_uscc", "subject_business_reg_no", "subject_id_no", *dataset.record_key))]
