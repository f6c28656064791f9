"""Faults: every one ends in exactly one SageMaker job, one terminal ledger state, one notice."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ReadTimeoutError

from jobctl.errors import RetryableError
from tests.support.environment import IDEMPOTENCY_TABLE, JOBS_TABLE
from tests.support.requests import request_body
from tests.support.stack import Crash, Stack

NAME = "demo-xgboost-churn"
SQS_BODY_LIMIT = 256 * 1024


def settle_and_count(stack: Stack) -> tuple[str, int]:
    """Complete the job, deliver its events twice and sweep: its final status and notices."""
    stack.sagemaker.complete("TrainingJob", NAME)
    event = stack.sagemaker.training_event(NAME)
    stack.deliver(event)
    stack.deliver(event)
    stack.sweep()
    record = stack.job(NAME)
    assert record is not None
    return record.status, len(stack.notices_for(NAME))


def assert_exactly_once(stack: Stack) -> None:
    assert list(stack.sagemaker.jobs) == [("TrainingJob", NAME)]
    assert settle_and_count(stack) == ("Completed", 1)


# -- SageMaker ------------------------------------------------------------------------------


def test_a_read_timeout_on_create_leaves_the_job_queued_and_the_retry_submits_once(
    stack: Stack,
) -> None:
    stack.sagemaker.interrupt_next("CreateTrainingJob", ReadTimeoutError(endpoint_url="x"))
    with pytest.raises(BatchProcessingError):
        stack.submit(request_body())
    assert stack.job(NAME).status == "Queued"
    stack.submit(request_body(), receive_count=2)
    assert_exactly_once(stack)


def test_resource_limits_for_minutes_keep_the_job_queued_until_capacity_returns(
    stack: Stack,
) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", "ResourceLimitExceeded", times=2)
    for receive in (1, 2):
        with pytest.raises(BatchProcessingError):
            stack.submit(request_body(), receive_count=receive)
        last_error = stack.job(NAME).last_error
        assert last_error is not None
        assert "ResourceLimitExceeded" in last_error
    stack.submit(request_body(), receive_count=3)
    assert stack.job(NAME).last_error is None
    assert_exactly_once(stack)


def test_a_throttled_sweep_step_is_reported_and_the_next_sweep_catches_up(stack: Stack) -> None:
    stack.submit(request_body())
    stack.sagemaker.complete("TrainingJob", NAME)  # its events are lost
    stack.sagemaker.fail_next("ListTrainingJobs", "ThrottlingException")
    assert stack.sweep()["sweep"]["failed_steps"] == ["scan TrainingJob"]
    stack.sweep()
    assert stack.job(NAME).status == "Completed"
    assert len(stack.notices_for(NAME)) == 1


def test_a_throttled_stop_is_retried_until_it_stops_the_job(stack: Stack) -> None:
    stack.submit(request_body())
    stack.sagemaker.fail_next("StopTrainingJob", "ThrottlingException")
    with pytest.raises(BatchProcessingError):
        stack.submit(request_body("stop.json"))
    stack.submit(request_body("stop.json"), receive_count=2)
    assert stack.job(NAME).status == "Stopping"


# -- DynamoDB -------------------------------------------------------------------------------


def test_a_throttled_ledger_write_fails_the_record_and_the_retry_submits_once(
    stack: Stack,
) -> None:
    stack.fail_dynamodb("PutItem", JOBS_TABLE, "ProvisionedThroughputExceededException")
    with pytest.raises(BatchProcessingError):
        stack.submit(request_body())
    assert stack.sagemaker.calls["CreateTrainingJob"] == 0
    stack.submit(request_body(), receive_count=2)
    assert_exactly_once(stack)


def test_a_throttled_ledger_read_fails_the_reconcile_invocation_for_a_retry(
    stack: Stack,
) -> None:
    stack.submit(request_body())
    stack.sagemaker.complete("TrainingJob", NAME)
    event = stack.sagemaker.training_event(NAME)
    stack.fail_dynamodb("GetItem", JOBS_TABLE, "ThrottlingException")
    with pytest.raises(RetryableError):
        stack.deliver(event)
    stack.deliver(event)
    assert stack.job(NAME).status == "Completed"


def test_two_reconcilers_racing_on_one_job_lose_no_update(stack: Stack) -> None:
    stack.submit(request_body())
    stack.sagemaker.set_state("TrainingJob", NAME, "InProgress", "Training")
    training_event = stack.sagemaker.training_event(NAME)
    stack.sagemaker.complete("TrainingJob", NAME)
    completed_event = stack.sagemaker.training_event(NAME)
    reconciler = stack.controller.reconciler
    raced: list[bool] = []

    # Just before the first reconciler writes, a second one records the newer state.
    def other_reconciler_first(params: dict[str, Any], **_: Any) -> None:
        if not raced and params.get("TableName") == JOBS_TABLE:
            raced.append(True)
            reconciler.on_state_change("TrainingJob", _hint(completed_event))

    stack.clients.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.PutItem", other_reconciler_first
    )
    stack.deliver(training_event)
    record = stack.job(NAME)
    assert raced
    assert (record.status, record.secondary_status) == ("Completed", "Completed")
    assert [h.secondary_status for h in record.history][-1] == "Completed"
    assert len(stack.notices_for(NAME)) == 1


def _hint(event: dict[str, Any]) -> Any:
    from jobctl.adapters.sagemaker import training_observation

    return training_observation(event["detail"])


def test_an_idempotency_record_left_in_progress_by_a_dead_function_expires(
    stack: Stack,
) -> None:
    # The function dies mid-submission (before SageMaker saw anything), leaving
    # Powertools' INPROGRESS record behind, valid for the time the invocation had left.
    stack.deployment.functions.remaining_ms = 1500
    stack.sagemaker.interrupt_next("CreateTrainingJob", Crash())
    with pytest.raises(Crash):
        stack.submit(request_body())
    stack.deployment.functions.remaining_ms = 60_000

    with pytest.raises(BatchProcessingError):  # still in progress: retried, not rejected
        stack.submit(request_body(), receive_count=2)
    assert stack.job(NAME).status == "Queued"

    time.sleep(1.6)  # the dead invocation's time is up
    stack.submit(request_body(), receive_count=3)
    assert_exactly_once(stack)


# -- crashes at every step boundary ---------------------------------------------------------


@pytest.mark.parametrize(
    "boundary",
    ["before create", "after create, before the ledger write", "after the ledger write"],
)
def test_a_submit_crash_at_any_step_then_redelivery_runs_the_job_exactly_once(
    stack: Stack, boundary: str
) -> None:
    stack.deployment.functions.remaining_ms = (
        100  # a dead invocation's idempotency claim expires soon
    )
    if boundary == "after the ledger write":
        stack.submit(request_body())  # succeeded, but the message was never deleted
    else:
        after_effect = boundary.startswith("after create")
        stack.sagemaker.interrupt_next("CreateTrainingJob", Crash(), after_effect=after_effect)
        with pytest.raises(Crash):
            stack.submit(request_body())
    stack.deployment.functions.remaining_ms = 60_000
    time.sleep(0.2)
    assert stack.submit(request_body(), receive_count=2) == {"batchItemFailures": []}
    assert stack.job(NAME).status == "InProgress"
    assert_exactly_once(stack)


@pytest.mark.parametrize("boundary", ["after describe", "after the ledger write, before publish"])
def test_a_reconcile_crash_at_any_step_then_retries_announce_exactly_once(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, boundary: str
) -> None:
    stack.reconfigure(NOTICE_LEASE_SECONDS="1")
    stack.submit(request_body())
    stack.sagemaker.complete("TrainingJob", NAME)
    event = stack.sagemaker.training_event(NAME)
    if boundary == "after describe":
        stack.sagemaker.interrupt_next("DescribeTrainingJob", Crash(), after_effect=True)
    else:
        sns = stack.clients.sns
        monkeypatch.setattr(sns, "publish", _crash_once(sns.publish))
    with pytest.raises(Crash):
        stack.deliver(event)
    stack.deliver(event)  # EventBridge retries the invocation
    stack.clock.advance(1.1)  # any claim the dead invocation held has lapsed
    stack.sweep()
    stack.sweep()
    assert stack.job(NAME).status == "Completed"
    assert len(stack.notices_for(NAME)) == 1
    assert list(stack.sagemaker.jobs) == [("TrainingJob", NAME)]


def _crash_once(publish: Any) -> Any:
    crashed: list[bool] = []

    def publish_or_crash(**kwargs: Any) -> Any:
        if not crashed:
            crashed.append(True)
            raise Crash
        return publish(**kwargs)

    return publish_or_crash


# -- poison messages ------------------------------------------------------------------------


def near_limit_body() -> str:
    body = request_body(job_name="huge-request", request_id="huge-1")
    body["spec"]["Environment"] = {}
    index = 0
    while len(json.dumps(body)) < SQS_BODY_LIMIT - 600:
        body["spec"]["Environment"][f"1-BAD-{index}"] = "v" * 500
        index += 1
    return json.dumps(body)


POISON = {
    "near the 256 KB limit": near_limit_body(),
    "deeply nested JSON": "[" * 50_000 + "]" * 50_000,
    "malformed JSON": '{"job_type": "TrainingJob", ',
    "unicode job name": json.dumps(request_body(job_name="модель-обучение", request_id="ü-1")),
    "wrong types": json.dumps({"job_type": 7, "job_name": ["x"], "spec": "text"}),
    "JSON null": "null",
    "empty body": "",
    "huge number": '{"job_type": "TrainingJob", "job_name": "n", "spec": {"x": 1'
    + "0" * 5000
    + "}}",
}


def test_poison_messages_are_rejected_at_once_and_never_cycle_to_the_dlq(stack: Stack) -> None:
    ids = [f"poison-{i}" for i in range(len(POISON))]
    assert stack.submit(*POISON.values(), message_ids=ids) == {"batchItemFailures": []}
    items = stack.ledger_items()
    assert len(items) == len(POISON)
    assert {item["status"]["S"] for item in items} == {"Rejected"}
    assert len(stack.notices()) == len(POISON)
    huge = stack.job("huge-request")
    assert huge is not None
    assert huge.failure_reason is not None
    assert "more problems" in huge.failure_reason
    assert len(huge.failure_reason) < 10_000


def test_a_poison_message_redelivered_is_still_one_rejection(stack: Stack) -> None:
    for receive in (1, 2):
        stack.submit(
            POISON["deeply nested JSON"], message_ids=["poison-again"], receive_count=receive
        )
    assert len(stack.ledger_items()) == 1
    assert len(stack.notices()) == 1


def test_idempotency_records_hold_no_request_values(stack: Stack) -> None:
    stack.submit(request_body())
    import boto3

    items = boto3.client("dynamodb").scan(TableName=IDEMPOTENCY_TABLE)["Items"]
    assert items
    secret = request_body()["spec"]["Environment"]["WANDB_API_KEY"]
    assert secret not in json.dumps(items)
