"""What the reconciler does: read the truth from SageMaker and record it (docs/contract.md §6).

Events are SageMaker's own snapshots of a job: progress is recorded from them as it
comes, and only a job that settled is described (for its outputs, metrics and full
failure reason). The sweep finds what events missed, and follows AutoML jobs (SageMaker
sends no AutoML events), at a cost that follows what the deployment has in flight:

- it looks only for jobs the ledger's in-flight index holds, and lists nothing for a
  job type with nothing in flight;
- it lists the account's jobs newest first and stops at the first page that reaches
  jobs created before the oldest one in flight (or before the List window): SageMaker
  filters a page only after taking it, so any other way of listing pages through the
  account's whole history;
- it makes at most ``list_calls`` List calls per sweep; a scan that needs more goes on
  from a stored cursor in the next sweep;
- a job in flight for longer than the List window (training can run for 28 days) is
  described instead, at most ``describe_calls`` a sweep, the least recently checked
  first;
- one sweep runs at a time (a lease), so retried or overlapping schedules never double
  the calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import cast

from jobctl.errors import (
    ExpiredCursor,
    JobctlError,
    JobNotFound,
    RetryableError,
    UnreadableRecord,
)
from jobctl.logic import lifecycle
from jobctl.logic.admission import Admission, Repairs
from jobctl.logic.ports import (
    Clock,
    Ledger,
    NoticePublisher,
    SageMakerGateway,
    SweepState,
)
from jobctl.logic.records import announce, revise, revise_with_steps
from jobctl.logic.requests import JOB_TAG_KEY, is_ours
from jobctl.models.jobs import InFlight, JobRecord, Observation, Phase, utc_iso
from jobctl.models.kinds import JOB_TYPES, JobType
from jobctl.models.requests import DEFAULT_SHARE
from jobctl.observability import MetricUnit, count, logger, report_unreadable, scrub

# A record is written a moment before SageMaker creates its job (and clocks differ a
# little): a scan looks this much further back than the oldest job in flight.
SCAN_MARGIN = timedelta(minutes=5)
# A sweep stops calling SageMaker this long before its invocation times out, to leave
# time for the notices.
TIME_RESERVE = timedelta(seconds=30)


@dataclass(frozen=True)
class SweepLimits:
    """What one sweep may spend (settings: SWEEP_LIST_CALLS, SWEEP_DESCRIBE_CALLS,
    SWEEP_LIST_WINDOW_SECONDS)."""

    list_calls: int = 10
    describe_calls: int = 10
    list_window: timedelta = timedelta(hours=24)


@dataclass
class SweepReport:
    skipped: str | None = None
    in_flight: dict[str, int] = field(default_factory=dict)
    list_calls: int = 0
    listed: int = 0
    described: int = 0
    updated: int = 0
    notices: int = 0
    repaired: dict[str, int] = field(default_factory=dict)
    waiting: int = 0
    unfinished_scans: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    failed_steps: list[str] = field(default_factory=list)


@dataclass
class Reconciler:
    sagemaker: SageMakerGateway
    ledger: Ledger
    publisher: NoticePublisher
    sweep_state: SweepState
    clock: Clock
    notice_lease: timedelta
    deployment_id: str
    limits: SweepLimits = field(default_factory=SweepLimits)
    # The waiting room: a settled job's room goes to the next waiting jobs at once.
    admission: Admission | None = None
    # How far past MaxRuntimeInSeconds a job counts as stuck.
    stuck_slack: timedelta = timedelta(minutes=30)
    # False in terminal-only tracking: the ledger shows a job's progress only once it settles.
    track_progress: bool = True
    # US dollars per instance-hour, by instance type (INSTANCE_PRICES), for estimated costs.
    prices: Mapping[str, float] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock.now()

    def on_state_change(self, job_type: JobType, detail: Observation) -> JobRecord | None:
        """An event brings SageMaker's snapshot of a job: record it (SageMaker sends each
        change more than once, in any order; a stale or repeated one changes nothing)."""
        # A retry's job has its own name; its tags name the request's (docs/contract.md §9).
        job_name = (detail.tags or {}).get(JOB_TAG_KEY, detail.job_name)
        try:
            record = self.ledger.get(job_name, job_type)
        except UnreadableRecord as unreadable:
            report_unreadable(unreadable)
            return None
        if record is None or record.sagemaker_name != detail.job_name:
            logger.debug("event about a job the ledger does not hold (now): ignored")
            return None
        if record.phase in (Phase.SUBMITTING, Phase.ADMITTED):
            record = self._adopt_from_tags(record, detail)
        if not lifecycle.is_newer(record, detail):
            return self._carry_on(record)
        if lifecycle.is_settled(detail.primary_status, detail.secondary_status):
            return self.refresh(record)  # only Describe brings outputs and the full reason
        if not self.track_progress:
            return record
        return self.record(detail, record)

    def _carry_on(self, record: JobRecord) -> JobRecord:
        """A repeated event finds the job as an earlier one left it: what that one left
        undone (a notice, a next try) is done now rather than at the next sweep."""
        if record.phase == Phase.BETWEEN_TRIES and self.admission is not None:
            return self.admission.next_try(record)
        return self._announce_if_due(record)

    def _adopt_from_tags(self, record: JobRecord, detail: Observation) -> JobRecord:
        """A Queued record takes the event's job if its tags say this deployment created it
        for this request: a create whose answer was lost (docs/contract.md §6). Anyone else's job
        of the same name changes nothing."""
        if (
            detail.job_arn is None
            or record.request_id is None
            or not is_ours(detail.tags or {}, self.deployment_id, record.request_id)
        ):
            return record

        job_arn, at = detail.job_arn, utc_iso(self.now())
        adopted = revise(
            self.ledger, record.key, lambda current: lifecycle.bind(current, job_arn, at), record
        )
        if adopted.job_arn == job_arn:
            logger.info("adopted the job of a create whose answer was lost, from its event")
        return adopted

    def refresh(self, record: JobRecord, checked: bool = False, admit: bool = True) -> JobRecord:
        """Describe the job and record what SageMaker says now."""
        job_type = cast("JobType", record.job_type)  # the ledger's jobs are of known types
        try:
            observation = self.sagemaker.describe_job(job_type, record.sagemaker_name)
        except JobNotFound as exc:
            # Describe lags behind create for a moment: try again rather than guess.
            raise RetryableError(f"{job_type} {record.sagemaker_name} is not visible yet") from exc
        return self.record(observation, record, checked, admit)

    def record(
        self,
        observation: Observation,
        record: JobRecord,
        checked: bool = False,
        admit: bool = True,
    ) -> JobRecord:
        """Write ``observation`` of ``record``'s job unless the ledger already holds something
        as new (and, when ``checked``, note that the sweep looked at the job now); then do
        what the move leaves to do: a notice, room given back, a next try (§9). Room given
        back goes to the waiting jobs at once unless ``admit`` is False (the sweep records
        every job it caught up with first, then runs one pass)."""

        def change(current: JobRecord) -> JobRecord | None:
            newer = lifecycle.is_newer(current, observation)
            if not newer and not checked:
                return None
            updated = current
            if newer:
                updated = lifecycle.apply_observation(current, observation, self.now(), self.prices)
            if checked:
                updated = lifecycle.checked(updated, utc_iso(self.now()))
            return updated

        updated, steps = revise_with_steps(self.ledger, record.key, change, record)
        if steps.settled:
            count("JobsSettled", status=updated.status, job_type=updated.job_type)
            if updated.estimated_cost_usd is not None:
                cost = updated.estimated_cost_usd
                share = updated.share or DEFAULT_SHARE
                count("EstimatedCostUsd", cost, MetricUnit.NoUnit, share=share)
        if steps.next_try and self.admission is not None:
            return self.admission.next_try(updated)  # its room goes to the waiting jobs now
        announced = self._announce_if_due(updated) if steps.notice else updated
        if steps.settled and self.admission is not None:
            self.admission.release(updated, steps.release, admit)
        return announced

    # -- the sweep --------------------------------------------------------------------------

    def sweep(self, owner: str, time_left: timedelta) -> SweepReport:
        """Send notices a crash left unsent, find what events missed, track AutoML jobs,
        and repair what lost messages and failed calls left (README, "A job's lifecycle").

        Each step runs on its own: one that fails is logged and counted
        (``SweepStepsFailed``), and the next runs. ``owner`` names this invocation (the
        lease's holder); ``time_left`` is how long it may run."""
        deadline = self.now() + time_left
        if not self.sweep_state.acquire_lease(owner, self.now(), deadline):
            logger.info("another sweep is running: this one stands down")
            return SweepReport(skipped="another sweep is running")
        report = SweepReport()
        stop_at = deadline - TIME_RESERVE
        try:
            self._step("notices", report, lambda: self._send_notices(deadline, report))
            flights: dict[JobType, list[InFlight]] = {job_type: [] for job_type in JOB_TYPES}
            self._step("in flight", report, lambda: flights.update(self._in_flight(report)))
            busy = [job_type for job_type in JOB_TYPES if flights[job_type]]
            share = self.limits.list_calls // max(1, len(busy))
            for job_type in JOB_TYPES:
                scan = partial(self._scan, job_type, flights[job_type], share, stop_at, report)
                self._step(f"scan {job_type}", report, scan)
            self._step("old jobs", report, lambda: self._check_old_jobs(flights, stop_at, report))
            self._step("stuck jobs", report, lambda: report.stuck.extend(self._stuck_jobs(flights)))
            if self.admission is not None:
                self._repair(self.admission, report)
            self._step("notices", report, lambda: self._send_notices(deadline, report))
        finally:
            self.sweep_state.release_lease(owner)
        logger.info("sweep finished", extra={"sweep": report.__dict__})
        count("SweepsFinished")  # its alarm: sweeps have stopped
        count("SweepListCalls", report.list_calls)
        count("SweepDescribes", report.described)
        return report

    def _repair(self, admission: Admission, report: SweepReport) -> None:
        repairs = Repairs(admission)

        def wake() -> None:
            report.repaired["wake-ups sent again"] = repairs.wake_overdue()

        def tries() -> None:
            report.repaired["next tries"] = repairs.finish_tries()

        def budgets() -> None:
            report.repaired["budgets derived again"] = repairs.derive_budgets()

        def requeue() -> None:
            report.repaired["waiting jobs moved to their share's queue"] = (
                admission.ledger.requeue_legacy()
            )

        def recount() -> None:
            report.repaired["waiting room counts"] = repairs.recount_waiting_room()

        def preempted() -> None:
            report.repaired["preempted jobs stopped"] = repairs.stop_preempted()

        def admit() -> None:
            ran = admission.run()
            report.waiting = ran.waiting
            count("JobsWaitingInSweep", report.waiting)
            for share, jobs in ran.by_share.items():  # the dashboard's (MAX_WAITING_SHARES)
                count("JobsWaitingInShare", jobs, share=share)

        for name, step in (
            ("legacy waiting room", requeue),
            ("wake-ups", wake),
            ("tries", tries),
            ("budgets", budgets),
            ("waiting room counts", recount),
            ("preempted jobs", preempted),
            ("pass", admit),
        ):
            self._step(name, report, step)

    def _step(self, name: str, report: SweepReport, step: Callable[[], object]) -> None:
        """Run one step of the sweep: a failure is logged, counted and reported, never
        raised, so it stops no other step (docs/contract.md §6)."""
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - each step is isolated by design
            report.failed_steps.append(name)
            count("SweepStepsFailed")  # the log names the step
            logger.warning(
                "a sweep step failed: the next one runs",
                extra={"step": name, "error": f"{type(exc).__name__}: {scrub(str(exc))}"},
            )

    def _in_flight(self, report: SweepReport) -> dict[JobType, list[InFlight]]:
        flights = {job_type: self.ledger.in_flight(job_type) for job_type in JOB_TYPES}
        report.in_flight = {job_type: len(found) for job_type, found in flights.items()}
        return flights

    def _send_notices(self, deadline: datetime, report: SweepReport) -> None:
        for pending in self.ledger.pending_notices():
            if self.now() >= deadline - TIME_RESERVE / 2:
                return  # the next sweep sends the rest
            try:
                if self._announce_if_due(pending) is not pending:
                    report.notices += 1
            except JobctlError as exc:  # one notice failing never keeps the others back
                count("NoticesFailed")
                logger.warning(
                    "a notice could not be sent: the next sweep tries again",
                    extra={"error": str(exc)},
                )

    def _scan(
        self,
        job_type: JobType,
        flights: list[InFlight],
        pages: int,
        stop_at: datetime,
        report: SweepReport,
    ) -> None:
        """List newest first until the pages reach the oldest job in flight, or the budget
        (then the scan goes on from its cursor next time); record what changed."""
        cursor = self.sweep_state.cursor(job_type)
        if not flights:
            if cursor is not None:
                self.sweep_state.save_cursor(job_type, None)
            return
        oldest = min(datetime.fromisoformat(flight.submitted_at) for flight in flights)
        cutoff = max(oldest, self.now() - self.limits.list_window) - SCAN_MARGIN
        ours = {flight.sagemaker_name: flight for flight in flights}
        changed: list[tuple[tuple[str, str], Observation]] = []
        token, finished, calls = cursor, False, 0
        while calls < pages and self.now() < stop_at:
            calls += 1
            try:
                page = self.sagemaker.list_newest(job_type, token)
            except ExpiredCursor:
                logger.info("the stored scan cursor expired: scanning from the newest job")
                token = None
                continue
            report.listed += len(page.summaries)
            for summary in page.summaries:
                flight = ours.get(summary.job_name)
                # Only the job this record runs: a same-named job of someone else is not ours.
                if (
                    flight
                    and flight.job_arn == summary.job_arn
                    and lifecycle.is_newer(flight, summary)
                ):
                    changed.append((flight.key, summary))
            token = page.next_token
            reached = page.summaries[-1].created_at if page.summaries else None
            if token is None or (reached is not None and reached < cutoff):
                finished = True
                break
        report.list_calls += calls
        if not finished:
            report.unfinished_scans.append(job_type)
        if (None if finished else token) != cursor:
            self.sweep_state.save_cursor(job_type, None if finished else token)
        self._catch_up(job_type, changed, stop_at, report)

    def _catch_up(
        self,
        job_type: JobType,
        summaries: Iterable[tuple[tuple[str, str], Observation]],
        stop_at: datetime,
        report: SweepReport,
    ) -> None:
        """Record what the List summaries say changed (a settled job is described); what
        time does not allow is still changed in SageMaker, and the next sweep finds it."""
        by_key: dict[tuple[str, str], Observation] = dict(summaries)
        records = self.ledger.get_many(by_key)
        # The oldest first (pages come newest first), so no job waits behind newer ones
        # sweep after sweep when time runs short.
        for key in reversed(by_key):
            if self.now() >= stop_at:
                return
            record, summary = records.get(key), by_key[key]
            if record is None or not lifecycle.is_newer(record, summary):
                continue
            if lifecycle.is_settled(summary.primary_status, summary.secondary_status):
                # Only Describe brings outputs, metrics and the full failure reason.
                report.described += 1
                updated = self.refresh(record, admit=False)
            elif self.track_progress:
                # A List summary is truth enough.
                updated = self.record(summary, record, admit=False)
            else:
                continue  # terminal-only tracking: progress is not recorded
            if updated.version != record.version:
                report.updated += 1

    def _check_old_jobs(
        self, flights: dict[JobType, list[InFlight]], stop_at: datetime, report: SweepReport
    ) -> None:
        """Describe jobs in flight for longer than the List window, a few each sweep, the
        least recently checked first: their events may have been lost too."""
        window_start = utc_iso(self.now() - self.limits.list_window)
        old = [f for fs in flights.values() for f in fs if f.submitted_at < window_start]
        old.sort(key=lambda flight: flight.checked_at or "")
        for flight in old[: self.limits.describe_calls]:
            if self.now() >= stop_at:
                return
            try:
                record = self.ledger.get(*flight.key)
            except UnreadableRecord as unreadable:
                report_unreadable(unreadable)
                continue
            if record is None:
                continue
            report.described += 1
            updated = self.refresh(record, checked=True, admit=False)
            if updated.sagemaker_modified_at != record.sagemaker_modified_at:
                report.updated += 1

    def _stuck_jobs(self, flights: dict[JobType, list[InFlight]]) -> list[str]:
        """Jobs still running well past their maximum runtime: SageMaker should have stopped
        them, so something is wrong (or an event and the sweep both missed them). Emitted
        as a metric every sweep, so an alarm can watch it."""
        now = self.now()
        stuck = [
            flight.job_name
            for job_flights in flights.values()
            for flight in job_flights
            if flight.max_runtime_seconds is not None
            and datetime.fromisoformat(flight.submitted_at)
            + timedelta(seconds=flight.max_runtime_seconds)
            + self.stuck_slack
            < now
        ]
        count("JobsStuck", len(stuck))
        if stuck:
            logger.warning("jobs past their maximum runtime", extra={"jobs": stuck[:50]})
        return stuck

    def _announce_if_due(self, record: JobRecord) -> JobRecord:
        return announce(self.ledger, self.publisher, record, self.now, self.notice_lease)
