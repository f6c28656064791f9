"""jobctl report's sums (docs/contract.md §9): jobs, billable instance-hours, spot savings
and estimated cost per share, job type or status, over mixed shares."""

from __future__ import annotations

from typing import Any

import pytest

from jobctl.models.jobs import Attempt, JobRecord, Usage
from jobctl_cli.report import report

AT = "2026-12-01T00:00:00.000Z"


def job(
    name: str,
    share: str | None,
    billable: int = 0,
    training: int | None = None,
    count: int = 1,
    cost: float | None = None,
    tries: int = 1,
    **fields: Any,
) -> JobRecord:
    usage = (
        Usage(
            instance_type="ml.m5.xlarge",
            instance_count=count,
            training_seconds=training if training is not None else billable,
            billable_seconds=billable,
            billable_instance_seconds=billable * count,
            spot=training is not None,
            instances={"ml.m5.xlarge": count},
        )
        if billable
        else None
    )
    attempts = [Attempt(sagemaker_job_name=f"{name}-{n}", status="Failed") for n in range(tries)]
    return JobRecord(
        job_name=name,
        job_type=fields.pop("job_type", "TrainingJob"),
        status=fields.pop("status", "Completed"),
        created_at=AT,
        updated_at=AT,
        share=share,
        usage=usage,
        estimated_cost_usd=cost,
        attempts=attempts,
        **fields,
    )


RECORDS = [
    job("a", "research", billable=3600, count=2, cost=0.46),
    job("b", "research", billable=1800, training=6000, cost=0.115, tries=2),  # spot
    job("c", "prod", billable=7200, cost=1.0),
    job("d", None, billable=3600),  # no price for its type
    job("e", "prod", job_type="AutoMLJob"),  # no usage reported
    job("f", "prod", status="Rejected", tries=0),
]


def test_totals_per_share_sum_the_jobs_usage_and_cost() -> None:
    result = report(RECORDS, by="share").as_dict()
    groups = {g["group"]: g for g in result["groups"]}
    assert groups["research"] == {
        "group": "research",
        "jobs": 2,
        "tries": 3,
        "billable_instance_seconds": 9000,
        "billable_instance_hours": 2.5,
        "spot_saved_instance_hours": pytest.approx(4200 / 3600, abs=1e-4),
        "estimated_cost_usd": 0.575,
        "unpriced_jobs": 0,
        "preempted_tries": 0,
        "preempted_instance_hours": 0.0,
        "preempted_cost_usd": 0.0,
    }
    assert (groups["prod"]["jobs"], groups["prod"]["estimated_cost_usd"]) == (3, 1.0)
    assert (groups["default"]["unpriced_jobs"], groups["default"]["estimated_cost_usd"]) == (1, 0)
    total = result["total"]
    assert total["jobs"] == 6
    assert total["billable_instance_seconds"] == 9000 + 7200 + 3600
    assert total["estimated_cost_usd"] == pytest.approx(1.575)


def test_groups_are_ordered_by_cost_then_use() -> None:
    assert [g.group for g in report(RECORDS).groups] == ["prod", "research", "default"]


@pytest.mark.parametrize(
    ("by", "groups"),
    [
        ("job_type", {"TrainingJob": 5, "AutoMLJob": 1}),
        ("status", {"Completed": 5, "Rejected": 1}),
    ],
)
def test_totals_by_job_type_or_status(by: Any, groups: dict[str, int]) -> None:
    assert {g.group: g.jobs for g in report(RECORDS, by=by).groups} == groups


def test_what_preempted_tries_used_is_counted_per_share_with_its_part_of_the_cost() -> None:
    """docs/contract.md §10: a job whose first try was preempted after an hour on 2
    instances, and whose second ran 3 hours: a quarter of its cost was lost."""
    first = Usage(
        instance_type="ml.p4d.24xlarge",
        instance_count=2,
        training_seconds=3600,
        billable_seconds=3600,
        billable_instance_seconds=7200,
        instances={"ml.p4d.24xlarge": 2},
    )
    second = first.model_copy(
        update={
            "training_seconds": 10800,
            "billable_seconds": 10800,
            "billable_instance_seconds": 21600,
        }
    )
    record = job("resumed", "research", billable=14400, count=2, cost=100.0, tries=0)
    record = record.model_copy(
        update={
            "attempts": [
                Attempt(sagemaker_job_name="r", status="Stopped", usage=first, preempted_by="p"),
                Attempt(sagemaker_job_name="r-try2", status="Completed", usage=second),
            ]
        }
    )
    (research,) = report([record]).as_dict()["groups"]
    assert research["preempted_tries"] == 1
    assert research["preempted_instance_hours"] == 2.0
    assert research["preempted_cost_usd"] == 25.0
