"""The small interfaces the logic needs from the outside world (adapters implement them)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from jobctl.logic.fair_share import BudgetItem, Holding
from jobctl.models.jobs import InFlight, JobRecord, Notice, Observation, Phase, Waiting
from jobctl.models.kinds import JobType


class Clock(Protocol):
    """Time, and a way to wait: the wall clock in Lambda, a simulated one beside the
    simulated SageMaker (so pacing spends simulated time, not the test's)."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class ListPage:
    """One page of a List call, newest job first: summaries of every job on the page, and
    where the next page starts (None: this was the last)."""

    summaries: list[Observation]
    next_token: str | None


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

    def list_newest(self, job_type: JobType, token: str | None) -> ListPage:
        """A page of the account's jobs of this type, newest first (every job, ours and
        others': SageMaker filters a page only after taking it). Raises ExpiredCursor if
        SageMaker no longer accepts ``token``."""


class Ledger(Protocol):
    def get(self, job_name: str, job_type: str) -> JobRecord | None: ...

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], JobRecord]: ...

    def insert(self, record: JobRecord) -> JobRecord:
        """Write a new record. Raises ConcurrentUpdate if the key is taken."""

    def update(self, record: JobRecord, read: JobRecord) -> JobRecord:
        """Write ``record`` in place of ``read`` if nobody wrote since it was read; return it
        with its new version. A record that joins the waiting room counts in it (a new
        request within its bounds); one that leaves, leaves its count.

        Raises ConcurrentUpdate if the record changed, WaitingRoomFull if a new request
        would go beyond the waiting room's bounds.
        """

    def pending_notices(self) -> Iterator[JobRecord]:
        """Settled records whose notice is not sent yet."""

    def in_flight(self, job_type: str) -> list[InFlight]:
        """Every job of this type SageMaker runs for us that has not settled, oldest first."""

    def waiting_shares(self) -> dict[str, int]:
        """How many jobs wait in each share's queue (0: emptied, not forgotten yet)."""

    def forget_share(self, share: str) -> None:
        """Drop an emptied share from the waiting room's counts (if still empty)."""

    def queue_page(
        self, share: str, limit: int, after: str | None = None
    ) -> tuple[list[Waiting], str | None]:
        """The first ``limit`` jobs of the share's queue after the rank ``after`` (higher
        priority first, then the oldest; an index: a moment behind the records), and the
        rank to go on from (None: no more)."""

    def waiting(self) -> list[Waiting]:
        """Every job in the waiting room (an index: a moment behind the records)."""

    def recount_waiting_room(self, now: str, quiet_since: str) -> int:
        """Count each share's queue again and correct the waiting room's counts that
        differ, for the shares no job joined or left since ``quiet_since`` (a damaged
        count is written anew); how many were corrected."""

    def requeue_legacy(self) -> int:
        """Move jobs left in the waiting room's index as it was before queue-index into
        their shares' queues (README, "Upgrading"); how many moved."""

    def in_repair(self, phase: Phase, before: str | None = None) -> list[JobRecord]:
        """The records now in ``phase`` (one of ``REPAIRED_PHASES``) last written before
        ``before`` (at any time, if None)."""


class CapacityLedger(Protocol):
    """The budgets' room: per budget, how much is taken, by which jobs (holders), and each
    share's past use."""

    def items(self, keys: Iterable[str]) -> dict[str, BudgetItem]:
        """Raises UnreadableBudget if one is damaged."""

    def admit(
        self,
        holder: str,
        holdings: Mapping[str, Holding],
        limits: Mapping[str, int],
        record: JobRecord,
    ) -> JobRecord:
        """Take each holding in its budget (within ``limits``) and write ``record`` (if
        nobody wrote it since it was read), all or nothing; return the record as written.

        Raises NoRoom if a budget is too full, ConcurrentUpdate if the record changed or
        the holder is in a budget already."""

    def mark_preempted(self, holder: str, keys: Iterable[str], record: JobRecord) -> JobRecord:
        """Mark ``holder``'s room in each budget as on its way back (a preemption chose it)
        and write ``record`` (if nobody wrote it since it was read), all or nothing.
        Raises ConcurrentUpdate if the record changed or a budget no longer names it."""

    def release(
        self,
        holder: str,
        holds: Mapping[str, int],
        at: datetime | None = None,
        half_life: float = 0,
    ) -> None:
        """Give back what ``holder`` took in each budget (what it no longer holds is fine),
        folding its use into its share's past use as of ``at``."""

    def holders(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        """Per budget, each holder and the room it takes."""

    def read(self, keys: Iterable[str]) -> dict[str, BudgetItem | None]:
        """Each budget's item as stored; None for one that cannot be read (damaged)."""

    def rebuild(self, key: str, holders: Mapping[str, Holding], read_used: int | None) -> None:
        """Write the budget's holders anew, with their sum as its count, if its count is
        still ``read_used`` (None: the item was damaged; it is replaced). Raises
        ConcurrentUpdate if the count changed meanwhile."""


class Wakeup(Protocol):
    def send(self, body: str) -> None:
        """Put an admitted job's request on the jobs queue again. Raises RetryableError."""


class NoticePublisher(Protocol):
    def publish(self, notice: Notice) -> None: ...


class SweepState(Protocol):
    """What one sweep leaves the next: who is sweeping, and where an unfinished scan of
    SageMaker's List pages stopped."""

    def acquire_lease(self, owner: str, now: datetime, until: datetime) -> bool:
        """Become the one sweep running, until ``until``; False if another one is."""

    def release_lease(self, owner: str) -> None: ...

    def cursor(self, job_type: str) -> str | None:
        """Where the unfinished scan of this job type goes on (a List NextToken)."""

    def save_cursor(self, job_type: str, token: str | None) -> None: ...
