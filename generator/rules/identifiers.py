"""Rules about the codes that identify subjects and authorities."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import codes
from ..model import Severity
from .base import Batch, Rule, Violation

INDIVIDUAL_BUSINESS = "个体工商户"
RESIDENT_ID = "身份证"


def _uscc_fields(batch: Batch) -> list[str]:
    return [f.name for f in batch.dataset.fields if f.identifier == "uscc"]


def _checksum_mask(values: pa.Array, candidates: np.ndarray, check) -> np.ndarray:
    """Rows among ``candidates`` (18 ASCII characters each) whose check character is right."""
    ok = np.zeros(len(values), dtype=bool)
    if candidates.all():
        ok[:] = check(codes.ascii_matrix(values, 18))
    elif candidates.any():
        index = np.flatnonzero(candidates)
        ok[index] = check(codes.ascii_matrix(values.take(pa.array(index)), 18))
    return ok


class UsccFormat(Rule):
    """A 统一社会信用代码 is the key of every subject page; one that is not 18 characters of the
    GB 32100-2015 alphabet (no I, O, S, V, Z) with a known registry department cannot identify
    anyone. Position 1 may be a digit or A, N, Y."""

    id = "uscc.format"
    title = "统一社会信用代码格式错误"

    def check(self, batch: Batch) -> Iterator[Violation]:
        for name in _uscc_fields(batch):
            bad = batch.present(name) & ~batch.matches(name, codes.USCC_PATTERN)
            if name == "subject_uscc":
                bad &= ~batch.equals(name, codes.USCC_PLACEHOLDER)
            if bad.any():
                yield Violation(name, bad, "「{title}」「{value}」不是有效的统一社会信用代码（应为 18 位，"
                                "不含 I、O、S、V、Z）。请核对营业执照或登记证书上的代码后更正。")


class UsccChecksum(Rule):
    """Early pilot-era codes can fail the check character and still be legal, so a checksum
    failure is a warning: the record is published, and the department is asked to confirm."""

    id = "uscc.checksum"
    severity = Severity.WARNING
    title = "统一社会信用代码校验位不符"

    def check(self, batch: Batch) -> Iterator[Violation]:
        for name in _uscc_fields(batch):
            values = batch.values(name)
            candidates = batch.matches(name, codes.USCC_PATTERN)
            bad = candidates & ~_checksum_mask(values, candidates, codes.uscc_checksums_ok)
            if bad.any():
                yield Violation(name, bad, "「{title}」「{value}」的校验位不符。早期试点代码可能如此，记录照常发布；"
                                "请核对登记证书，如为录入错误请更正后重新导出。")


class UsccPlaceholder(Rule):
    """The placeholder 00000000000000000X is allowed only for 个体工商户 that have no code yet,
    and then the 工商注册号 is what identifies them; without it the record belongs to nobody."""

    id = "uscc.placeholder"
    title = "占位代码缺少工商注册号"

    def check(self, batch: Batch) -> Iterator[Violation]:
        if "subject_uscc" not in batch.columns:
            return
        placeholder = batch.equals("subject_uscc", codes.USCC_PLACEHOLDER)
        if not placeholder.any():
            return
        no_reg = placeholder & batch.empty("subject_business_reg_no")
        if no_reg.any():
            yield Violation("subject_uscc", no_reg, "统一社会信用代码为占位值「{value}」，但「行政相对人代码_2(工商注册号)」为空。"
                            "请填写该个体工商户的工商注册号。")
        wrong_category = placeholder & ~batch.equals("subject_category", INDIVIDUAL_BUSINESS) & batch.present(
            "subject_category")
        if wrong_category.any():
            yield Violation("subject_uscc", wrong_category, "占位代码「{value}」只能用于个体工商户。"
                            "请填写该主体真实的统一社会信用代码。")


class ResidentId(Rule):
    """A natural person's 18-digit ID (GB 11643-1999) keys their records, masked, in every
    output; a wrong one attributes a penalty to somebody else. Checked: 17 digits and a check
    character (ISO 7064 MOD 11-2), and a real birth date not after the build date."""

    id = "id_no"
    title = "身份证号码错误"

    def check(self, batch: Batch) -> Iterator[Violation]:
        if "subject_id_no" not in batch.columns:
            return
        name = "subject_id_no"
        resident = batch.present(name) & batch.equals("subject_id_type", RESIDENT_ID)
        if not resident.any():
            return
        well_formed = batch.matches(name, codes.ID_PATTERN)
        bad_format = resident & ~well_formed
        if bad_format.any():
            yield Violation(name, bad_format, "「{title}」「{value}」不是 18 位居民身份证号码。请核对后更正。",
                            values=_masked(batch.values(name)))
        candidates = resident & well_formed
        values = batch.values(name)
        bad_check = candidates & ~_checksum_mask(values, candidates, codes.id_checksums_ok)
        if bad_check.any():
            yield Violation(name, bad_check, "「{title}」「{value}」的校验位不符，号码可能录入有误。请核对后更正。",
                            values=_masked(values))
        from ..normalize import dates, real_iso_dates

        # only the well-formed resident IDs have a birth date to check
        index = np.flatnonzero(candidates)
        birth = pc.utf8_slice_codeunits(values.take(pa.array(index)), 6, 14)
        iso = dates(birth)
        valid = real_iso_dates(iso)
        not_future = pc.less_equal(iso, batch.as_of.isoformat()).to_numpy(zero_copy_only=False)
        bad_birth = np.zeros(len(batch), dtype=bool)
        bad_birth[index] = ~(valid & not_future)
        if bad_birth.any():
            yield Violation(name, bad_birth, "「{title}」「{value}」中的出生日期不是有效日期。请核对后更正。",
                            values=_masked(values))


def _masked(values: pa.Array) -> _MaskedValues:
    """Even in the validation report an ID number is not shown in clear (birth date hidden)."""
    return _MaskedValues(values)


class _MaskedValues:
    """The column's values as :func:`codes.mask_id_numbers` shows them, masked one at a time
    and only for the rows reported (not the whole column)."""

    def __init__(self, values: pa.Array) -> None:
        self.values = values

    def __getitem__(self, position: int) -> str | None:
        value = self.values[int(position)].as_py()
        return codes.mask_one(value) if value else value
