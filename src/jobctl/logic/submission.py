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
    RetryableError,
    summarize,
)
from jobctl.logic import states
from jobctl.logic.admission import OverBudget, budgets_for, holder_of, waiting_reason
from jobctl.logic.ports import CapacityLedger, Ledger, NoticePublisher, SageMakerGateway
from jobctl.logic.reconciliation import Reconciler
from jobctl.logic.records import announce, revise
from jobctl.logic.requests import create_params, is_ours, max_runtime_seconds
from jobctl.models.jobs import (
    IN_PROGRESS,
    QUEUED,
    REJECTED,
    STOPPED,
    SUBMIT_FAILED,
    HistoryEntry,
    JobRecord,
    utc_iso,
)
from jobctl.models.requests import JobRequest
from jobctl.observability import MetricUnit, count, logger, scrub, secret_values


@dataclass(frozen=True)
class Outcome:
    """What became of a request; stored by Powertools idempotency, so no secrets in it."""

    job_name: str
    job_type: str
    status: str

    def as_dict(self) -> dict[str, str]:
        return {"job_name": self.job_name, "job_type": self.job_type, "status": self.status}


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
        record = self._queued_record(request, delivery)
        if record is None:
            return self.reject(
                request, ["job_name: already used by another request"], delivery, own_key=False
            )
        if record.status != QUEUED:
            logger.info("request already acted on", extra={"status": record.status})
            return self._outcome(record)
        record = self._admit(record, params)
        try:
            job_arn = self.sagemaker.create_job(request.job_type, params)
        except JobAlreadyExists:
            adopted = self._adoptable_arn(request)
            if adopted is None:
                self._free(record)
                return self._reject_own(
                    record, ["job_name: a SageMaker job of this name exists and is not jobctl's"]
                )
            job_arn = adopted
        except InvalidRequest as exc:
            self._free(record)
            secrets = secret_values(request.spec)
            return self._reject_own(record, [scrub(p, secrets) for p in exc.problems])
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

    def _queued_record(self, request: JobRequest, delivery: Delivery) -> JobRecord | None:
        """The request's Queued record (new, or from an earlier delivery); None if the name
        belongs to another request."""
        at = utc_iso(self.now())
        fresh = JobRecord(
            job_name=request.name,
            job_type=request.job_type,
            status=QUEUED,
            request_id=request.rid,
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
        if existing is None or existing.request_id != request.rid:
            return None
        if existing.status == SUBMIT_FAILED:
            # A redriven message: try again, and announce the new outcome in its turn.
            return revise(self.ledger, existing.key, _requeue_after(at), existing)
        return existing

    def _adoptable_arn(self, request: JobRequest) -> str | None:
        """The ARN of an existing job of this name if it is ours (an earlier create whose
        answer was lost); None if someone else owns the name."""
        observation = self.sagemaker.describe_job(request.job_type, request.name)
        tags = self.sagemaker.job_tags(observation.job_arn) if observation.job_arn else {}
        if observation.job_arn and is_ours(tags, self.deployment_id, request.rid):
            logger.info("adopting a job an earlier attempt created")
            return observation.job_arn
        return None

    def _accepted(self, record: JobRecord, job_arn: str) -> JobRecord:
        cancelled = False

        def mark_in_progress(current: JobRecord) -> JobRecord | None:
            nonlocal cancelled
            cancelled = current.status == STOPPED and current.job_arn is None
            if current.status != QUEUED:
                return None  # a reconciler got there first, or a stop cancelled it
            at = utc_iso(self.now())
            return states.transition(
                current, IN_PROGRESS, at, job_arn=job_arn, submitted_at=at, last_error=None
            )

        updated = revise(self.ledger, record.key, mark_in_progress, record)
        assert updated is not None  # noqa: S101 - records are never deleted
        if cancelled:
            # A stop cancelled the job while SageMaker was creating it: stop it there too.
            self.sagemaker.stop_job(record.job_type, record.job_name)  # type: ignore[arg-type]
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
        record = self.ledger.get(request.name, request.job_type)
        if record is None:
            return self.reject(
                request, ["job_name: no job of this name and type in the ledger"], delivery
            )
        if record.status == QUEUED:
            cancelled = revise(self.ledger, record.key, _cancel(self.now), record)
            assert cancelled is not None  # noqa: S101 - records are never deleted
            if cancelled.status == STOPPED:
                return self._outcome(self._announce(cancelled))
            record = cancelled  # it was submitted meanwhile: stop it in SageMaker
        if states.record_is_settled(record) or record.job_arn is None:
            return self._outcome(record)
        self.sagemaker.stop_job(request.job_type, request.name)
        return self._outcome(self.reconciler.refresh(record))

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
        and no other request's record holds it, else by ``rejected-<message id>``."""
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
                existing = self.ledger.get(key_name, key_type)
                if existing is None or existing.message_id != delivery.message_id:
                    continue  # another request's record: never overwrite it
                record = existing  # a redelivery of this very message
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
