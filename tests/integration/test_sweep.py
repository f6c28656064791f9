"""The sweep's cost follows what is in flight, never the account's history (docs/contract.md §6):
against a simulated account that keeps thousands of old jobs, that filters List pages
after taking them, and that limits List to 2 calls a second."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from jobctl.config import get_settings
from tests.support.requests import request_body
from tests.support.stack import Stack

LISTS = ("ListTrainingJobs", "ListAutoMLJobs")
DESCRIBES = ("DescribeTrainingJob", "DescribeAutoMLJob")


def submit_many(stack: Stack, count: int, prefix: str = "fleet") -> list[str]:
    names = [f"{prefix}-{index:04d}" for index in range(count)]
    bodies = [request_body(job_name=name, request_id=name) for name in names]
    for start in range(0, count, 10):
        assert stack.submit(*bodies[start : start + 10]) == {"batchItemFailures": []}
    return names


def calls(stack: Stack, operations: tuple[str, ...]) -> int:
    return sum(stack.sagemaker.calls[operation] for operation in operations)


def sweep_counting(stack: Stack) -> tuple[dict[str, Any], int, int]:
    """One sweep: its report, and the List and Describe calls it made."""
    lists, describes = calls(stack, LISTS), calls(stack, DESCRIBES)
    report = stack.sweep()["sweep"]
    return report, calls(stack, LISTS) - lists, calls(stack, DESCRIBES) - describes


@pytest.fixture(autouse=True)
def fleet_account(stack: Stack) -> None:
    """These tests model an account that runs hundreds of jobs at once: it was granted
    the instances for them (the simulated account's default is 30 ml.m5.xlarge)."""
    stack.sagemaker.set_quota("ml.m5.xlarge", 500)


@pytest.fixture
def settings(stack: Stack) -> Any:
    """Change the functions' settings for one test."""
    return stack.reconfigure


def test_a_sweep_over_a_long_history_lists_only_the_pages_that_hold_jobs_in_flight(
    stack: Stack,
) -> None:
    stack.sagemaker.seed_history(5_000)
    submit_many(stack, 150)

    first, lists, describes = sweep_counting(stack)
    assert (lists, describes) == (2, 0)  # 150 jobs of ours on the newest two pages
    assert first["updated"] == 150  # their progress, from the List summaries
    quiet, lists, describes = sweep_counting(stack)
    assert (lists, describes, quiet["updated"]) == (2, 0, 0)


def test_a_sweep_lists_newest_first_and_stops_where_its_oldest_job_in_flight_is(
    stack: Stack,
) -> None:
    stack.sagemaker.seed_history(3_000, span=timedelta(days=300))
    (name,) = submit_many(stack, 1)
    stack.sagemaker.set_state("TrainingJob", name, "InProgress", "Training")  # event lost
    report, lists, _ = sweep_counting(stack)
    assert lists == 1
    assert report["listed"] == 100  # one page, in SageMaker's order: ours is the newest
    assert stack.job(name).secondary_status == "Training"


def test_a_job_type_with_nothing_in_flight_costs_no_list_call(stack: Stack) -> None:
    stack.sagemaker.seed_history(1_000)
    submit_many(stack, 3)
    stack.sweep()
    assert stack.sagemaker.calls["ListTrainingJobs"] == 1
    assert stack.sagemaker.calls["ListAutoMLJobs"] == 0


def test_a_catch_up_larger_than_the_budget_goes_on_from_its_cursor(
    stack: Stack, settings: Any
) -> None:
    settings(SWEEP_LIST_CALLS="1")
    stack.sagemaker.seed_history(500)
    names = submit_many(stack, 250)
    for name in names:  # every event was lost
        stack.sagemaker.set_state("TrainingJob", name, "InProgress", "Training")

    spent = []
    for _ in range(3):
        report, lists, _ = sweep_counting(stack)
        spent.append(lists)
    assert spent == [1, 1, 1]  # never more than the budget
    assert report["unfinished_scans"] == []
    assert {stack.job(name).secondary_status for name in names} == {"Training"}


def test_an_unfinished_scan_is_reported(stack: Stack, settings: Any) -> None:
    settings(SWEEP_LIST_CALLS="1")
    submit_many(stack, 150)
    assert stack.sweep()["sweep"]["unfinished_scans"] == ["TrainingJob"]
    assert stack.sweep()["sweep"]["unfinished_scans"] == []


def test_a_stored_cursor_sagemaker_no_longer_accepts_starts_the_scan_afresh(
    stack: Stack,
) -> None:
    (name,) = submit_many(stack, 1)
    stack.controller.reconciler.sweep_state.save_cursor("TrainingJob", "not-a-token-any-more")
    stack.sagemaker.set_state("TrainingJob", name, "InProgress", "Training")
    report = stack.sweep()["sweep"]
    assert report["list_calls"] == 2  # the refused token, then the newest page
    assert stack.job(name).secondary_status == "Training"


def test_a_job_running_for_days_is_still_caught_when_its_events_are_lost(stack: Stack) -> None:
    (name,) = submit_many(stack, 1, prefix="four-day-job")
    stack.clock.advance(timedelta(days=3).total_seconds())
    # Other teams ran hundreds of jobs since: our job is far below the List window.
    stack.sagemaker.seed_history(400, span=timedelta(days=2))
    stack.sagemaker.set_state("TrainingJob", name, "InProgress", "Training")  # event lost

    _, lists, describes = sweep_counting(stack)
    assert lists <= 5  # down to the List window (a day back), not to the job
    assert describes == 1
    assert stack.job(name).secondary_status == "Training"

    stack.clock.advance(86_400)
    stack.sagemaker.complete("TrainingJob", name)  # and its outcome's events lost too
    stack.sweep()
    assert stack.job(name).status == "Completed"
    assert len(stack.notices_for(name)) == 1


def test_old_jobs_are_described_a_few_a_sweep_least_recently_checked_first(
    stack: Stack, settings: Any
) -> None:
    settings(SWEEP_DESCRIBE_CALLS="2")
    names = submit_many(stack, 3, prefix="long-job")
    stack.clock.advance(timedelta(days=2).total_seconds())

    def checked() -> list[str]:
        return [name for name in names if stack.job(name).checked_at]

    _, _, describes = sweep_counting(stack)
    assert (describes, len(checked())) == (2, 2)
    stack.clock.advance(300)
    _, _, describes = sweep_counting(stack)
    assert (describes, len(checked())) == (2, 3)  # the one left out goes first


def test_only_one_sweep_runs_at_a_time(stack: Stack) -> None:
    submit_many(stack, 1)
    state = stack.controller.reconciler.sweep_state
    now = stack.clock.now()
    # Another invocation (an overlapping schedule, EventBridge's retry) is sweeping.
    assert state.acquire_lease("another-invocation", now, now + timedelta(minutes=5))

    report, lists, _ = sweep_counting(stack)
    assert report["skipped"] == "another sweep is running"
    assert lists == 0
    stack.clock.advance(301)  # that invocation timed out: its lease lapsed
    report, lists, _ = sweep_counting(stack)
    assert report["skipped"] is None
    assert lists == 1


def test_a_finished_sweep_hands_the_lease_on(stack: Stack) -> None:
    submit_many(stack, 1)
    assert stack.sweep()["sweep"]["skipped"] is None
    assert stack.sweep()["sweep"]["skipped"] is None


def test_the_sweep_keeps_to_sagemakers_list_rate(stack: Stack, settings: Any) -> None:
    stack.sagemaker.seed_history(200)
    submit_many(stack, 250)
    stack.sweep()
    assert stack.sagemaker.calls["ListTrainingJobs"] == 3
    assert stack.sagemaker.error_answers["ThrottlingException"] == 0
    assert stack.sagemaker.peak_rate(*LISTS) <= 2


def test_a_burst_of_requests_is_created_within_sagemakers_create_rate(stack: Stack) -> None:
    started = stack.clock.now()
    submit_many(stack, 40)
    assert stack.sagemaker.error_answers["ThrottlingException"] == 0
    assert stack.sagemaker.peak_rate("CreateTrainingJob", "CreateAutoMLJob") <= 1
    # Each of the two submit invocations the event source runs may spend half the rate.
    settings = get_settings()
    interval = settings.submit_max_concurrency / settings.sagemaker_create_rate
    elapsed = (stack.clock.now() - started).total_seconds()
    assert 39 * interval - 0.01 <= elapsed <= 40 * interval  # timedelta keeps microseconds


def test_progress_comes_from_the_events_detail_and_only_the_outcome_is_described(
    stack: Stack,
) -> None:
    (name,) = submit_many(stack, 1)
    for secondary in ("Downloading", "Training", "Uploading"):
        stack.sagemaker.set_state("TrainingJob", name, "InProgress", secondary)
        stack.deliver(stack.sagemaker.training_event(name))
        assert stack.job(name).secondary_status == secondary
    assert stack.sagemaker.calls["DescribeTrainingJob"] == 0
    stack.sagemaker.set_state("TrainingJob", name, "Completed", "Completed")
    stack.deliver(stack.sagemaker.training_event(name))
    assert stack.sagemaker.calls["DescribeTrainingJob"] == 1
    outputs = stack.job(name).outputs
    assert outputs is not None
    assert outputs["model_artifacts"]


def test_a_late_progress_event_cannot_undo_a_newer_one(stack: Stack) -> None:
    (name,) = submit_many(stack, 1)
    stack.sagemaker.set_state("TrainingJob", name, "InProgress", "Downloading")
    early = stack.sagemaker.training_event(name)
    stack.sagemaker.set_state("TrainingJob", name, "InProgress", "Training")
    stack.deliver(stack.sagemaker.training_event(name))
    stack.deliver(early)
    assert stack.job(name).secondary_status == "Training"


def test_unknown_statuses_are_kept_verbatim_from_events_and_summaries(stack: Stack) -> None:
    (name,) = submit_many(stack, 1)
    stack.sagemaker.set_state("TrainingJob", name, "InProgress", "Restarting")
    stack.deliver(stack.sagemaker.training_event(name))
    assert stack.job(name).secondary_status == "Restarting"
    stack.sagemaker.set_state("TrainingJob", name, "Deleting", "SomethingNew")  # event lost
    stack.sweep()
    record = stack.job(name)
    assert (record.sagemaker_status, record.secondary_status) == ("Deleting", "SomethingNew")
    assert record.in_flight == "TrainingJob"  # not settled: still followed
