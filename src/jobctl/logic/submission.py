"""What happens to a job request taken off the queue (CONTRACT §3)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from jobctl.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    JobAlreadyExists,
    JobNotFound,
    RetryableError,
    UnreadableRecord,
    summarize,
)
from jobctl.logic import states
from jobctl.logic.admission import OverBudget, budgets_for, holder_of, waiting_reason
from jobctl.logic.ports import CapacityLedger, Ledger, NoticePublisher, SageMakerGateway
from jobctl.logic.reconciliation import Reconciler
from jobctl.logic.records import announce, revise
from jobctl.logic.requests import create_params, is_ours, max_runtime_seconds
from jobctl.models.jobs import (
    QUEUED,
    REJECTED,
    STOPPED,
    SUBMIT_FAILED,
    HistoryEntry,
    JobRecord,
    utc_iso,
)
from jobctl.models.requests import JobRequest
from jobctl.observability import MetricUnit, count, logger, report_unreadable

REUSED_REQUEST_ID = "request_id: already used for a different request"
NAME_TAKEN = "job_name: already used by another request"
FOREIGN_JOB = "job_name: a SageMaker job of this name exists and is not jobctl's (not this stack's)"


@dataclass(frozen=True)
class Outcome:
    """What became of a request; stored by Powertools idempotency, so no secrets in it."""

    job_name: str
    job_type: str
    status: str


@dataclass(frozen=True)
class Delivery:
    """The SQS facts about the message a request came in."""

    message_id: str
    receive_count: int


@dataclass
class Submitter:
    sagemaker: SageMakerGateway
    ledger: Ledger
    publisher: NoticePublisher
    reconciler: Reconciler
    now: Callable[[], datetime]
    notice_lease: timedelta
    default_role_arn: str
    permitted_roles: frozenset[str]
    max_receive_count: int
    deployment_id: str
    capacity: CapacityLedger | None = None
    overall_budget: int = 0
    instance_type_budgets: Mapping[str, int] = field(default_factory=dict)

    def handle(self, request: JobRequest, delivery: Delivery) -> Outcome:
        if request.action == "stop":
            return self._stop(request, delivery)
        return self._submit(request, delivery)

    # -- submit -------------------------------------------------------------------------

    def _submit(self, request: JobRequest, delivery: Delivery) -> Outcome:
        try:
            params = create_params(
                request, self.default_role_arn, self.permitted_roles, self.deployment_id
            )
        except InvalidRequest as exc:
            return self.reject(request, exc.problems, delivery)
        try:
            record = self._queued_record(request, delivery)
        except UnreadableRecord as unreadable:
            report_unreadable(unreadable)
            problem = "job_name: its ledger record cannot be read (an operator must repair it)"
            return self.reject(request, [problem], delivery, own_key=False)
        if isinstance(record, str):
            return self.reject(request, [record], delivery, own_key=False)
        if record.status != QUEUED:
            if states.was_cancelled(record):
                # The stop came first; an earlier create may still have started the job.
                self._stop_untracked(record)
            logger.info("request already acted on", extra={"status": record.status})
            return self._outcome(record)
        record = self._admit(record, params)
        try:
            job_arn = self.sagemaker.create_job(request.job_type, params)
        except JobAlreadyExists:
            adopted = self._adoptable_arn(record)
            if adopted is None:
                self._free(record)
                return self._reject_own(record, [FOREIGN_JOB])
            job_arn = adopted
        except InvalidRequest as exc:
            self._free(record)
            return self._reject_own(record, exc.problems)
        except RetryableError as exc:
            self._free(record)
            return self._submission_failed(record, exc, delivery)
        return self._outcome(self._accepted(record, job_arn))

    def _admit(self, record: JobRecord, params: dict[str, Any]) -> JobRecord:
        """Take the job's slots in the concurrency budgets, or raise OverBudget."""
        budgets = budgets_for(params, self.overall_budget, self.instance_type_budgets)
        if self.capacity is None or not budgets:
            return record
        full = self.capacity.acquire(holder_of(record.job_type, record.job_name), budgets)
        if full:
            reason = waiting_reason(full)
            waiting = revise(self.ledger, record.key, _wait(reason, self.now), record)
            count("SubmitDeferred", job_type=record.job_type)
            raise OverBudget(full, deferrals=waiting.deferrals if waiting else 1)

        def hold(current: JobRecord) -> JobRecord | None:
            keys = [budget.key for budget in budgets]
            return current.model_copy(update={"capacity_keys": keys, "waiting_for": None})

        held = revise(self.ledger, record.key, hold, record)
        assert held is not None  # noqa: S101 - records are never deleted
        return held

    def _free(self, record: JobRecord) -> None:
        """Give back the slots of a job that did not start."""
        if self.capacity is not None and record.capacity_keys:
            holder = holder_of(record.job_type, record.job_name)
            self.capacity.release(holder, record.capacity_keys)

    def _queued_record(self, request: JobRequest, delivery: Delivery) -> JobRecord | str:
        """The request's record: new, from an earlier delivery, or taking over a rejection
        (which uses nothing up); else the problem that keeps the request from it."""
        at = utc_iso(self.now())
        fresh = JobRecord(
            job_name=request.name,
            job_type=request.job_type,
            status=QUEUED,
            request_id=request.rid,
            body_hash=request.body_hash,
            created_at=at,
            updated_at=at,
            history=[HistoryEntry(status=QUEUED, at=at)],
            message_id=delivery.message_id,
            max_runtime_seconds=max_runtime_seconds(request.spec),
        )
        try:
            return self.ledger.insert(fresh)
        except ConcurrentUpdate:
            pass
        existing = self.ledger.get(request.name, request.job_type)
        if existing is None:
            raise RetryableError(f"ledger record {request.name} was there a moment ago")
        if existing.status == REJECTED:
            # The same name, corrected or from another request: handled as new.
            return _revised(self.ledger, existing, _resubmitted(fresh))
        if existing.request_id != request.rid:
            return NAME_TAKEN
        if existing.body_hash not in (None, request.body_hash):
            return REUSED_REQUEST_ID  # even after idempotency's record has expired
        if existing.status == SUBMIT_FAILED:
            # A redriven message: try again, and announce the new outcome in its turn.
            return _revised(self.ledger, existing, _requeue_after(at))
        return existing

    def _adoptable_arn(self, record: JobRecord) -> str | None:
        """The ARN of the existing job of this name if this deployment created it for this
        request (an earlier create whose answer was lost); None if it is someone else's."""
        observation = self.sagemaker.describe_job(_job_type(record), record.job_name)
        if observation.job_arn and self._ours(observation.job_arn, record):
            logger.info("adopting a job an earlier attempt created")
            return observation.job_arn
        return None

    def _ours(self, job_arn: str, record: JobRecord) -> bool:
        tags = self.sagemaker.job_tags(job_arn)
        return record.request_id is not None and is_ours(
            tags, self.deployment_id, record.request_id
        )

    def _accepted(self, record: JobRecord, job_arn: str) -> JobRecord:
        cancelled = False

        def mark_in_progress(current: JobRecord) -> JobRecord | None:
            nonlocal cancelled
            cancelled = states.was_cancelled(current)
            if current.status != QUEUED:
                return None  # a reconciler got there first, or a stop cancelled it
            return states.bind(current, job_arn, utc_iso(self.now()))

        updated = revise(self.ledger, record.key, mark_in_progress, record)
        assert updated is not None  # noqa: S101 - records are never deleted
        if cancelled:
            # A stop cancelled the job while SageMaker was creating it: stop it there too.
            self.sagemaker.stop_job(_job_type(record), record.job_name)
        count("JobsSubmitted", job_type=record.job_type)
        queued_for = self.now() - datetime.fromisoformat(record.created_at)
        count("TimeQueued", queued_for.total_seconds(), unit=MetricUnit.Seconds)
        return updated

    def _submission_failed(
        self, record: JobRecord, error: RetryableError, delivery: Delivery
    ) -> Outcome:
        reason = f"SageMaker did not accept the job: {error}"
        if delivery.receive_count < self.max_receive_count:
            revise(self.ledger, record.key, _note_error(reason, self.now), record)
            count("SubmitRetried", job_type=record.job_type)
            raise error  # the record fails; SQS delivers it again
        final = revise(self.ledger, record.key, _give_up(reason, self.now), record)
        assert final is not None  # noqa: S101 - records are never deleted
        count("SubmitFailed", job_type=record.job_type)
        self._announce(final)
        raise error  # fail this last receive too, so SQS moves the message to the DLQ

    # -- stop ---------------------------------------------------------------------------

    def _stop(self, request: JobRequest, delivery: Delivery) -> Outcome:
        try:
            record = self.ledger.get(request.name, request.job_type)
        except UnreadableRecord as unreadable:
            report_unreadable(unreadable)
            problem = "job_name: its ledger record cannot be read (an operator must repair it)"
            return self.reject(request, [problem], delivery, own_key=False)
        if record is None or record.status == REJECTED:
            problem = "job_name: no job of this name and type in the ledger"
            return self.reject(request, [problem], delivery)
        if record.status == QUEUED:
            cancelled = revise(self.ledger, record.key, _cancel(self.now), record)
            assert cancelled is not None  # noqa: S101 - records are never deleted
            if cancelled.status == STOPPED:
                # An earlier create whose answer was lost may have started the job anyway:
                # nothing the controller created runs untracked (CONTRACT §3).
                self._stop_untracked(cancelled)
                return self._outcome(self._announce(cancelled))
            record = cancelled  # it was submitted meanwhile: stop it in SageMaker
        if states.record_is_settled(record) or record.job_arn is None:
            return self._outcome(record)
        self.sagemaker.stop_job(request.job_type, request.name)
        return self._outcome(self.reconciler.refresh(record))

    def _stop_untracked(self, record: JobRecord) -> None:
        """Stop the job of this name if this deployment created it for this request though
        the record never took it (a create's answer was lost); a job that does not exist,
        or is someone else's, is left alone."""
        try:
            observation = self.sagemaker.describe_job(_job_type(record), record.job_name)
        except JobNotFound:
            return
        if states.is_settled(observation.primary_status, observation.secondary_status):
            return
        if observation.job_arn and self._ours(observation.job_arn, record):
            logger.info("stopping a job a create started before the request was cancelled")
            self.sagemaker.stop_job(_job_type(record), record.job_name)

    # -- rejection ----------------------------------------------------------------------

    def reject(
        self,
        request: JobRequest,
        problems: list[str],
        delivery: Delivery,
        own_key: bool = True,
    ) -> Outcome:
        """Record the request as Rejected and announce it (CONTRACT §3, §4)."""
        name = request.name if (own_key and request.name_given) else None
        return self.reject_raw(
            problems, delivery, request.job_type, job_name=name, request_id=request.rid
        )

    def reject_raw(
        self,
        problems: list[str],
        delivery: Delivery,
        job_type: str | None,
        job_name: str | None = None,
        request_id: str | None = None,
    ) -> Outcome:
        """Reject what may not even parse. Keyed by the job name when the request gave one
        and that key is free or holds only a rejection, else by ``rejected-<message id>``.
        A rejection never overwrites the record of a job that was submitted or waits."""
        reason = summarize(problems)
        at = utc_iso(self.now())
        job_type = job_type or "Unknown"
        keys = [(job_name, job_type)] if job_name else []
        keys.append((f"rejected-{delivery.message_id}", job_type))
        for key_name, key_type in keys:
            rejected = JobRecord(
                job_name=key_name,
                job_type=key_type,
                status=REJECTED,
                failure_reason=reason,
                request_id=request_id,
                created_at=at,
                updated_at=at,
                history=[HistoryEntry(status=REJECTED, at=at)],
                notice_pending="1",
                message_id=delivery.message_id,
            )
            try:
                record = self.ledger.insert(rejected)
            except ConcurrentUpdate:
                try:
                    existing = self.ledger.get(key_name, key_type)
                except UnreadableRecord as unreadable:
                    report_unreadable(unreadable)
                    continue
                if existing is None:
                    continue
                if existing.message_id == delivery.message_id:
                    record = existing  # a redelivery of this very message
                elif existing.status == REJECTED:
                    record = _revised(self.ledger, existing, _rejected_again(rejected))
                else:
                    continue  # another request's job: never overwrite it
            count("RequestsRejected", job_type=key_type)
            logger.info("request rejected", extra={"reason": reason})
            return self._outcome(self._announce(record))
        raise AssertionError("the rejected-<message id> key is always free or ours")

    def _reject_own(self, record: JobRecord, problems: list[str]) -> Outcome:
        """Reject a request that already has its Queued record: the record itself says so."""
        reason = summarize(problems)

        def change(current: JobRecord) -> JobRecord | None:
            if current.status != QUEUED:
                return None
            return states.settle_by_controller(current, REJECTED, reason, self.now())

        updated = revise(self.ledger, record.key, change, record)
        assert updated is not None  # noqa: S101 - records are never deleted
        count("RequestsRejected", job_type=record.job_type)
        logger.info("request rejected", extra={"reason": reason})
        return self._outcome(self._announce(updated))

    # -- helpers ------------------------------------------------------------------------

    def _announce(self, record: JobRecord) -> JobRecord:
        return announce(self.ledger, self.publisher, record, self.now, self.notice_lease)

    @staticmethod
    def _outcome(record: JobRecord) -> Outcome:
        return Outcome(record.job_name, record.job_type, record.status)


def _job_type(record: JobRecord) -> Any:
    return record.job_type  # a JobType: the records that reach SageMaker are submitted ones


def _revised(
    ledger: Ledger, record: JobRecord, change: Callable[[JobRecord], JobRecord | None]
) -> JobRecord:
    updated = revise(ledger, record.key, change, record)
    assert updated is not None  # noqa: S101 - records are never deleted
    return updated


def _resubmitted(fresh: JobRecord) -> Callable[[JobRecord], JobRecord | None]:
    """A rejected record taken over by a new request: it starts afresh, Queued, and keeps
    the rejection in its history."""

    def change(current: JobRecord) -> JobRecord | None:
        if current.status != REJECTED:
            return None
        history = [*current.history, *fresh.history]
        return fresh.model_copy(update={"history": history, "version": current.version})

    return change


def _rejected_again(rejected: JobRecord) -> Callable[[JobRecord], JobRecord | None]:
    """Another rejection of the same name: it replaces the last one, history kept."""

    def change(current: JobRecord) -> JobRecord | None:
        if current.status != REJECTED:
            return None
        history = [*current.history, *rejected.history]
        return rejected.model_copy(update={"history": history, "version": current.version})

    return change


def _requeue_after(at: str) -> Callable[[JobRecord], JobRecord | None]:
    def change(current: JobRecord) -> JobRecord | None:
        if current.status != SUBMIT_FAILED:
            return None
        # A fresh attempt: its outcome will be announced in its turn.
        cleared = {"failure_reason": None, "notified_at": None, "notice_pending": None}
        return states.transition(current, QUEUED, at, **cleared)

    return change


def _wait(reason: str, now: Callable[[], datetime]) -> Callable[[JobRecord], JobRecord | None]:
    def change(current: JobRecord) -> JobRecord | None:
        if current.status != QUEUED:
            return None
        return current.model_copy(
            update={
                "waiting_for": reason,
                "deferrals": current.deferrals + 1,
                "updated_at": utc_iso(now()),
            }
        )

    return change


def _note_error(
    reason: str, now: Callable[[], datetime]
) -> Callable[[JobRecord], JobRecord | None]:
    def change(current: JobRecord) -> JobRecord | None:
        if current.status != QUEUED:
            return None
        return current.model_copy(update={"last_error": reason, "updated_at": utc_iso(now())})

    return change


def _give_up(reason: str, now: Callable[[], datetime]) -> Callable[[JobRecord], JobRecord | None]:
    def change(current: JobRecord) -> JobRecord | None:
        if current.status != QUEUED:
            return None
        return states.settle_by_controller(current, SUBMIT_FAILED, reason, now())

    return change


def _cancel(now: Callable[[], datetime]) -> Callable[[JobRecord], JobRecord | None]:
    def change(current: JobRecord) -> JobRecord | None:
        if current.status != QUEUED:
            return None
        return states.settle_by_controller(current, STOPPED, "stopped before submission", now())

    return change
