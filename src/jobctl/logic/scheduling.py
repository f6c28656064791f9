"""Who runs next (docs/contract.md §8): budgets, and the order waiting jobs are admitted in.

No AWS calls here; ``logic.admission`` applies these rules to the ledger and the
budgets' items, and ``jobctl queue`` shows the order from the same ``plan`` and ranking
(``admission_order``).

A job needs room in every budget that applies to it: the overall one (jobs), one per
instance type it runs on (instances, as SageMaker's quotas count them), and its share's
limit (jobs). Waiting jobs are taken in this order: higher priority first; among equal
priorities, the share using least of the budget for its weight; then the oldest. A job
that does not fit holds its budgets back from *lower* priorities, so they never overtake
it; a job of the same priority may still use room it cannot (backfill: otherwise one
large job leaves instances idle). A job at its share's limit holds nothing back.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OVERALL = "all"
SHARE_PREFIX = "share:"


def share_key(share: str) -> str:
    return SHARE_PREFIX + share


def is_share_key(key: str) -> bool:
    return key.startswith(SHARE_PREFIX)


def holder_of(job_type: str, job_name: str) -> str:
    """How a job is named in the budgets it holds room in."""
    return f"{job_type}/{job_name}"


def job_of(holder: str) -> tuple[str, str]:
    """The ledger key (job_name, job_type) of a holder."""
    job_type, _, job_name = holder.partition("/")
    return job_name, job_type


def instances_of(params: Mapping[str, Any]) -> dict[str, int]:
    """The instances a job runs on, per type, as SageMaker's quotas count them: a training
    job's ``InstanceCount`` of its ``InstanceType``, plus every instance group's. An
    AutoML job names none (Autopilot picks its own), so it counts as one job only."""
    resources = params.get("ResourceConfig") or {}
    counted: dict[str, int] = {}
    for group in [resources, *(resources.get("InstanceGroups") or [])]:
        instance_type, count = group.get("InstanceType"), group.get("InstanceCount")
        if isinstance(instance_type, str) and isinstance(count, int) and count > 0:
            counted[instance_type] = counted.get(instance_type, 0) + count
    return counted


@dataclass(frozen=True)
class Budgets:
    """The limits the deployment schedules under (settings CONCURRENCY_BUDGET,
    INSTANCE_TYPE_BUDGETS, SHARE_LIMITS, SHARE_WEIGHTS)."""

    overall: int = 0
    instance_types: Mapping[str, int] = field(default_factory=dict)
    share_limits: Mapping[str, int] = field(default_factory=dict)
    share_weights: Mapping[str, float] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        """Whether any budget applies: without one, every job is submitted at once."""
        return bool(self.overall or self.instance_types or self.share_limits)

    def budget_keys(self) -> tuple[str, ...]:
        overall = (OVERALL,) if self.overall else ()
        shares = tuple(share_key(share) for share in sorted(self.share_limits))
        return overall + tuple(sorted(self.instance_types)) + shares

    def limit(self, key: str) -> int:
        if key == OVERALL:
            return self.overall
        if is_share_key(key):
            return self.share_limits[key.removeprefix(SHARE_PREFIX)]
        return self.instance_types[key]

    def weight(self, share: str) -> float:
        return self.share_weights.get(share, 1.0)

    def needs(self, instances: Mapping[str, int], share: str) -> dict[str, int]:
        """The room a job takes in each budget that applies to it."""
        needed = {OVERALL: 1} if self.overall else {}
        needed.update({t: n for t, n in sorted(instances.items()) if t in self.instance_types})
        if share in self.share_limits:
            needed[share_key(share)] = 1
        return needed

    def never_fits(self, instances: Mapping[str, int], share: str) -> list[str]:
        """Why a job could never start, however long it waited (then it is rejected)."""
        return [
            f"spec.ResourceConfig: needs {units} {key} instances; its budget allows "
            f"{self.limit(key)} at once"
            for key, units in self.needs(instances, share).items()
            if units > self.limit(key)
        ]


def describe_key(key: str) -> str:
    if key == OVERALL:
        return "all jobs"
    if is_share_key(key):
        return f"share {key.removeprefix(SHARE_PREFIX)}"
    return key


@dataclass(frozen=True)
class Usage:
    """A budget as it stands: the room taken, in all and per share."""

    used: int = 0
    by_share: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Candidate:
    """A job waiting for room."""

    key: tuple[str, str]  # (job_name, job_type)
    priority: int
    share: str
    instances: Mapping[str, int]
    since: str  # when the request arrived (ISO-8601): the oldest goes first


@dataclass(frozen=True)
class Place:
    """Where a waiting job stands in the plan: admitted now, or what it waits for, and
    how many jobs before it want the same budgets."""

    candidate: Candidate
    needs: Mapping[str, int]
    admit: bool
    waits_for: str | None = None
    ahead: int = 0


def budgets_wanted(candidates: Iterable[Candidate], budgets: Budgets) -> set[str]:
    return {key for c in candidates for key in budgets.needs(c.instances, c.share)}


def waiting_text(
    needs: Mapping[str, int], used: Mapping[str, int], budgets: Budgets, held: Iterable[str]
) -> str:
    """What a job waits for, naming each budget without room for it (``held``: room there
    is kept for jobs of higher priority)."""
    full = []
    for key, units in needs.items():
        taken, limit = used.get(key, 0), budgets.limit(key)
        if taken + units <= limit:
            continue
        if key == OVERALL:
            full.append(f"all jobs: {taken} of {limit} running")
        elif is_share_key(key):
            full.append(f"{describe_key(key)}: {taken} of its limit of {limit} running")
        else:
            full.append(f"{key}: {taken} of {limit} instances in use, needs {units}")
    full.extend(f"{describe_key(key)}: held for jobs of higher priority" for key in held)
    return "waiting for capacity (" + "; ".join(full) + ")"


class _Ranking:
    """Waiting jobs, taken one at a time in the order of admission: higher priority first;
    among equal priorities, the share whose use of the budgets (read from ``by_share`` at
    each take: the caller counts what it admits there) is lowest for its weight; then the
    oldest. Within a group of the same priority, share and budgets the order is by age
    alone, so only the groups' heads compete: taking every job costs (jobs x groups), not
    jobs²."""

    def __init__(
        self,
        jobs: Iterable[tuple[Candidate, tuple[str, ...]]],
        budgets: Budgets,
        by_share: Mapping[str, Mapping[str, int]],
    ) -> None:
        self._budgets = budgets
        self._by_share = by_share
        self._groups: dict[
            tuple[int, str, tuple[str, ...]], list[tuple[str, tuple[str, str], Candidate]]
        ] = {}
        for candidate, keys in jobs:
            group = (candidate.priority, candidate.share, keys)
            self._groups.setdefault(group, []).append((candidate.since, candidate.key, candidate))
        for members in self._groups.values():
            heapq.heapify(members)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def take(self) -> Candidate:
        groups = self._groups
        group = min(
            groups, key=lambda g: (-g[0], self._load(g[1], g[2]), groups[g][0][0], groups[g][0][1])
        )
        _, _, candidate = heapq.heappop(groups[group])
        if not groups[group]:
            del groups[group]
        return candidate

    def _load(self, share: str, keys: tuple[str, ...]) -> float:
        """The share's use of the budgets (the fullest one), for its weight. A budget
        lowered to 0 (or a quota read as 0) admits nothing, and divides by 1 here."""
        taken = [
            self._by_share[key].get(share, 0) / max(self._budgets.limit(key), 1)
            for key in keys
            if not is_share_key(key)
        ]
        return max(taken, default=0.0) / self._budgets.weight(share)


def plan(
    candidates: Iterable[Candidate], usage: Mapping[str, Usage], budgets: Budgets
) -> list[Place]:
    """Every waiting job in the order it is considered in, and which of them start now.
    ``usage`` needs only the budgets the candidates need (``budgets_wanted``)."""
    used: dict[str, int] = {}
    by_share: dict[str, dict[str, int]] = {}
    needs_of: dict[tuple[str, str], dict[str, int]] = {}
    jobs = []
    for candidate in candidates:
        needs = budgets.needs(candidate.instances, candidate.share)
        needs_of[candidate.key] = needs
        for key in needs:
            if key not in used:
                used[key] = usage.get(key, Usage()).used
                by_share[key] = dict(usage.get(key, Usage()).by_share)
        jobs.append((candidate, tuple(needs)))
    ranking = _Ranking(jobs, budgets, by_share)
    held: dict[str, int] = {}  # budget -> the highest priority waiting for room in it
    placed: list[Place] = []
    while ranking:
        candidate = ranking.take()
        needs = needs_of[candidate.key]
        full = [key for key, units in needs.items() if used[key] + units > budgets.limit(key)]
        blocked = [
            key for key in needs if not is_share_key(key) and held.get(key, -1) > candidate.priority
        ]
        if not full and not blocked:
            for key, units in needs.items():
                used[key] += units
                by_share[key][candidate.share] = by_share[key].get(candidate.share, 0) + units
            placed.append(Place(candidate, needs, admit=True))
            continue
        if not any(is_share_key(key) for key in full):
            # Waiting for the budget itself: lower priorities must not take its room.
            for key in full:
                held[key] = max(held.get(key, -1), candidate.priority)
        text = waiting_text(needs, used, budgets, [k for k in blocked if k not in full])
        placed.append(Place(candidate, needs, admit=False, waits_for=text))
    return _count_ahead(placed)


def admission_order(
    candidates: Iterable[Candidate], usage: Mapping[str, Usage], budgets: Budgets
) -> list[Place]:
    """Every waiting job in the order it will be admitted (``jobctl queue``): first those
    ``plan`` admits now, then the others as room frees, each taken by the same ranking
    with the jobs before it counted in their shares' use, as the controller counts them
    once it has admitted them. Each keeps what ``plan`` says it waits for now.

    A forecast: it counts the jobs running now as running on. Room freed by a share with
    jobs waiting lowers that share's use, and a smaller job of the same priority may start
    first in room the one before it cannot use (backfill)."""
    places = plan(candidates, usage, budgets)
    by_share = {
        key: dict(usage.get(key, Usage()).by_share) for place in places for key in place.needs
    }

    def count(place: Place) -> Place:
        for key, units in place.needs.items():
            share = place.candidate.share
            by_share[key][share] = by_share[key].get(share, 0) + units
        return place

    starting = [count(place) for place in places if place.admit]
    waiting = {place.candidate.key: place for place in places if not place.admit}
    ranking = _Ranking(
        ((place.candidate, tuple(place.needs)) for place in waiting.values()), budgets, by_share
    )
    order = []
    while ranking:
        order.append(count(waiting[ranking.take().key]))
    return _count_ahead(starting + order)


def _count_ahead(placed: list[Place]) -> list[Place]:
    """Each waiting job's count of the waiting jobs before it that want one of its budgets
    (share limits aside)."""
    before: Counter[frozenset[str]] = Counter()  # earlier waiting jobs, by their budgets
    counted = []
    for place in placed:
        if place.admit:
            counted.append(place)
            continue
        wanted = frozenset(key for key in place.needs if not is_share_key(key))
        ahead = sum(n for keys, n in before.items() if keys & wanted)
        counted.append(Place(place.candidate, place.needs, False, place.waits_for, ahead))
        before[wanted] += 1
    return counted
