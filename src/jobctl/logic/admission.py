"""Capacity-aware admission: how many jobs may run at once (no AWS calls here).

SageMaker limits concurrent jobs per instance type. Without a budget, a flood of
requests becomes a storm of ResourceLimitExceeded retries that burns through the
queue's maxReceiveCount. With one, a request over budget waits in the queue instead,
coming back after a capped exponential backoff with jitter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OVERALL = "all"
MAX_DELAY_SECONDS = 900  # SQS's longest message delay


@dataclass(frozen=True)
class Budget:
    key: str
    limit: int


class OverBudget(Exception):
    """The job must wait: every slot of ``budgets`` is taken. It has waited ``deferrals``
    times so far (this one included)."""

    def __init__(self, budgets: list[Budget], deferrals: int) -> None:
        self.budgets = budgets
        self.deferrals = deferrals
        super().__init__(waiting_reason(budgets))


def holder_of(job_type: str, job_name: str) -> str:
    """How a job is named in the budgets it holds a slot in."""
    return f"{job_type}/{job_name}"


def job_of(holder: str) -> tuple[str, str]:
    """The ledger key (job_name, job_type) of a holder."""
    job_type, _, job_name = holder.partition("/")
    return job_name, job_type


def waiting_reason(budgets: list[Budget]) -> str:
    full = ", ".join(
        f"{'all jobs' if b.key == OVERALL else b.key}: {b.limit} running" for b in budgets
    )
    return f"waiting for capacity ({full})"


def budgets_for(
    params: Mapping[str, Any], overall: int, per_instance_type: Mapping[str, int]
) -> list[Budget]:
    """The budgets a job needs a slot in: the overall one and its instance types' ones.

    AutoML jobs choose their own instance types, so only the overall budget applies.
    """
    budgets = [Budget(OVERALL, overall)] if overall else []
    resources = params.get("ResourceConfig") or {}
    groups = [resources, *(resources.get("InstanceGroups") or [])]
    types = {str(g["InstanceType"]) for g in groups if g.get("InstanceType") in per_instance_type}
    budgets.extend(Budget(t, per_instance_type[t]) for t in sorted(types))
    return budgets


def defer_delay(deferrals: int, base_seconds: int, rng: random.Random) -> int:
    """Seconds before a waiting request is tried again: exponential in how often it has
    waited, capped at SQS's limit, with jitter so waiting requests don't return together."""
    ceiling = min(MAX_DELAY_SECONDS, base_seconds * 2 ** min(deferrals, 16))
    return rng.randint(math.ceil(ceiling / 2), ceiling)
