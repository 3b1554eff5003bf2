"""Rules about dates: readable, in order, not in the future."""

from __future__ import annotations

from collections.abc import Iterator

from .base import Batch, Rule, Violation

ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"


class DateFormat(Rule):
    """A date that cannot be read cannot start or end a display period. Accepted: 2024-03-05,
    2024/3/5, 2024.3.5, 2024年3月5日, 20240305, Excel serial numbers, and 长期 where an open end
    is allowed."""

    id = "date.format"
    title = "日期无法识别"

    def check(self, batch: Batch) -> Iterator[Violation]:
        for f in batch.dataset.fields:
            if f.type != "date":
                continue
            bad = batch.present(f.name) & ~batch.real_date(f.name)
            if bad.any():
                open_end = "，长期有效可写「长期」" if f.normalize == "date_open_end" else ""
                yield Violation(f.name, bad, "「{title}」的值「{value}」不是有效日期。请写成 2024-03-05 这样的格式"
                                + open_end + "。")


class DateOrder(Rule):
    """A validity or listing that ends before it starts is a typing error, and it would make the
    record vanish (or never appear) on the wrong day."""

    id = "date.order"
    title = "日期先后顺序错误"

    def check(self, batch: Batch) -> Iterator[Violation]:
        import pyarrow.compute as pc

        for start, end in batch.dataset.date_order:
            both = batch.real_date(start) & batch.real_date(end)
            backwards = both & pc.greater(batch.values(start), batch.values(end)).to_numpy(zero_copy_only=False)
            if backwards.any():
                start_title = batch.dataset.field(start).title
                values = pc.binary_join_element_wise(batch.values(start), batch.values(end), " > ")
                yield Violation(end, backwards, f"「{{title}}」早于「{start_title}」（{{value}}）。请核对这两个日期后更正。",
                                values)


class DecisionInFuture(Rule):
    """A decision dated after the build date has not been made yet as far as the public record
    goes; usually a typing error in the year. It would also start a display period that has not
    begun."""

    id = "date.future"
    title = "决定日期晚于发布日期"

    def check(self, batch: Batch) -> Iterator[Violation]:
        import pyarrow.compute as pc

        name = batch.dataset.decision_date_field
        ok = batch.real_date(name)
        future = ok & pc.greater(batch.values(name), batch.as_of.isoformat()).to_numpy(zero_copy_only=False)
        if future.any():
            yield Violation(name, future, "「{title}」「{value}」晚于本次发布日期 " + batch.as_of.isoformat()
                            + "。请核对年份是否录错。")
