"""``jobctl report``: what jobs used and cost, per group (docs/contract.md §9).

Sums the ledger's records as they are: a job's ``usage`` is already the sum over its
tries, ``estimated_cost_usd`` its priced part. Only training jobs report usage; a job
without it (AutoML, rejected, still running) counts as a job and nothing more.

What preemption cost (docs/contract.md §10) is the preempted tries' billable time, all
of it: a job that resumes from its checkpoints lost less, but the ledger cannot tell how
much. Its cost is the job's estimated cost in proportion (a job's tries run on the same
instances).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from jobctl.models.jobs import JobRecord
from jobctl.models.requests import DEFAULT_SHARE

GroupBy = Literal["share", "job_type", "status"]
GROUP_BY: tuple[GroupBy, ...] = ("share", "job_type", "status")


@dataclass
class Totals:
    """One group's jobs, the billable instance-seconds they used (and what spot saved),
    and their estimated cost (jobs without a price left out of it, and counted)."""

    group: str
    jobs: int = 0
    tries: int = 0
    billable_instance_seconds: int = 0
    spot_saved_instance_seconds: int = 0
    estimated_cost_usd: float = 0.0
    unpriced_jobs: int = 0
    preempted_tries: int = 0
    preempted_instance_seconds: int = 0
    preempted_cost_usd: float = 0.0

    @property
    def billable_instance_hours(self) -> float:
        return self.billable_instance_seconds / 3600

    @property
    def spot_saved_instance_hours(self) -> float:
        return self.spot_saved_instance_seconds / 3600

    @property
    def preempted_instance_hours(self) -> float:
        return self.preempted_instance_seconds / 3600

    def add(self, record: JobRecord) -> None:
        self.jobs += 1
        self.tries += len(record.attempts)
        preempted = [a for a in record.attempts if a.preempted_by is not None]
        self.preempted_tries += len(preempted)
        usage = record.usage
        if usage is None:
            return
        self.billable_instance_seconds += usage.billable_instance_seconds
        self.spot_saved_instance_seconds += usage.spot_saved_instance_seconds
        lost = sum(a.usage.billable_instance_seconds for a in preempted if a.usage is not None)
        self.preempted_instance_seconds += lost
        if record.estimated_cost_usd is None:
            self.unpriced_jobs += 1
        else:
            self.estimated_cost_usd += record.estimated_cost_usd
            if usage.billable_instance_seconds:
                share = lost / usage.billable_instance_seconds
                self.preempted_cost_usd += record.estimated_cost_usd * share

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "jobs": self.jobs,
            "tries": self.tries,
            "billable_instance_seconds": self.billable_instance_seconds,
            "billable_instance_hours": round(self.billable_instance_hours, 4),
            "spot_saved_instance_hours": round(self.spot_saved_instance_hours, 4),
            "estimated_cost_usd": round(self.estimated_cost_usd, 4),
            "unpriced_jobs": self.unpriced_jobs,
            "preempted_tries": self.preempted_tries,
            "preempted_instance_hours": round(self.preempted_instance_hours, 4),
            "preempted_cost_usd": round(self.preempted_cost_usd, 4),
        }


@dataclass
class Report:
    by: GroupBy
    groups: list[Totals] = field(default_factory=list)
    total: Totals = field(default_factory=lambda: Totals("all"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "groups": [group.as_dict() for group in self.groups],
            "total": self.total.as_dict(),
        }


def group_of(record: JobRecord, by: GroupBy) -> str:
    if by == "share":
        return record.share or DEFAULT_SHARE
    return record.job_type if by == "job_type" else record.status


def report(records: Iterable[JobRecord], by: GroupBy = "share") -> Report:
    """The records' totals per group, the most costly first (then the most used)."""
    groups: dict[str, Totals] = {}
    result = Report(by)
    for record in records:
        name = group_of(record, by)
        groups.setdefault(name, Totals(name)).add(record)
        result.total.add(record)
    result.groups = sorted(
        groups.values(),
        key=lambda t: (-t.estimated_cost_usd, -t.billable_instance_seconds, t.group),
    )
    return result
