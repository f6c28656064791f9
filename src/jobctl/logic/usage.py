"""What jobs used and what that cost (docs/contract.md §9). No AWS calls.

SageMaker bills a training job's ``BillableTimeInSeconds`` on each of its instances; with
managed spot, billable time is below training time, and botocore's documentation gives
the saving as ``(1 - BillableTimeInSeconds / TrainingTimeInSeconds) * 100``. A job's
usage is the sum over its tries; its cost is estimated from the user's own prices
(``INSTANCE_PRICES``, US dollars per instance-hour), never looked up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from jobctl.models.jobs import Attempt, Usage


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
