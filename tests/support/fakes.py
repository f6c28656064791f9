"""In-memory fakes of the logic's ports (``jobctl.logic.ports``): the submit and reconcile
rules run on them in milliseconds, without moto. They keep the ports' promises — writes
are conditional on the version read, a capacity transaction takes every slot or none —
so a rule that breaks with them breaks with DynamoDB too."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from jobctl.errors import ConcurrentUpdate, UnreadableRecord
from jobctl.logic.admission import Budget
from jobctl.models.jobs import InFlight, JobRecord, Notice, utc_iso


class InMemoryLedger:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], JobRecord] = {}
        self.damaged: set[tuple[str, str]] = set()
        self.writes = 0

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
        return self._store(record.model_copy(update={"version": 1}))

    def update(self, record: JobRecord) -> JobRecord:
        stored = self.records.get(record.key)
        if stored is None or stored.version != record.version:
            raise ConcurrentUpdate(f"{record.key} changed since it was read")
        return self._store(record.model_copy(update={"version": record.version + 1}))

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

    def _store(self, record: JobRecord) -> JobRecord:
        self.writes += 1
        self.records[record.key] = record
        return record


class InMemoryNotices:
    def __init__(self) -> None:
        self.published: list[Notice] = []

    def publish(self, notice: Notice) -> None:
        self.published.append(notice)

    def statuses(self, job_name: str) -> list[str]:
        return [n.status for n in self.published if n.job_name == job_name]


class InMemoryCapacity:
    def __init__(self) -> None:
        self.held: dict[str, set[str]] = {}

    def acquire(self, holder: str, budgets: list[Budget]) -> list[Budget]:
        full = [
            b
            for b in budgets
            if holder not in self.held.get(b.key, set())
            and len(self.held.get(b.key, set())) >= b.limit
        ]
        if not full:
            for budget in budgets:
                self.held.setdefault(budget.key, set()).add(holder)
        return full

    def release(self, holder: str, keys: Iterable[str]) -> None:
        for key in keys:
            self.held.get(key, set()).discard(holder)

    def holders(self, keys: Iterable[str]) -> dict[str, set[str]]:
        return {key: set(self.held.get(key, set())) for key in keys}


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
