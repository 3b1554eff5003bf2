"""Disclosure rules: what may be published, until when, and of whom.

``decide_all(intake, policy)`` gives every dataset's :class:`Decisions` as of the intake's
build date; outputs take their records from ``Decisions.published()`` only.
"""

from __future__ import annotations

from ..intake import Intake
from ..schema import datasets
from .decide import REASONS, Decisions, add_months, decide, severity_of
from .policy import REGIMES, Period, Policy, Regime

__all__ = ["REASONS", "REGIMES", "Decisions", "Period", "Policy", "Regime", "add_months", "decide", "decide_all",
           "severity_of"]


def decide_all(intake: Intake, policy: Policy | None = None) -> dict[str, Decisions]:
    """The publication decision for every dataset of ``intake``."""
    return {d.name: decide(d, intake.records[d.name], intake.as_of, policy) for d in datasets()}
