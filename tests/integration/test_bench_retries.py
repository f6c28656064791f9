"""bench.retries: its fleet as planned, its measures on hand-made inputs, and its scenario at
a tiny scale through the handlers (docs/contract.md §9), down to the README's rows."""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any
from unittest import mock

import pytest
from bench import retries
from bench.run import headline, render_table, targets

from jobctl_tools.local.sagemaker import (
    ALGORITHM_ERROR,
    CAPACITY_ERROR,
    FAILED_TRIES_TAG,
    FAILURE_REASON_TAG,
)

TINY = 20


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    with mock.patch.dict(os.environ):  # the scenario sets the functions' environment
        return retries.scenario(TINY)


def tags(body: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in body["spec"]["Tags"]}


def test_the_fleet_has_exactly_its_shares_of_failures_and_spot_jobs() -> None:
    jobs = retries.plan_fleet(300, random.Random(retries.SEED))
    causes = Counter(job.cause for job in jobs)
    assert (causes["capacity"], causes["algorithm"]) == (30, 9)
    assert sum(job.spot for job in jobs) == 60
    tiny = Counter(job.cause for job in retries.plan_fleet(5, random.Random(1)))
    assert tiny["capacity"] == tiny["algorithm"] == 1  # at least one of each, however small


def test_a_request_fails_its_first_try_for_its_cause_only() -> None:
    failing = retries.PlannedJob("j", "nlp", "ml.m5.xlarge", 2, True, "capacity", 0.0).request()
    assert tags(failing)[FAILED_TRIES_TAG] == "1"
    assert tags(failing)[FAILURE_REASON_TAG] == CAPACITY_ERROR
    assert failing["retry"] == {"attempts": 3}
    assert failing["spec"]["EnableManagedSpotTraining"] is True
    stopping = failing["spec"]["StoppingCondition"]
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"]
    algorithm = retries.PlannedJob("k", "nlp", "ml.m5.xlarge", 1, False, "algorithm", 0.0)
    assert tags(algorithm.request())[FAILURE_REASON_TAG] == ALGORITHM_ERROR
    healthy = retries.PlannedJob("h", "nlp", "ml.m5.xlarge", 1, False, None, 0.0).request()
    assert FAILED_TRIES_TAG not in tags(healthy)


def test_a_request_s_jobs_dwell_alike_whatever_the_try() -> None:
    first = retries.dwell("bench-retry-0001", "Training", "Uploading", 1)
    assert retries.dwell("bench-retry-0001", "Training", "Uploading", 1) == first
    low, high = retries.DWELL_BEFORE_FAILING["Starting"]
    assert low <= retries.dwell("bench-retry-0001", "Starting", "Failed", 1) <= high


def test_notices_are_counted_per_job_and_against_the_record_s_tries() -> None:
    record = mock.Mock(attempts=[object(), object()])
    records = {("a", "TrainingJob"): record, ("b", "TrainingJob"): record}
    sent = [
        json.dumps({"job_name": "a", "attempts": 2}),
        json.dumps({"job_name": "b", "attempts": 1}),  # not the record's two tries
        json.dumps({"job_name": "b", "attempts": 1}),  # and sent twice
    ]
    figures = retries.notice_figures(2, retries.notices_by_job(sent), records)
    assert figures["notices_per_job"] == 1.5
    assert figures["jobs_notified_exactly_once"] == 1
    assert figures["notices_giving_the_tries"] == 1


def test_the_tiny_fleet_retries_its_capacity_failures_only_and_notifies_each_job_once(
    result: dict[str, Any],
) -> None:
    workload, checks = result["workload"], result["run"]["checks"]
    assert (
        result["retried_jobs"] == result["retried_jobs_expected"] == workload["capacity_failures"]
    )
    assert result["retried_algorithm_errors"] == 0
    assert checks["ledger_statuses"] == {
        "Completed": TINY - workload["algorithm_errors"],
        "Failed": workload["algorithm_errors"],
    }
    assert result["notices_per_job"] == 1.0
    assert result["jobs_notified_exactly_once"] == TINY
    assert result["run"]["notices_giving_the_tries"] == TINY
    assert checks["finished_within_horizon"]
    assert checks["error_count"] == checks["dead_letters"] == 0
    for instance_type, peak in checks["peak_instances_running"].items():
        assert 0 < peak <= retries.BUDGETS[instance_type]


def test_a_retry_costs_its_own_create_and_describe(result: dict[str, Any]) -> None:
    assert result["retries"] == result["retried_jobs"]
    per_retry = result["sagemaker_calls_per_retry"]
    assert per_retry["CreateTrainingJob"] == per_retry["DescribeTrainingJob"] == 1.0


def test_the_report_agrees_with_the_simulator_to_the_second(result: dict[str, Any]) -> None:
    accounts = result["report_vs_simulator"]
    assert result["report_matches_simulator"] is True
    for figure in ("billable_instance_seconds", "training_seconds", "training_instance_seconds"):
        assert accounts[figure]["jobctl"] == accounts[figure]["simulator"] > 0
    assert accounts["spot_saved_instance_seconds"]["jobctl"] > 0  # the fleet has spot jobs
    assert abs(accounts["estimated_cost_usd"]["difference"]) <= 0.0001 * result["run"]["tries"]
    tries = result["run"]["tries"]
    assert result["run"]["checks"]["tries_usage_matching_the_simulator"] == tries


def test_a_second_off_in_the_ledger_is_a_disagreement() -> None:
    with mock.patch.dict(os.environ):
        retries.scenario_environment()
        jobs = retries.plan_fleet(6, random.Random(retries.SEED))
        ran = retries.run_fleet(jobs)
    records = ran["records"]
    used = next(r for r in records if r.usage is not None)
    more = used.usage.model_copy(
        update={"billable_instance_seconds": used.usage.billable_instance_seconds + 1}
    )
    tampered = [used.model_copy(update={"usage": more}) if r is used else r for r in records]
    accounts = retries.report_against_simulator(tampered, ran["sim"])
    assert accounts["billable_instance_seconds"]["difference"] == 1
    assert accounts["agree_to_the_second"] is False
    assert retries.report_against_simulator(records, ran["sim"])["agree_to_the_second"] is True


def test_the_readme_shows_a_line_for_each_figure_and_its_target(result: dict[str, Any]) -> None:
    figures = headline({"retries": result})
    judged = {t["target"]: t["met"] for t in targets(figures)}
    assert [judged[name] for name in ("retried", "notices", "report")] == [True, True, True]
    machine = {"cores": 2, "cpu": "cpu", "implementation": "CPython", "python": "3.11"}
    table = render_table(
        {
            "machine": machine | {"platform": "Linux"},
            "run": {"started_at": "now", "commit": "abc", "wall_seconds": 1.0},
            "retries": result,
            "targets": targets(figures),
        }
    )
    for row in (
        "Jobs retried",
        "Notices per job",
        "SageMaker calls naming a retry's own job",
        "`jobctl report`",
    ):
        assert f"| {row}" in table
    assert "**scaled down**" in table
    assert "not met" not in table
    assert "{" not in table.split("**Retries")[1].replace('{"attempts"', "")  # every figure filled
