"""Rules about the cells themselves: shape of the row, readable text, required fields, enums."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow.compute as pc

from .base import Batch, RowValues, Rule, Violation

CATEGORY_FIELD = "subject_category"


class CellCount(Rule):
    """A row with more or fewer cells than the header has shifted or lost values: publishing it
    could put one field's text under another's name."""

    id = "row.cell_count"
    title = "行的单元格数与表头不一致"

    def check(self, batch: Batch) -> Iterator[Violation]:
        if batch.bad_shape is None or not batch.bad_shape.any():
            return
        counts, header = batch.cell_counts, batch.header_cells
        values = RowValues(lambda i: f"{counts[i]} 个单元格，表头有 {header[i]} 列")
        yield Violation(None, batch.bad_shape, "该行有 {value}，各列可能错位。"
                        "请检查该行是否有未加引号的逗号或换行，修正后重新导出。", values)


class InvalidBytes(Rule):
    """Bytes that are neither UTF-8 nor GB18030 were replaced while reading; the row's text is
    no longer what the department wrote."""

    id = "encoding.invalid_bytes"
    title = "含有无法识别的字符编码"

    def check(self, batch: Batch) -> Iterator[Violation]:
        if batch.lossy is None or not batch.lossy.any():
            return
        for name, column in batch.columns.items():
            mask = pc.match_substring(column, "\ufffd").to_numpy(zero_copy_only=False) & batch.lossy
            if mask.any():
                yield Violation(name, mask, "「{title}」含有无法解码的字节（显示为 �）。"
                                "请将文件统一另存为 UTF-8 或 GB18030 编码后重新提交。")


class Required(Rule):
    """A disclosure without its required fields cannot be understood or attributed; which
    fields are required depends on the subject category (a natural person has an ID number,
    an organisation a USCC)."""

    id = "required"
    title = "必填字段为空"

    def check(self, batch: Batch) -> Iterator[Violation]:
        for f in batch.dataset.fields:
            if f.required:
                mask = batch.empty(f.name)
                message = "必填字段「{title}」为空。请在源系统中补全后重新导出。"
            elif f.required_for:
                mask = batch.empty(f.name) & batch.isin(CATEGORY_FIELD, f.required_for)
                message = "「{title}」为空；行政相对人类别为" + "、".join(f.required_for) + "时必填。请补全后重新导出。"
            else:
                continue
            if mask.any():
                yield Violation(f.name, mask, message)


class Enumerations(Rule):
    """Coded fields (category, status, document type, penalty category) must use the national
    vocabulary, or the record cannot be classified, filtered or given its display period."""

    id = "enum"
    title = "取值不在规定范围内"

    def check(self, batch: Batch) -> Iterator[Violation]:
        for f in batch.dataset.fields:
            present = batch.present(f.name)
            if f.enum:
                bad = present & ~batch.isin(f.name, f.enum)
            elif f.pattern and f.normalize == "enum":
                bad = present & ~batch.matches(f.name, f.pattern)
            elif f.item_enum:
                bad = present & _items_outside(batch, f.name, f.item_enum)
            else:
                continue
            allowed = f.allowed_text()
            if bad.any():
                yield Violation(f.name, bad, "「{title}」的值「{value}」不在规定范围内（" + allowed + "）。"
                                "请改用规定的取值后重新导出。")


def _items_outside(batch: Batch, name: str, allowed: tuple[str, ...]) -> np.ndarray:
    """Rows of a ';'-joined list field with at least one item outside ``allowed`` (其他 may
    carry a suffix such as 其他-责令改正)."""
    import pyarrow as pa

    parts = pc.split_pattern(batch.values(name), ";")
    flat = pc.list_flatten(parts)
    ok = pc.or_(pc.is_in(flat, value_set=pa.array(list(allowed), type=pa.string())), pc.starts_with(flat, "其他"))
    parent = pc.list_parent_indices(parts).to_numpy()
    bad = np.zeros(len(batch), dtype=bool)
    np.logical_or.at(bad, parent, ~ok.to_numpy(zero_copy_only=False))
    return bad
