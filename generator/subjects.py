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

import pyarrow as pa
import pyarrow.compute as pc

from .codes import USCC_PATTERN, USCC_PLACEHOLDER

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
