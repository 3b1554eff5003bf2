"""What may be shown, for how long: the publication policy as typed, documented data.

The defaults follow ``shared/reference/disclosure-data.md`` §4–5: three regimes for penalties by
decision date, severity classes with minimum and maximum display periods, licences shown while
valid and then as history, lists shown while 在列. Every number here is also what the site's
公示规则 page prints, so the page and the code cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import yaml

from ..errors import ConfigError

SEVERITIES = ("轻微", "一般", "严重")


@dataclass(frozen=True)
class Period:
    """Display period of one severity class, in months from the decision date.

    ``published`` False: not published at all (轻微 by default). ``minimum_months``: the earliest
    a credit repair can end publication. ``maximum_months``: publication ends automatically."""

    published: bool
    minimum_months: int
    maximum_months: int


@dataclass(frozen=True)
class Regime:
    """The rules in force for decisions made from ``starts`` (inclusive) to ``ends`` (inclusive)."""

    id: str
    name: str
    basis: str
    starts: date
    ends: date | None
    periods: dict[str, Period]
    # sectors whose minimum period is longer (Order No. 58: special equipment, work and fire safety)
    sector_minimum_months: int = 0
    sector_keywords: tuple[str, ...] = ()


MINOR_NOT_PUBLISHED = Period(published=False, minimum_months=0, maximum_months=3)

REGIMES: tuple[Regime, ...] = (
    Regime(
        id="ndrc-2019-527", name="发改办财金〔2019〕527号",
        basis="《关于进一步完善“信用中国”网站及地方信用门户网站行政处罚信息信用修复机制的通知》",
        starts=date(1900, 1, 1), ends=date(2023, 4, 30),
        periods={"轻微": MINOR_NOT_PUBLISHED, "一般": Period(True, 3, 12), "严重": Period(True, 6, 36)},
    ),
    Regime(
        id="ndrc-order-58", name="国家发展改革委令第58号", basis="《失信行为纠正后的信用信息修复管理办法（试行）》",
        starts=date(2023, 5, 1), ends=date(2026, 3, 31),
        periods={"轻微": MINOR_NOT_PUBLISHED, "一般": Period(True, 3, 36), "严重": Period(True, 3, 36)},
        sector_minimum_months=12, sector_keywords=("特种设备", "应急管理", "安全生产", "消防"),
    ),
    Regime(
        id="ndrc-order-36", name="国家发展改革委令第36号", basis="《信用修复管理办法》",
        starts=date(2026, 4, 1), ends=None,
        periods={"轻微": MINOR_NOT_PUBLISHED, "一般": Period(True, 3, 12), "严重": Period(True, 12, 36)},
    ),
)

# penalty categories that make a penalty 严重 when the authority did not classify it
SEVERE_CATEGORIES = ("吊销许可证件", "暂扣或者吊销许可证", "暂扣或者吊销执照", "限制开展生产经营活动", "责令停产停业",
                     "责令关闭", "限制从业", "行政拘留", "降低资质等级")
MINOR_CATEGORIES = ("警告", "通报批评")


@dataclass(frozen=True)
class Policy:
    """Every choice the publication decision makes that is not fixed by law."""

    regimes: tuple[Regime, ...] = REGIMES
    # publish 轻微 penalties after all (a sector may require it), for at most their maximum period
    publish_minor_penalties: bool = False
    # severity mapping used when the authority supplied none
    severe_categories: tuple[str, ...] = SEVERE_CATEGORIES
    minor_categories: tuple[str, ...] = MINOR_CATEGORIES
    # a fine at least this large (万元) makes a penalty 严重: legal persons and other subjects
    large_fine_wan: float = 10.0
    # … natural persons
    large_fine_wan_person: float = 1.0
    # whether a credit repair may end publication before the minimum period
    repair_before_minimum: bool = False
    # records under objection (异议处理中): False shows them marked as such, True withholds them
    suppress_under_objection: bool = False
    # how long an expired or invalid licence stays visible as history, in months
    licence_history_months: int = 36
    # dates from this one on mean "open-ended" (长期)
    open_end_from: date = date(2099, 12, 31)
    extra: dict = field(default_factory=dict)

    def regime_for(self, decided: date) -> Regime:
        for regime in self.regimes:
            if regime.starts <= decided and (regime.ends is None or decided <= regime.ends):
                return regime
        return self.regimes[0] if decided < self.regimes[0].starts else self.regimes[-1]


POLICY_FILE = "policy.yaml"
CONFIGURABLE = ("publish_minor_penalties", "large_fine_wan", "large_fine_wan_person", "repair_before_minimum",
                "suppress_under_objection", "licence_history_months")


def load_policy(path: Path) -> Policy:
    """The default policy with the choices in ``path`` (YAML, optional) applied. Only the
    fields in ``CONFIGURABLE`` may be set there; the regimes follow the law and live in code."""
    if not path.is_file():
        return Policy()
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} 不是有效的 YAML（{exc.__class__.__name__}）。请检查格式。") from None
    unknown = sorted(set(content) - set(CONFIGURABLE)) if isinstance(content, dict) else ["(not a mapping)"]
    if unknown:
        raise ConfigError(f"{path} 中有无法识别的设置：{'、'.join(map(str, unknown))}。可用的设置：{'、'.join(CONFIGURABLE)}。")
    defaults = Policy()
    for key, value in content.items():
        expected = type(getattr(defaults, key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(f"{path} 中 {key} 的值「{value}」类型不对，应为 {expected.__name__}。")
    return replace(defaults, **content)
