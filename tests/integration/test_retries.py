"""Retries through the handlers, on DynamoDB and SQS (moto): a retry's wake-up is a new
delivery for Powertools idempotency, the ledger stores what the tries used, and the one
notice carries it (docs/contract.md §9)."""

from __future__ import annotations

import json

import boto3
import pytest

from jobctl.logic.lifecycle import try_name
from tests.support.environment import JOBS_TABLE
from tests.support.requests import request_body
from tests.support.stack import Stack

NAME = "demo-xgboost-churn"
CAPACITY = "CapacityError: Unable to provision requested ML compute capacity."


@pytest.fixture
def retrying(stack: Stack) -> tuple[Stack, str]:
    queue_url = boto3.client("sqs").create_queue(QueueName="jobctl-jobs")["QueueUrl"]
    stack.reconfigure(JOBS_QUEUE_URL=queue_url, INSTANCE_PRICES="ml.m5.xlarge=0.23")
    return stack, queue_url


def taken(queue_url: str) -> list[str]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [message["Body"] for message in messages]


def settle(stack: Stack, name: str, status: str, reason: str | None, seconds: int) -> None:
    used = {"TrainingTimeInSeconds": seconds, "BillableTimeInSeconds": seconds}
    stack.sagemaker.set_state("TrainingJob", name, status, status, reason, **used)
    stack.deliver(stack.sagemaker.training_event(name))


def test_a_retried_job_runs_its_second_try_and_announces_what_both_used(
    retrying: tuple[Stack, str],
) -> None:
    stack, queue_url = retrying
    body = request_body()
    body["retry"] = {"attempts": 2}
    assert stack.submit(body) == {"batchItemFailures": []}
    settle(stack, NAME, "Failed", CAPACITY, 1800)

    (wakeup,) = taken(queue_url)
    assert json.loads(wakeup)["attempt"] == 2
    assert stack.submit(wakeup) == {"batchItemFailures": []}  # not the original's replay
    second = try_name("TrainingJob", NAME, 2)
    assert stack.job(NAME).job_arn == stack.sagemaker.jobs[("TrainingJob", second)].arn
    settle(stack, second, "Completed", None, 1800)

    record = stack.job(NAME)
    assert (record.status, record.attempt, len(record.attempts)) == ("Completed", 2, 2)
    assert record.usage is not None
    assert record.usage.billable_instance_seconds == 3600
    assert record.estimated_cost_usd == pytest.approx(0.23)
    item = boto3.client("dynamodb").get_item(
        TableName=JOBS_TABLE, Key={"job_name": {"S": NAME}, "job_type": {"S": "TrainingJob"}}
    )["Item"]
    assert item["estimated_cost_usd"] == {"N": "0.23"}
    (notice,) = stack.notices_for(NAME)
    assert (notice["attempts"], notice["estimated_cost_usd"]) == (2, 0.23)
    assert notice["usage"]["billable_instance_seconds"] == 3600


def test_the_original_request_delivered_again_does_not_start_another_try(
    retrying: tuple[Stack, str],
) -> None:
    stack, queue_url = retrying
    body = request_body()
    body["retry"] = {"attempts": 3}
    stack.submit(body)
    settle(stack, NAME, "Failed", CAPACITY, 60)
    stack.submit(*taken(queue_url))
    stack.submit(body)  # SQS delivers the original again: answered from idempotency
    assert stack.sagemaker.calls["CreateTrainingJob"] == 2
    assert stack.job(NAME).attempt == 2
