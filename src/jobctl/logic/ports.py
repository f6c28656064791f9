"""The small interfaces the logic needs from the outside world (adapters implement them)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Protocol

from jobctl.logic.admission import Budget
from jobctl.models.jobs import JobRecord, Notice, Observation, RuntimeLimit
from jobctl.models.requests import JobType


class SageMakerGateway(Protocol):
    def create_job(self, job_type: JobType, params: dict[str, Any]) -> str:
        """Create the job and return its ARN.

        Raises JobAlreadyExists, InvalidRequest or RetryableError.
        """

    def describe_job(self, job_type: JobType, job_name: str) -> Observation:
        """Raises JobNotFound, RetryableError."""

    def job_tags(self, job_arn: str) -> dict[str, str]: ...

    def stop_job(self, job_type: JobType, job_name: str) -> None:
        """Ask SageMaker to stop the job; a job that is no longer running is not an error."""

    def changed_jobs(self, job_type: JobType, since: datetime) -> Iterator[Observation]:
        """Summaries (``complete=False``) of the jobs modified after ``since``."""


class Ledger(Protocol):
    def get(self, job_name: str, job_type: str) -> JobRecord | None: ...

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], JobRecord]: ...

    def insert(self, record: JobRecord) -> JobRecord:
        """Write a new record. Raises ConcurrentUpdate if the key is taken."""

    def update(self, record: JobRecord) -> JobRecord:
        """Write ``record`` if nobody wrote since it was read; return it with its new version.

        Raises ConcurrentUpdate otherwise.
        """

    def pending_notices(self) -> Iterator[JobRecord]:
        """Settled records whose notice is not sent yet."""

    def runtime_limits(self, status: str) -> Iterator[RuntimeLimit]: ...


class CapacityLedger(Protocol):
    def acquire(self, holder: str, budgets: list[Budget]) -> list[Budget]:
        """Take a slot in every budget, or in none; return the budgets that were full."""

    def release(self, holder: str, keys: Iterable[str]) -> None: ...

    def holders(self, keys: Iterable[str]) -> dict[str, set[str]]: ...


class Requeue(Protocol):
    def send_later(self, body: str, delay_seconds: int) -> None:
        """Put a request back on the jobs queue, visible after ``delay_seconds``."""


class NoticePublisher(Protocol):
    def publish(self, notice: Notice) -> None: ...


class SweepState(Protocol):
    def watermark(self) -> datetime | None: ...

    def advance_watermark(self, moment: datetime) -> None: ...


class Clock(Protocol):
    def __call__(self) -> datetime: ...
