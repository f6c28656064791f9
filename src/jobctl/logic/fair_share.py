"""Fair share over time (docs/contract.md §8): what each share has used of a budget,
averaged over time with the half-life ``SHARE_HALF_LIFE_SECONDS``.

A share's use of a budget is a decayed average of the room its jobs held: a job that held
``units`` for ``t`` seconds counts ``units * (1 - 2 ** (-t / half_life))`` when it leaves,
and that fades by half every half-life. (Times ``half-life / ln 2``, this is the decayed
instance-seconds the contract names; the order is the same.) With a half-life of 0 only
what runs now counts.

A job still running counts from its admission what it will have used by its limit (its
``StoppingCondition``; ``units`` if it has none), and what it did use once it leaves. Counted
only as it runs, a job just admitted weighs nothing, so its share looks as idle as
before and takes the next freed room too: that lag favours the shares of small weight
(at weights 1:2:3 on 8 GPUs with 1-GPU jobs, about 17 % over their part in a
simulation of the plan, against 9 % counted this way).

Stored per budget (``BudgetItem``): each holder's room with when it was admitted and
when it ends at the latest, and per share the use of the jobs that left, as of when. So a
pass reads a few items, never the history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Holding:
    """A job's room in a budget: how much, for which share, since when, and until when at
    the latest (its ``StoppingCondition``; None: no known end)."""

    units: int
    share: str
    since: datetime | None = None
    until: datetime | None = None
    # For preemption (docs/contract.md §10): the job's priority, whether it may be stopped
    # to give room back, whether it resumes from checkpoints, and whether a preemption
    # has already chosen it (its room is on its way back).
    priority: int = 0
    preemptible: bool = True
    checkpoint: bool = False
    preempted: bool = False


@dataclass(frozen=True)
class BudgetItem:
    """A budget as stored: the room its count says is taken, who holds it, and each
    share's use by the jobs that have left it (decayed as of the time beside it)."""

    used: int = 0
    holders: Mapping[str, Holding] = field(default_factory=dict)
    past_use: Mapping[str, tuple[float, datetime]] = field(default_factory=dict)


def decayed(value: float, seconds: float, half_life: float) -> float:
    """What ``value`` of use weighs ``seconds`` later."""
    if half_life <= 0:
        return 0.0
    return value * 2 ** (-max(seconds, 0.0) / half_life)


def accrued(units: int, seconds: float, half_life: float) -> float:
    """The use of ``units`` held for the last ``seconds``."""
    if half_life <= 0:
        return float(units)
    return units - decayed(units, seconds, half_life)


def _held_for(holding: Holding, now: datetime) -> float:
    return (now - holding.since).total_seconds() if holding.since else 0.0


def fair_use(item: BudgetItem, now: datetime, half_life: float) -> dict[str, float]:
    """Each share's use of the budget now, in its units (instances, or jobs)."""
    use = {
        share: decayed(value, (now - at).total_seconds(), half_life)
        for share, (value, at) in item.past_use.items()
    }
    for holding in item.holders.values():
        limit = (
            (holding.until - holding.since).total_seconds()
            if holding.since and holding.until
            else None
        )
        use[holding.share] = use.get(holding.share, 0.0) + committed(
            holding.units, limit, half_life
        )
    return use


def committed(units: int, limit: float | None, half_life: float) -> float:
    """What a job holding ``units`` will have used by its limit (seconds; None: none)."""
    return float(units) if limit is None else accrued(units, limit, half_life)


def past_use_after(
    item: BudgetItem, holding: Holding, now: datetime, half_life: float
) -> tuple[float, datetime]:
    """The share's past use once ``holding`` leaves the budget now (with a half-life of 0,
    what has left counts for nothing)."""
    if half_life <= 0:
        return 0.0, now
    value, at = item.past_use.get(holding.share, (0.0, now))
    before = decayed(value, (now - at).total_seconds(), half_life)
    return before + accrued(holding.units, _held_for(holding, now), half_life), now


@dataclass(frozen=True)
class Usage:
    """A budget as a pass sees it: the room taken; per share, the room its running jobs
    hold and its fair-share use (None: what runs now); and when the running jobs end at
    the latest, in seconds from now (None: no known end)."""

    used: int = 0
    by_share: Mapping[str, int] = field(default_factory=dict)
    use: Mapping[str, float] | None = None
    ends: Sequence[tuple[float | None, int]] = ()
    holders: Mapping[str, Holding] = field(default_factory=dict)

    @classmethod
    def of(cls, item: BudgetItem, now: datetime, half_life: float) -> Usage:
        by_share: dict[str, int] = {}
        for holding in item.holders.values():
            by_share[holding.share] = by_share.get(holding.share, 0) + holding.units
        ends = [
            ((h.until - now).total_seconds() if h.until else None, h.units)
            for h in item.holders.values()
        ]
        return cls(item.used, by_share, fair_use(item, now, half_life), ends, item.holders)

    def share_use(self) -> dict[str, float]:
        return (
            dict(self.use)
            if self.use is not None
            else {k: float(v) for k, v in self.by_share.items()}
        )
