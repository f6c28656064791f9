"""Submitting a job (docs/contract.md §3, §8): the request's record is made Queued, its job
is admitted to the capacity budgets, created in SageMaker, and the record takes it — or
the job waits in the waiting room for room to free, is retried, given up, or rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from jobctl.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    JobAlreadyExists,
    JobctlError,
    JobNotFound,
    RecordMissing,
    RetryableError,
    ServiceRefused,
    UnreadableRecord,
    WaitingRoomFull,
)
from jobctl.logic import lifecycle
from jobctl.logic.requests import create_params, max_runtime_seconds
from jobctl.logic.scheduling import Budgets, instances_of
from jobctl.logic.submission.context import Context, Delivery, Outcome, job_type
from jobctl.logic.submission.reject import UNREADABLE, Rejections
from jobctl.logic.submission.stop import stop_untracked
from jobctl.models.jobs import (
    QUEUED,
    SUBMIT_FAILED,
    HistoryEntry,
    JobRecord,
    Phase,
    pack_request,
    utc_iso,
)
from jobctl.models.kinds import KINDS
from jobctl.models.requests import NO_RETRY, JobRequest, RetryPolicy
from jobctl.observability import (
    MetricUnit,
    count,
    logger,
    report_unreadable,
    scrub,
    secret_values,
)

REUSED_REQUEST_ID = "request_id: already used for a different request"
NAME_TAKEN = "job_name: already used by another request"
FOREIGN_JOB = "job_name: a SageMaker job of this name exists and is not jobctl's (not this stack's)"
# Tries at giving a job up on its last delivery (each reads the record afresh).
_GIVE_UP_TRIES = 3
# A waiting job's record keeps its request, compressed; an item holds 400 KB at most.
MAX_KEPT_REQUEST = 300_000
TOO_LARGE_TO_WAIT = (
    "body: too large to wait for capacity (the ledger keeps a waiting request, compressed, "
    "up to 300 KB)"
)


@dataclass(frozen=True)
class Submit:
    context: Context
    rejections: Rejections
    default_role_arn: str
    permitted_roles: frozenset[str]
    max_receive_count: int
    budgets: Budgets = field(default_factory=Budgets)
    # How failed jobs are tried again when a request does not say (DEFAULT_RETRY).
    default_retry: RetryPolicy = NO_RETRY
    # SHARES: if set, the only shares a request may name.
    known_shares: frozenset[str] = frozenset()

    def __call__(self, request: JobRequest, delivery: Delivery) -> Outcome:
        """Submit the request's job; any error, expected or not, on the queue's last
        receive gives the job up (SubmitFailed, one notice) before the message fails for
        good (docs/contract.md §6): no record is left Queued with nothing to move it on."""
        try:
            return self._submit(request, delivery)
        except Exception as exc:
            if delivery.receive_count >= self.max_receive_count:
                self.give_up(request, delivery, exc)
            raise

    def _submit(self, request: JobRequest, delivery: Delivery) -> Outcome:
        try:
            params = create_params(
                request, self.default_role_arn, self.permitted_roles, self.context.deployment_id
            )
        except InvalidRequest as exc:
            return self.rejections.reject(request, exc.problems, delivery)
        instances = instances_of(params)
        never = self._never_admitted(request, instances)
        if never:
            return self.rejections.reject(request, never, delivery)
        retry = request.retry or self.default_retry
        waits = self._may_wait(instances, request.job_share)
        # A job that may wait, or be tried again, keeps its request in its record meanwhile.
        retried = retry.attempts > 1 and self.context.admission is not None
        kept = pack_request(delivery.body) if waits or retried else None
        if kept is not None and len(kept) > MAX_KEPT_REQUEST:
            return self.rejections.reject(request, [TOO_LARGE_TO_WAIT], delivery)
        try:
            record = self._queued_record(
                request, delivery, instances, kept, waits, retry if retried else None
            )
        except UnreadableRecord as unreadable:
            report_unreadable(unreadable)
            return self.rejections.reject(request, [UNREADABLE], delivery, own_key=False)
        except WaitingRoomFull as full:
            # Keyed by its message: the name stays free for the same request sent later.
            count("WaitingRoomFull")
            return self.rejections.reject(request, [str(full)], delivery, own_key=False)
        if isinstance(record, str):
            return self.rejections.reject(request, [record], delivery, own_key=False)
        if record.phase not in (Phase.SUBMITTING, Phase.WAITING, Phase.ADMITTED):
            if lifecycle.was_cancelled(record):
                # The stop came first; an earlier create may still have started the job.
                stop_untracked(self.context, record)
            logger.info("request already acted on", extra={"status": record.status})
            return Outcome.of(record)
        if waits and record.phase != Phase.ADMITTED:
            assert kept is not None  # noqa: S101 - a job that may wait keeps its request
            try:
                record = self._admitted_or_waiting(record, instances, kept)
            except WaitingRoomFull as full:
                count("WaitingRoomFull")
                return self.rejections.reject_own(record, [str(full)])
            if record.phase != Phase.ADMITTED:
                return Outcome.of(record)  # it waits; a pass wakes it when room frees
        # The record decides which try is created (a retry's job has a name of its own).
        params[KINDS[request.job_type].name_member] = record.sagemaker_name
        try:
            job_arn = self.context.sagemaker.create_job(request.job_type, params)
        except JobAlreadyExists:
            adopted = self._adoptable_arn(record)
            if adopted is None:
                return self.rejections.reject_own(record, [FOREIGN_JOB])
            job_arn = adopted
        except InvalidRequest as exc:
            return self.rejections.reject_own(record, exc.problems)
        except (RetryableError, ServiceRefused) as exc:
            return self._failed(request, record, exc, delivery)
        return Outcome.of(self._created(record, job_arn))

    def _never_admitted(self, request: JobRequest, instances: dict[str, int]) -> list[str]:
        """Why the job could never be admitted: a share this deployment does not know
        (SHARES), or more than a budget allows."""
        if self.known_shares and request.job_share not in self.known_shares:
            known = ", ".join(sorted(self.known_shares))
            return [f"share: not one of this deployment's shares ({known})"]
        return self.budgets.never_fits(instances, request.job_share)

    def _queued_record(
        self,
        request: JobRequest,
        delivery: Delivery,
        instances: dict[str, int],
        kept: str | None,
        waits: bool,
        retry: RetryPolicy | None,
    ) -> JobRecord | str:
        """The request's record: new, from an earlier delivery, or taking over a rejection
        (which uses nothing up); else the problem that keeps the request from it."""
        at = utc_iso(self.context.now())
        # A job that may wait joins the waiting room at once (a pass may admit it straight
        # away), with its request, to be sent again when it is admitted.
        fresh = lifecycle.start(self._fresh(request, delivery, instances, kept, retry), waits)
        ledger = self.context.ledger
        try:
            return ledger.insert(fresh)
        except ConcurrentUpdate:
            pass
        existing = ledger.get(request.name, request.job_type)
        if existing is None:
            raise RetryableError(f"ledger record {request.name} was there a moment ago")
        if existing.phase == Phase.REJECTED and not _sent_again(existing, request):
            # The same name, corrected or from another request: handled as new.
            return self.context.revise(
                existing, lambda current: lifecycle.take_over(current, fresh)
            )
        if existing.request_id != request.rid:
            return NAME_TAKEN
        if existing.body_hash not in (None, request.body_hash):
            return REUSED_REQUEST_ID  # even after idempotency's record has expired
        if existing.phase == Phase.SUBMIT_FAILED:
            if request.wake is not None and request.wake != existing.given_up_wake:
                # The controller's own stale wake-up, not the user's redrive (§6).
                logger.info("a stale wake-up of a job given up: ignored")
                return existing
            # A redriven message: try again, and announce the new outcome in its turn.
            return self.context.revise(existing, lambda current: lifecycle.requeue(current, at))
        return existing

    def _fresh(
        self,
        request: JobRequest,
        delivery: Delivery,
        instances: dict[str, int],
        kept: str | None,
        retry: RetryPolicy | None,
    ) -> JobRecord:
        at = utc_iso(self.context.now())
        return JobRecord(
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
            priority=request.job_priority,
            share=request.job_share,
            preemptible=request.preemptible,
            checkpoint=bool((request.spec or {}).get("CheckpointConfig")),
            instances=instances,
            request_body=kept,
            retry=retry,
        )

    def _may_wait(self, instances: dict[str, int], share: str) -> bool:
        """Whether a budget applies to the job, so it is admitted before it is created."""
        return self.context.admission is not None and bool(self.budgets.needs(instances, share))

    def _admitted_or_waiting(
        self, record: JobRecord, instances: dict[str, int], kept: str
    ) -> JobRecord:
        """The job joins the waiting room (if it is not there yet) and a pass runs: it is
        admitted now if it may start, else it waits, saying what for. A pass that fails
        (a budget's item damaged, DynamoDB throttling) leaves the job waiting, safe in the
        ledger: the next pass, at the latest the sweep's, admits it."""
        admission = self.context.admission
        assert admission is not None  # noqa: S101 - checked by _may_wait
        at = utc_iso(self.context.now())
        record = self.context.revise(
            record,
            lambda current: (
                lifecycle.join(current, at, kept, instances)
                if current.phase == Phase.SUBMITTING
                else None
            ),
        )
        try:
            place = admission.run(joining=record).place_of(record.key)
        except JobctlError as exc:
            count("PassesFailed")
            logger.warning("no pass now: the job waits for the next", extra={"error": str(exc)})
            place = None
        current = self.context.ledger.get(*record.key)
        if current is None:
            raise RecordMissing(*record.key)
        if current.waiting and place is not None:
            current = admission.note_wait(current, place.waits_for, admission.expected_start(place))
        if current.waiting:
            count("JobsWaiting", job_type=record.job_type)
            logger.info("waiting for capacity", extra={"waiting_for": current.waiting_for})
        return current

    def _adoptable_arn(self, record: JobRecord) -> str | None:
        """The ARN of the existing job of this name if this deployment created it for this
        request (an earlier create whose answer was lost); None if it is someone else's."""
        observation = self.context.sagemaker.describe_job(job_type(record), record.sagemaker_name)
        if observation.job_arn and self.context.created_by_us(observation.job_arn, record):
            logger.info("adopting a job an earlier attempt created")
            return observation.job_arn
        return None

    def _created(self, record: JobRecord, job_arn: str) -> JobRecord:
        """The record takes its job: unless a reconciler got there first (an adoption from
        the job's event), or the job settled meanwhile (a stop cancelled it, a last
        delivery gave it up) — then the job is stopped too: nothing the controller created
        runs untracked."""
        at = utc_iso(self.context.now())
        updated = self.context.revise(record, lambda current: lifecycle.bind(current, job_arn, at))
        if updated.settled and updated.job_arn != job_arn:
            logger.info("the job settled before its create was recorded: stopping it")
            self.context.sagemaker.stop_job(job_type(record), record.sagemaker_name)
        count("JobsSubmitted", job_type=record.job_type)
        queued_for = self.context.now() - datetime.fromisoformat(record.created_at)
        count("TimeQueued", queued_for.total_seconds(), unit=MetricUnit.Seconds)
        return updated

    def _failed(
        self,
        request: JobRequest,
        record: JobRecord,
        error: RetryableError | ServiceRefused,
        delivery: Delivery,
    ) -> Outcome:
        """SageMaker did not take the job: the record waits for the next delivery (the
        message fails, so SQS delivers it again), saying why, or on the last one is given
        up. A refusal that retrying will not cure (a permission) goes the same way, so it
        ends in the DLQ with its record SubmitFailed, never Queued for good."""
        reason = f"SageMaker did not accept the job: {error}"
        if delivery.receive_count >= self.max_receive_count:
            self._settle_failed(record, reason, request.wake)
            raise error
        at = utc_iso(self.context.now())
        self.context.revise(record, lambda current: lifecycle.note_error(current, reason, at))
        count("SubmitRetried", job_type=record.job_type)
        raise error  # the record fails; SQS delivers it again

    def give_up(self, request: JobRequest, delivery: Delivery, error: Exception) -> None:
        """The last delivery failed, whatever the error, wherever it was raised: the job
        is SubmitFailed (one notice), unless an earlier create did start it (its answer
        lost): then the record takes that job. A request that never got its record gets
        one, SubmitFailed, so a redrive finds it. Nothing else will act on the request
        once SQS moves it to the dead-letter queue, so a transient failure here is tried
        again at once, a few times."""
        detail = scrub(str(error), secret_values(request.spec))
        reason = f"submitting failed ({type(error).__name__}: {detail})"
        for attempt in range(_GIVE_UP_TRIES):
            try:
                self._give_up_once(request, delivery, reason)
                return
            except JobctlError as failure:
                if attempt == _GIVE_UP_TRIES - 1:
                    logger.warning(
                        "could not give the job up on its last delivery: it is in the DLQ",
                        extra={"error": str(failure)},
                    )
                    count("GiveUpsFailed")

    def _give_up_once(self, request: JobRequest, delivery: Delivery, reason: str) -> None:
        record = self.context.ledger.get(request.name, request.job_type)
        if record is None:
            self._record_given_up(request, delivery, reason)
            return
        if record.phase not in (Phase.SUBMITTING, Phase.ADMITTED):
            return  # settled already, or waiting (its message is not the one failing)
        adopted = self._adoptable_arn_if_any(record)
        if adopted is not None:
            self._created(record, adopted)
            return
        self._settle_failed(record, reason, request.wake)

    def _record_given_up(self, request: JobRequest, delivery: Delivery, reason: str) -> None:
        fresh = self._fresh(request, delivery, {}, pack_request(delivery.body), request.retry)
        given_up = lifecycle.settle_by_controller(
            fresh, SUBMIT_FAILED, reason, self.context.now(), given_up_wake=request.wake
        )
        try:
            record = self.context.ledger.insert(given_up)
        except ConcurrentUpdate:
            # Made meanwhile (by another delivery, or by a try of ours whose answer was
            # lost): read it again and act on it.
            existing = self.context.ledger.get(request.name, request.job_type)
            if existing is None or existing.phase != Phase.SUBMIT_FAILED:
                raise RetryableError("the record appeared meanwhile: give up again") from None
            record = existing
        count("SubmitFailed", job_type=record.job_type)
        self.context.announce(record)  # a failure here leaves it to the sweep's notices

    def _settle_failed(self, record: JobRecord, reason: str, wake: int | None) -> None:
        final = self.context.settle(record, SUBMIT_FAILED, reason, given_up_wake=wake)
        count("SubmitFailed", job_type=record.job_type)
        self.context.announce(final)

    def _adoptable_arn_if_any(self, record: JobRecord) -> str | None:
        try:
            return self._adoptable_arn(record)
        except JobNotFound:
            return None


def _sent_again(rejected: JobRecord, request: JobRequest) -> bool:
    """The very request that was rejected, sent again unchanged: a duplicate, not a new one."""
    return (rejected.request_id, rejected.body_hash) == (request.rid, request.body_hash)
