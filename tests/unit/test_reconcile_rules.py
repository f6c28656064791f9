"""What the reconciler records (docs/contract.md §6), on in-memory fakes: no moto."""

from __future__ import annotations

from datetime import timedelta

from jobctl.models.jobs import Observation
from tests.support.requests import request_body
from tests.unit.conftest import Logic

NAME = "demo-xgboost-churn"


def event_detail(logic: Logic, name: str = NAME) -> Observation:
    return logic.sagemaker.event(name)


def submitted(logic: Logic, count: int = 1) -> list[str]:
    names = [f"job-{index:03d}" for index in range(count)] if count > 1 else [NAME]
    for name in names:
        logic.handle(request_body(job_name=name, request_id=name))
    return names


def test_progress_comes_from_the_event_and_only_the_outcome_is_described(logic: Logic) -> None:
    submitted(logic)
    logic.sagemaker.set_state("TrainingJob", NAME, "InProgress", "Training")
    logic.reconciler.on_state_change("TrainingJob", event_detail(logic))
    assert logic.record(NAME).secondary_status == "Training"
    assert logic.sagemaker.calls["describe_job"] == 0
    logic.sagemaker.complete("TrainingJob", NAME)
    logic.reconciler.on_state_change("TrainingJob", event_detail(logic))
    assert logic.record(NAME).status == "Completed"
    assert logic.sagemaker.calls["describe_job"] == 1
    assert logic.notices.statuses(NAME) == ["Completed"]


def test_a_duplicate_or_stale_event_changes_nothing_and_costs_nothing(logic: Logic) -> None:
    submitted(logic)
    logic.sagemaker.set_state("TrainingJob", NAME, "InProgress", "Downloading")
    early = event_detail(logic)
    logic.sagemaker.set_state("TrainingJob", NAME, "InProgress", "Training")
    logic.reconciler.on_state_change("TrainingJob", event_detail(logic))
    writes = logic.ledger.writes
    for detail in (early, event_detail(logic)):
        logic.reconciler.on_state_change("TrainingJob", detail)
    assert logic.record(NAME).secondary_status == "Training"
    assert logic.ledger.writes == writes


def test_a_sweep_with_nothing_in_flight_lists_nothing(logic: Logic) -> None:
    logic.sagemaker.add_history(500)
    assert logic.sweep()["list_calls"] == 0
    assert logic.sagemaker.calls["list_newest"] == 0


def test_a_sweep_over_a_long_history_reads_only_the_pages_in_flight(logic: Logic) -> None:
    # A mature account: jobs are never deleted, and a List page is taken before it is
    # filtered. 200 of ours in flight fill two pages, newest first; a third shows the scan
    # passed the oldest of them. Nothing below it is read.
    logic.sagemaker.add_history(50_000)
    submitted(logic, 200)
    first = logic.sweep()
    assert (first["list_calls"], first["updated"], first["described"]) == (3, 200, 0)
    logic.clock.advance(300)
    quiet = logic.sweep()
    assert (quiet["list_calls"], quiet["described"]) == (3, 0)


def test_a_sweep_stands_down_while_another_holds_the_lease(logic: Logic) -> None:
    submitted(logic)
    now = logic.clock.now()
    logic.sweep_state.acquire_lease("other", now, now + timedelta(minutes=5))
    assert logic.sweep()["skipped"] == "another sweep is running"
    assert logic.sagemaker.calls["list_newest"] == 0


def test_a_damaged_record_is_skipped_and_the_others_caught_up(logic: Logic) -> None:
    names = submitted(logic, 2)
    logic.ledger.damaged.add((names[0], "TrainingJob"))
    logic.sagemaker.complete("TrainingJob", names[1])  # its events were lost
    logic.sweep()
    assert logic.record(names[1]).status == "Completed"
    assert logic.notices.statuses(names[1]) == ["Completed"]


def test_a_job_older_than_the_list_window_is_described_instead(logic: Logic) -> None:
    submitted(logic)
    logic.clock.advance(timedelta(days=2).total_seconds())
    logic.sagemaker.set_state("TrainingJob", NAME, "InProgress", "Training")  # events lost
    report = logic.sweep()
    assert report["described"] == 1
    assert logic.record(NAME).secondary_status == "Training"


def test_a_sweep_short_of_time_leaves_the_rest_of_its_catch_up_to_the_next(
    logic: Logic,
) -> None:
    names = submitted(logic, 150)
    for name in names:  # every job settled, and every event was lost
        logic.sagemaker.complete("TrainingJob", name)
    logic.sagemaker.call_seconds = 0.25  # paced calls: 150 Describes take 37 s
    started = logic.clock.now()
    first = logic.reconciler.sweep("a-sweep", timedelta(seconds=45)).__dict__
    assert logic.clock.now() <= started + timedelta(seconds=45)
    assert 0 < first["described"] < 150
    logic.reconciler.sweep("another-sweep", timedelta(minutes=5))
    assert {logic.record(name).status for name in names} == {"Completed"}
