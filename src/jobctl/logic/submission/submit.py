"""Submitting a job (docs/contract.md §3): the request's record is made Queued, its job is
admitted to the capacity budgets, created in SageMaker, and the record takes it — or the
request waits for capacity, is retried, given up, or rejected."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jobctl.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    JobAlreadyExists,
    RetryableError,
    ServiceRefused,
    UnreadableRecord,
)
from jobctl.logic import states
from jobctl.logic.admission import OverBudget, budgets_for, holder_of, waiting_reason
from jobctl.logic.ports import CapacityLedger
from jobctl.logic.requests import create_params, max_runtime_seconds
from jobctl.logic.submission.context import Context, Delivery, Outcome, job_type
from jobctl.logic.submission.reject import Rejections
from jobctl.logic.submission.stop import stop_untracked
from jobctl.models.jobs import (
    QUEUED,
    REJECTED,
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
UNREADABLE = "job_name: its ledger record cannot be read (an operator must repair it)"


@dataclass(frozen=True)
class Submit:
    context: Context
    rejections: Rejections
    default_role_arn: str
    permitted_roles: frozenset[str]
    max_receive_count: int
    capacity: CapacityLedger | None = None
    overall_budget: int = 0
    instance_type_budgets: Mapping[str, int] = field(default_factory=dict)

    def __call__(self, request: JobRequest, delivery: Delivery) -> Outcome:
        try:
            params = create_params(
                request, self.default_role_arn, self.permitted_roles, self.context.deployment_id
            )
        except InvalidRequest as exc:
            return self.rejections.reject(request, exc.problems, delivery)
        try:
            record = self._queued_record(request, delivery)
        except UnreadableRecord as unreadable:
            report_unreadable(unreadable)
            return self.rejections.reject(request, [UNREADABLE], delivery, own_key=False)
        if isinstance(record, str):
            return self.rejections.reject(request, [record], delivery, own_key=False)
        if record.status != QUEUED:
            if states.was_cancelled(record):
                # The stop came first; an earlier create may still have started the job.
                stop_untracked(self.context, record)
            logger.info("request already acted on", extra={"status": record.status})
            return Outcome.of(record)
        record = self._admit(record, params)
        try:
            job_arn = self.context.sagemaker.create_job(request.job_type, params)
        except JobAlreadyExists:
            adopted = self._adoptable_arn(record)
            if adopted is None:
                self._free(record)
                return self.rejections.reject_own(record, [FOREIGN_JOB])
            job_arn = adopted
        except InvalidRequest as exc:
            self._free(record)
            return self.rejections.reject_own(record, exc.problems)
        except (RetryableError, ServiceRefused) as exc:
            self._free(record)
            return self._failed(record, exc, delivery)
        return Outcome.of(self._created(record, job_arn))

    def _queued_record(self, request: JobRequest, delivery: Delivery) -> JobRecord | str:
        """The request's record: new, from an earlier delivery, or taking over a rejection
        (which uses nothing up); else the problem that keeps the request from it."""
        at = utc_iso(self.context.now())
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
        ledger = self.context.ledger
        try:
            return ledger.insert(fresh)
        except ConcurrentUpdate:
            pass
        existing = ledger.get(request.name, request.job_type)
        if existing is None:
            raise RetryableError(f"ledger record {request.name} was there a moment ago")
        if existing.status == REJECTED and not _sent_again(existing, request):
            # The same name, corrected or from another request: handled as new.
            return self.context.revise(
                existing, lambda current: states.take_over(current, fresh), only_from={REJECTED}
            )
        if existing.request_id != request.rid:
            return NAME_TAKEN
        if existing.body_hash not in (None, request.body_hash):
            return REUSED_REQUEST_ID  # even after idempotency's record has expired
        if existing.status == SUBMIT_FAILED:
            # A redriven message: try again, and announce the new outcome in its turn.
            return self.context.revise(
                existing, lambda current: states.requeue(current, at), only_from={SUBMIT_FAILED}
            )
        return existing

    def _admit(self, record: JobRecord, params: dict[str, Any]) -> JobRecord:
        """Take the job's slots in the concurrency budgets, or raise OverBudget."""
        budgets = budgets_for(params, self.overall_budget, self.instance_type_budgets)
        if self.capacity is None or not budgets:
            return record
        full = self.capacity.acquire(holder_of(record.job_type, record.job_name), budgets)
        now = utc_iso(self.context.now())
        if full:
            reason = waiting_reason(full)
            waiting = self.context.revise(
                record,
                lambda current: current.model_copy(
                    update={
                        "waiting_for": reason,
                        "deferrals": current.deferrals + 1,
                        "updated_at": now,
                    }
                ),
                only_from={QUEUED},
            )
            count("SubmitDeferred", job_type=record.job_type)
            raise OverBudget(full, deferrals=waiting.deferrals)
        keys = [budget.key for budget in budgets]
        return self.context.revise(
            record,
            lambda current: current.model_copy(update={"capacity_keys": keys, "waiting_for": None}),
            only_from={QUEUED},
        )

    def _free(self, record: JobRecord) -> None:
        """Give back the slots of a job that did not start."""
        if self.capacity is not None and record.capacity_keys:
            holder = holder_of(record.job_type, record.job_name)
            self.capacity.release(holder, record.capacity_keys)

    def _adoptable_arn(self, record: JobRecord) -> str | None:
        """The ARN of the existing job of this name if this deployment created it for this
        request (an earlier create whose answer was lost); None if it is someone else's."""
        observation = self.context.sagemaker.describe_job(job_type(record), record.job_name)
        if observation.job_arn and self.context.created_by_us(observation.job_arn, record):
            logger.info("adopting a job an earlier attempt created")
            return observation.job_arn
        return None

    def _created(self, record: JobRecord, job_arn: str) -> JobRecord:
        """The record takes its job: unless a reconciler got there first (an adoption from
        the job's event), or a stop cancelled it meanwhile — then the job is stopped too."""
        at = utc_iso(self.context.now())
        updated = self.context.revise(
            record, lambda current: states.bind(current, job_arn, at), only_from={QUEUED}
        )
        if states.was_cancelled(updated):
            self.context.sagemaker.stop_job(job_type(record), record.job_name)
        count("JobsSubmitted", job_type=record.job_type)
        queued_for = self.context.now() - datetime.fromisoformat(record.created_at)
        count("TimeQueued", queued_for.total_seconds(), unit=MetricUnit.Seconds)
        return updated

    def _failed(
        self, record: JobRecord, error: RetryableError | ServiceRefused, delivery: Delivery
    ) -> Outcome:
        """SageMaker did not take the job: the record waits for the next delivery, or on the
        last one is given up (SubmitFailed, one notice); the message fails either way. A
        refusal that retrying will not cure (a permission) goes the same way, so it ends in
        the DLQ with its record SubmitFailed, never Queued for good."""
        reason = f"SageMaker did not accept the job: {error}"
        now = self.context.now
        if delivery.receive_count < self.max_receive_count:
            self.context.revise(
                record,
                lambda current: current.model_copy(
                    update={"last_error": reason, "updated_at": utc_iso(now())}
                ),
                only_from={QUEUED},
            )
            count("SubmitRetried", job_type=record.job_type)
            raise error  # the record fails; SQS delivers it again
        final = self.context.settle(record, SUBMIT_FAILED, reason)
        count("SubmitFailed", job_type=record.job_type)
        self.context.announce(final)
        raise error  # fail this last receive too, so SQS moves the message to the DLQ


def _sent_again(rejected: JobRecord, request: JobRequest) -> bool:
    """The very request that was rejected, sent again unchanged: a duplicate, not a new one."""
    return (rejected.request_id, rejected.body_hash) == (request.rid, request.body_hash)
