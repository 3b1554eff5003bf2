"""The publication decision: for every record and a build date, published or not, the last day
it is shown (``display_until``), and why.

Pages, feeds and data packages take their records from here, never from the raw rows. The
decision is vectorised over a dataset's records; dates are NumPy ``datetime64[D]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..normalize import iso_days, one_array, parse_dates
from ..schema import Dataset
from .policy import SEVERITIES, Policy
from .privacy import protect

NAT = np.datetime64("NaT", "D")

# reason code → (Chinese label, published?)
REASONS: dict[str, tuple[str, bool]] = {
    "displayed": ("在公示期内", True),
    "in_force": ("许可有效", True),
    "licence_history": ("历史许可", True),
    "listed": ("在列", True),
    "minor_severity": ("轻微失信行为，不予公示", False),
    "period_ended": ("公示期满", False),
    "publicity_end": ("公示截止期已过", False),
    "repaired": ("已信用修复", False),
    "revoked": ("决定已撤销、变更或确认违法无效", False),
    "objection_upheld": ("异议成立，已撤回", False),
    "objection_pending": ("异议处理中，暂停公示", False),
    "history_ended": ("历史许可展示期满", False),
    "removed": ("已移出名单", False),
    "list_expired": ("名单有效期届满", False),
    "minor_subject": ("涉及未成年人", False),
    "restricted": ("涉及国家秘密、商业秘密或个人隐私", False),
}

# A reason is carried as its position in CODES (an int8 per record; "" where no limit applied) until
# the one string column is made: a NumPy array of Python strings per record cost a third of the
# decision's time at a million records.
CODES = ("", *REASONS)
_CODE = {code: np.int8(i) for i, code in enumerate(CODES)}
SHOWN = np.array([i for i, code in enumerate(CODES) if code in REASONS and REASONS[code][1]], np.int8)  # to publish

PUBLISHED = "_published"
DISPLAY_UNTIL = "_display_until"
REASON = "_reason"
SEVERITY = "_severity"
REGIME = "_regime"
UNDER_OBJECTION = "_under_objection"


@dataclass
class Decisions:
    """A dataset's records with their decision columns, as of one build date."""

    dataset: Dataset
    as_of: date
    table: pa.Table

    def published(self) -> pa.Table:
        """The records to publish, with personal data already protected."""
        return protect(self.dataset, self.table.filter(self.table[PUBLISHED]))

    def counts(self) -> dict[str, int]:
        """Records per reason, in the order of :data:`REASONS`."""
        found = {c["values"]: c["counts"] for c in pc.value_counts(self.table[REASON]).to_pylist()}
        return {reason: found[reason] for reason in REASONS if reason in found}


def decide(dataset: Dataset, records: pa.Table, as_of: date, policy: Policy | None = None) -> Decisions:
    """Decide every record of ``dataset`` as of ``as_of``."""
    policy = policy or Policy()
    n = records.num_rows
    today = np.datetime64(as_of, "D")
    column = _Columns(records, dataset.field_names)
    if dataset.name == "penalties":
        until, reason, severity, regime = _penalties(column, today, policy)
    elif dataset.name == "licensing":
        until, reason = _licences(column, today, policy)
        severity = regime = _texts(("",), np.zeros(n, np.int8))
    else:
        until, reason = _listings(column, today, policy)
        severity = regime = _texts(("",), np.zeros(n, np.int8))
    under_objection = _equals(column, "objection_status", "异议处理中")
    overrides = [  # later entries win: the strongest reason not to publish is the one reported
        (under_objection & policy.suppress_under_objection, "objection_pending"),
        (_equals(column, "objection_status", "已撤销"), "objection_upheld"),
        (_minor_subject(column), "minor_subject"),
        (_present(column, "restriction"), "restricted"),
    ]
    for mask, code in overrides:
        reason = np.where(mask, _CODE[code], reason)
    published = np.isin(reason, SHOWN)
    table = records.append_column(PUBLISHED, pa.array(published, pa.bool_()))
    table = table.append_column(DISPLAY_UNTIL, iso_days(until))
    table = table.append_column(REASON, _texts(CODES, reason))
    table = table.append_column(SEVERITY, severity)
    table = table.append_column(REGIME, regime)
    table = table.append_column(UNDER_OBJECTION, pa.array(under_objection & published, pa.bool_()))
    return Decisions(dataset, as_of, table)


class _Columns(Mapping):
    """The record fields a rule reads, each as one array, made when first read: the intake's
    columns come in a chunk per input file, and most fields are never read here."""

    def __init__(self, records: pa.Table, names: list[str]) -> None:
        self._records, self._names, self._made = records, names, {}

    def __getitem__(self, name: str) -> pa.Array:
        if name not in self._made:
            if name not in self._names:
                raise KeyError(name)
            self._made[name] = one_array(self._records[name]) if self._records.num_rows else pa.array([], pa.string())
        return self._made[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


# ---------------------------------------------------------------------------------------------
# Penalties


def _penalties(column: dict[str, pa.Array], today: np.datetime64, policy: Policy):
    decided = _dates(column["decision_date"])
    n = len(decided)
    severity = severity_of(column, policy)
    level_of = pc.index_in(severity, value_set=pa.array(SEVERITIES, pa.string()))
    level_of = pc.fill_null(level_of, -1).to_numpy(zero_copy_only=False) if n else np.zeros(0, np.int32)
    regime_ids = ("", *(regime.id for regime in policy.regimes))
    regime_id = np.zeros(n, dtype=np.int16)  # a position in regime_ids
    minimum = np.zeros(n, dtype=np.int64)
    maximum = np.zeros(n, dtype=np.int64)
    publishable = np.zeros(n, dtype=bool)
    for number, regime in enumerate(policy.regimes, start=1):
        starts = np.datetime64(regime.starts, "D")
        in_regime = decided >= starts
        if regime.ends is not None:
            in_regime &= decided <= np.datetime64(regime.ends, "D")
        for position, level in enumerate(SEVERITIES):
            rows = in_regime & (level_of == position)
            period = regime.periods[level]
            regime_id[rows] = number
            minimum[rows] = period.minimum_months
            maximum[rows] = period.maximum_months
            publishable[rows] = period.published or (level == "轻微" and policy.publish_minor_penalties)
        if regime.sector_keywords:
            named = np.zeros(n, dtype=bool)
            for keyword in regime.sector_keywords:
                named |= pc.match_substring(column["authority"], keyword).to_numpy(zero_copy_only=False)
            sector = in_regime & named
            minimum[sector] = np.maximum(minimum[sector], regime.sector_minimum_months)
    # the last day shown by each limit; NaT where the limit does not apply
    by_maximum = add_months(decided, maximum) - 1
    by_publicity_end = _dates(column["publicity_end_date"])
    repair = _dates(column["repair_date"])
    earliest_repair = repair if policy.repair_before_minimum else _later(repair, add_months(decided, minimum))
    by_repair = earliest_repair - 1
    by_revocation = _dates(column["revoked_date"]) - 1
    limits = (("period_ended", by_maximum), ("publicity_end", by_publicity_end), ("repaired", by_repair),
              ("revoked", by_revocation))
    until, ending = _earliest(limits, n)
    reason = np.where(today <= until, _CODE["displayed"], ending)
    reason[~publishable] = _CODE["minor_severity"]
    until[~publishable] = NAT
    return until, reason, severity, _texts(regime_ids, regime_id)


def severity_of(column: dict[str, pa.Array], policy: Policy) -> pa.Array:
    """The severity class the authority supplied, or one derived from the penalty categories and
    the fine: any severe category or a large fine makes 严重, only 警告/通报批评 makes 轻微, the rest
    一般."""
    supplied = column["severity"]
    categories = pc.split_pattern(column["penalty_categories"], ";")
    n = len(categories)
    # each record's categories, flattened: which are severe, which are not minor
    owner = pc.list_parent_indices(categories).to_numpy(zero_copy_only=False)
    named = pc.list_flatten(categories)
    severe_named = np.bincount(owner, pc.is_in(named, value_set=pa.array(policy.severe_categories, pa.string()))
                              .to_numpy(zero_copy_only=False), minlength=n) > 0
    other_named = np.bincount(owner, pc.invert(pc.is_in(named, value_set=pa.array(policy.minor_categories, pa.string())))
                              .to_numpy(zero_copy_only=False), minlength=n) > 0
    has_any = pc.fill_null(pc.greater(pc.list_value_length(categories), 0), False).to_numpy(zero_copy_only=False)
    fine = _amounts(column["fine_amount_wan"])
    person = _equals(column, "subject_category", "自然人")
    large = fine >= np.where(person, policy.large_fine_wan_person, policy.large_fine_wan)
    derived = np.where(severe_named | large, 2, np.where(has_any & ~other_named, 0, 1)).astype(np.int8)  # in SEVERITIES
    return pc.if_else(pc.equal(supplied, ""), _texts(SEVERITIES, derived), supplied) if n else pa.array([], pa.string())


def _amounts(values: pa.Array) -> np.ndarray:
    """Amounts as numbers, an empty value as 0 (the amounts are checked decimals by now)."""
    return pc.cast(pc.if_else(pc.equal(values, ""), "0", values), pa.float64()).to_numpy(zero_copy_only=False)


# ---------------------------------------------------------------------------------------------
# Licences and lists


def _licences(column: dict[str, pa.Array], today: np.datetime64, policy: Policy):
    """In force while valid and 有效; then history for ``licence_history_months``."""
    valid_to = _dates(column["valid_to"])
    decided = _dates(column["decision_date"])
    open_end = valid_to >= np.datetime64(policy.open_end_from, "D")
    effective = _equals(column, "status", "有效") | _equals(column, "status", "")
    in_force = effective & (open_end | (today <= valid_to))
    # history counts from the end of validity; for an invalid or open-ended licence, whose end is
    # not known, from the decision date (never from the build date: a record must not come back)
    ended = np.where(effective & ~open_end, valid_to, decided)
    history_until = add_months(ended, np.full(len(ended), policy.licence_history_months)) - 1
    until = np.where(in_force, np.where(open_end, NAT, valid_to), history_until)
    reason = np.where(in_force, _CODE["in_force"],
                      np.where(today <= history_until, _CODE["licence_history"], _CODE["history_ended"]))
    return until, reason


def _listings(column: dict[str, pa.Array], today: np.datetime64, policy: Policy):
    """Shown while 在列: a removal date or a passed valid_until ends the listing."""
    valid_until = _dates(column["valid_until"])
    removed = _dates(column["removed_date"])
    open_end = valid_until >= np.datetime64(policy.open_end_from, "D")
    by_expiry = np.where(open_end, NAT, valid_until)
    by_removal = removed - 1
    until, ending = _earliest((("list_expired", by_expiry), ("removed", by_removal)), len(valid_until))
    shown = _equals(column, "status", "在列") & (np.isnat(until) | (today <= until))
    removed_now = _equals(column, "status", "已移出") | (ending == _CODE["removed"])
    repaired = _equals(column, "removal_reason", "修复")
    reason = np.select([shown, removed_now & repaired, removed_now],
                       [_CODE["listed"], _CODE["repaired"], _CODE["removed"]], _CODE["list_expired"])
    return until, reason.astype(np.int8)


# ---------------------------------------------------------------------------------------------
# Shared


def add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """``days`` plus whole months, the day clipped to the month's end (2024-01-31 + 1 → 2024-02-29)."""
    month = days.astype("datetime64[M]")
    day = days - month.astype("datetime64[D]")
    target = month + months.astype("timedelta64[M]")
    last = (target + 1).astype("datetime64[D]") - 1
    return np.minimum(target.astype("datetime64[D]") + day, last)


def _earliest(limits: tuple[tuple[str, np.ndarray], ...], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row the earliest of several last-shown days (NaT: no limit) and the limit's reason code
    (the code of "" where no limit applies)."""
    until = np.full(n, NAT)
    which = np.zeros(n, dtype=np.int8)
    for name, limit in limits:
        sooner = ~np.isnat(limit) & (np.isnat(until) | (limit < until))
        until = np.where(sooner, limit, until)
        which[sooner] = _CODE[name]
    return until, which


def _texts(values: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    """A string column from positions in ``values``: one take, no Python string per row."""
    return pc.take(pa.array(values, pa.string()), pa.array(codes))


def _later(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise later date; NaT in ``a`` stays NaT."""
    return np.where(np.isnat(a), NAT, np.maximum(a, b))


def _dates(values: pa.Array) -> np.ndarray:
    return parse_dates(values) if len(values) else np.zeros(0, dtype="datetime64[D]")


def _equals(column: dict[str, pa.Array], name: str, value: str) -> np.ndarray:
    return pc.fill_null(pc.equal(column[name], value), False).to_numpy(zero_copy_only=False) if name in column else np.zeros(
        len(next(iter(column.values()))), dtype=bool)


def _present(column: dict[str, pa.Array], name: str) -> np.ndarray:
    return pc.not_equal(column[name], "").to_numpy(zero_copy_only=False)


def _minor_subject(column: dict[str, pa.Array]) -> np.ndarray:
    """Natural persons under 18 on the decision (or listing) date, from the ID's birth date."""
    person = _equals(column, "subject_category", "自然人") & _equals(column, "subject_id_type", "身份证")
    if not person.any():
        return person
    rows = np.flatnonzero(person)  # the ID numbers of persons only: a fraction of the records
    birth = parse_dates(pc.utf8_slice_codeunits(column["subject_id_no"].take(pa.array(rows)), 6, 14))
    decided = _dates((column["decision_date"] if "decision_date" in column else column["listed_date"]).take(pa.array(rows)))
    adult_from = add_months(birth, np.full(len(birth), 18 * 12))
    minor = np.zeros(len(person), dtype=bool)
    minor[rows] = ~np.isnat(birth) & ~np.isnat(decided) & (decided < adult_from)
    return minor
