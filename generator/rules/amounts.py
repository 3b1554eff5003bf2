"""Rules about money amounts (万元)."""

from __future__ import annotations

from collections.abc import Iterator

from .base import Batch, Rule, Violation

NUMBER = r"^-?\d+(\.\d+)?$"


class AmountFormat(Rule):
    """Fines and confiscations are published as numbers in 万元; text in an amount column cannot
    be summed, compared or shown with its unit."""

    id = "amount.format"
    title = "金额不是数字"

    def check(self, batch: Batch) -> Iterator[Violation]:
        for f in batch.dataset.fields:
            if f.normalize != "amount_wan":
                continue
            bad = batch.present(f.name) & ~batch.matches(f.name, NUMBER)
            if bad.any():
                yield Violation(f.name, bad, "「{title}」的值「{value}」不是数字。请只填写以万元为单位的数字，如 2000 元填 0.2。")


class AmountNegative(Rule):
    """A negative fine is always an error of sign or of column."""

    id = "amount.negative"
    title = "金额为负数"

    def check(self, batch: Batch) -> Iterator[Violation]:
        for f in batch.dataset.fields:
            if f.normalize != "amount_wan":
                continue
            bad = batch.matches(f.name, NUMBER) & batch.matches(f.name, r"^-") & ~batch.matches(f.name, r"^-0+(\.0+)?$")
            if bad.any():
                yield Violation(f.name, bad, "「{title}」为负数「{value}」。请核对金额后更正。")
