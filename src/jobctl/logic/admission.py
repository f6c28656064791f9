"""The waiting room (docs/contract.md §8): a job that cannot start waits in the ledger,
and is admitted the moment room frees, in the order ``logic.scheduling`` decides.

A waiting job is a ``Queued`` record marked ``waiting``, holding its request. Every
*pass* reads the waiting jobs and the budgets, plans, and admits what may start now:
each admission is one transaction that takes room in every budget the job needs and
writes its record (conditional on the version read), so two passes racing for one slot
never both take it. An admitted job's request goes back on the jobs queue (its *wake-up*),
and the submitter creates it there. A pass runs wherever room may have freed or a job
joined: when a job settles (in the same invocation), when a request arrives, when a
priority changes, and on every sweep, which also repairs what a crash left.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobctl.errors import ConcurrentUpdate, NoRoom, RetryableError
from jobctl.logic import states
from jobctl.logic.ports import CapacityLedger, Ledger, Wakeup
from jobctl.logic.records import revise
from jobctl.logic.scheduling import (
    Budgets,
    Candidate,
    Place,
    budgets_wanted,
    holder_of,
    job_of,
    plan,
)
from jobctl.models.jobs import QUEUED, JobRecord, Waiting, unpack_request, utc_iso
from jobctl.models.requests import DEFAULT_SHARE, MIN_PRIORITY
from jobctl.observability import count, logger

# Passes that lost a race for room plan again, this many times at most.
_PASSES = 5
# An admitted job whose create has not happened this long after its wake-up is woken
# again (its message was lost, or the invocation crashed before sending it); one whose
# create is being retried, only after its message's visibility timeout (12 min) could
# have brought it back.
WAKE_GRACE = timedelta(minutes=2)
RETRY_GRACE = timedelta(minutes=15)


def request_to_send(record: JobRecord) -> str:
    """The request an admitted job's wake-up carries: the one it came in, naming the try
    when it is a retry (so Powertools idempotency tells it from the original)."""
    assert record.request_body is not None  # noqa: S101 - checked by the caller
    body = unpack_request(record.request_body)
    if record.attempt == 1:
        return body
    return json.dumps({**json.loads(body), "attempt": record.attempt})


def candidate_of(waiting: Waiting | JobRecord) -> Candidate:
    return Candidate(
        key=waiting.key,
        priority=MIN_PRIORITY if waiting.priority is None else waiting.priority,
        share=waiting.share or DEFAULT_SHARE,
        instances=waiting.instances,
        since=waiting.created_at,
    )


@dataclass(frozen=True)
class PassReport:
    admitted: list[tuple[str, str]]
    places: list[Place]

    def place_of(self, key: tuple[str, str]) -> Place | None:
        return next((p for p in self.places if p.candidate.key == key), None)


@dataclass(frozen=True)
class Admission:
    ledger: Ledger
    capacity: CapacityLedger
    wakeup: Wakeup
    budgets: Budgets
    now: Callable[[], datetime]

    def run(self, joining: JobRecord | None = None, wake_joining: bool = False) -> PassReport:
        """Admit every waiting job that may start now, and wake them, except ``joining``
        (a job whose request is being handled now: its caller goes on to create it) unless
        ``wake_joining``.

        ``joining`` is planned even if the waiting room's index does not show it yet
        (the index is eventually consistent)."""
        report = PassReport([], [])
        for _ in range(_PASSES):
            waiting = {w.key: candidate_of(w) for w in self.ledger.waiting()}
            if joining is not None and joining.waiting:
                waiting[joining.key] = candidate_of(joining)
            if not waiting:
                break
            usage = self.capacity.usage(budgets_wanted(waiting.values(), self.budgets))
            places = plan(waiting.values(), usage, self.budgets)
            report = PassReport(report.admitted, places)
            lost_race = False
            chosen = [place for place in places if place.admit]
            records = self.ledger.get_many(place.candidate.key for place in chosen)
            for place in chosen:
                record = records.get(place.candidate.key)
                if record is None or not record.waiting:
                    continue  # admitted, cancelled or gone since the index was read
                try:
                    admitted = self.capacity.admit(
                        holder_of(record.job_type, record.job_name),
                        place.candidate.share,
                        place.needs,
                        {key: self.budgets.limit(key) for key in place.needs},
                        states.admit(record, dict(place.needs), utc_iso(self.now())),
                    )
                except NoRoom:
                    lost_race = True  # another pass or a new job took room first
                    break
                except ConcurrentUpdate:
                    continue  # the record changed (a stop, an update): the next pass sees it
                count("JobsAdmitted", job_type=record.job_type)
                report.admitted.append(record.key)
                if wake_joining or joining is None or record.key != joining.key:
                    self.wake(admitted)
            if not lost_race:
                break
        return report

    def wake(self, record: JobRecord) -> None:
        """Send an admitted job's request to the jobs queue again: the submitter creates it.
        A failure is left to the sweep (it wakes admitted jobs that never started)."""
        if record.request_body is None:
            logger.warning("an admitted job has no request to send again")
            return
        try:
            self.wakeup.send(request_to_send(record))
        except RetryableError as exc:  # never fail the caller: the sweep wakes it again
            logger.warning(
                "could not wake an admitted job: the sweep will", extra={"error": str(exc)}
            )
            count("WakeupsFailed")

    def release(self, record: JobRecord) -> None:
        """Give back the room a job held (it settled, or never started), and let the
        waiting jobs have it at once."""
        if record.holds:
            self.capacity.release(holder_of(record.job_type, record.job_name), record.holds)
        if self.budgets.active:
            self.run()

    def retry(self, record: JobRecord, held: dict[str, int]) -> None:
        """A failed try gives back the room it ``held``, and its next try waits in the
        waiting room like any request: a pass runs now, budgets or not, so it starts at
        once if it may."""
        if held:
            self.capacity.release(holder_of(record.job_type, record.job_name), held)
        place = self.run(joining=record, wake_joining=True).place_of(record.key)
        if place is not None and not place.admit:
            reason = place.waits_for
            revise(
                self.ledger,
                record.key,
                lambda r: r.model_copy(update={"waiting_for": reason}) if r.waiting else None,
                only_from={QUEUED},
            )

    def repair(self) -> tuple[int, int]:
        """What a crash left, for the sweep: room held by jobs that are done or gone is
        freed, admitted jobs that never started are woken again; then a pass, which also
        admits jobs nobody woke. Returns how many holds were repaired, and how many jobs
        still wait."""
        held = self.capacity.holders(self.budgets.budget_keys())
        keys = {job_of(holder) for holders in held.values() for holder in holders}
        records = self.ledger.get_many(keys)  # an unreadable one is reported and skipped
        repaired, woken = 0, set()
        for budget_key, holders in held.items():
            for holder, units in holders.items():
                record = records.get(job_of(holder))
                if record is None or states.record_is_settled(record):
                    self.capacity.release(holder, {budget_key: units})
                    repaired += 1
                elif self._never_started(record) and record.key not in woken:
                    woken.add(record.key)
                    self._wake_again(record)
                    repaired += 1
        report = self.run()
        waiting = sum(1 for place in report.places if not place.admit)
        count("JobsWaitingInSweep", waiting)
        return repaired, waiting

    def _never_started(self, record: JobRecord) -> bool:
        """Admitted, and nothing has happened to it for longer than a wake-up takes."""
        grace = RETRY_GRACE if record.last_error else WAKE_GRACE
        stale = utc_iso(self.now() - grace)
        return (
            states.is_admitted(record)
            and record.job_arn is None
            and (record.admitted_at or "") < stale
            and record.updated_at < stale
        )

    def _wake_again(self, record: JobRecord) -> None:
        at = utc_iso(self.now())
        current = revise(
            self.ledger,
            record.key,
            lambda r: r.model_copy(update={"admitted_at": at}),
            record,
            only_from={QUEUED},
        )
        if current.status == QUEUED and current.job_arn is None:
            logger.info("waking an admitted job that never started")
            self.wake(current)
