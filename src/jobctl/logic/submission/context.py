"""What submitting, stopping and rejecting a request share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from jobctl.logic import lifecycle
from jobctl.logic.admission import Admission
from jobctl.logic.ports import Ledger, NoticePublisher, SageMakerGateway
from jobctl.logic.records import announce, revise, revise_with_steps
from jobctl.logic.requests import is_ours
from jobctl.models.jobs import JobRecord, Phase
from jobctl.models.kinds import JobType


@dataclass(frozen=True)
class Outcome:
    """What became of a request; stored by Powertools idempotency, so no secrets in it.

    ``final`` says whether a later delivery of the same request is answered with it. Not
    when the request may still act: its job waits (its wake-up is the same request), or
    was rejected or given up (a corrected or redriven request tries again)."""

    job_name: str
    job_type: str
    status: str
    final: bool = True

    @classmethod
    def of(cls, record: JobRecord, final: bool | None = None) -> Outcome:
        if final is None:
            final = record.phase not in _NOT_FINAL
        return cls(record.job_name, record.job_type, record.status, final)


# A request whose job is in one of these may act again when it is delivered again.
_NOT_FINAL = frozenset(
    {
        Phase.SUBMITTING,
        Phase.WAITING,
        Phase.ADMITTED,
        Phase.BETWEEN_TRIES,
        Phase.REJECTED,
        Phase.SUBMIT_FAILED,
    }
)


@dataclass(frozen=True)
class Delivery:
    """The SQS facts about the message a request came in, and its body (kept while the job
    waits, to be sent again when it is admitted)."""

    message_id: str
    receive_count: int
    body: str


@dataclass(frozen=True)
class Context:
    sagemaker: SageMakerGateway
    ledger: Ledger
    publisher: NoticePublisher
    now: Callable[[], datetime]
    notice_lease: timedelta
    deployment_id: str
    admission: Admission | None = None

    def announce(self, record: JobRecord) -> JobRecord:
        return announce(self.ledger, self.publisher, record, self.now, self.notice_lease)

    def revise(
        self, record: JobRecord, change: Callable[[JobRecord], JobRecord | None]
    ) -> JobRecord:
        """``change`` the stored record (a move the lifecycle no longer allows from its
        phase now changes nothing)."""
        return revise(self.ledger, record.key, change, record)

    def settle(self, record: JobRecord, status: str, reason: str, **changes: Any) -> JobRecord:
        """A job settled by the controller itself before SageMaker had it: Rejected,
        SubmitFailed, or Stopped (a cancel)."""
        settled, steps = revise_with_steps(
            self.ledger,
            record.key,
            lambda current: lifecycle.settle_by_controller(
                current, status, reason, self.now(), **changes
            ),
            record,
        )
        if steps.settled and self.admission is not None:
            # Its room, or its place in the waiting room, goes to the other jobs.
            self.admission.release(settled, steps.release)
        return settled

    def created_by_us(self, job_arn: str, record: JobRecord) -> bool:
        """Whether the job's tags say this deployment created it for the record's request."""
        tags = self.sagemaker.job_tags(job_arn)
        return record.request_id is not None and is_ours(
            tags, self.deployment_id, record.request_id
        )


def job_type(record: JobRecord) -> JobType:
    # The records that reach SageMaker are submitted ones: their type is a JobType.
    return cast("JobType", record.job_type)
