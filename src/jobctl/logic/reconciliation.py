"""What the reconciler does: read the truth from SageMaker and record it (CONTRACT §6)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from jobctl.errors import JobNotFound, RetryableError
from jobctl.logic import states
from jobctl.logic.admission import holder_of, job_of
from jobctl.logic.ports import CapacityLedger, Ledger, NoticePublisher, SageMakerGateway, SweepState
from jobctl.logic.records import announce, revise
from jobctl.models.jobs import IN_PROGRESS, QUEUED, JobRecord, Observation, utc_iso
from jobctl.models.requests import JOB_TYPES, JobType
from jobctl.observability import count, logger

# How long a Queued job may hold a slot without SageMaker creating it.
QUEUED_SLOT_GRACE = timedelta(minutes=15)


@dataclass
class SweepReport:
    listed: int = 0
    described: int = 0
    updated: int = 0
    notices: int = 0
    slots_repaired: int = 0
    stuck: list[str] = field(default_factory=list)
    by_type: dict[str, int] = field(default_factory=dict)


@dataclass
class Reconciler:
    sagemaker: SageMakerGateway
    ledger: Ledger
    publisher: NoticePublisher
    sweep_state: SweepState
    now: Callable[[], datetime]
    notice_lease: timedelta
    sweep_overlap: timedelta
    first_lookback: timedelta
    capacity: CapacityLedger | None = None
    budget_keys: tuple[str, ...] = ()
    # How far past MaxRuntimeInSeconds a job counts as stuck.
    stuck_slack: timedelta = timedelta(minutes=30)
    # False in terminal-only tracking: the ledger shows a job's progress only once it settles.
    track_progress: bool = True

    def on_state_change(self, job_type: JobType, hint: Observation) -> JobRecord | None:
        """An event says ``hint.job_name`` changed. Describe it, unless the ledger already
        holds this change (SageMaker delivers events more than once)."""
        record = self.ledger.get(hint.job_name, job_type)
        if record is None:
            logger.debug("event about a job the ledger does not hold: ignored")
            return None
        if not states.is_newer(record, hint):
            return self._announce_if_due(record)
        return self.refresh(record)

    def refresh(self, record: JobRecord) -> JobRecord:
        """Describe the job and record what SageMaker says now."""
        job_type: JobType = record.job_type  # type: ignore[assignment]  # ledger holds only ours
        try:
            observation = self.sagemaker.describe_job(job_type, record.job_name)
        except JobNotFound as exc:
            # Describe lags behind create for a moment: try again rather than guess.
            raise RetryableError(f"{job_type} {record.job_name} is not visible yet") from exc
        return self.record(observation, record)

    def record(self, observation: Observation, record: JobRecord | None = None) -> JobRecord:
        """Write ``observation`` unless the ledger already holds something as new."""

        def change(current: JobRecord) -> JobRecord | None:
            if not states.is_newer(current, observation):
                return None
            return states.apply_observation(current, observation, self.now())

        was_settled = record is not None and states.record_is_settled(record)
        updated = revise(self.ledger, (observation.job_name, observation.job_type), change, record)
        if updated is None:
            raise RetryableError(f"ledger record of {observation.job_name} disappeared")
        if not was_settled and states.record_is_settled(updated):
            count("JobsSettled", status=updated.status, job_type=updated.job_type)
            if self.capacity is not None and updated.capacity_keys:
                # A settled job gives its slots to the requests waiting for them.
                holder = holder_of(updated.job_type, updated.job_name)
                self.capacity.release(holder, updated.capacity_keys)
        return self._announce_if_due(updated)

    def sweep(self) -> SweepReport:
        """Find what events missed, track AutoML jobs, and send notices a crash left unsent."""
        # The watermark is SageMaker's own newest LastModifiedTime seen, so the overlap only
        # has to cover List lagging behind, not clock skew or the time between sweeps.
        watermark = self.sweep_state.watermark() or self.now() - self.first_lookback
        since = watermark - self.sweep_overlap
        newest = watermark
        report = SweepReport()
        for job_type in JOB_TYPES:
            summaries = list(self.sagemaker.changed_jobs(job_type, since))
            report.listed += len(summaries)
            report.by_type[job_type] = len(summaries)
            newest = max([newest, *(summary.modified_at for summary in summaries)])
            self._catch_up(job_type, summaries, report)
        report.slots_repaired = self._repair_capacity()
        report.stuck = self._stuck_jobs()
        for pending in self.ledger.pending_notices():
            if (
                announce(self.ledger, self.publisher, pending, self.now, self.notice_lease)
                is not pending
            ):
                report.notices += 1
        self.sweep_state.advance_watermark(newest)
        logger.info("sweep finished", extra={"sweep": report.__dict__})
        return report

    def _catch_up(
        self, job_type: JobType, summaries: Iterable[Observation], report: SweepReport
    ) -> None:
        by_key: dict[tuple[str, str], Observation] = {(s.job_name, job_type): s for s in summaries}
        records = self.ledger.get_many(by_key)
        for key, record in records.items():
            summary = by_key[key]
            if not states.is_newer(record, summary):
                continue
            if states.is_settled(summary.primary_status, summary.secondary_status):
                # Only Describe brings outputs, metrics and the full failure reason.
                report.described += 1
                updated = self.refresh(record)
            elif self.track_progress:
                updated = self.record(summary, record)  # a List summary is truth enough
            else:
                continue  # terminal-only tracking: progress is not recorded
            if updated.version != record.version:
                report.updated += 1

    def _stuck_jobs(self) -> list[str]:
        """Jobs still InProgress well past their MaxRuntimeInSeconds: SageMaker should have
        stopped them, so something is wrong (or an event and the sweep both missed them).
        Emitted as a metric every sweep, so an alarm can watch it."""
        now = self.now()
        stuck = [
            job.job_name
            for job in self.ledger.runtime_limits(IN_PROGRESS)
            if job.max_runtime_seconds is not None
            and datetime.fromisoformat(job.created_at)
            + timedelta(seconds=job.max_runtime_seconds)
            + self.stuck_slack
            < now
        ]
        count("JobsStuck", len(stuck))
        if stuck:
            logger.warning("jobs past their maximum runtime", extra={"jobs": stuck[:50]})
        return stuck

    def _repair_capacity(self) -> int:
        """Free slots whose holder is done, gone, or never got going (a crash between
        taking a slot and creating the job)."""
        if self.capacity is None or not self.budget_keys:
            return 0
        held = self.capacity.holders(self.budget_keys)
        records = self.ledger.get_many(job_of(h) for holders in held.values() for h in holders)
        stale_before = utc_iso(self.now() - QUEUED_SLOT_GRACE)
        repaired = 0
        for budget_key, holders in held.items():
            for holder in holders:
                record = records.get(job_of(holder))
                if (
                    record is None
                    or states.record_is_settled(record)
                    or (record.status == QUEUED and record.updated_at < stale_before)
                ):
                    self.capacity.release(holder, [budget_key])
                    repaired += 1
        return repaired

    def _announce_if_due(self, record: JobRecord) -> JobRecord:
        return announce(self.ledger, self.publisher, record, self.now, self.notice_lease)
