"""Nothing waits for ever on a lost message (docs/contract.md §6): for each phase that is
not settled, what moves it on can be lost or fail half-way, and the sweep repairs it.
Each test is one fault a hostile review reproduced (issue 16), on in-memory fakes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from jobctl.errors import RetryableError
from jobctl.logic import lifecycle
from jobctl.logic.scheduling import OVERALL
from jobctl.logic.submission import Delivery
from jobctl.models.jobs import Phase
from jobctl.models.requests import parse_request
from tests.support.environment import MAX_RECEIVE_COUNT
from tests.support.requests import request_body
from tests.unit.conftest import Logic

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/jobctl-jobs"
CAPACITY = "CapacityError: Unable to provision requested ML compute capacity."
GPU = "ml.p4d.24xlarge"
CPU = "ml.m5.xlarge"


def job(name: str, retries: int = 1, instance_type: str = CPU, **fields: Any) -> dict[str, Any]:
    body = request_body(job_name=name, request_id=name, **fields)
    body["spec"]["ResourceConfig"] = {
        **body["spec"]["ResourceConfig"],
        "InstanceType": instance_type,
    }
    if retries > 1:
        body["retry"] = {"attempts": retries}
    return body


def report(logic: Logic, sagemaker_name: str) -> None:
    logic.reconciler.on_state_change("TrainingJob", logic.sagemaker.event(sagemaker_name))


def fail(logic: Logic, sagemaker_name: str, reason: str = CAPACITY) -> None:
    logic.sagemaker.set_state("TrainingJob", sagemaker_name, "Failed", "Failed", reason)
    report(logic, sagemaker_name)


def failing_once(action: Callable[..., Any]) -> Callable[..., Any]:
    """``action``, which fails the first time it is called, as a throttled call would."""
    calls = []

    def call(*args: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise RetryableError("DynamoDB: ThrottlingException: slow down")
        return action(*args)

    return call


def minutes_later(logic: Logic, minutes: int = 3) -> dict[str, Any]:
    logic.clock.advance(minutes * 60)
    return logic.sweep()


# -- 1. a wake-up whose send failed ------------------------------------------------------


def test_a_retry_whose_wake_up_was_lost_is_woken_by_the_sweep_with_no_budget(
    logic: Logic, monkeypatch: pytest.MonkeyPatch
) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE)  # retries on, no budget at all
    logic.handle(job("a", retries=2))
    monkeypatch.setattr(logic.wakeup, "send", failing_once(logic.wakeup.send))
    fail(logic, "a")
    assert (logic.record("a").phase, logic.wakeup.sent) == (Phase.ADMITTED, [])
    assert minutes_later(logic)["repaired"]["wake-ups sent again"] == 1
    assert [o.status for o in logic.deliver_wakeups()] == ["InProgress"]
    assert logic.record("a").attempt == 2


# -- 2. a release that failed during a retry ---------------------------------------------


def test_a_failed_release_between_tries_leaks_nothing_and_blocks_nobody(
    logic: Logic, monkeypatch: pytest.MonkeyPatch
) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="2")
    logic.handle(job("a", retries=2))
    logic.handle(job("b"))
    monkeypatch.setattr(logic.capacity, "release", failing_once(logic.capacity.release))
    with pytest.raises(RetryableError):
        fail(logic, "a")  # the invocation fails: EventBridge delivers the event again
    between = logic.record("a")
    assert (between.phase, between.holds) == (Phase.BETWEEN_TRIES, {OVERALL: 1})
    assert logic.handle(job("c")).status == "Queued"  # a's room is still counted, honestly
    report(logic, "a")  # SageMaker's repeated event carries the move on at once
    assert logic.record("a").phase in (Phase.WAITING, Phase.ADMITTED)
    logic.deliver_wakeups()
    assert logic.capacity.holders([OVERALL])[OVERALL] == {"TrainingJob/a": 1, "TrainingJob/b": 1}
    assert logic.record("a").status == "InProgress"  # try 2 took the freed room, c waits
    assert logic.record("c").waiting


def test_the_sweep_finishes_a_move_between_tries_that_no_event_carried_on(
    logic: Logic, monkeypatch: pytest.MonkeyPatch
) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="2")
    logic.handle(job("a", retries=2))
    monkeypatch.setattr(logic.capacity, "release", failing_once(logic.capacity.release))
    with pytest.raises(RetryableError):
        fail(logic, "a")
    assert logic.sweep()["repaired"]["next tries"] == 0  # too soon: the event may come again
    assert minutes_later(logic)["repaired"]["next tries"] == 1
    assert [o.status for o in logic.deliver_wakeups()] == ["InProgress"]
    assert logic.record("a").attempt == 2


def test_room_a_waiting_job_is_still_named_in_is_given_back_when_it_is_admitted(
    logic: Logic,
) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="2")
    logic.handle(job("b"))
    logic.handle(job("x"))
    logic.handle(job("a"))
    # a is named in the budget though its record says it waits (a release that failed
    # before tries had a phase of their own left such leaks).
    logic.capacity.hold(OVERALL, "TrainingJob/a", 1)
    for name in ("x", "b"):
        logic.sagemaker.complete("TrainingJob", name)
        report(logic, name)
    assert [o.job_name for o in logic.deliver_wakeups()] == ["a"]
    assert logic.capacity.holders([OVERALL])[OVERALL] == {"TrainingJob/a": 1}
    assert logic.record("a").status == "InProgress"


# -- 3. a budget lowered to 0 ---------------------------------------------------------------


def test_a_budget_lowered_to_zero_never_stops_other_jobs_or_the_sweep(logic: Logic) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, INSTANCE_TYPE_BUDGETS=f"{GPU}=1,{CPU}=4")
    logic.handle(job("gpu-1", instance_type=GPU))
    logic.handle(job("gpu-2", instance_type=GPU))  # waits for gpu-1
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, INSTANCE_TYPE_BUDGETS=f"{GPU}=0,{CPU}=4")
    assert logic.handle(job("cpu")).status == "InProgress"
    logic.sagemaker.complete("TrainingJob", "gpu-1")
    report(logic, "gpu-1")
    assert logic.sweep()["failed_steps"] == []
    assert logic.notices.statuses("gpu-1") == ["Completed"]
    assert logic.record("gpu-2").waiting


# -- 4. a damaged budget item ----------------------------------------------------------------


def test_a_damaged_budget_item_leaves_jobs_waiting_and_the_sweep_writes_it_anew(
    logic: Logic,
) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="2")
    logic.handle(job("a"))
    logic.capacity.damaged.add(OVERALL)
    assert logic.handle(job("b")).status == "Queued"  # safe in the waiting room, not the DLQ
    logic.sagemaker.complete("TrainingJob", "a")
    report(logic, "a")
    assert logic.notices.statuses("a") == ["Completed"]
    swept = minutes_later(logic)
    assert swept["repaired"]["budgets derived again"] == 1
    assert [o.status for o in logic.deliver_wakeups()] == ["InProgress"]
    assert logic.capacity.holders([OVERALL])[OVERALL] == {"TrainingJob/b": 1}


def test_a_count_that_drifted_from_its_holders_is_derived_again(logic: Logic) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="2")
    logic.handle(job("a"))
    logic.capacity.drift[OVERALL] = 1  # counted, held by nobody
    assert logic.handle(job("b")).status == "Queued"
    assert logic.sweep()["repaired"]["budgets derived again"] == 1
    assert [o.status for o in logic.deliver_wakeups()] == ["InProgress"]


def test_a_job_holding_room_its_budget_forgot_is_named_again(logic: Logic) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="1")
    logic.handle(job("a"))
    logic.capacity.held[OVERALL].clear()  # a running job's hold lost
    assert logic.sweep()["repaired"]["budgets derived again"] == 0  # too soon: maybe racing
    assert minutes_later(logic)["repaired"]["budgets derived again"] == 1
    assert logic.handle(job("b")).status == "Queued"  # a still runs: b waits for its slot


# -- 5. a damaged waiting record -------------------------------------------------------------


def test_a_damaged_waiting_record_does_not_keep_its_room_from_the_jobs_behind_it(
    logic: Logic,
) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="1")
    logic.handle(job("a"))
    logic.handle(job("broken"))
    logic.clock.advance(1)
    logic.handle(job("next"))
    logic.ledger.damaged.add(("broken", "TrainingJob"))
    logic.sagemaker.complete("TrainingJob", "a")
    report(logic, "a")
    assert [o.job_name for o in logic.deliver_wakeups()] == ["next"]


# -- 6. a stale wake-up after a give-up ------------------------------------------------------


def test_the_controllers_own_stale_wake_up_never_brings_back_a_job_given_up(
    logic: Logic, monkeypatch: pytest.MonkeyPatch
) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="1")
    logic.handle(job("a"))
    logic.handle(job("b"))
    logic.sagemaker.complete("TrainingJob", "a")
    report(logic, "a")
    (first,) = logic.wakeup.take()
    minutes_later(logic, 15)  # the first wake-up seemed lost: the sweep sends a second
    (second,) = logic.wakeup.take()
    assert (json.loads(first)["wake"], json.loads(second)["wake"]) == (1, 2)

    def refuse(*_: Any) -> str:
        raise RetryableError("SageMaker: ThrottlingException: Rate exceeded")

    monkeypatch.setattr(logic.submitter.submit.context.sagemaker, "create_job", refuse)
    with pytest.raises(RetryableError):
        logic.handle_text(second, receive_count=MAX_RECEIVE_COUNT)
    monkeypatch.undo()
    assert logic.record("b").status == "SubmitFailed"
    assert logic.handle_text(first).status == "SubmitFailed"  # the stale one: nothing happens
    assert logic.notices.statuses("b") == ["SubmitFailed"]
    # The user redrives the message that was given up: that one does try again.
    assert logic.handle_text(second).status in ("Queued", "InProgress")


# -- 8. an unexpected error on the last delivery ---------------------------------------------


def test_an_unexpected_error_on_the_last_delivery_gives_the_job_up_with_one_notice(
    logic: Logic, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-value-that-must-not-leak"

    def broken(*_: Any) -> str:
        raise ValueError(f"unexpected answer mentioning {secret}")

    monkeypatch.setattr(logic.submitter.submit.context.sagemaker, "create_job", broken)
    body = job("a")
    body["spec"]["Environment"] = {"DB_URL": secret}
    with pytest.raises(ValueError, match="unexpected"):
        logic.handle(body, receive_count=MAX_RECEIVE_COUNT - 1)
    assert logic.record("a").status == "Queued"  # not the last delivery: tried again
    with pytest.raises(ValueError, match="unexpected"):
        logic.handle(body, receive_count=MAX_RECEIVE_COUNT)
    given_up = logic.record("a")
    assert given_up.status == "SubmitFailed"
    assert (
        given_up.failure_reason
        == "submitting failed (ValueError: unexpected answer mentioning ***)"
    )
    assert logic.notices.statuses("a") == ["SubmitFailed"]


# -- the sweep's steps ---------------------------------------------------------------------


def test_a_failing_sweep_step_never_stops_the_others_and_notices_go_first(
    logic: Logic, monkeypatch: pytest.MonkeyPatch
) -> None:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="1")
    logic.handle(job("a"))
    logic.handle(job("b"))
    monkeypatch.setattr(logic.notices, "publish", failing_once(logic.notices.publish))
    logic.sagemaker.complete("TrainingJob", "a")
    with pytest.raises(RetryableError):
        report(logic, "a")  # the notice failed: the invocation fails, to be retried
    logic.capacity.damaged.add(OVERALL)

    def broken_scan(*_: Any) -> None:
        raise RuntimeError("a bug in one step")

    monkeypatch.setattr(logic.reconciler, "_scan", broken_scan)
    swept = minutes_later(logic)
    assert swept["failed_steps"] == ["scan TrainingJob", "scan AutoMLJob"]
    assert swept["notices"] == 1
    assert logic.notices.statuses("a") == ["Completed"]
    assert swept["repaired"]["budgets derived again"] == 1


def test_a_request_whose_every_delivery_failed_before_its_record_still_ends_submit_failed(
    logic: Logic,
) -> None:
    # Powertools' own record failed on every delivery, say: the logic never ran.
    body = json.dumps(job("a"))
    request = parse_request(body)
    delivery = Delivery("message-1", MAX_RECEIVE_COUNT, body)
    logic.submitter.give_up(request, delivery, RuntimeError("DynamoDB: InternalServerError"))
    given_up = logic.record("a")
    assert (given_up.status, given_up.failure_reason) == (
        "SubmitFailed",
        "submitting failed (RuntimeError: DynamoDB: InternalServerError)",
    )
    assert logic.notices.statuses("a") == ["SubmitFailed"]
    assert logic.handle_text(body).status == "InProgress"  # the user's redrive runs it


def test_a_job_given_up_while_its_create_was_on_the_way_is_stopped_not_left_running(
    logic: Logic, monkeypatch: pytest.MonkeyPatch
) -> None:
    sagemaker = logic.submitter.submit.context.sagemaker
    create = sagemaker.create_job

    def create_then_lose_the_race(*args: Any) -> str:
        arn = create(*args)  # meanwhile, the last delivery of a copy gave the job up
        record = logic.record("a")
        logic.ledger.update(
            lifecycle.settle_by_controller(record, "SubmitFailed", "given up", logic.clock.now()),
            record,
        )
        return arn

    monkeypatch.setattr(sagemaker, "create_job", create_then_lose_the_race)
    assert logic.handle(job("a")).status == "SubmitFailed"
    assert logic.sagemaker.status("TrainingJob", "a") in ("Stopping", "Stopped")


def test_the_sweep_records_every_job_it_catches_up_with_then_runs_one_pass(
    logic: Logic, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pass reads the waiting room: one per job caught up with made a sweep with
    # many lost events run out of time before reaching the oldest, sweep after sweep.
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="3")
    for name in ("a", "b", "c", "d"):
        logic.handle(job(name))
    for name in ("a", "b", "c"):
        logic.sagemaker.complete("TrainingJob", name)  # their events are lost
    passes = []
    waiting_shares = logic.ledger.waiting_shares

    def counted() -> dict[str, int]:
        passes.append(1)  # each pass starts by reading the waiting room's counts
        return waiting_shares()

    monkeypatch.setattr(logic.ledger, "waiting_shares", counted)
    logic.sweep()
    assert [logic.record(n).status for n in ("a", "b", "c")] == ["Completed"] * 3
    assert len(passes) == 1
    assert [o.job_name for o in logic.deliver_wakeups()] == ["d"]


def test_a_wake_up_stuck_behind_a_backlog_is_sent_again_ever_less_often(logic: Logic) -> None:
    # A queue with a backlog delays every wake-up; a fixed beat of new ones deepens it.
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="1")
    logic.handle(job("a"))
    logic.handle(job("b"))
    logic.sagemaker.complete("TrainingJob", "a")
    report(logic, "a")  # b is admitted and woken; its wake-up waits in the queue
    sent_at = []
    for minute in range(1, 31):
        logic.clock.advance(60)
        if logic.sweep()["repaired"]["wake-ups sent again"]:
            sent_at.append(minute)
    # Each at the first sweep after its grace passed: 2, then 4, then 8 minutes.
    assert sent_at == [3, 8, 17]
