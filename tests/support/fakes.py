"""In-memory fakes of the logic's ports (``jobctl.logic.ports``): the submit and reconcile
rules run on them in milliseconds, without moto. They keep the ports' promises — writes
are conditional on the version read, a capacity transaction takes every slot or none —
so a rule that breaks with them breaks with DynamoDB too.

``FakeSageMaker`` is the SageMaker port's: jobs as the answers Describe gives, read with the
adapter's own parsing, and faults set by hand. SageMaker's behaviour itself (rate limits,
quotas, paging, event shapes) is the simulator's, tested on its own."""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from jobctl.adapters.sagemaker import PAGE_SIZE, observation
from jobctl.errors import (
    ConcurrentUpdate,
    InvalidRequest,
    JobAlreadyExists,
    JobNotFound,
    NoRoom,
    RetryableError,
    ServiceRefused,
    StaleHold,
    UnreadableBudget,
    UnreadableRecord,
    WaitingRoomFull,
)
from jobctl.logic.fair_share import BudgetItem, Holding, past_use_after
from jobctl.logic.ports import Clock, ListPage
from jobctl.logic.scheduling import WaitingLimits, queue_rank
from jobctl.models.jobs import InFlight, JobRecord, Notice, Observation, Phase, Waiting, utc_iso
from jobctl.models.kinds import KINDS, JobType

SETTLED = ("Completed", "Failed", "Stopped")
# What a List summary or an event leaves out of a Describe answer.
DESCRIBE_ONLY = (
    "Environment",
    "FinalMetricDataList",
    "ModelArtifacts",
    "StoppingCondition",
    "BillableTimeInSeconds",
    "TrainingTimeInSeconds",
    "BestCandidate",
)

# SageMaker's faults as the adapter reports them.
THROTTLED = RetryableError("SageMaker: ThrottlingException")
ANSWER_LOST = RetryableError("SageMaker: InternalFailure")
ACCESS_DENIED = ServiceRefused("SageMaker: AccessDeniedException: not authorized")
BAD_IMAGE = InvalidRequest(["SageMaker rejected the request: bad image"])


class FakeSageMaker:
    """The ``SageMakerGateway`` port over a dict of Describe answers."""

    def __init__(self, clock: Clock, call_seconds: float = 0) -> None:
        self.clock = clock
        self.call_seconds = call_seconds  # what each call costs on the clock
        self.answers: dict[tuple[str, str], dict[str, Any]] = {}
        self.tags: dict[str, dict[str, str]] = {}  # by ARN
        self.calls: Counter[str] = Counter()
        self._faults: dict[str, list[tuple[Exception, bool]]] = defaultdict(list)

    def fail_next(
        self, call: str, error: Exception, times: int = 1, after_effect: bool = False
    ) -> None:
        """The next ``times`` calls of ``call`` raise ``error``; with ``after_effect``, a
        create takes effect first and only its answer is lost."""
        self._faults[call].extend([(error, after_effect)] * times)

    def _call(self, call: str) -> Exception | None:
        """Count the call, and raise its fault; a fault that comes after the call's effect
        is returned, for the call to raise once it took effect."""
        self.calls[call] += 1
        self.clock.sleep(self.call_seconds)
        if not self._faults[call]:
            return None
        error, after_effect = self._faults[call].pop(0)
        if not after_effect:
            raise error
        return error

    def create_job(self, job_type: JobType, params: dict[str, Any]) -> str:
        lost = self._call("create_job")
        name = params[KINDS[job_type].name_member]
        if (job_type, name) in self.answers:
            raise JobAlreadyExists(name)
        arn = self.add(job_type, params)
        if lost:
            raise lost
        return arn

    def describe_job(self, job_type: JobType, job_name: str) -> Observation:
        self._call("describe_job")
        if (job_type, job_name) not in self.answers:
            raise JobNotFound(job_name)
        return observation(KINDS[job_type], self.answers[job_type, job_name])

    def job_tags(self, job_arn: str) -> dict[str, str]:
        self._call("job_tags")
        return dict(self.tags[job_arn])

    def stop_job(self, job_type: JobType, job_name: str) -> None:
        self._call("stop_job")
        if self.status(job_type, job_name) == "InProgress":
            self.set_state(job_type, job_name, "Stopping")

    def list_newest(self, job_type: JobType, token: str | None) -> ListPage:
        self._call("list_newest")
        kind = KINDS[job_type]
        answers = [a for (kind_of, _), a in self.answers.items() if kind_of == job_type]
        answers.sort(key=lambda answer: answer["CreationTime"], reverse=True)
        start = int(token or 0)
        page = answers[start : start + PAGE_SIZE]
        more = str(start + PAGE_SIZE) if start + PAGE_SIZE < len(answers) else None
        return ListPage([observation(kind, summary(a)) for a in page], more)

    # -- what SageMaker does on its own -----------------------------------------------------

    def add(
        self, job_type: JobType, params: dict[str, Any], created: datetime | None = None
    ) -> str:
        """A job SageMaker runs, created by anyone (no call of ours)."""
        kind = KINDS[job_type]
        name = params[kind.name_member]
        arn = f"arn:aws:sagemaker:us-east-1:123456789012:{kind.arn_resource}/{name}"
        self.tags[arn] = {tag["Key"]: tag["Value"] for tag in params.get("Tags", [])}
        now = created or self.clock.now()
        self.answers[job_type, name] = {
            **{key: value for key, value in params.items() if key != "Tags"},
            kind.arn_member: arn,
            kind.status_member: "InProgress",
            kind.secondary_member: "Starting",
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        return arn

    def status(self, job_type: JobType, name: str) -> str:
        return str(self.answers[job_type, name][KINDS[job_type].status_member])

    def set_state(
        self,
        job_type: JobType,
        name: str,
        status: str,
        secondary: str | None = None,
        failure_reason: str | None = None,
        **answer: Any,
    ) -> None:
        """Move a job to a status; ``answer`` joins its Describe answer."""
        kind, job = KINDS[job_type], self.answers[job_type, name]
        # LastModifiedTime strictly increases per job, however fast a test moves.
        now = max(self.clock.now(), job["LastModifiedTime"] + timedelta(milliseconds=1))
        job.update({kind.status_member: status, kind.secondary_member: secondary or status})
        job.update({"LastModifiedTime": now, "FailureReason": failure_reason, **answer})
        if status in SETTLED:
            job.setdefault(kind.ended_member, now)

    def complete(self, job_type: JobType, name: str, **answer: Any) -> None:
        self.set_state(job_type, name, "Completed", **answer)

    def event(self, name: str) -> Observation:
        """What a training job's state-change event tells: its summary and its tags."""
        answer = self.answers["TrainingJob", name]
        tags = self.tags[answer["TrainingJobArn"]]
        return observation(KINDS["TrainingJob"], summary(answer) | {"Tags": tags})

    def add_history(self, count: int, span: timedelta = timedelta(days=365)) -> None:
        """``count`` settled training jobs of other teams, created over ``span`` before now."""
        now = self.clock.now()
        for index in range(count):
            name = f"others-{index:06d}"
            self.add("TrainingJob", {"TrainingJobName": name}, now - span * (index + 1) / count)
            self.set_state("TrainingJob", name, "Completed")


def summary(answer: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in answer.items() if key not in DESCRIBE_ONLY}


class InMemoryLedger:
    def __init__(self, limits: WaitingLimits | None = None) -> None:
        self.records: dict[tuple[str, str], JobRecord] = {}
        self.damaged: set[tuple[str, str]] = set()
        self.writes = 0
        # The waiting room's index is a moment behind the records: True shows it empty.
        self.index_lags = False
        self.limits = limits
        self.queue_items_read = 0  # waiting jobs read through the queues' index
        self._queues: dict[str, list[tuple[str, tuple[str, str]]]] = {}  # share -> sorted ranks

    def get(self, job_name: str, job_type: str) -> JobRecord | None:
        if (job_name, job_type) in self.damaged:
            raise UnreadableRecord(job_name, job_type)
        return self.records.get((job_name, job_type))

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], JobRecord]:
        return {
            key: self.records[key]
            for key in dict.fromkeys(keys)
            if key in self.records and key not in self.damaged
        }

    def insert(self, record: JobRecord) -> JobRecord:
        if record.key in self.records:
            raise ConcurrentUpdate(f"{record.key} exists")
        self._check_room(None, record)
        return self._store(record.model_copy(update={"version": 1}))

    def update(self, record: JobRecord, read: JobRecord) -> JobRecord:
        stored = self.records.get(record.key)
        if stored is None or stored.version != read.version:
            raise ConcurrentUpdate(f"{record.key} changed since it was read")
        self._check_room(stored, record)
        return self._store(record.model_copy(update={"version": read.version + 1}))

    def _check_room(self, stored: JobRecord | None, written: JobRecord) -> None:
        """A new request joining the waiting room is held to its bounds (as the adapter's
        transaction holds it)."""
        joins = written.waiting and not (stored is not None and stored.waiting)
        if self.limits is None or not joins or written.attempt > 1:
            return
        shares = self.waiting_shares()
        refusal = self.limits.refusal(sum(shares.values()), shares, written.share or "default")
        if refusal:
            raise WaitingRoomFull(refusal)

    def pending_notices(self) -> Iterator[JobRecord]:
        yield from (r for r in list(self.records.values()) if r.notice_pending)

    def in_flight(self, job_type: str) -> list[InFlight]:
        flying = [
            r
            for key, r in self.records.items()
            if r.in_flight == job_type and r.submitted_at and key not in self.damaged
        ]
        flying.sort(key=lambda r: r.submitted_at or "")
        return [InFlight.model_validate(r.model_dump()) for r in flying]

    def waiting(self) -> list[Waiting]:
        if self.index_lags:
            return []
        # A damaged record's index entry (a projection of a few attributes) still reads.
        return [Waiting.model_validate(r.model_dump()) for r in self.records.values() if r.waiting]

    def waiting_shares(self) -> dict[str, int]:
        return {share: len(queue) for share, queue in self._queues.items() if queue}

    def forget_share(self, share: str) -> None:
        pass  # counted from the records: an empty share is never listed

    def requeue_legacy(self) -> int:
        return 0  # its records were never in the index before queue-index

    def recount_waiting_room(self, now: str, quiet_since: str) -> int:
        return 0  # counted from the records: never differ

    def queue_page(
        self, share: str, limit: int, after: str | None = None
    ) -> tuple[list[Waiting], str | None]:
        queue = self._queues.get(share, [])
        start = 0 if after is None else bisect.bisect_right(queue, (after, ("\uffff", "")))
        page = queue[start : start + limit]
        self.queue_items_read += len(page)
        more = page[-1][0] if start + limit < len(queue) else None
        if self.index_lags:
            return [], more
        # A damaged record's index entry (a projection of a few attributes) still reads.
        found = [Waiting.model_validate(self.records[key].model_dump()) for _, key in page]
        return found, more

    def in_repair(self, phase: Phase, before: str | None = None) -> list[JobRecord]:
        return [
            r
            for key, r in self.records.items()
            if r.repair == phase and (before is None or r.updated_at < before)
            if key not in self.damaged
        ]

    def _store(self, record: JobRecord) -> JobRecord:
        self.writes += 1
        stored = self.records.get(record.key)
        if stored is not None and stored.waiting:
            self._queues[stored.share or "default"].remove(_queued(stored))
        if record.waiting:
            bisect.insort(self._queues.setdefault(record.share or "default", []), _queued(record))
        self.records[record.key] = record
        return record


def _queued(record: JobRecord) -> tuple[str, tuple[str, str]]:
    return queue_rank(record.priority or 0, record.created_at, record.key), record.key


class InMemoryNotices:
    def __init__(self) -> None:
        self.published: list[Notice] = []

    def publish(self, notice: Notice) -> None:
        self.published.append(notice)

    def statuses(self, job_name: str) -> list[str]:
        return [n.status for n in self.published if n.job_name == job_name]


class InMemoryCapacity:
    """Budgets' room; an admission writes the record to ``ledger`` in the same step."""

    def __init__(self, ledger: InMemoryLedger) -> None:
        self.ledger = ledger
        self.held: dict[str, dict[str, Holding]] = {}  # budget -> holder -> its room
        self.past_use: dict[str, dict[str, tuple[float, datetime]]] = {}
        # A count that drifted from its holders, and items damaged by hand, by budget.
        self.drift: dict[str, int] = {}
        self.damaged: set[str] = set()

    def items(self, keys: Iterable[str]) -> dict[str, BudgetItem]:
        found = {}
        for key, item in self.read(keys).items():
            if item is None:
                raise UnreadableBudget(f"jobctl#capacity#{key}", key)
            found[key] = item
        return found

    def admit(
        self,
        holder: str,
        holdings: Mapping[str, Holding],
        limits: Mapping[str, int],
        record: JobRecord,
    ) -> JobRecord:
        stored = self.ledger.records.get(record.key)
        if stored is None or stored.version != record.version:
            raise ConcurrentUpdate(f"{record.key} changed since it was read")
        if any(holder in self.held.get(key, {}) for key in holdings):
            raise StaleHold(f"{holder} holds room already")
        for key, holding in holdings.items():
            if self.in_use(key) + holding.units > limits[key]:
                raise NoRoom(key)
        written = self.ledger.update(record, stored)
        for key, holding in holdings.items():
            self.held.setdefault(key, {})[holder] = holding
        return written

    def mark_preempted(self, holder: str, keys: Iterable[str], record: JobRecord) -> JobRecord:
        stored = self.ledger.records.get(record.key)
        if (
            stored is None
            or stored.version != record.version
            or any(holder not in self.held.get(key, {}) for key in keys)
        ):
            raise ConcurrentUpdate(f"{holder} holds no room to give back")
        written = self.ledger.update(record, stored)
        for key in keys:
            self.held[key][holder] = replace(self.held[key][holder], preempted=True)
        return written

    def release(
        self,
        holder: str,
        holds: Mapping[str, int],
        at: datetime | None = None,
        half_life: float = 0,
    ) -> None:
        for key in holds:
            item = self.read([key])[key]
            holding = self.held.get(key, {}).pop(holder, None)
            if holding is not None and item is not None and at is not None and half_life > 0:
                past = past_use_after(item, holding, at, half_life)
                self.past_use.setdefault(key, {})[holding.share] = past

    def read(self, keys: Iterable[str]) -> dict[str, BudgetItem | None]:
        return {
            key: None
            if key in self.damaged
            else BudgetItem(
                self.in_use(key),
                dict(self.held.get(key, {})),
                dict(self.past_use.get(key, {})),
            )
            for key in keys
        }

    def rebuild(self, key: str, holders: Mapping[str, Holding], read_used: int | None) -> None:
        if read_used is not None and read_used != self.in_use(key):
            raise ConcurrentUpdate(f"budget {key} changed")
        self.held[key] = dict(holders)
        self.drift.pop(key, None)
        self.damaged.discard(key)

    def holders(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        return {key: {h: held.units for h, held in self.held.get(key, {}).items()} for key in keys}

    def hold(self, key: str, holder: str, units: int, share: str = "default") -> None:
        """Room a test puts in a budget by hand."""
        self.held.setdefault(key, {})[holder] = Holding(units, share)

    def in_use(self, key: str) -> int:
        """The budget's count: its holders' room, plus any drift a test put there."""
        held = self.held.get(key, {}).values()
        return sum(holding.units for holding in held) + self.drift.get(key, 0)


class InMemoryWakeup:
    """The jobs queue as far as wake-ups go: the bodies sent, in order."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, body: str) -> None:
        self.sent.append(body)

    def take(self) -> list[str]:
        sent, self.sent = self.sent, []
        return sent


class InMemorySweepState:
    def __init__(self) -> None:
        self.lease: tuple[str, str] | None = None  # (owner, until)
        self.cursors: dict[str, str] = {}

    def acquire_lease(self, owner: str, now: datetime, until: datetime) -> bool:
        if self.lease and self.lease[0] != owner and self.lease[1] >= utc_iso(now):
            return False
        self.lease = (owner, utc_iso(until))
        return True

    def release_lease(self, owner: str) -> None:
        if self.lease and self.lease[0] == owner:
            self.lease = None

    def cursor(self, job_type: str) -> str | None:
        return self.cursors.get(job_type)

    def save_cursor(self, job_type: str, token: str | None) -> None:
        if token is None:
            self.cursors.pop(job_type, None)
        else:
            self.cursors[job_type] = token
