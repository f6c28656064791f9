"""Guaranteed quotas, borrowing and preemption (docs/contract.md §10). No AWS calls.

A share may be guaranteed instances of a type (``SHARE_QUOTAS``) and lend what it does
not use (``SHARE_SHARING``). Within an instance type that has quotas, a share's running
jobs are ranked by when they started: the oldest ones, as far as its quota goes, run
*within its quota*; the ones after them *borrow*. A borrower is what a quota's owner may
take back: ``victims`` chooses, among them, the jobs that lose least.

``logic.scheduling`` asks these rules, in its pass, whether a job borrows, how much room
it may borrow, and whom a job that needs its quota's room preempts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from jobctl.logic.fair_share import Holding

Sharing = Literal["reserve", "lend", "lend_and_borrow"]
DEFAULT_SHARING: Sharing = "lend_and_borrow"
DEFAULT_MAX_PREEMPTIONS = 5
_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Quotas:
    """SHARE_QUOTAS, SHARE_SHARING, PREEMPT_WITHIN_SHARE and MAX_PREEMPTIONS."""

    # share -> instance type -> instances guaranteed
    guaranteed: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    sharing: Mapping[str, Sharing] = field(default_factory=dict)
    preempt_within_share: bool = False
    max_preemptions: int = DEFAULT_MAX_PREEMPTIONS

    @property
    def active(self) -> bool:
        return bool(self.guaranteed)

    def governs(self, instance_type: str) -> bool:
        """Whether some share has a quota of this type (else quotas do not apply to it)."""
        return any(instance_type in types for types in self.guaranteed.values())

    def quota(self, share: str, instance_type: str) -> int:
        return self.guaranteed.get(share, {}).get(instance_type, 0)

    def sharing_of(self, share: str) -> Sharing:
        return self.sharing.get(share, DEFAULT_SHARING)

    def may_borrow(self, share: str) -> bool:
        return self.sharing_of(share) == "lend_and_borrow"

    def lends(self, share: str) -> bool:
        return self.sharing_of(share) != "reserve"

    def shares_of(self, instance_type: str) -> list[str]:
        return sorted(s for s, types in self.guaranteed.items() if instance_type in types)

    def problems(self, budgets: Mapping[str, int]) -> list[str]:
        """Why these quotas cannot hold under these instance budgets."""
        found = []
        types = {t for per_type in self.guaranteed.values() for t in per_type}
        for instance_type in sorted(types):
            total = sum(self.quota(s, instance_type) for s in self.guaranteed)
            if instance_type not in budgets:
                found.append(f"{instance_type}: has quotas but no budget (INSTANCE_TYPE_BUDGETS)")
            elif total > budgets[instance_type]:
                found.append(
                    f"{instance_type}: quotas add up to {total}, more than its budget "
                    f"of {budgets[instance_type]}"
                )
        return found


def borrowers(holders: Mapping[str, Holding], quotas: Quotas, instance_type: str) -> set[str]:
    """The holders of a governed instance type's budget that run beyond their share's
    quota: each share's jobs, oldest first, fill its quota; the ones after borrow."""
    by_share: dict[str, list[tuple[datetime, str, Holding]]] = {}
    for holder, holding in holders.items():
        by_share.setdefault(holding.share, []).append((holding.since or _OLDEST, holder, holding))
    borrowing = set()
    for share, held in by_share.items():
        room = quotas.quota(share, instance_type)
        for _, holder, holding in sorted(held, key=lambda entry: entry[:2]):
            room -= holding.units
            if room < 0:
                borrowing.add(holder)
    return borrowing


def _loses_least(entry: tuple[str, Holding]) -> tuple[int, float]:
    """Jobs that resume from checkpoints first, then the most recently started."""
    _, holding = entry
    started = (holding.since or _OLDEST).timestamp()
    return (0 if holding.checkpoint else 1, -started)


def victims(
    holders: Mapping[str, Holding],
    candidates: Iterable[str],
    units_needed: int,
) -> list[str] | None:
    """As few of ``candidates`` (holders) as free ``units_needed``, those that lose least
    first; None if all of them together do not free enough."""
    ordered = sorted(((h, holders[h]) for h in candidates), key=_loses_least)
    chosen: list[tuple[str, Holding]] = []
    freed = 0
    for holder, holding in ordered:
        if freed >= units_needed:
            break
        chosen.append((holder, holding))
        freed += holding.units
    if freed < units_needed:
        return None
    for entry in reversed(chosen[:-1]):  # one chosen early may not be needed after all
        if freed - entry[1].units >= units_needed:
            chosen.remove(entry)
            freed -= entry[1].units
    return [holder for holder, _ in chosen]
