"""In-memory fakes of the logic's ports (``jobctl.logic.ports``): the submit and reconcile
rules run on them in milliseconds, without moto. They keep the ports' promises — writes
are conditional on the version read, a capacity transaction takes every slot or none —
so a rule that breaks with them breaks with DynamoDB too."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime

from jobctl.errors import ConcurrentUpdate, NoRoom, StaleHold, UnreadableBudget, UnreadableRecord
from jobctl.logic.ports import BudgetItem
from jobctl.logic.scheduling import Usage
from jobctl.models.jobs import InFlight, JobRecord, Notice, Phase, Waiting, utc_iso


class InMemoryLedger:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], JobRecord] = {}
        self.damaged: set[tuple[str, str]] = set()
        self.writes = 0
        # The waiting room's index is a moment behind the records: True shows it empty.
        self.index_lags = False

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

    def waiting(self) -> list[Waiting]:
        if self.index_lags:
            return []
        # A damaged record's index entry (a projection of a few attributes) still reads.
        return [Waiting.model_validate(r.model_dump()) for r in self.records.values() if r.waiting]

    def in_repair(self, phase: Phase, before: str | None = None) -> list[JobRecord]:
        return [
            r
            for key, r in self.records.items()
            if r.repair == phase and (before is None or r.updated_at < before)
            if key not in self.damaged
        ]

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
    """Budgets' room; an admission writes the record to ``ledger`` in the same step."""

    def __init__(self, ledger: InMemoryLedger) -> None:
        self.ledger = ledger
        self.held: dict[str, dict[str, tuple[int, str]]] = {}  # budget -> holder -> (units, share)
        # A count that drifted from its holders, and items damaged by hand, by budget.
        self.drift: dict[str, int] = {}
        self.damaged: set[str] = set()

    def usage(self, keys: Iterable[str]) -> dict[str, Usage]:
        found = {}
        for key in keys:
            if key in self.damaged:
                raise UnreadableBudget(f"jobctl#capacity#{key}", key)
            holders = self.held.get(key, {})
            by_share: dict[str, int] = {}
            for units, share in holders.values():
                by_share[share] = by_share.get(share, 0) + units
            found[key] = Usage(self.in_use(key), by_share)
        return found

    def admit(
        self,
        holder: str,
        share: str,
        needs: Mapping[str, int],
        limits: Mapping[str, int],
        record: JobRecord,
    ) -> JobRecord:
        stored = self.ledger.records.get(record.key)
        if stored is None or stored.version != record.version:
            raise ConcurrentUpdate(f"{record.key} changed since it was read")
        if any(holder in self.held.get(key, {}) for key in needs):
            raise StaleHold(f"{holder} holds room already")
        for key, units in needs.items():
            if self.in_use(key) + units > limits[key]:
                raise NoRoom(key)
        written = self.ledger.update(record)
        for key, units in needs.items():
            self.held.setdefault(key, {})[holder] = (units, share)
        return written

    def release(self, holder: str, holds: Mapping[str, int]) -> None:
        for key in holds:
            self.held.get(key, {}).pop(holder, None)

    def read(self, keys: Iterable[str]) -> dict[str, BudgetItem | None]:
        return {
            key: None
            if key in self.damaged
            else BudgetItem(self.in_use(key), dict(self.held.get(key, {})))
            for key in keys
        }

    def rebuild(self, key: str, holders: dict[str, tuple[int, str]], read_used: int | None) -> None:
        if read_used is not None and read_used != self.in_use(key):
            raise ConcurrentUpdate(f"budget {key} changed")
        self.held[key] = dict(holders)
        self.drift.pop(key, None)
        self.damaged.discard(key)

    def holders(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        return {key: {h: units for h, (units, _) in self.held.get(key, {}).items()} for key in keys}

    def in_use(self, key: str) -> int:
        """The budget's count: its holders' room, plus any drift a test put there."""
        return sum(units for units, _ in self.held.get(key, {}).values()) + self.drift.get(key, 0)


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
