"""What submitting, stopping and rejecting a request share."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from jobctl.logic import states
from jobctl.logic.admission import Admission
from jobctl.logic.ports import Ledger, NoticePublisher, SageMakerGateway
from jobctl.logic.records import announce, revise
from jobctl.logic.requests import is_ours
from jobctl.models.jobs import QUEUED, JobRecord
from jobctl.models.kinds import JobType


@dataclass(frozen=True)
class Outcome:
    """What became of a request; stored by Powertools idempotency, so no secrets in it."""

    job_name: str
    job_type: str
    status: str

    @classmethod
    def of(cls, record: JobRecord) -> Outcome:
        return cls(record.job_name, record.job_type, record.status)


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
        self,
        record: JobRecord,
        change: Callable[[JobRecord], JobRecord | None],
        only_from: Collection[str],
    ) -> JobRecord:
        """``change`` the stored record, if its status is still one of ``only_from``."""
        return revise(self.ledger, record.key, change, record, only_from=only_from)

    def settle(self, record: JobRecord, status: str, reason: str) -> JobRecord:
        """A Queued record settled by the controller itself: Rejected, SubmitFailed, or
        Stopped before it was submitted."""
        settled = self.revise(
            record,
            lambda current: states.settle_by_controller(current, status, reason, self.now()),
            only_from={QUEUED},
        )
        if self.admission is not None and states.record_is_settled(settled):
            self.admission.release(settled)  # its room, or its place in the waiting room
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
