"""The waiting room (docs/contract.md §6, §8): a job that cannot start waits in the
ledger, and is admitted the moment room frees, in the order ``logic.scheduling`` decides.

A waiting job is a record in the ``waiting`` phase, holding its request. Every *pass*
reads the waiting jobs and the budgets, plans, and admits what may start now: each
admission is one transaction that takes room in every budget the job needs and writes
its record (conditional on the version read), so two passes racing for one slot never
both take it. An admitted job's request goes back on the jobs queue (its *wake-up*), and
the submitter creates it there. A pass runs wherever room may have freed or a job joined:
when a job settles (in the same invocation), when a request arrives, when a priority
changes, and on every sweep.

What a lost message or a failed call leaves, the sweep repairs (``Repairs``): admitted
jobs whose wake-up never came are woken again, jobs left between tries get their next
try, and the budgets' counts are derived again from the jobs that hold room.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import cast

from jobctl.errors import ConcurrentUpdate, JobctlError, NoRoom, StaleHold
from jobctl.logic import lifecycle
from jobctl.logic.fair_share import Holding, Usage
from jobctl.logic.ports import CapacityLedger, Ledger, Wakeup
from jobctl.logic.quotas import Quotas
from jobctl.logic.records import revise
from jobctl.logic.scheduling import (
    Budgets,
    Candidate,
    Place,
    budgets_wanted,
    holder_of,
    job_of,
    longest_run,
    plan,
    queue_rank,
)
from jobctl.models.jobs import JobRecord, Phase, Waiting, unpack_request, utc_iso
from jobctl.models.kinds import JOB_TYPES, JobType
from jobctl.models.requests import DEFAULT_SHARE, MIN_PRIORITY
from jobctl.observability import count, logger

# Passes that lost a race for room (or met a record they could not read) plan again,
# this many times at most.
_PASSES = 5
# How long a message may take before the sweep repairs what it should have done: an
# admitted job's wake-up, and the release of a failed try's room. An admitted job whose
# create failed (its message comes back after the queue's 12-minute visibility timeout)
# is woken again after 10 minutes of silence, so with a sweep every 5 minutes every
# repair lands within 15 (README, "A job's lifecycle"); a second wake-up is harmless.
WAKE_GRACE = timedelta(minutes=2)
RETRY_GRACE = timedelta(minutes=10)
MAX_WAKE_GRACE = timedelta(hours=1)
# What an index shows is trusted only this long after the write it reflects (an
# admission or a join a moment ago may not be in the index yet): room a job holds but its
# budget does not show, and a share's count its queue contradicts, are repaired then.
INDEX_GRACE = timedelta(minutes=2)


def wake_grace(record: JobRecord) -> timedelta:
    """How long an admitted job's wake-up may take before the sweep sends another: 2
    minutes, or 10 after a failed create (its own message comes back), doubled for each
    wake-up sent already, up to an hour. A queue with a backlog delays every wake-up;
    sending more into it on a fixed beat would only deepen it."""
    # Written since its admission: a create failed, and its message is retried.
    base = RETRY_GRACE if record.updated_at > (record.admitted_at or "") else WAKE_GRACE
    doublings = min(max(0, record.wakes - 1), 10)
    return min(base * (1 << doublings), MAX_WAKE_GRACE)


def request_to_send(record: JobRecord) -> str:
    """The request an admitted job's wake-up carries: the one it came in, naming its try
    when it is a retry (so Powertools idempotency tells it from the original) and its
    wake-up (so a stale one never brings back a job given up meanwhile)."""
    assert record.request_body is not None  # noqa: S101 - checked by the caller
    body = json.loads(unpack_request(record.request_body))
    if record.attempt > 1:
        body["attempt"] = record.attempt
    body["wake"] = record.wakes
    return json.dumps(body)


def may_borrow(record: JobRecord, quotas: Quotas) -> bool:
    """Whether a job may borrow room beyond its share's quota (docs/contract.md §10): a
    preemptible one, preempted fewer than MAX_PREEMPTIONS times. The waiting room's index
    does not say; its record does."""
    return record.preemptible and record.preemptions < quotas.max_preemptions


def candidate_of(waiting: Waiting | JobRecord, may_borrow: bool = True) -> Candidate:
    return Candidate(
        may_borrow=may_borrow,
        key=waiting.key,
        priority=MIN_PRIORITY if waiting.priority is None else waiting.priority,
        share=waiting.share or DEFAULT_SHARE,
        instances=waiting.instances,
        since=waiting.created_at,
        runtime=longest_run(waiting.max_runtime_seconds),
    )


# How many waiting jobs a pass reads at first over all the shares' queues (the head of
# each at least), and how many more at a time from a share whose jobs read were all
# admitted: a pass reads the heads of the queues, never the whole waiting room.
READ_AT_FIRST = 100
READ_MORE = 10


class QueueHeads:
    """The heads of the shares' queues, as far as a pass has read them."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._read: dict[str, dict[tuple[str, str], Waiting]] = {}
        self._after: dict[str, str | None] = {}
        self._seen: dict[tuple[str, str], Waiting] = {}
        shares = ledger.waiting_shares()
        for share in [share for share, jobs in shares.items() if jobs <= 0]:
            ledger.forget_share(share)  # emptied: it no longer counts as a share waiting
        waiting = [share for share, jobs in shares.items() if jobs > 0]
        self.counts = {share: shares[share] for share in waiting}  # as the pass began
        self.total = sum(self.counts.values())
        each = max(1, min(READ_MORE, READ_AT_FIRST // max(len(waiting), 1)))
        for share in waiting:
            self._read_from(share, each)

    def _read_from(self, share: str, limit: int) -> None:
        page, after = self._ledger.queue_page(share, limit, self._after.get(share))
        self._read.setdefault(share, {}).update((w.key, w) for w in page)
        self._seen.update((w.key, w) for w in page)
        self._after[share] = after

    def jobs(self) -> list[Waiting]:
        return [w for jobs in self._read.values() for w in jobs.values()]

    @property
    def seen(self) -> dict[tuple[str, str], Waiting]:
        """Every waiting job read, admitted or not."""
        return self._seen

    def taken(self, key: tuple[str, str]) -> None:
        for jobs in self._read.values():
            jobs.pop(key, None)

    def read_more(self) -> bool:
        """Read on in the queues whose jobs read were all admitted; False if none has
        more (then the pass has seen every job that could start now)."""
        emptied = [s for s, jobs in self._read.items() if not jobs and self._after.get(s)]
        for share in emptied:
            self._read_from(share, READ_MORE)
        return bool(emptied)


@dataclass
class PassReport:
    admitted: list[tuple[str, str]]
    places: list[Place]
    waiting: int = 0  # jobs left waiting (as counted when the pass began)
    by_share: dict[str, int] = field(default_factory=dict)  # jobs waiting as it began

    def place_of(self, key: tuple[str, str]) -> Place | None:
        return next((p for p in self.places if p.candidate.key == key), None)


@dataclass(frozen=True)
class Admission:
    ledger: Ledger
    capacity: CapacityLedger
    wakeup: Wakeup
    budgets: Budgets
    now: Callable[[], datetime]
    # Stops a preempted job's SageMaker job (docs/contract.md §10); None: no quotas.
    stop_job: Callable[[JobType, str], None] | None = None

    def run(self, joining: JobRecord | None = None, wake_joining: bool = False) -> PassReport:
        """Admit every waiting job that may start now, and wake them, except ``joining``
        (a job whose request is being handled now: its caller goes on to create it) unless
        ``wake_joining``.

        ``joining`` is planned even if the waiting room's index does not show it yet
        (the index is eventually consistent). A waiting job whose record cannot be read
        is left out of the plan, so its room goes to the jobs behind it."""
        report = PassReport([], [])
        if joining is not None and joining.waiting and self._waits_behind(joining, report):
            return report
        heads = QueueHeads(self.ledger)
        unreadable: set[tuple[str, str]] = set()
        # Jobs that may not borrow (not preemptible, or preempted too often): the index
        # does not say so; their records do, once read.
        within_quota: set[tuple[str, str]] = set()
        races = 0
        while races < _PASSES:
            waiting = {
                w.key: candidate_of(w, w.key not in within_quota)
                for w in heads.jobs()
                if w.key not in unreadable
            }
            if joining is not None and joining.waiting and joining.key not in report.admitted:
                waiting[joining.key] = candidate_of(
                    joining, may_borrow(joining, self.budgets.quotas)
                )
            if not waiting:
                break
            places = plan(waiting.values(), self.usage(waiting.values()), self.budgets)
            report.places = places
            plan_again = False
            chosen = [place for place in places if place.admit]
            records = self.ledger.get_many(place.candidate.key for place in chosen)
            for place in chosen:
                record = records.get(place.candidate.key)
                if record is None:  # damaged (get_many reported it) or gone
                    unreadable.add(place.candidate.key)
                    plan_again = True
                    break
                if not record.waiting:
                    continue  # admitted, cancelled or gone since the index was read
                if place.borrows and not may_borrow(record, self.budgets.quotas):
                    within_quota.add(record.key)
                    plan_again = True
                    break
                try:
                    admitted = self._admit(record, place)
                except NoRoom:
                    plan_again = True  # another pass or a new job took room first
                    break
                except StaleHold:
                    self._drop_stale_hold(record)
                    plan_again = True
                    break
                except ConcurrentUpdate:
                    continue  # the record changed (a stop, an update): the next pass sees it
                count("JobsAdmitted", job_type=record.job_type)
                report.admitted.append(record.key)
                heads.taken(record.key)
                if wake_joining or joining is None or record.key != joining.key:
                    self.wake(admitted)
            if plan_again:
                races += 1
                continue
            for place in places:
                if place.preempts:
                    self._preempt(place, joining)
            if not heads.read_more():
                break
        self._note_reservations(report, joining, heads.seen)
        report.waiting = max(heads.total - len(report.admitted), 0)
        report.by_share = heads.counts
        return report

    def _waits_behind(self, joining: JobRecord, report: PassReport) -> bool:
        """Whether a job that just joined can neither start now nor change any share's
        head (its share has a job before it): then no other job's place changes, and the
        pass is skipped. ``report`` gets the joining job's place."""
        candidate = candidate_of(joining)
        if any(self.budgets.quotas.governs(t) for t in candidate.instances):
            return False  # behind its share's head, it may still take its quota back
        (alone,) = plan([candidate], self.usage([candidate]), self.budgets)
        if alone.admit:
            return False
        heads, _ = self.ledger.queue_page(candidate.share, 1)
        if not heads or heads[0].key == joining.key:
            return False
        if _rank(candidate_of(heads[0])) > _rank(candidate):
            return False  # it is its share's new head
        report.places.append(alone)
        return True

    def _preempt(self, place: Place, joining: JobRecord | None) -> None:
        """Stop the jobs a job within its quota preempts (docs/contract.md §10): each is
        marked, in its record and its budgets, in one write, then stopped; once SageMaker
        has stopped it, it waits again as its next try. A stop that fails is repeated by
        the sweep (``Repairs.stop_preempted``)."""
        by = place.candidate.key[0]
        at = utc_iso(self.now())
        for record in self.ledger.get_many(job_of(h) for h in place.preempts).values():
            changed = lifecycle.preempt(record, by, at)
            if changed is None:
                continue  # settled or stopping meanwhile: its room comes back anyway
            holder = holder_of(record.job_type, record.job_name)
            try:
                marked = self.capacity.mark_preempted(holder, list(record.holds), changed)
            except JobctlError as exc:
                logger.warning("a preemption was not recorded", extra={"error": str(exc)})
                continue
            count("JobsPreempted", job_type=record.job_type)
            logger.info("preempting a job to give its room back", extra={"for_job": by})
            self.stop_preempted(marked)
        if joining is not None and joining.key == place.candidate.key:
            return  # its caller records what it waits for
        waiting = self.ledger.get(*place.candidate.key)
        if waiting is not None and waiting.waiting:
            self.note_wait(waiting, place.waits_for)

    def stop_preempted(self, record: JobRecord) -> None:
        if self.stop_job is None:
            return
        try:
            self.stop_job(cast("JobType", record.job_type), record.sagemaker_name)
        except JobctlError as exc:
            logger.warning(
                "a preempted job was not stopped: the sweep will", extra={"error": str(exc)}
            )
            count("PreemptionStopsFailed")

    def usage(self, candidates: Iterable[Candidate]) -> dict[str, Usage]:
        """The budgets the candidates need, as they stand now."""
        items = self.capacity.items(budgets_wanted(candidates, self.budgets))
        now, half_life = self.now(), self.budgets.half_life
        return {key: Usage.of(item, now, half_life) for key, item in items.items()}

    def _admit(self, record: JobRecord, place: Place) -> JobRecord:
        quotas = self.budgets.quotas
        preemptable = may_borrow(record, quotas) and any(quotas.governs(k) for k in place.needs)
        admitted = lifecycle.admit(record, dict(place.needs), utc_iso(self.now()), preemptable)
        return self.capacity.admit(
            holder_of(record.job_type, record.job_name),
            {key: holding_of(admitted, key) for key in place.needs},
            {key: self.budgets.limit(key) for key in place.needs},
            admitted,
        )

    def _note_reservations(
        self, report: PassReport, joining: JobRecord | None, seen: dict[tuple[str, str], Waiting]
    ) -> None:
        """Record when each job holding a reservation is expected to start (``jobctl get``
        and ``jobctl queue`` show it), where it moved enough to be worth a write (judged
        from the waiting room's index, so a pass reads no record for it). The joining
        job's caller records its own."""
        for place in report.places:
            waiting = seen.get(place.candidate.key)
            if (
                place.starts_in is None
                or waiting is None
                or (joining and waiting.key == joining.key)
            ):
                continue
            expected = self.expected_start(place)
            if not lifecycle.reservation_moved(waiting, expected):
                continue
            change = partial(lifecycle.note_wait, reason=place.waits_for, expected_start=expected)
            try:
                revise(self.ledger, waiting.key, change)
            except JobctlError as exc:  # an estimate: the next pass writes it
                logger.warning("expected start not recorded", extra={"error": str(exc)})

    def expected_start(self, place: Place) -> str | None:
        if place.starts_in is None:
            return None
        return utc_iso(self.now() + timedelta(seconds=place.starts_in))

    def _drop_stale_hold(self, record: JobRecord) -> None:
        """Give back room a waiting job is still named in (a release that failed): a
        waiting job holds no room, so it is a leak, and it blocks the job's admission."""
        holder = holder_of(record.job_type, record.job_name)
        for key, holders in self.capacity.holders(self.budgets.budget_keys()).items():
            if holder in holders:
                self.capacity.release(holder, {key: holders[holder]})
                count("BudgetDriftRepaired", kind="room held by a waiting job")

    def wake(self, record: JobRecord) -> None:
        """Send an admitted job's request to the jobs queue again: the submitter creates it.
        A failure is left to the sweep (it wakes admitted jobs whose wake-up is overdue)."""
        if record.request_body is None:
            logger.warning("an admitted job has no request to send again")
            return
        try:
            self.wakeup.send(request_to_send(record))
        except JobctlError as exc:  # never fail the caller: the sweep wakes it again
            logger.warning(
                "could not wake an admitted job: the sweep will", extra={"error": str(exc)}
            )
            count("WakeupsFailed")

    def release(self, record: JobRecord, holds: dict[str, int], admit: bool = True) -> None:
        """Give back the room a settled job held, and let the waiting jobs have it at once
        (unless not ``admit``: the caller runs one pass for many). The job has settled
        whatever happens here: a failure is logged and left to the sweep, which derives
        the budgets from the ledger again."""
        try:
            if holds:
                self._release(record, holds)
            if admit and self.budgets.active:
                self.run()
        except JobctlError as exc:
            logger.warning("room not given back: the sweep will", extra={"error": str(exc)})
            count("ReleasesFailed")

    def _release(self, record: JobRecord, holds: dict[str, int]) -> None:
        holder = holder_of(record.job_type, record.job_name)
        self.capacity.release(holder, holds, self.now(), self.budgets.half_life)

    def next_try(self, record: JobRecord) -> JobRecord:
        """A failed try gives back the room it held, then its next try waits in the
        waiting room like any request, and a pass runs at once (budgets or not), so it
        starts if it may. The record names its room until the release succeeded: if that
        fails, it stays between tries and the sweep finishes the move."""
        if record.holds:
            self._release(record, record.holds)
        waiting = revise(self.ledger, record.key, lambda r: lifecycle.next_try(r, self.now()))
        if waiting.phase != Phase.WAITING or waiting.attempt != record.attempt + 1:
            return waiting  # moved meanwhile (a stop, or another invocation got here first)
        count("JobsRetried", job_type=waiting.job_type)
        logger.info("a failed try is tried again", extra={"attempt": waiting.attempt})
        try:
            place = self.run(joining=waiting, wake_joining=True).place_of(waiting.key)
        except JobctlError as exc:
            logger.warning(
                "no pass for the next try: the sweep runs one", extra={"error": str(exc)}
            )
            return waiting
        if place is not None and not place.admit:
            self.note_wait(waiting, place.waits_for, self.expected_start(place))
        return waiting

    def note_wait(
        self, record: JobRecord, reason: str | None, expected_start: str | None = None
    ) -> JobRecord:
        """Record what a waiting job waits for, and when it is expected to start if it holds
        a reservation (``jobctl get`` shows them)."""
        if reason == record.waiting_for and not lifecycle.reservation_moved(record, expected_start):
            return record
        change = partial(lifecycle.note_wait, reason=reason, expected_start=expected_start)
        return revise(self.ledger, record.key, change, record)


@dataclass(frozen=True)
class Repairs:
    """What the sweep repairs when a message was lost or a call failed between two writes
    (README, "A job's lifecycle"): each a step of its own."""

    admission: Admission

    @property
    def ledger(self) -> Ledger:
        return self.admission.ledger

    @property
    def capacity(self) -> CapacityLedger:
        return self.admission.capacity

    def _before(self, grace: timedelta) -> str:
        return utc_iso(self.admission.now() - grace)

    def wake_overdue(self) -> int:
        """Admitted jobs whose wake-up never led to a create are woken again."""
        woken = 0
        for record in self.ledger.in_repair(Phase.ADMITTED, self._before(WAKE_GRACE)):
            if record.updated_at >= self._before(wake_grace(record)):
                continue  # its message may still be on its way
            at = utc_iso(self.admission.now())
            current = revise(self.ledger, record.key, partial(lifecycle.wake_again, at=at), record)
            if current.phase == Phase.ADMITTED and current.admitted_at == at:
                logger.info("waking an admitted job whose wake-up is overdue")
                self.admission.wake(current)
                woken += 1
        return woken

    def finish_tries(self) -> int:
        """Jobs left between tries (the release of their room failed, or the invocation
        died) give their room back and get their next try."""
        finished = 0
        for record in self.ledger.in_repair(Phase.BETWEEN_TRIES, self._before(WAKE_GRACE)):
            if self.admission.next_try(record).phase == Phase.WAITING:
                finished += 1
        return finished

    def derive_budgets(self) -> int:
        """The budgets' counts, derived again from the ledger's jobs that hold room
        (docs/contract.md §6): room named for a job that holds none is freed, a job that
        holds room its budget does not name is named again, a count that differs from
        its holders is corrected, and a damaged item is written anew. Returns how many
        budgets were repaired."""
        keys = self.admission.budgets.budget_keys()
        if not keys:
            return 0
        items = self.capacity.read(keys)  # first: an admission after it changes `used`
        holding = self._holding_room()
        named = {holder for item in items.values() if item for holder in item.holders}
        records = self.ledger.get_many(job_of(holder) for holder in named)
        repaired = 0
        for key, item in items.items():
            held = dict(item.holders) if item else {}
            for holder in list(held):
                # A holder whose record is gone or cannot be read (get_many reported it)
                # proves no claim: its room goes back rather than blocking others.
                record = records.get(job_of(holder))
                if record is None or not _holds(record, key):
                    del held[holder]
            for record in holding:
                holder = holder_of(record.job_type, record.job_name)
                if _holds(record, key) and holder not in held and self._quiet(record):
                    held[holder] = holding_of(record, key)
            if item is not None and held == item.holders and item.used == _sum(held):
                continue
            kind = "damaged item" if item is None else "count differs from the ledger"
            try:
                self.capacity.rebuild(key, held, None if item is None else item.used)
            except ConcurrentUpdate:
                continue  # an admission or a release meanwhile: the next sweep checks again
            count("BudgetDriftRepaired", kind=kind)
            logger.warning(
                "a budget's count was derived again from the ledger", extra={"budget": key}
            )
            repaired += 1
        return repaired

    def stop_preempted(self) -> int:
        """Preempted jobs SageMaker is not stopping yet (the stop failed, or the
        invocation died after marking them) are stopped again."""
        if not self.admission.budgets.quotas.active:
            return 0
        flying = [f.key for job_type in JOB_TYPES for f in self.ledger.in_flight(job_type)]
        stopped = 0
        for record in self.ledger.get_many(flying).values():
            # A stop of a job already stopping is answered as done: one more is harmless.
            if record.preempted_by is not None and record.phase == Phase.RUNNING:
                self.admission.stop_preempted(record)
                stopped += 1
        return stopped

    def recount_waiting_room(self) -> int:
        """The waiting room's counts, counted again from the shares' queues where they
        differ (a record deleted or the counts changed by hand; docs/contract.md §8's
        bounds and every pass rely on them). Returns how many counts were corrected."""
        now = self.admission.now()
        corrected = self.ledger.recount_waiting_room(utc_iso(now), self._before(INDEX_GRACE))
        if corrected:
            count("WaitingRoomCountsRepaired", corrected)
            logger.warning("the waiting room's counts were counted again from its queues")
        return corrected

    def _holding_room(self) -> list[JobRecord]:
        found = [
            *self.ledger.in_repair(Phase.ADMITTED),
            *self.ledger.in_repair(Phase.BETWEEN_TRIES),
        ]
        flying = [f.key for job_type in JOB_TYPES for f in self.ledger.in_flight(job_type)]
        found.extend(self.ledger.get_many(flying).values())
        return [record for record in found if record.holds]

    def _quiet(self, record: JobRecord) -> bool:
        return record.updated_at < self._before(INDEX_GRACE)


def _holds(record: JobRecord, key: str) -> bool:
    return lifecycle.holds_room(record) and key in record.holds


def _sum(holders: dict[str, Holding]) -> int:
    return sum(holding.units for holding in holders.values())


def holding_of(record: JobRecord, key: str) -> Holding:
    """The room a job holds in a budget, as its admission wrote it."""
    since = datetime.fromisoformat(record.admitted_at) if record.admitted_at else None
    runtime = longest_run(record.max_runtime_seconds)
    until = since + timedelta(seconds=runtime) if since and runtime is not None else None
    share = record.share or DEFAULT_SHARE
    return Holding(
        record.holds[key],
        share,
        since,
        until,
        priority=record.priority or MIN_PRIORITY,
        preemptible=record.preemptable,
        checkpoint=record.checkpoint,
        preempted=record.preempted_by is not None,
    )


def _rank(candidate: Candidate) -> str:
    """Its place in its share's queue, as the index orders it."""
    return queue_rank(candidate.priority, candidate.since, candidate.key)
