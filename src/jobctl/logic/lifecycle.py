"""A job's lifecycle (docs/contract.md §4, §6, §9): its phases, the one table of moves
between them, and what each move leaves to do next. No AWS calls.

A record's ``phase`` (``models.jobs.Phase``) changes only here, through ``MOVES``: a
move the table does not hold is a bug (``IllegalMove``). The controller's own moves
(submit, join the waiting room, admit, create, cancel, reject, give up, the next try)
and SageMaker's, as observed, go through the same table. SageMaker's moves go forward
only: its ``LastModifiedTime`` orders observations, so one older than what the ledger
holds is stale, whatever order events arrive in. ``next_steps`` says what a move leaves
to do (room to give back, a next try, a notice, a wake-up); the README's "A job's
lifecycle" lists, for each phase, what moves it on and what repairs it when that is lost.

Also here: which failures earn another try and what a try is called in SageMaker (§9),
and what tries used and cost.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from types import MappingProxyType
from typing import Any, Protocol, cast

from jobctl.errors import IllegalMove
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
    Phase,
    Usage,
    Waiting,
    utc_iso,
)
from jobctl.models.kinds import KINDS, JobType
from jobctl.models.requests import RetryPolicy

# -- the table ----------------------------------------------------------------------------


class Move(StrEnum):
    """What moves a job: a command of the controller's, or what SageMaker says."""

    SUBMIT = "submit"  # no budget applies: the request's own message creates the job
    JOIN = "join the waiting room"
    ADMIT = "admit"  # room taken in every budget the job needs
    CREATE = "create"  # SageMaker took the job: our create's answer, or a tag-proven adoption
    SEE_RUNNING = "SageMaker: running"
    SEE_STOPPING = "SageMaker: stopping"
    SEE_COMPLETED = "SageMaker: completed"
    SEE_FAILED = "SageMaker: failed"
    SEE_STOPPED = "SageMaker: stopped"
    SEE_RETRYABLE_FAILURE = "SageMaker: failed, and the reason earns another try"
    SEE_PREEMPTED = "SageMaker: stopped, to give its room back"  # §10: it goes on waiting
    NEXT_TRY = "next try"  # the failed try's room is given back: the next one waits
    CANCEL = "cancel"  # a stop before SageMaker had the job
    REJECT = "reject"
    GIVE_UP = "give up"  # the last delivery failed too: SubmitFailed


# Every move a job can make: (phase, move) -> the phase it leads to. Nothing else moves
# a job; a settled phase leaves only by a new request (a rejected name taken, a redrive).
MOVES: Mapping[tuple[Phase, Move], Phase] = MappingProxyType(
    {
        (Phase.SUBMITTING, Move.CREATE): Phase.RUNNING,  # its own message created it
        (Phase.SUBMITTING, Move.JOIN): Phase.WAITING,  # a budget applies: it waits for room
        (Phase.SUBMITTING, Move.CANCEL): Phase.CANCELLED,
        # SageMaker refused it (a name someone else's, a spec it would not take)
        (Phase.SUBMITTING, Move.REJECT): Phase.REJECTED,
        (Phase.SUBMITTING, Move.GIVE_UP): Phase.SUBMIT_FAILED,
        # A pass took room for it (a waiting job holds none, so it is never created).
        (Phase.WAITING, Move.ADMIT): Phase.ADMITTED,
        (Phase.WAITING, Move.CANCEL): Phase.CANCELLED,
        (Phase.WAITING, Move.REJECT): Phase.REJECTED,
        (Phase.WAITING, Move.GIVE_UP): Phase.SUBMIT_FAILED,
        (Phase.ADMITTED, Move.CREATE): Phase.RUNNING,  # its wake-up created it
        (Phase.ADMITTED, Move.CANCEL): Phase.CANCELLED,
        (Phase.ADMITTED, Move.REJECT): Phase.REJECTED,
        (Phase.ADMITTED, Move.GIVE_UP): Phase.SUBMIT_FAILED,
        (Phase.RUNNING, Move.SEE_RUNNING): Phase.RUNNING,
        (Phase.RUNNING, Move.SEE_STOPPING): Phase.STOPPING,
        (Phase.RUNNING, Move.SEE_COMPLETED): Phase.COMPLETED,
        (Phase.RUNNING, Move.SEE_FAILED): Phase.FAILED,
        (Phase.RUNNING, Move.SEE_STOPPED): Phase.STOPPED,
        (Phase.RUNNING, Move.SEE_RETRYABLE_FAILURE): Phase.BETWEEN_TRIES,
        (Phase.RUNNING, Move.SEE_PREEMPTED): Phase.BETWEEN_TRIES,
        (Phase.STOPPING, Move.SEE_STOPPING): Phase.STOPPING,
        (Phase.STOPPING, Move.SEE_COMPLETED): Phase.COMPLETED,
        (Phase.STOPPING, Move.SEE_FAILED): Phase.FAILED,
        (Phase.STOPPING, Move.SEE_STOPPED): Phase.STOPPED,
        (Phase.STOPPING, Move.SEE_RETRYABLE_FAILURE): Phase.BETWEEN_TRIES,
        (Phase.STOPPING, Move.SEE_PREEMPTED): Phase.BETWEEN_TRIES,
        (Phase.BETWEEN_TRIES, Move.NEXT_TRY): Phase.WAITING,  # its room given back
        (Phase.BETWEEN_TRIES, Move.CANCEL): Phase.CANCELLED,
        # A settled job's secondary status may still change (an AutoML job's reports).
        (Phase.COMPLETED, Move.SEE_COMPLETED): Phase.COMPLETED,
        (Phase.FAILED, Move.SEE_FAILED): Phase.FAILED,
        (Phase.STOPPED, Move.SEE_STOPPED): Phase.STOPPED,
        (Phase.REJECTED, Move.SUBMIT): Phase.SUBMITTING,  # a new request takes a rejected name
        (Phase.REJECTED, Move.JOIN): Phase.WAITING,
        (Phase.REJECTED, Move.REJECT): Phase.REJECTED,  # another rejection replaces the last
        (Phase.SUBMIT_FAILED, Move.SUBMIT): Phase.SUBMITTING,  # a user redrives the request
        (Phase.SUBMIT_FAILED, Move.JOIN): Phase.WAITING,
    }
)

# The phases of a job whose SageMaker job is not created yet (its status is Queued).
_QUEUED = (Phase.SUBMITTING, Phase.WAITING, Phase.ADMITTED)

# The ledger status a controller's move leaves (SageMaker's moves take SageMaker's status).
_STATUS_AFTER = {
    Move.SUBMIT: QUEUED,
    Move.JOIN: QUEUED,
    Move.ADMIT: QUEUED,
    Move.CREATE: IN_PROGRESS,
    Move.SEE_RETRYABLE_FAILURE: QUEUED,  # between tries the record is Queued (§9)
    Move.SEE_PREEMPTED: QUEUED,
    Move.NEXT_TRY: QUEUED,
    Move.CANCEL: STOPPED,
    Move.REJECT: REJECTED,
    Move.GIVE_UP: SUBMIT_FAILED,
}
_BY_CONTROLLER = {REJECTED: Move.REJECT, SUBMIT_FAILED: Move.GIVE_UP, STOPPED: Move.CANCEL}


def may_move(phase: Phase, move: Move) -> bool:
    return (phase, move) in MOVES


def moved(record: JobRecord, move: Move, at: str, **changes: Any) -> JobRecord:
    """``record`` after ``move`` (with ``changes``): the only place a phase changes. A
    controller's move that changes the status adds it to the history."""
    phase = MOVES.get((record.phase, move))
    if phase is None:
        raise IllegalMove(f"a {record.phase} job cannot {move}")
    update: dict[str, Any] = {"phase": phase, "updated_at": at, **changes}
    if phase != Phase.WAITING:  # what a job waits for is said only while it waits
        update.update(waiting_for=None, expected_start=None)
    status = _STATUS_AFTER.get(move)
    if status is not None and (status != record.status or move == Move.REJECT):
        update["status"] = status
        history = update.get("history", record.history)
        update["history"] = [*history, HistoryEntry(status=status, at=at)]
    return _kept(record.model_copy(update=update))


def _kept(record: JobRecord) -> JobRecord:
    """A job's request is kept until SageMaker has its last try (it is sent again when
    the job is admitted, and for each further try), and while a preemptible job holds
    room (a preemption sends it again)."""
    tries = record.attempt - record.preemptions
    tries_left = record.retry is not None and tries < record.retry.attempts
    # A preemptible job may be sent again as its next try while it runs (§10).
    again = tries_left or record.preemptable
    needed = record.phase in (*_QUEUED, Phase.BETWEEN_TRIES) or (again and not record.settled)
    if needed or record.request_body is None:
        return record
    return record.model_copy(update={"request_body": None})


# -- what a move leaves to do ---------------------------------------------------------------


@dataclass(frozen=True)
class NextSteps:
    """What must happen after a record was written: room to give back (to the waiting
    jobs, at once), a next try to queue, a notice to send, a wake-up to send."""

    release: dict[str, int] = field(default_factory=dict)
    next_try: bool = False
    notice: bool = False
    wake: bool = False
    settled: bool = False  # by this write


def next_steps(before: JobRecord, after: JobRecord) -> NextSteps:
    settled_now = after.settled and not before.settled
    return NextSteps(
        settled=settled_now,
        release=dict(after.holds) if settled_now else {},
        next_try=after.phase == Phase.BETWEEN_TRIES,
        notice=after.notice_pending,
        wake=after.phase == Phase.ADMITTED and before.phase != Phase.ADMITTED,
    )


# -- the controller's moves ------------------------------------------------------------------


def start(record: JobRecord, waits: bool) -> JobRecord:
    """A new request's record: it waits for room when a budget applies to it, else its own
    message creates it."""
    phase = Phase.WAITING if waits else Phase.SUBMITTING
    return record.model_copy(update={"phase": phase, "status": QUEUED})


def join(record: JobRecord, at: str, request_body: str, instances: dict[str, int]) -> JobRecord:
    return moved(record, Move.JOIN, at, request_body=request_body, instances=instances)


def admit(
    record: JobRecord, holds: dict[str, int], at: str, preemptable: bool = False
) -> JobRecord:
    """A waiting job is admitted: it holds room in its budgets and is woken (still Queued
    until SageMaker creates it). ``preemptable``: a preemption may stop it (§10)."""
    return moved(
        record,
        Move.ADMIT,
        at,
        preemptable=preemptable,
        waiting_for=None,
        expected_start=None,
        holds=holds,
        admitted_at=at,
        wakes=record.wakes + 1,
    )


def wake_again(record: JobRecord, at: str) -> JobRecord | None:
    """An admitted job whose wake-up was lost is woken again (its phase stays)."""
    if record.phase != Phase.ADMITTED:
        return None
    return record.model_copy(
        update={"admitted_at": at, "updated_at": at, "wakes": record.wakes + 1}
    )


def bind(record: JobRecord, job_arn: str, at: str) -> JobRecord:
    """The record takes the job SageMaker created for it, from the controller's own
    create answer or an adoption whose tags prove the job is this deployment's (§6)."""
    bound = moved(record, Move.CREATE, at, job_arn=job_arn, submitted_at=at, last_error=None)
    return _with_try(bound, job_arn=job_arn, status=IN_PROGRESS, started_at=at)


def settle_by_controller(
    record: JobRecord, status: str, reason: str | None, now: datetime, **changes: Any
) -> JobRecord:
    """The controller's own outcome: Rejected, SubmitFailed, or Stopped before SageMaker
    had the job (a cancel). Announced once, like any outcome."""
    return moved(record, _BY_CONTROLLER[status], utc_iso(now), failure_reason=reason, **changes)


def requeue(record: JobRecord, at: str) -> JobRecord:
    """A redriven SubmitFailed request tries again (its room was given back: it is
    admitted afresh); its new outcome will be announced in its turn."""
    cleared: dict[str, Any] = {
        "failure_reason": None,
        "notified_at": None,
        "holds": {},
        "admitted_at": None,
    }
    return moved(record, Move.SUBMIT, at, **cleared)


def take_over(rejected: JobRecord, fresh: JobRecord) -> JobRecord:
    """A new (or corrected) request takes a rejected name: it starts afresh, as ``fresh``
    says, and keeps the rejection in its history."""
    move = {Phase.WAITING: Move.JOIN, Phase.SUBMITTING: Move.SUBMIT, Phase.REJECTED: Move.REJECT}
    if rejected.phase != Phase.REJECTED or fresh.phase not in move:
        raise IllegalMove(f"a {fresh.phase} request cannot take over a {rejected.phase} job")
    moved(rejected, move[fresh.phase], fresh.updated_at)  # checks the table
    history = [*rejected.history, *fresh.history]
    return fresh.model_copy(update={"history": history, "version": rejected.version})


def reject_again(rejected: JobRecord, rejection: JobRecord) -> JobRecord:
    """Another rejection of the same name replaces the last one."""
    return take_over(rejected, rejection)


def next_try(record: JobRecord, now: datetime) -> JobRecord:
    """The failed try's room was given back: the next try, a new SageMaker job with the
    next try's name, waits in the waiting room like any request."""
    attempt = record.attempt + 1
    cleared: dict[str, Any] = {
        "attempt": attempt,
        # A preemption is not one of the request's tries (§10), but it is counted.
        "preemptions": record.preemptions + (record.preempted_by is not None),
        "preempted_by": None,
        "sagemaker_job_name": try_name(cast("JobType", record.job_type), record.job_name, attempt),
        "job_arn": None,
        "sagemaker_status": None,
        "secondary_status": None,
        "sagemaker_modified_at": None,
        "holds": {},
        "admitted_at": None,
        "submitted_at": None,
        "checked_at": None,
        "outputs": None,
    }
    return moved(record, Move.NEXT_TRY, utc_iso(now), **cleared)


def note_error(record: JobRecord, reason: str, at: str) -> JobRecord | None:
    """Why a Queued job's create failed this time (its message is delivered again)."""
    if record.phase not in _QUEUED:
        return None
    return record.model_copy(update={"last_error": reason, "updated_at": at})


def note_wait(
    record: JobRecord, reason: str | None, expected_start: str | None = None
) -> JobRecord | None:
    """What a waiting job waits for, and when it is expected to start if it holds a
    reservation (``jobctl get`` shows them); None if it waits no more."""
    if not record.waiting:
        return None
    return record.model_copy(update={"waiting_for": reason, "expected_start": expected_start})


# Each pass computes a reserved job's expected start anew; it is written again only when
# it moved later by more than the first (the one written would no longer be an upper
# bound) or earlier by more than the second (a much better estimate).
LATER_SLACK = timedelta(minutes=5)
EARLIER_SLACK = timedelta(minutes=15)


def reservation_moved(record: JobRecord | Waiting, expected_start: str | None) -> bool:
    """Whether a waiting job's expected start is worth writing again."""
    if (expected_start is None) != (record.expected_start is None):
        return True
    if expected_start is None or record.expected_start is None:
        return False
    moved = datetime.fromisoformat(expected_start) - datetime.fromisoformat(record.expected_start)
    return moved > LATER_SLACK or -moved > EARLIER_SLACK


def checked(record: JobRecord, at: str) -> JobRecord:
    """The sweep described the job because it is older than the List window."""
    return record.model_copy(update={"checked_at": at})


def claim_notice(record: JobRecord, at: str | None) -> JobRecord:
    """A publisher claims the job's notice (``at``), or lets its claim go (None)."""
    return record.model_copy(update={"notice_claimed_at": at})


def notice_sent(record: JobRecord, at: str) -> JobRecord:
    """The notice is out: the job is announced (``notice_pending`` no longer holds)."""
    return record.model_copy(update={"notified_at": at, "notice_claimed_at": None})


def end_retries(record: JobRecord) -> JobRecord | None:
    """A stop ends the retries: the current try is the last, even one being preempted
    (None: there were none)."""
    if (record.retry is None and record.preempted_by is None) or record.settled:
        return None
    return _kept(record.model_copy(update={"retry": None, "preempted_by": None}))


def preempt(record: JobRecord, by: str, at: str) -> JobRecord | None:
    """A running job is chosen to give its room back to ``by`` (§10): once SageMaker
    has stopped it, it waits again as its next try (None: it runs no more)."""
    if record.phase != Phase.RUNNING or record.preempted_by is not None:
        return None
    return record.model_copy(update={"preempted_by": by, "updated_at": at})


def reprioritize(record: JobRecord, priority: int, at: str) -> JobRecord | None:
    """A waiting job's new priority; None if it is not waiting any more (§8)."""
    if not record.waiting:
        return None
    return record.model_copy(update={"priority": priority, "updated_at": at})


# Phases in which a job holds the room it was admitted with (until it settles).
HOLDING_PHASES = frozenset({Phase.ADMITTED, Phase.RUNNING, Phase.STOPPING, Phase.BETWEEN_TRIES})


def holds_room(record: JobRecord) -> bool:
    return record.phase in HOLDING_PHASES and bool(record.holds)


def is_admitted(record: JobRecord) -> bool:
    return record.phase == Phase.ADMITTED


def was_cancelled(record: JobRecord) -> bool:
    """Stopped before SageMaker had it: the controller never took a job for it."""
    return record.phase == Phase.CANCELLED


def record_is_settled(record: JobRecord) -> bool:
    return record.settled


# -- what SageMaker says ---------------------------------------------------------------------

TERMINAL_PRIMARY = frozenset({COMPLETED, FAILED, STOPPED})
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
_NO_PRICES: Mapping[str, float] = MappingProxyType({})
# Phases whose SageMaker job the ledger follows.
_FOLLOWED = frozenset({Phase.RUNNING, Phase.STOPPING, Phase.COMPLETED, Phase.FAILED, Phase.STOPPED})


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

    Only about the very job the record runs (§6): a record takes a job's ARN from the
    controller's own create answer or a tag-verified adoption, never from what SageMaker
    says of a name. A same-named job of someone else, seen before our create (a
    throttled one, say) or after, changes nothing."""
    if isinstance(record, JobRecord) and record.phase not in _FOLLOWED:
        return False
    if record.job_arn is None or observation.job_arn != record.job_arn:
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


def observed_move(record: JobRecord, observation: Observation) -> Move:
    """The move SageMaker's observation makes of ``record``'s job."""
    primary, secondary = observation.primary_status, observation.secondary_status
    if not is_settled(primary, secondary):
        stopping = primary == STOPPING or secondary == "Stopping"
        return Move.SEE_STOPPING if stopping else Move.SEE_RUNNING
    if primary == FAILED and earns_retry(record, observation.failure_reason):
        return Move.SEE_RETRYABLE_FAILURE
    if primary == STOPPED and record.preempted_by is not None:
        return Move.SEE_PREEMPTED
    return {COMPLETED: Move.SEE_COMPLETED, FAILED: Move.SEE_FAILED}.get(primary, Move.SEE_STOPPED)


def apply_observation(
    record: JobRecord,
    observation: Observation,
    now: datetime,
    prices: Mapping[str, float] = _NO_PRICES,
) -> JobRecord:
    """The record after ``observation``; call only when ``is_newer`` holds. What the try
    used goes into its entry of ``attempts``, summed into ``usage`` (priced with
    ``prices``). A failure that earns another try leaves the record between tries."""
    move = observed_move(record, observation)
    known = observation.primary_status in _RANK
    changes: dict[str, Any] = {
        "status": observation.primary_status if known else record.status,
        "sagemaker_status": observation.primary_status,
        "secondary_status": observation.secondary_status,
        "failure_reason": observation.failure_reason,
        "sagemaker_modified_at": utc_iso(observation.modified_at),
        "warnings": warnings_of(observation),
        "last_error": None,
    }
    for name in ("environment", "outputs", "max_runtime_seconds"):
        if getattr(observation, name) is not None:
            changes[name] = getattr(observation, name)
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
    if move == Move.SEE_RETRYABLE_FAILURE:
        reason = observation.failure_reason
        changes["last_error"] = (
            f"try {record.attempt} failed: {reason}; try {record.attempt + 1} waits to start"
        )
        changes["failure_reason"] = None
        changes["outputs"] = None
    if move == Move.SEE_PREEMPTED:
        changes["last_error"] = (
            f"try {record.attempt} was preempted by {record.preempted_by}; "
            f"try {record.attempt + 1} waits to start"
        )
        changes["outputs"] = None
    updated = moved(record, move, utc_iso(now), **changes)
    updated = _with_try(
        updated,
        job_arn=updated.job_arn,
        status=observation.primary_status,
        failure_reason=observation.failure_reason,
        ended_at=utc_iso(observation.ended_at) if observation.ended_at else None,
        preempted_by=record.preempted_by if move == Move.SEE_PREEMPTED else None,
        **({"usage": observation.usage} if observation.usage is not None else {}),
    )
    return updated.model_copy(
        update={
            "usage": summed(a.usage for a in updated.attempts),
            "estimated_cost_usd": estimated_cost(updated.attempts, prices),
        }
    )


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


# -- tries (§9) -------------------------------------------------------------------------------
#
# A try is a new SageMaker job (a job name can never be reused), so the controller names
# it deterministically from the request's ``job_name`` and the try number: a redelivered
# or replayed retry asks for the same name, and SageMaker's ``ResourceInUse`` or the
# ownership tags settle whether it already exists. The first try keeps ``job_name`` itself.

_HASH_LENGTH = 6


def matches(failure_reason: str | None, patterns: tuple[str, ...]) -> bool:
    """Whether ``failure_reason`` matches one of the glob patterns (``*``, ``?``; a ``[`` is
    an ordinary character, as SageMaker's reasons use brackets)."""
    if not failure_reason:
        return False
    return any(fnmatchcase(failure_reason, pattern.replace("[", "[[]")) for pattern in patterns)


def earns_another_try(policy: RetryPolicy, attempt: int, failure_reason: str | None) -> bool:
    """A failed try ``attempt`` (1-based) is tried again while tries remain and its reason
    matches the policy."""
    return attempt < policy.attempts and matches(failure_reason, policy.on)


def earns_retry(record: JobRecord, failure_reason: str | None) -> bool:
    """Preempted tries (§10) do not count against the request's tries."""
    return record.retry is not None and earns_another_try(
        record.retry, record.attempt - record.preemptions, failure_reason
    )


def try_name(job_type: JobType, job_name: str, attempt: int) -> str:
    """The SageMaker name of try ``attempt`` of ``job_name``: the name itself for the first
    try, then ``<name>-try<N>-<hash>`` within the type's name limit (63 characters for
    training, 32 for AutoML): a long name is cut, and the hash of the whole name keeps two
    cut names apart. Requests may not take names of this shape (§9)."""
    if attempt == 1:
        return job_name
    digest = hashlib.sha256(f"{job_type}/{job_name}".encode()).hexdigest()[:_HASH_LENGTH]
    suffix = f"-try{attempt}-{digest}"
    base = job_name[: KINDS[job_type].name_limit - len(suffix)].rstrip("-")
    return f"{base}{suffix}"


# -- what tries used, and what that cost (§9) -------------------------------------------------
#
# SageMaker bills a training job's ``BillableTimeInSeconds`` on each of its instances;
# with managed spot, billable time is below training time, and botocore's documentation
# gives the saving as ``(1 - BillableTimeInSeconds / TrainingTimeInSeconds) * 100``. A
# job's usage is the sum over its tries; its cost is estimated from the user's own
# prices (``INSTANCE_PRICES``, US dollars per instance-hour), never looked up.


def spot_savings_percent(training_seconds: int, billable_seconds: int) -> float:
    if training_seconds <= 0 or billable_seconds >= training_seconds:
        return 0.0
    return round((1 - billable_seconds / training_seconds) * 100, 1)


def summed(usages: Iterable[Usage | None]) -> Usage | None:
    """The usage of all tries together; None if none of them reported any."""
    known = [usage for usage in usages if usage is not None]
    if not known:
        return None
    last = known[-1]
    training = sum(usage.training_seconds for usage in known)
    billable = sum(usage.billable_seconds for usage in known)
    spot = any(usage.spot for usage in known)
    return Usage(
        instance_type=last.instance_type,
        instance_count=last.instance_count,
        training_seconds=training,
        billable_seconds=billable,
        billable_instance_seconds=sum(usage.billable_instance_seconds for usage in known),
        spot=spot,
        spot_savings_percent=spot_savings_percent(training, billable) if spot else 0.0,
        instances=last.instances,
    )


def cost_of(usage: Usage, prices: Mapping[str, float]) -> float | None:
    """The estimated cost of one try: its billable seconds on each of its instances at the
    price of their type; None if a type has no price."""
    if not usage.instances or any(t not in prices for t in usage.instances):
        return None
    dollars = sum(
        usage.billable_seconds * count * prices[t] / 3600 for t, count in usage.instances.items()
    )
    return round(dollars, 4)


def estimated_cost(attempts: Iterable[Attempt], prices: Mapping[str, float]) -> float | None:
    """The estimated cost of every try that reported usage; None unless each one is priced."""
    costs = [cost_of(a.usage, prices) for a in attempts if a.usage is not None]
    if not costs or any(cost is None for cost in costs):
        return None
    return round(sum(cost for cost in costs if cost is not None), 4)
