"""Capacity-aware admission: over budget a request waits, and waiting never reaches the DLQ."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from jobctl.logic.admission import OVERALL, Budget
from tests.support.environment import JOBS_TABLE, MAX_RECEIVE_COUNT, TOPIC_ARN
from tests.support.requests import request_body
from tests.support.stack import Stack

if TYPE_CHECKING:
    from mypy_boto3_sqs.literals import QueueAttributeNameType

GPU = "ml.p4d.24xlarge"


@pytest.fixture
def budgeted(stack: Stack) -> tuple[Stack, str]:
    """The stack with a budget of 2 jobs overall and 1 on GPU instances."""
    queue_url = boto3.client("sqs").create_queue(QueueName="jobctl-jobs")["QueueUrl"]
    stack.reconfigure(
        CONCURRENCY_BUDGET="2", INSTANCE_TYPE_BUDGETS=f"{GPU}=1", JOBS_QUEUE_URL=queue_url
    )
    return stack, queue_url


def job(name: str, instance_type: str = "ml.m5.xlarge") -> dict[str, Any]:
    body = request_body(job_name=name, request_id=name)
    body["spec"]["ResourceConfig"] = {
        **body["spec"]["ResourceConfig"],
        "InstanceType": instance_type,
    }
    return body


def messages_sent_back(queue_url: str) -> int:
    sqs = boto3.client("sqs")
    names: list[QueueAttributeNameType] = [
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessages",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)
    return sum(int(attributes["Attributes"][name]) for name in names)


def test_over_the_overall_budget_a_request_waits_queued_with_its_reason(
    budgeted: tuple[Stack, str],
) -> None:
    stack, queue_url = budgeted
    assert stack.submit(job("a"), job("b"), job("c")) == {"batchItemFailures": []}
    assert stack.sagemaker.calls["CreateTrainingJob"] == 2
    waiting = stack.job("c")
    assert waiting.status == "Queued"
    assert waiting.waiting_for == "waiting for capacity (all jobs: 2 running)"
    assert messages_sent_back(queue_url) == 1  # to come again later
    assert stack.notices() == []


def test_a_settled_job_frees_its_slot_for_a_waiting_request(budgeted: tuple[Stack, str]) -> None:
    stack, _ = budgeted
    stack.submit(job("a"), job("b"), job("c"))
    stack.sagemaker.complete("TrainingJob", "a")
    stack.deliver(stack.sagemaker.training_event("a"))
    stack.submit(job("c"))  # the re-sent message comes back
    assert stack.job("c").status == "InProgress"
    assert stack.job("c").waiting_for is None


def test_an_instance_type_budget_holds_back_only_that_type(budgeted: tuple[Stack, str]) -> None:
    stack, _ = budgeted
    stack.submit(job("gpu-1", GPU), job("gpu-2", GPU), job("cpu-1"))
    assert stack.job("gpu-1").status == "InProgress"
    assert stack.job("gpu-2").waiting_for == f"waiting for capacity ({GPU}: 1 running)"
    assert stack.job("cpu-1").status == "InProgress"


def test_waiting_any_number_of_times_never_sends_a_request_to_the_dlq(
    budgeted: tuple[Stack, str],
) -> None:
    stack, _ = budgeted
    stack.submit(job("a"), job("b"))
    for _ in range(MAX_RECEIVE_COUNT * 3):  # each a fresh message: receive count 1
        assert stack.submit(job("c")) == {"batchItemFailures": []}
    record = stack.job("c")
    assert record.status == "Queued"
    assert record.deferrals == MAX_RECEIVE_COUNT * 3


def test_a_job_that_does_not_start_gives_its_slot_back(budgeted: tuple[Stack, str]) -> None:
    stack, _ = budgeted
    stack.sagemaker.fail_next("CreateTrainingJob", "ValidationException", message="bad image")
    stack.submit(job("rejected"))
    stack.submit(job("a"), job("b"))
    assert stack.job("rejected").status == "Rejected"
    assert [stack.job(n).status for n in ("a", "b")] == ["InProgress", "InProgress"]


def test_the_sweep_repairs_a_slot_lost_by_a_crash(budgeted: tuple[Stack, str]) -> None:
    stack, _ = budgeted
    capacity = stack.controller.reconciler.capacity
    assert capacity is not None
    # A job took a slot and its function died before SageMaker ever heard of it.
    capacity.acquire("TrainingJob/ghost", [Budget(OVERALL, 2)])
    stack.submit(job("a"), job("b"))
    assert stack.job("b").status == "Queued"
    report = stack.sweep()["sweep"]
    assert report["slots_repaired"] == 1
    stack.submit(job("b"))
    assert stack.job("b").status == "InProgress"


def test_list_of_queued_jobs_shows_why_each_waits(budgeted: tuple[Stack, str]) -> None:
    from click.testing import CliRunner

    from jobctl_tools.cli import main

    stack, queue_url = budgeted
    stack.submit(job("a"), job("b"), job("c"))
    resources = ["--queue-url", queue_url, "--table", JOBS_TABLE, "--topic-arn", TOPIC_ARN]
    result = CliRunner().invoke(main, [*resources, "list", "--status", "Queued", "--json"])
    assert result.exit_code == 0, result.output
    (waiting,) = json.loads(result.output)
    assert (waiting["job_name"], waiting["waiting_for"]) == (
        "c",
        "waiting for capacity (all jobs: 2 running)",
    )
