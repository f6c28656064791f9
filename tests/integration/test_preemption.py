"""Preemption on DynamoDB and SQS (moto) and the simulated SageMaker, through the handlers
(docs/contract.md §10): the victim is marked in its record and its budget in one write,
stopped, and once SageMaker has stopped it, it waits again while the room goes to the job
that needed it."""

from __future__ import annotations

import json

import boto3
import pytest

from jobctl.adapters.capacity import DynamoDBCapacity
from tests.support.environment import IDEMPOTENCY_TABLE, JOBS_TABLE
from tests.support.stack import Stack
from tests.support.waiting import GPU, job, wake_ups

QUOTAS = f"prod:{GPU}=2,research:{GPU}=2"


@pytest.fixture
def shared(stack: Stack) -> tuple[Stack, str]:
    queue_url = boto3.client("sqs").create_queue(QueueName="jobctl-jobs")["QueueUrl"]
    stack.sagemaker.set_quota(GPU, 4)
    stack.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=queue_url, SHARE_QUOTAS=QUOTAS
    )
    return stack, queue_url


def submit(stack: Stack, queue_url: str, *bodies: dict[str, object]) -> None:
    for body in bodies:
        stack.submit(json.dumps(body))
        stack.clock.advance(1)
    while sent := wake_ups(queue_url):
        stack.submit(*sent)


def test_a_borrower_is_stopped_and_waits_again_while_the_owner_gets_its_room(
    shared: tuple[Stack, str],
) -> None:
    stack, queue_url = shared
    submit(stack, queue_url, *(job(f"research-{i}", GPU, share="research") for i in range(4)))
    assert stack.sagemaker.calls["CreateTrainingJob"] == 4
    submit(stack, queue_url, job("prod-0", GPU, share="prod"))
    assert stack.job("research-3").preempted_by == "prod-0"
    capacity = DynamoDBCapacity(boto3.client("dynamodb"), IDEMPOTENCY_TABLE, JOBS_TABLE)
    holders = capacity.items([GPU])[GPU].holders
    assert holders["TrainingJob/research-3"].preempted
    assert not holders["TrainingJob/research-2"].preempted
    assert stack.sagemaker.jobs["TrainingJob", "research-3"].status == "Stopping"

    stack.clock.advance(120)
    stack.sagemaker.take_step("TrainingJob", "research-3")  # SageMaker has stopped it
    stack.deliver(stack.sagemaker.training_event("research-3"))
    (body,) = wake_ups(queue_url)
    assert json.loads(body)["job_name"] == "prod-0"
    stack.submit(body)
    assert stack.job("prod-0").status == "InProgress"
    requeued = stack.job("research-3")
    assert (requeued.status, requeued.attempt, requeued.preemptions) == ("Queued", 2, 1)
    assert requeued.attempts[0].preempted_by == "prod-0"
    assert "preempted by prod-0" in (requeued.last_error or "")
    assert stack.notices() == []
