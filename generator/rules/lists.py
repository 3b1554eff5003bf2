"""Rules for red and black list entries."""

from __future__ import annotations

from collections.abc import Iterator

from .base import Batch, Rule, Violation


class ListExit(Rule):
    """Every list must have an exit, and the exit must be consistent: a subject marked 已移出
    needs the date it left, and one with a removal date cannot still be 在列 — otherwise the site
    would keep a repaired company on a black list, or drop a listed one."""

    id = "list.exit"
    title = "名单状态与移出日期不一致"

    def check(self, batch: Batch) -> Iterator[Violation]:
        if not batch.dataset.has("removed_date"):
            return
        removed = batch.equals("status", "已移出")
        no_date = removed & batch.empty("removed_date")
        if no_date.any():
            yield Violation("removed_date", no_date, "状态为「已移出」，但「{title}」为空。请填写移出日期。")
        still_listed = batch.equals("status", "在列") & batch.present("removed_date")
        if still_listed.any():
            yield Violation("status", still_listed, "已填写移出日期，但「{title}」仍为「{value}」。"
                            "请把状态改为「已移出」，或删除移出日期。")
