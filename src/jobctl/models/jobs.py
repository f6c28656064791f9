"""What the controller knows about a job: SageMaker's view of it, and the ledger record."""

from __future__ import annotations

import base64
import re
import zlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jobctl.models.kinds import JobType
from jobctl.models.requests import DEFAULT_SHARE, RetryPolicy

# The ledger's `status` values (docs/contract.md §4): SageMaker's primary statuses and our own.
QUEUED = "Queued"
IN_PROGRESS = "InProgress"
STOPPING = "Stopping"
COMPLETED = "Completed"
FAILED = "Failed"
STOPPED = "Stopped"
REJECTED = "Rejected"
SUBMIT_FAILED = "SubmitFailed"
STATUSES = (QUEUED, IN_PROGRESS, STOPPING, COMPLETED, FAILED, STOPPED, REJECTED, SUBMIT_FAILED)


class Phase(StrEnum):
    """Where a job is in its lifecycle (``logic.lifecycle`` moves it; README, "A job's
    lifecycle"). The ledger's ``status`` is what users read; the phase is what the
    controller acts on, and the one thing that says what moves the job on next."""

    SUBMITTING = "submitting"  # Queued: its own message creates it (no budget applies)
    WAITING = "waiting"  # Queued: in the waiting room, until a pass admits it
    ADMITTED = "admitted"  # Queued: holds its room; its wake-up creates it
    RUNNING = "running"  # SageMaker has it (InProgress, or still finishing its work)
    STOPPING = "stopping"
    BETWEEN_TRIES = "between-tries"  # Queued: a try failed and earns another (§9)
    COMPLETED = "completed"
    FAILED = "failed"
    STOPPED = "stopped"
    CANCELLED = "cancelled"  # Stopped before SageMaker had it
    REJECTED = "rejected"
    SUBMIT_FAILED = "submit-failed"


SETTLED_PHASES = frozenset(
    {
        Phase.COMPLETED,
        Phase.FAILED,
        Phase.STOPPED,
        Phase.CANCELLED,
        Phase.REJECTED,
        Phase.SUBMIT_FAILED,
    }
)
# SageMaker runs a job of the record: the sweep follows it (the in-flight index).
FLYING_PHASES = frozenset({Phase.RUNNING, Phase.STOPPING})
# Phases moved on by a message the sweep repairs when it is lost (the repair index).
REPAIRED_PHASES = frozenset({Phase.ADMITTED, Phase.BETWEEN_TRIES})


def pack_request(body: str) -> str:
    """A request body as the ledger keeps it while the job waits: compressed (an item
    holds 400 KB at most; a request's spec can be long), as base64 text."""
    return base64.b64encode(zlib.compress(body.encode(), 6)).decode()


def unpack_request(packed: str) -> str:
    return zlib.decompress(base64.b64decode(packed)).decode()


def utc_iso(moment: datetime) -> str:
    """ISO-8601 UTC with millisecond precision, so stored timestamps sort as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Usage(BaseModel):
    """What a training job used (docs/contract.md §9), from DescribeTrainingJob; a record's is
    the sum over its tries. ``billable_instance_seconds`` is what SageMaker bills
    (BillableTimeInSeconds times instances); with managed spot, billable time is below training
    time, and the difference is the saving."""

    model_config = ConfigDict(frozen=True)

    instance_type: str | None = None
    instance_count: int = 0
    training_seconds: int = 0
    billable_seconds: int = 0
    billable_instance_seconds: int = 0
    spot: bool = False
    spot_savings_percent: float = 0.0
    # Instances per type (an instance-group cluster mixes types), for pricing.
    instances: dict[str, int] = Field(default_factory=dict)

    @property
    def spot_saved_instance_seconds(self) -> int:
        """What managed spot saved: the training time not billed, on every instance."""
        return max(0, self.training_seconds - self.billable_seconds) * self.instance_count


class Attempt(BaseModel):
    """One try of a job (docs/contract.md §9): each is its own SageMaker job."""

    sagemaker_job_name: str
    job_arn: str | None = None
    status: str
    failure_reason: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    usage: Usage | None = None
    # The job whose quota's room this try was stopped to give back (docs/contract.md §10).
    preempted_by: str | None = None


class Observation(BaseModel):
    """One reading of a job's state from SageMaker (a Describe answer or a List summary)."""

    model_config = ConfigDict(frozen=True)

    job_name: str
    job_type: JobType
    job_arn: str | None = None
    primary_status: str
    secondary_status: str | None = None
    failure_reason: str | None = None
    modified_at: datetime
    created_at: datetime | None = None
    ended_at: datetime | None = None
    # Only a Describe answer carries these; a List summary leaves them None.
    environment: dict[str, str] | None = None
    outputs: dict[str, Any] | None = None
    partial_failures: list[str] = Field(default_factory=list)
    max_runtime_seconds: int | None = None
    # Only a settled training job's Describe answer carries what it used.
    usage: Usage | None = None
    # Only a state-change event carries the job's tags (a map, in the event's detail).
    tags: dict[str, str] | None = None


class HistoryEntry(BaseModel):
    status: str
    secondary_status: str | None = None
    at: str


class JobRecord(BaseModel):
    """A job's row in the ledger (docs/contract.md §4), plus the controller's bookkeeping.

    Only ``logic.lifecycle`` changes ``phase``. The flags DynamoDB's sparse indexes need
    (``waiting``, ``notice_pending``, ``in_flight``, ``repair``) are derived from it by
    the ledger adapter, never stored by hand."""

    model_config = ConfigDict(extra="ignore")

    job_name: str
    job_type: str  # a JobType, or "Unknown" for a rejection whose type was unreadable
    status: str
    # A new record's phase, when none is given, is derived from its status (a Queued one
    # is submitting, a Rejected one rejected), as for records written before phases.
    phase: Phase = Phase.SUBMITTING
    sagemaker_status: str | None = None
    secondary_status: str | None = None
    failure_reason: str | None = None
    warnings: list[str] = Field(default_factory=list)
    job_arn: str | None = None
    request_id: str | None = None
    created_at: str
    updated_at: str
    history: list[HistoryEntry] = Field(default_factory=list)
    environment: dict[str, str] | None = None
    outputs: dict[str, Any] | None = None
    notified_at: str | None = None
    # Tries (docs/contract.md §9): the current one (1-based), and every one so far; what
    # they used, summed, and its estimated cost (INSTANCE_PRICES).
    attempt: int = 1
    attempts: list[Attempt] = Field(default_factory=list)
    usage: Usage | None = None
    estimated_cost_usd: float | None = None

    # Bookkeeping, not part of the contract:
    # The current try's SageMaker job name (None: the first try's, which is job_name), and
    # how failed tries are retried (None: they are not).
    sagemaker_job_name: str | None = None
    retry: RetryPolicy | None = None
    # optimistic-concurrency counter; every write is conditional on it.
    version: int = 0
    # SageMaker's LastModifiedTime of the newest observation recorded: older ones are stale.
    sagemaker_modified_at: str | None = None
    # When a publisher claimed the notice; another may take over after a lease.
    notice_claimed_at: str | None = None
    # The last transient error while submitting (why a job is still Queued).
    last_error: str | None = None
    # How the job competes for capacity (docs/contract.md §8), and what it waits for.
    priority: int | None = None
    share: str | None = None
    # Preemption (docs/contract.md §10): whether the job may be stopped to give room back,
    # whether it resumes from checkpoints (its spec has a CheckpointConfig), how often it
    # was preempted, and the job its current try is being stopped for.
    preemptible: bool = True
    checkpoint: bool = False
    preemptions: int = 0
    preempted_by: str | None = None
    # Whether its current try may be preempted: admitted preemptible into room quotas
    # govern, preempted fewer than MAX_PREEMPTIONS times.
    preemptable: bool = False
    waiting_for: str | None = None
    # When a waiting job holding a reservation is expected to start, at the latest
    # (docs/contract.md §8: an upper bound while running jobs end by their limits).
    expected_start: str | None = None
    # Bookkeeping of the waiting room: what the job runs on (instances per type); the
    # room it holds in each budget once admitted, and since when; and the request itself
    # (compressed), to send to the queue again when it is admitted. Once SageMaker has
    # the job, the request is dropped.
    instances: dict[str, int] = Field(default_factory=dict)
    holds: dict[str, int] = Field(default_factory=dict)
    admitted_at: str | None = None
    request_body: str | None = None  # see pack_request
    # The wake-ups sent for this record (each names its number, so the controller's own
    # stale messages are told from a user's redrive), and the one a give-up happened on.
    wakes: int = 0
    given_up_wake: int | None = None
    # Powertools/SQS bookkeeping a user may want when looking at a rejection.
    message_id: str | None = None
    # A hash of the accepted request's job name and spec (JobRequest.body_hash).
    body_hash: str | None = None
    max_runtime_seconds: int | None = None
    # When SageMaker accepted the job (the in-flight index's sort key).
    submitted_at: str | None = None
    # When the sweep last described the job because it is older than the List window.
    checked_at: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _phase_of_older_records(cls, data: Any) -> Any:
        # Records written before phases were stored carry flags instead (README, "Upgrading").
        if isinstance(data, dict) and "phase" not in data and "status" in data:
            data = {**data, "phase": _legacy_phase(data)}
        return data

    @property
    def key(self) -> tuple[str, str]:
        return (self.job_name, self.job_type)

    @property
    def settled(self) -> bool:
        return self.phase in SETTLED_PHASES

    @property
    def waiting(self) -> bool:
        """In the waiting room (its index is the sparse ``waiting`` attribute)."""
        return self.phase == Phase.WAITING

    @property
    def notice_pending(self) -> bool:
        """Settled and not announced yet (the sparse ``notice_pending`` attribute)."""
        return self.settled and self.notified_at is None

    @property
    def in_flight(self) -> str | None:
        """The job type while SageMaker runs a job of the record that has not settled
        (the sparse ``in_flight`` attribute: the sweep's in-flight index)."""
        return self.job_type if self.phase in FLYING_PHASES and self.job_arn else None

    @property
    def repair(self) -> str | None:
        """The phase, while it is one the sweep repairs when its message is lost (the
        sparse ``repair`` attribute: the repair index, by ``updated_at``)."""
        return self.phase.value if self.phase in REPAIRED_PHASES else None

    @property
    def sagemaker_name(self) -> str:
        """The name of the SageMaker job the record's current try is (or will be)."""
        return self.sagemaker_job_name or self.job_name


def _legacy_phase(data: dict[str, Any]) -> Phase:
    status, arn = data.get("status"), data.get("job_arn")
    secondary = str(data.get("secondary_status") or "")
    first_word = re.match(r"[A-Z]?[a-z]*", secondary)
    working = bool(first_word and first_word.group().endswith("ing"))
    if status == QUEUED:
        if data.get("waiting"):
            return Phase.WAITING
        return Phase.ADMITTED if data.get("admitted_at") else Phase.SUBMITTING
    settled = {COMPLETED: Phase.COMPLETED, FAILED: Phase.FAILED, STOPPED: Phase.STOPPED}
    if status in settled:
        if status == STOPPED and not arn:
            return Phase.CANCELLED
        if not working:
            return settled[status]
    fixed = {REJECTED: Phase.REJECTED, SUBMIT_FAILED: Phase.SUBMIT_FAILED}
    if status in fixed:
        return fixed[status]
    return Phase.STOPPING if status == STOPPING or secondary == "Stopping" else Phase.RUNNING


class InFlight(BaseModel):
    """What the in-flight index holds of a job SageMaker is running for us: enough for the
    sweep to tell a changed job from an unchanged one without reading its record."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_name: str
    job_type: str
    submitted_at: str
    job_arn: str | None = None
    status: str
    sagemaker_status: str | None = None
    secondary_status: str | None = None
    sagemaker_modified_at: str | None = None
    max_runtime_seconds: int | None = None
    checked_at: str | None = None
    sagemaker_job_name: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.job_name, self.job_type)

    @property
    def sagemaker_name(self) -> str:
        return self.sagemaker_job_name or self.job_name


class Waiting(BaseModel):
    """What the waiting room's index holds of a job waiting for capacity: enough to plan
    the order of admissions without reading the records."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    job_name: str
    job_type: str
    created_at: str
    priority: int | None = None
    share: str | None = None
    instances: dict[str, int] = Field(default_factory=dict)
    waiting_for: str | None = None
    max_runtime_seconds: int | None = None
    expected_start: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.job_name, self.job_type)


_WHERE_THEY_APPLY = ("attempts", "usage", "estimated_cost_usd")


class Notice(BaseModel):
    """The completion notice published to SNS (docs/contract.md §5)."""

    job_name: str
    job_type: str
    status: str
    secondary_status: str | None
    failure_reason: str | None
    warnings: list[str]
    job_arn: str | None
    request_id: str | None
    outputs: dict[str, Any] | None
    updated_at: str
    # Where they apply (docs/contract.md §5, §9): how many tries were made, and what they
    # used; left out of the message otherwise.
    attempts: int | None = None
    usage: Usage | None = None
    estimated_cost_usd: float | None = None
    # The share the job counted against: a message attribute (subscribers filter on it),
    # not part of the message.
    share: str = Field(default=DEFAULT_SHARE, exclude=True)

    @classmethod
    def of(cls, record: JobRecord) -> Notice:
        fields = record.model_dump(include=set(cls.model_fields) - {"attempts", "share"})
        tried = len(record.attempts) or None
        return cls.model_validate(
            {**fields, "attempts": tried, "share": record.share or DEFAULT_SHARE}
        )

    def message(self) -> str:
        """The notice as its JSON message: the fields of §9 only where they apply."""
        unset = {name for name in _WHERE_THEY_APPLY if getattr(self, name) is None}
        return self.model_dump_json(exclude=unset)

    @property
    def subject(self) -> str:
        """The email subject: what happened to which job (SNS allows 100 characters)."""
        return f"jobctl: {self.job_name} {self.status}"[:100]

    def readable(self) -> str:
        """The notice as a person reads it (the email form; machines get ``message``)."""
        lines = [f"{self.job_type} {self.job_name}: {self.status}"]
        details = {
            "secondary status": self.secondary_status,
            "reason": self.failure_reason,
            "warnings": "; ".join(self.warnings) or None,
            "tries": None if self.attempts is None else str(self.attempts),
            "estimated cost": None
            if self.estimated_cost_usd is None
            else f"${self.estimated_cost_usd:.2f}",
            "SageMaker job": self.job_arn,
            "share": self.share,
            "at": self.updated_at,
        }
        lines += [f"{name}: {value}" for name, value in details.items() if value]
        lines += ["", f"jobctl get {self.job_name} --type {self.job_type}"]
        return "\n".join(lines) + "\n"

    @property
    def dedup_id(self) -> str:
        """Stable per job and outcome, so a subscriber can drop a rare duplicate."""
        return f"{self.job_type}/{self.job_name}/{self.status}"
