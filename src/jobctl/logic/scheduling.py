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
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from math import inf
from typing import Any

from jobctl.logic.fair_share import Holding, Usage
from jobctl.logic.quotas import Quotas, borrowers, victims
from jobctl.logic.timeline import Timeline, earliest_start
from jobctl.models.requests import MAX_PRIORITY

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


# A job's room is held from its admission: before its StoppingCondition's clock starts,
# SageMaker provisions its instances and downloads its data (minutes). A reservation's
# start is an upper bound only if running jobs end within their limit plus this.
START_ALLOWANCE_SECONDS = 15 * 60


def longest_run(max_runtime_seconds: int | None) -> float | None:
    """The longest a job holds its room, from admission (None: no known limit)."""
    if max_runtime_seconds is None:
        return None
    return float(max_runtime_seconds + START_ALLOWANCE_SECONDS)


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
    # SHARE_HALF_LIFE_SECONDS: how fast a share's past use is forgotten (0: only what
    # runs now counts).
    half_life: float = 0.0
    quotas: Quotas = field(default_factory=Quotas)  # docs/contract.md §10

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


@dataclass(frozen=True)
class WaitingLimits:
    """The waiting room's bounds: MAX_WAITING_JOBS and MAX_WAITING_SHARES."""

    jobs: int
    shares: int

    def refusal(self, total: int, shares: Mapping[str, int], share: str) -> str | None:
        """Why a new job of ``share`` may not join the room as counted; None if it may."""
        if total >= self.jobs:
            return (
                f"the waiting room is full: {total} jobs wait, at most {self.jobs} may "
                "(MAX_WAITING_JOBS); send the request again later"
            )
        if share not in shares and len(shares) >= self.shares:
            return (
                f"share {share}: {len(shares)} shares have jobs waiting, at most "
                f"{self.shares} may (MAX_WAITING_SHARES); send the request again later"
            )
        return None


def queue_rank(priority: int, created_at: str, key: tuple[str, str]) -> str:
    """A waiting job's place in its share's queue: higher priority first, then oldest
    (a string that sorts so); its key makes it unique."""
    job_name, job_type = key
    return f"{MAX_PRIORITY - priority:04d}#{created_at}#{job_type}#{job_name}"


def describe_key(key: str) -> str:
    if key == OVERALL:
        return "all jobs"
    if is_share_key(key):
        return f"share {key.removeprefix(SHARE_PREFIX)}"
    return key


@dataclass(frozen=True)
class Candidate:
    """A job waiting for room."""

    key: tuple[str, str]  # (job_name, job_type)
    priority: int
    share: str
    instances: Mapping[str, int]
    since: str  # when the request arrived (ISO-8601): the oldest goes first
    runtime: float | None = None  # the longest it may run, in seconds (None: not known)
    # Whether it may borrow room beyond its share's quota (§10: only a preemptible job,
    # preempted fewer than MAX_PREEMPTIONS times, may).
    may_borrow: bool = True


@dataclass(frozen=True)
class Place:
    """Where a waiting job stands in the plan: admitted now, or what it waits for, how
    many jobs before it want the same budgets, and, if it holds a reservation, when its
    room will be free at the latest (seconds from now)."""

    candidate: Candidate
    needs: Mapping[str, int]
    admit: bool
    waits_for: str | None = None
    ahead: int = 0
    starts_in: float | None = None
    # The running jobs (holders) it preempts to get its quota's room back (§10), and
    # whether, admitted, it borrows room beyond its share's quota.
    preempts: tuple[str, ...] = ()
    borrows: bool = False


def budgets_wanted(candidates: Iterable[Candidate], budgets: Budgets) -> set[str]:
    return {key for c in candidates for key in budgets.needs(c.instances, c.share)}


def waiting_text(
    needs: Mapping[str, int], used: Mapping[str, int], budgets: Budgets, held: Iterable[str]
) -> str:
    """What a job waits for, naming each budget without room for it (``held``: room there
    is kept for other jobs: reserved, or held for higher priorities)."""
    full = []
    for key, units in needs.items():
        taken, limit = used.get(key, 0), budgets.limit(key)
        if taken + units <= limit:
            continue
        if key == OVERALL:
            full.append(f"all jobs: {taken} of {limit} running")
        elif is_share_key(key):
            full.append(f"{describe_key(key)}: {taken} of its limit of {limit} running")
        elif units > limit:
            full.append(f"{key}: its budget is {limit} instances now, it needs {units}")
        else:
            full.append(f"{key}: {taken} of {limit} instances in use, needs {units}")
    full.extend(held)
    return "waiting for capacity (" + "; ".join(full) + ")"


class _Ranking:
    """Waiting jobs, taken one at a time in the order of admission: higher priority first;
    among equal priorities, the share whose fair-share use of the budgets the job needs
    (the fullest of them, for its weight) is lowest; then the oldest. ``use`` is read at
    each take: the caller adds what it admits, and says so (``charged``).

    Jobs of one priority, share and set of budgets keep their order by age, so only each
    group's oldest competes, in a heap. A share's use only grows within a pass, so a
    group whose share was charged since it was pushed is weighed again when it comes
    up, and pushed back: O(n log n) for n jobs, however many groups a producer makes."""

    def __init__(
        self,
        jobs: Iterable[tuple[Candidate, tuple[str, ...]]],
        budgets: Budgets,
        use: Mapping[str, Mapping[str, float]],
    ) -> None:
        self._budgets = budgets
        self._use = use
        self._groups: dict[
            tuple[int, str, tuple[str, ...]], list[tuple[str, tuple[str, str], Candidate]]
        ] = {}
        for candidate, keys in jobs:
            group = (candidate.priority, candidate.share, keys)
            self._groups.setdefault(group, []).append((candidate.since, candidate.key, candidate))
        self._charges: Counter[str] = Counter()
        self._heap: list[
            tuple[int, float, str, tuple[str, str], tuple[int, str, tuple[str, ...]], int]
        ] = []
        for group, members in self._groups.items():
            heapq.heapify(members)
            self._push(group)

    def _push(self, group: tuple[int, str, tuple[str, ...]]) -> None:
        priority, share, keys = group
        since, key, _ = self._groups[group][0]
        load = self._load(share, keys)
        heapq.heappush(self._heap, (-priority, load, since, key, group, self._charges[share]))

    def __iter__(self) -> Iterator[Candidate]:
        while self._heap:
            *_, group, charged = heapq.heappop(self._heap)
            if charged != self._charges[group[1]]:
                self._push(group)  # its share was charged since: weigh it again
                continue
            members = self._groups[group]
            _, _, candidate = heapq.heappop(members)
            if members:
                self._push(group)
            yield candidate

    def charged(self, share: str) -> None:
        self._charges[share] += 1

    def _load(self, share: str, keys: tuple[str, ...]) -> float:
        """The share's use of the budgets (the fullest one), for its weight. A budget
        lowered to 0 (or a quota read as 0) admits nothing, and divides by 1 here."""
        taken = [
            self._use[key].get(share, 0.0) / max(self._budgets.limit(key), 1)
            for key in keys
            if not is_share_key(key)
        ]
        return max(taken, default=0.0) / self._budgets.weight(share)


# A running job past its limit still holds its room until it settles: it is taken to
# end any moment, this many seconds from now.
OVERDUE_END = 60.0
# How many waiting jobs a pass reserves room for, at most: each is a job that does not
# fit now, in the order of admission; a job beyond them holds its budgets back from
# lower priorities instead, as one with no reservation does.
RESERVATIONS = 8


class _Pass:
    """One pass over the waiting jobs in the order of admission (docs/contract.md §8):
    each is admitted if it fits now and delays no reservation; else the first ones that
    do not fit get a reservation (the earliest time their room is free, from the running
    jobs' ends at the latest), and the others wait."""

    def __init__(
        self,
        usage: Mapping[str, Usage],
        budgets: Budgets,
        keys: Iterable[str],
        owed_to: Mapping[str, set[str]] | None = None,
    ) -> None:
        self.budgets = budgets
        self.quotas = budgets.quotas
        self.used: dict[str, int] = {}
        self.use: dict[str, dict[str, float]] = {}
        self.timelines: dict[str, Timeline] = {}
        # Per governed instance type (§10): each share's instances and the jobs holding them.
        self.by_share: dict[str, dict[str, int]] = {}
        self.holders: dict[str, dict[str, Holding]] = {}
        # Per governed type, the shares with a job waiting within its quota: borrowing
        # never takes their room.
        self.owed_to = owed_to or {}
        for key in keys:
            state = usage.get(key, Usage())
            self.used[key] = state.used
            self.use[key] = state.share_use()
            if self.quotas.governs(key):
                self.by_share[key] = dict(state.by_share)
                self.holders[key] = dict(state.holders)
            if is_share_key(key):
                continue
            timeline = self.timelines[key] = Timeline(budgets.limit(key))
            for end, units in state.ends:
                timeline.take(0.0, inf if end is None else max(end, OVERDUE_END), units)
            untracked = state.used - sum(units for _, units in state.ends)
            timeline.take(0.0, inf, untracked)  # counted, but no holder says until when
        self.held: dict[str, int] = {}  # budget -> highest priority holding it back
        self.reserved = 0

    def place(self, candidate: Candidate, needs: Mapping[str, int]) -> Place:
        governed = [key for key in needs if key in self.by_share]
        beyond = [  # the types where it would run beyond its share's quota: it borrows
            key
            for key in governed
            if self._share_units(key, candidate.share) + needs[key]
            > self.quotas.quota(candidate.share, key)
        ]
        if governed:
            quota_place = self._by_quota(candidate, needs, governed, beyond)
            if quota_place is not None:
                return quota_place
        length = inf if candidate.runtime is None else candidate.runtime
        budgets = [key for key in needs if not is_share_key(key)]
        at_limit = [
            key
            for key in needs
            if is_share_key(key) and self.used[key] + 1 > self.budgets.limit(key)
        ]
        kept = [key for key in budgets if not self.timelines[key].fits(0.0, length, needs[key])]
        held = [key for key in budgets if self.held.get(key, -1) > candidate.priority]
        if not at_limit and not kept and not held:
            self._take(candidate, needs, length)
            return Place(candidate, needs, admit=True, borrows=bool(beyond))
        full = {key for key in budgets if self.used[key] + needs[key] > self.budgets.limit(key)}
        reasons = [
            f"{describe_key(k)}: held for jobs of higher priority" for k in held if k not in full
        ]
        reasons += [
            f"{describe_key(k)}: room reserved for a job before it"
            for k in kept
            if k not in full and k not in held
        ]
        waits = waiting_text(needs, self.used, self.budgets, reasons)
        if at_limit or not (kept or held):
            return Place(
                candidate, needs, admit=False, waits_for=waits
            )  # a share's limit holds nothing back
        starts_in = self._reserve(candidate, needs, length) if not held else None
        if starts_in is None:
            # No reservation: its budgets are held back from lower priorities instead.
            for key in full or kept:
                self.held[key] = max(self.held.get(key, -1), candidate.priority)
        return Place(candidate, needs, admit=False, waits_for=waits, starts_in=starts_in)

    def _take(self, candidate: Candidate, needs: Mapping[str, int], length: float) -> None:
        share = candidate.share
        for key, units in needs.items():
            self.used[key] += units
            # In full: charged its use by its limit only, several jobs of one share
            # start in one pass (its share's part came out 5 points further off in
            # bench.scheduling).
            self.use[key][share] = self.use[key].get(share, 0.0) + units
            if key in self.timelines:
                self.timelines[key].take(0.0, length, units)
            if key in self.by_share:
                self.by_share[key][share] = self.by_share[key].get(share, 0) + units

    # -- quotas, borrowing and preemption (§10) --------------------------------------------

    def _by_quota(
        self,
        candidate: Candidate,
        needs: Mapping[str, int],
        governed: list[str],
        beyond: list[str],
    ) -> Place | None:
        """What the quotas decide for a job needing governed instance types (``beyond``:
        those where it would borrow): a borrower that may not borrow (or not that much)
        waits; a job within its quota whose room others borrow preempts them. None: the
        ordinary rules decide."""
        share = candidate.share
        if beyond:
            own = self._own_lower(candidate, governed) if self.quotas.preempt_within_share else {}
            if own and all(
                self._share_units(key, share) - own.get(key, 0) + needs[key]
                <= self.quotas.quota(share, key)
                for key in governed
            ):
                return self._reclaim(candidate, needs, governed)
            return self._borrow(candidate, needs, beyond)
        if all(self.used[key] + needs[key] <= self.budgets.limit(key) for key in governed):
            return None
        return self._reclaim(candidate, needs, governed)

    def _share_units(self, key: str, share: str) -> int:
        return self.by_share[key].get(share, 0)

    def _borrow(
        self, candidate: Candidate, needs: Mapping[str, int], beyond: list[str]
    ) -> Place | None:
        share = candidate.share
        why = []
        for key in beyond:
            quota, taken = self.quotas.quota(share, key), self._share_units(key, share)
            if not self.quotas.may_borrow(share):
                why.append(
                    f"{key}: share {share} uses {taken} of its quota of {quota} and does "
                    f"not borrow ({self.quotas.sharing_of(share)})"
                )
            elif not candidate.may_borrow:
                why.append(
                    f"{key}: share {share} uses {taken} of its quota of {quota}; this job "
                    "runs only within its quota (not preemptible, or preempted "
                    f"{self.quotas.max_preemptions} times)"
                )
            elif needs[key] > self._borrowable(key, share):
                owners = ", ".join(self._owed_shares(key, share)) or "none"
                why.append(
                    f"{key}: share {share} uses {taken} of its quota of {quota}; the room "
                    f"left is guaranteed to other shares ({owners})"
                )
        if not why:
            return None  # it may borrow: the ordinary rules decide
        return Place(
            candidate, needs, admit=False, waits_for="waiting for quota (" + "; ".join(why) + ")"
        )

    def _owed_shares(self, key: str, share: str) -> list[str]:
        owed = self.owed_to.get(key, set())
        return [
            other
            for other in self.quotas.shares_of(key)
            if other != share
            and (other in owed or not self.quotas.lends(other))
            and self.quotas.quota(other, key) > self._share_units(key, other)
        ]

    def _borrowable(self, key: str, share: str) -> int:
        """The room a job of ``share`` may borrow: what is free, less the unused quota of
        shares that never lend or have jobs waiting within their quota."""
        owed = sum(
            self.quotas.quota(other, key) - self._share_units(key, other)
            for other in self._owed_shares(key, share)
        )
        return self.budgets.limit(key) - self.used[key] - owed

    def _own_lower(self, candidate: Candidate, governed: list[str]) -> dict[str, int]:
        """Per type, the instances of its own share's lower-priority jobs it may preempt
        (PREEMPT_WITHIN_SHARE)."""
        return {
            key: sum(
                h.units
                for h in self.holders[key].values()
                if h.share == candidate.share
                and h.priority < candidate.priority
                and h.preemptible
                and not h.preempted
            )
            for key in governed
        }

    def _reclaim(
        self, candidate: Candidate, needs: Mapping[str, int], governed: list[str]
    ) -> Place | None:
        """A job within its quota without room: the borrowers holding it are preempted,
        as few as free it and those that lose least first, and the room is kept for it.
        None if they cannot free enough (it waits as any job does)."""
        share = candidate.share
        chosen: list[str] = []
        stopping: set[str] = set()  # preempted already: their room is on its way back
        for key in governed:
            holders = self.holders[key]
            coming = {name for name, h in holders.items() if h.preempted}
            stopping |= coming
            freed = sum(holders[name].units for name in coming | set(chosen) if name in holders)
            short = self.used[key] + needs[key] - self.budgets.limit(key) - freed
            if short <= 0:
                continue
            borrowing = borrowers(holders, self.quotas, key)
            pool = [
                name
                for name, h in holders.items()
                if h.preemptible
                and not h.preempted
                and name not in chosen
                and (
                    (h.share != share and name in borrowing)
                    or (
                        self.quotas.preempt_within_share
                        and h.share == share
                        and h.priority < candidate.priority
                    )
                )
            ]
            picked = victims(holders, pool, short)
            if picked is None:
                return None
            chosen.extend(picked)
        for name in chosen:  # their room is on its way back: no other job preempts them
            for holders in self.holders.values():
                if name in holders:
                    holders[name] = replace(holders[name], preempted=True)
        self._take(candidate, needs, inf if candidate.runtime is None else candidate.runtime)
        said = []
        if chosen:
            said.append("preempting " + ", ".join(job_of(h)[0] for h in chosen))
        if stopping:
            said.append("stopping: " + ", ".join(sorted(job_of(h)[0] for h in stopping)))
        waits = "waiting for its quota's room (" + "; ".join(said) + ")"
        return Place(candidate, needs, admit=False, waits_for=waits, preempts=tuple(chosen))

    def _reserve(
        self, candidate: Candidate, needs: Mapping[str, int], length: float
    ) -> float | None:
        if self.reserved >= RESERVATIONS:
            return None
        wanted = [(self.timelines[k], needs[k]) for k in needs if not is_share_key(k)]
        starts = earliest_start(wanted, length)
        if starts is None:
            return None
        for timeline, units in wanted:
            timeline.take(starts, starts + length, units)
        self.reserved += 1
        return starts


def plan(
    candidates: Iterable[Candidate], usage: Mapping[str, Usage], budgets: Budgets
) -> list[Place]:
    """Every waiting job in the order it is considered in, and which of them start now.
    ``usage`` needs only the budgets the candidates need (``budgets_wanted``)."""
    jobs = []
    needs_of: dict[tuple[str, str], dict[str, int]] = {}
    for candidate in candidates:
        needs = needs_of[candidate.key] = budgets.needs(candidate.instances, candidate.share)
        jobs.append((candidate, tuple(needs)))
    keys = {key for needs in needs_of.values() for key in needs}
    this_pass = _Pass(usage, budgets, keys, _waiting_within_quota(jobs, usage, budgets))
    ranking = _Ranking(jobs, budgets, this_pass.use)
    placed: list[Place] = []
    for candidate in ranking:
        place = this_pass.place(candidate, needs_of[candidate.key])
        if place.admit:
            ranking.charged(candidate.share)
        placed.append(place)
    return _count_ahead(placed)


def _waiting_within_quota(
    jobs: Iterable[tuple[Candidate, tuple[str, ...]]],
    usage: Mapping[str, Usage],
    budgets: Budgets,
) -> dict[str, set[str]]:
    """Per governed instance type, the shares with a job waiting that fits its quota."""
    quotas = budgets.quotas
    owed: dict[str, set[str]] = {}
    for candidate, _ in jobs:
        for key, units in candidate.instances.items():
            if not quotas.governs(key):
                continue
            taken = usage.get(key, Usage()).by_share.get(candidate.share, 0)
            if taken + units <= quotas.quota(candidate.share, key):
                owed.setdefault(key, set()).add(candidate.share)
    return owed


def admission_order(
    candidates: Iterable[Candidate], usage: Mapping[str, Usage], budgets: Budgets
) -> list[Place]:
    """Every waiting job in the order it will be admitted (``jobctl queue``): first those
    ``plan`` admits now, then the others as room frees, each taken by the same ranking
    with the jobs before it counted in their shares' use, as the controller counts them
    once it has admitted them. Each keeps what ``plan`` says it waits for now, and its
    reservation.

    A forecast: it counts the jobs running now as running on. Room freed by a share with
    jobs waiting lowers that share's use, and a smaller job may start first in room the
    one before it cannot use (backfill)."""
    places = plan(candidates, usage, budgets)
    use = {key: usage.get(key, Usage()).share_use() for place in places for key in place.needs}

    def count(place: Place) -> Place:
        for key, units in place.needs.items():
            share = place.candidate.share
            use[key][share] = use[key].get(share, 0.0) + units
        return place

    starting = [count(place) for place in places if place.admit]
    waiting = {place.candidate.key: place for place in places if not place.admit}
    ranking = _Ranking(
        ((place.candidate, tuple(place.needs)) for place in waiting.values()), budgets, use
    )
    order = []
    for candidate in ranking:
        order.append(count(waiting[candidate.key]))
        ranking.charged(candidate.share)
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
        counted.append(replace(place, ahead=ahead))
        before[wanted] += 1
    return counted
