"""How a job's ledger status may change (docs/contract.md §4, §6): the one authority.

``MOVES`` says which status may follow which; ``transition`` makes every change the
controller makes itself and refuses any other (``IllegalMove``: a bug), and
``apply_observation`` records what SageMaker says, through the same table. SageMaker's
moves go forward only: its ``LastModifiedTime`` orders observations, so one older than
what the ledger holds is stale, whatever order events arrive in. The controller's own
moves may go back to Queued: a redriven request tries again, and a rejection uses
nothing up. No AWS calls here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, cast

from jobctl.errors import IllegalMove
from jobctl.logic.retries import earns_another_try, try_name
from jobctl.logic.usage import estimated_cost, summed
from jobctl.models.jobs import (
    COMPLETED,
    FAILED,
    IN_PROGRESS,
    QUEUED,
    REJECTED,
    STOPPED,
    STOPPING,
    SUBMIT_FAILED,
    Attempt,
    HistoryEntry,
    JobRecord,
    Observation,
    utc_iso,
)
from jobctl.models.kinds import JobType

TERMINAL_PRIMARY = frozenset({COMPLETED, FAILED, STOPPED})
CONTROLLER_FINAL = frozenset({REJECTED, SUBMIT_FAILED})
_RANK = {
    QUEUED: 0,
    IN_PROGRESS: 1,
    STOPPING: 2,
    COMPLETED: 3,
    FAILED: 3,
    STOPPED: 3,
    REJECTED: 3,
    SUBMIT_FAILED: 3,
}
_FIRST_WORD = re.compile(r"[A-Z]?[a-z]*")

# Which status may follow which. An unknown (future) primary status of SageMaker's never
# becomes a record's status: the record keeps its last known one (and the unknown value
# in ``sagemaker_status``).
MOVES: dict[str, frozenset[str]] = {
    # The controller's: the job is created (its record takes it), rejected, given up
    # after its last delivery, or cancelled before it was submitted.
    QUEUED: frozenset({IN_PROGRESS, REJECTED, SUBMIT_FAILED, STOPPED}),
    SUBMIT_FAILED: frozenset({QUEUED}),  # a redriven message tries again
    REJECTED: frozenset({QUEUED, REJECTED}),  # a rejection uses nothing up
    # SageMaker's, as observed (a settled primary status changes only its secondary one,
    # as an AutoML job's reports do).
    IN_PROGRESS: frozenset({IN_PROGRESS, STOPPING, COMPLETED, FAILED, STOPPED}),
    STOPPING: frozenset({STOPPING, COMPLETED, FAILED, STOPPED}),
    COMPLETED: frozenset({COMPLETED}),
    # A failed try whose reason earns another (docs/contract.md §9) waits Queued for it.
    FAILED: frozenset({FAILED, QUEUED}),
    STOPPED: frozenset({STOPPED}),
}


_NO_PRICES: Mapping[str, float] = MappingProxyType({})


def may_move(current: str, to: str) -> bool:
    return to in MOVES.get(current, frozenset())


def _checked(current: str, to: str) -> str:
    if not may_move(current, to):
        raise IllegalMove(f"a record may not move from {current} to {to}")
    return to


def rank(status: str) -> int:
    # An unknown (future) primary status is kept verbatim and ranks as work in progress.
    return _RANK.get(status, _RANK[IN_PROGRESS])


def names_work_in_progress(secondary_status: str | None) -> bool:
    """``GeneratingExplainabilityReport``, ``Stopping``, ``DeployingModel``: first word in -ing."""
    if not secondary_status:
        return False
    first_word = _FIRST_WORD.match(secondary_status)
    return bool(first_word and first_word.group().endswith("ing"))


def is_settled(primary_status: str, secondary_status: str | None) -> bool:
    return primary_status in TERMINAL_PRIMARY and not names_work_in_progress(secondary_status)


def warnings_of(observation: Observation) -> list[str]:
    """A Completed job's settled ``*Error`` secondary status is a warning, not a failure."""
    warnings = []
    secondary = observation.secondary_status or ""
    if observation.primary_status == COMPLETED and secondary.endswith("Error"):
        detail = f": {observation.failure_reason}" if observation.failure_reason else ""
        warnings.append(f"{secondary}{detail}")
    warnings.extend(observation.partial_failures)
    return warnings


def record_is_settled(record: JobRecord) -> bool:
    return record.status in CONTROLLER_FINAL or is_settled(
        record.sagemaker_status or record.status, record.secondary_status
    )


class Seen(Protocol):
    """What the ledger last recorded of a job: its record, or its in-flight index entry."""

    @property
    def status(self) -> str: ...
    @property
    def sagemaker_status(self) -> str | None: ...
    @property
    def secondary_status(self) -> str | None: ...
    @property
    def sagemaker_modified_at(self) -> str | None: ...
    @property
    def job_arn(self) -> str | None: ...


def is_newer(record: Seen, observation: Observation) -> bool:
    """Whether ``observation`` says something the ledger does not hold yet.

    Only about the very job the record runs (docs/contract.md §6): a record takes a job's ARN from
    the controller's own create answer or a tag-verified adoption, never from what
    SageMaker says of a name. A same-named job of someone else, seen before our create
    (a throttled one, say) or after, changes nothing."""
    if record.status in CONTROLLER_FINAL or record.job_arn is None:
        return False
    if observation.job_arn != record.job_arn:
        return False
    if rank(observation.primary_status) < rank(record.status):
        return False
    if record.sagemaker_modified_at is None:
        return True
    seen = utc_iso(observation.modified_at)
    if seen != record.sagemaker_modified_at:
        return seen > record.sagemaker_modified_at
    return (observation.primary_status, observation.secondary_status) != (
        record.sagemaker_status,
        record.secondary_status,
    )


def apply_observation(
    record: JobRecord,
    observation: Observation,
    now: datetime,
    prices: Mapping[str, float] = _NO_PRICES,
) -> JobRecord:
    """The record after ``observation``; call only when ``is_newer`` holds. What the try
    used goes into its entry of ``attempts``, summed into ``usage`` (priced with
    ``prices``)."""
    known = observation.primary_status in _RANK
    status = _checked(record.status, observation.primary_status if known else record.status)
    changes: dict[str, object] = {
        "status": status,
        "sagemaker_status": observation.primary_status,
        "secondary_status": observation.secondary_status,
        "failure_reason": observation.failure_reason,
        "sagemaker_modified_at": utc_iso(observation.modified_at),
        "updated_at": utc_iso(now),
        "warnings": warnings_of(observation),
        "last_error": None,
    }
    if observation.job_arn:
        changes["job_arn"] = observation.job_arn
    if observation.environment is not None:
        changes["environment"] = observation.environment
    if observation.outputs is not None:
        changes["outputs"] = observation.outputs
    if observation.max_runtime_seconds is not None:
        changes["max_runtime_seconds"] = observation.max_runtime_seconds
    if (observation.primary_status, observation.secondary_status) != (
        record.sagemaker_status,
        record.secondary_status,
    ):
        entry = HistoryEntry(
            status=observation.primary_status,
            secondary_status=observation.secondary_status,
            at=utc_iso(observation.modified_at),
        )
        changes["history"] = [*record.history, entry]
    updated = record.model_copy(update=changes)
    if record.job_arn is not None or observation.job_arn is not None:
        updated = _with_try(
            updated,
            job_arn=updated.job_arn,
            status=observation.primary_status,
            failure_reason=observation.failure_reason,
            ended_at=utc_iso(observation.ended_at) if observation.ended_at else None,
            **({"usage": observation.usage} if observation.usage is not None else {}),
        )
        updated = updated.model_copy(
            update={
                "usage": summed(a.usage for a in updated.attempts),
                "estimated_cost_usd": estimated_cost(updated.attempts, prices),
            }
        )
    if record_is_settled(updated) and updated.notified_at is None:
        updated = updated.model_copy(update={"notice_pending": "1"})
    return _tracked(updated)


def transition(record: JobRecord, status: str, at: str, **changes: Any) -> JobRecord:
    """The record moved to ``status`` by the controller itself, with its history entry;
    a move ``MOVES`` does not allow raises IllegalMove."""
    history = [*record.history, HistoryEntry(status=status, at=at)]
    update = {"status": _checked(record.status, status), "updated_at": at, "history": history}
    return _tracked(record.model_copy(update={**update, **changes}))


# -- the controller's own moves ------------------------------------------------------------


def bind(record: JobRecord, job_arn: str, at: str) -> JobRecord:
    """Queued → InProgress: the record takes the job SageMaker created for it, from the
    controller's own create answer or an adoption whose tags prove the job is this
    deployment's (docs/contract.md §6)."""
    bound = transition(record, IN_PROGRESS, at, job_arn=job_arn, submitted_at=at, last_error=None)
    return _with_try(bound, job_arn=job_arn, status=IN_PROGRESS, started_at=at)


# -- tries (docs/contract.md §9) ------------------------------------------------------------


def earns_retry(record: JobRecord) -> bool:
    """A try that just failed, whose reason earns another try."""
    return (
        record.status == FAILED
        and record.retry is not None
        and earns_another_try(record.retry, record.attempt, record.failure_reason)
    )


def next_try(record: JobRecord, now: datetime) -> JobRecord:
    """Failed → Queued: the record waits for its next try, a new SageMaker job with the
    next try's name, admitted like any request (it joins the waiting room)."""
    attempt = record.attempt + 1
    job_type = cast("JobType", record.job_type)
    name = try_name(job_type, record.job_name, attempt)
    reason = f"try {record.attempt} failed: {record.failure_reason}; try {attempt} waits to start"
    cleared: dict[str, Any] = {
        "attempt": attempt,
        "sagemaker_job_name": name,
        "job_arn": None,
        "sagemaker_status": None,
        "secondary_status": None,
        "sagemaker_modified_at": None,
        "failure_reason": None,
        "last_error": reason,
        "notice_pending": None,
        "holds": {},
        "admitted_at": None,
        "submitted_at": None,
        "checked_at": None,
        "waiting": "1",
        "outputs": None,
    }
    return transition(record, QUEUED, utc_iso(now), **cleared)


def end_retries(record: JobRecord) -> JobRecord | None:
    """A stop ends the retries: the current try is the last (None: there were none)."""
    if record.retry is None:
        return None
    return record.model_copy(update={"retry": None})


def _with_try(record: JobRecord, **changes: Any) -> JobRecord:
    """The record with its current try's entry in ``attempts`` changed (added if new)."""
    name = record.sagemaker_name
    tries = list(record.attempts)
    index = next((i for i, a in enumerate(tries) if a.sagemaker_job_name == name), None)
    if index is None:
        tries.append(Attempt(sagemaker_job_name=name, **{"status": QUEUED, **changes}))
    else:
        tries[index] = tries[index].model_copy(update=changes)
    return record.model_copy(update={"attempts": tries})


def settle_by_controller(
    record: JobRecord, status: str, reason: str | None, now: datetime
) -> JobRecord:
    """Queued → the controller's own outcome: Rejected, SubmitFailed, or Stopped before
    submission (a cancel). Announced once, like any outcome."""
    pending = "1" if record.notified_at is None else None
    return transition(record, status, utc_iso(now), failure_reason=reason, notice_pending=pending)


def requeue(record: JobRecord, at: str) -> JobRecord:
    """SubmitFailed → Queued: a redriven request tries again (its room was given back: it
    is admitted afresh); its new outcome will be announced in its turn."""
    cleared: dict[str, Any] = {
        "failure_reason": None,
        "notified_at": None,
        "notice_pending": None,
        "holds": {},
        "admitted_at": None,
    }
    return transition(record, QUEUED, at, **cleared)


def admit(record: JobRecord, holds: dict[str, int], at: str) -> JobRecord:
    """A waiting job is admitted: it leaves the waiting room holding room in its budgets
    (still Queued until SageMaker creates it)."""
    changes = {"waiting": None, "waiting_for": None, "holds": holds, "admitted_at": at}
    return record.model_copy(update={**changes, "updated_at": at})


def is_admitted(record: JobRecord) -> bool:
    """Queued and holding its room: the job may be created."""
    return record.status == QUEUED and record.admitted_at is not None


def reprioritize(record: JobRecord, priority: int, at: str) -> JobRecord | None:
    """A waiting job's new priority; None if it is not waiting any more (docs/contract.md
    §8: only a waiting job's priority changes)."""
    if not record.waiting:
        return None
    return record.model_copy(update={"priority": priority, "updated_at": at})


def take_over(rejected: JobRecord, fresh: JobRecord) -> JobRecord:
    """Rejected → Queued: a new (or corrected) request takes a rejected name; it starts
    afresh and keeps the rejection in its history."""
    _checked(rejected.status, fresh.status)
    history = [*rejected.history, *fresh.history]
    return _tracked(fresh.model_copy(update={"history": history, "version": rejected.version}))


def reject_again(rejected: JobRecord, rejection: JobRecord) -> JobRecord:
    """Rejected → Rejected: another rejection of the same name replaces the last one."""
    return take_over(rejected, rejection)


def was_cancelled(record: JobRecord) -> bool:
    """Stopped while still Queued: the controller never took a job for it."""
    return record.status == STOPPED and record.job_arn is None


def _tracked(record: JobRecord) -> JobRecord:
    """The record with its sparse index entries up to date: in the sweep's in-flight index
    while SageMaker runs a job of this record that has not settled; in the waiting room
    only while Queued. Its request is kept only until SageMaker has the job."""
    flying = record.job_arn is not None and not record_is_settled(record)
    queued = record.status == QUEUED
    # A job that may be tried again keeps its request until its last try settles.
    retried = (
        record.retry is not None
        and record.attempt < record.retry.attempts
        and (not record_is_settled(record) or earns_retry(record))
    )
    needed = (queued and record.job_arn is None) or retried
    kept = {
        "in_flight": record.job_type if flying else None,
        "waiting": record.waiting if queued else None,
        "request_body": record.request_body if needed else None,
    }
    if all(getattr(record, name) == value for name, value in kept.items()):
        return record
    return record.model_copy(update=kept)
