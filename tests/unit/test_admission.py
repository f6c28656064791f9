"""Admission rules: which budgets a job needs, and how long a waiting request stays away."""

from __future__ import annotations

import random

import pytest

from jobctl.logic.admission import MAX_DELAY_SECONDS, OVERALL, Budget, budgets_for, defer_delay


def test_a_training_job_needs_the_overall_budget_and_its_instance_types() -> None:
    params = {
        "ResourceConfig": {
            "InstanceGroups": [
                {"InstanceType": "ml.p4d.24xlarge", "InstanceCount": 2, "InstanceGroupName": "a"},
                {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "InstanceGroupName": "b"},
            ]
        }
    }
    budgets = budgets_for(params, 10, {"ml.p4d.24xlarge": 2, "ml.c5.xlarge": 4, "ml.g5": 1})
    assert budgets == [Budget(OVERALL, 10), Budget("ml.c5.xlarge", 4), Budget("ml.p4d.24xlarge", 2)]


def test_automl_jobs_and_unbudgeted_types_need_only_the_overall_budget() -> None:
    assert budgets_for({"ProblemType": "BinaryClassification"}, 3, {"ml.p4d.24xlarge": 1}) == [
        Budget(OVERALL, 3)
    ]
    assert budgets_for({"ResourceConfig": {"InstanceType": "ml.m5.xlarge"}}, 0, {"x": 1}) == []


@pytest.mark.parametrize("deferrals", [1, 2, 5, 40])
def test_the_backoff_grows_is_capped_and_jittered(deferrals: int) -> None:
    rng = random.Random(3)
    delays = {defer_delay(deferrals, 30, rng) for _ in range(50)}
    ceiling = min(MAX_DELAY_SECONDS, 30 * 2**deferrals)
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(delays) > 1  # jittered, so waiting requests do not return together
