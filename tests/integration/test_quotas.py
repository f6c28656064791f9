"""INSTANCE_TYPE_BUDGETS=auto: the account's training instance quotas, read through Service
Quotas, shared between containers for an hour, and lowered by types the setting names; and,
against the simulated account, a job beyond its quota waits instead of being refused."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from jobctl.adapters.capacity import DynamoDBCapacity
from jobctl.adapters.quotas import (
    CACHE_FOR,
    CachedQuotas,
    QuotasUnavailable,
    ServiceQuotasReader,
    training_quotas,
)
from jobctl.bootstrap import budgets
from jobctl.config import Settings
from jobctl.logic.scheduling import Budgets
from tests.support.environment import ENVIRONMENT, IDEMPOTENCY_TABLE, JOBS_TABLE
from tests.support.requests import request_body
from tests.support.stack import Stack

GPU = "ml.p4d.24xlarge"


def quota(name: str, value: float, code: str = "L-00000001") -> dict[str, Any]:
    return {
        "ServiceCode": "sagemaker",
        "ServiceName": "Amazon SageMaker",
        "QuotaCode": code,
        "QuotaName": name,
        "Value": value,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
    }


def test_only_training_job_usage_quotas_are_read_as_instance_budgets() -> None:
    quotas = [
        quota(f"{GPU} for training job usage", 8.0),
        quota(f"{GPU} for spot training job usage", 16.0),
        quota(f"{GPU} for endpoint usage", 2.0),
        quota("ml.g5.xlarge for training job usage", 0.0),
        quota("Number of instances across all training jobs", 100.0),
    ]
    assert training_quotas(quotas) == {GPU: 8, "ml.g5.xlarge": 0}


def stubbed_reader(default: list[dict[str, Any]], applied: list[dict[str, Any]]) -> Any:
    client = boto3.client("service-quotas", region_name="us-east-1")
    stubber = Stubber(client)
    request = {"ServiceCode": "sagemaker"}
    stubber.add_response("list_aws_default_service_quotas", {"Quotas": default}, request)
    stubber.add_response("list_service_quotas", {"Quotas": applied}, request)
    stubber.activate()
    return ServiceQuotasReader(client), stubber


def test_an_applied_quota_overrides_its_default() -> None:
    reader, stubber = stubbed_reader(
        default=[
            quota(f"{GPU} for training job usage", 0.0),
            quota("ml.g5.xlarge for training job usage", 4.0),
        ],
        applied=[quota(f"{GPU} for training job usage", 8.0)],
    )
    assert reader.training_instances() == {GPU: 8, "ml.g5.xlarge": 4}
    stubber.assert_no_pending_responses()


def test_quotas_that_cannot_be_read_name_the_setting() -> None:
    client = boto3.client("service-quotas", region_name="us-east-1")
    stubber = Stubber(client)
    stubber.add_client_error("list_aws_default_service_quotas", "AccessDeniedException")
    stubber.activate()
    with pytest.raises(QuotasUnavailable, match="INSTANCE_TYPE_BUDGETS=auto"):
        ServiceQuotasReader(client).training_instances()


class CountingReader:
    def __init__(self, quotas: dict[str, int]) -> None:
        self.quotas = quotas
        self.reads = 0

    def training_instances(self) -> dict[str, int]:
        self.reads += 1
        return dict(self.quotas)


def test_one_container_reads_the_quotas_and_the_others_share_them_for_an_hour(
    stack: Stack,
) -> None:
    reader = CountingReader({GPU: 8})

    def container() -> CachedQuotas:
        return CachedQuotas(reader, stack.clients.dynamodb, IDEMPOTENCY_TABLE, stack.clock.now)  # type: ignore[arg-type]

    assert container().training_instances() == {GPU: 8}
    assert container().training_instances() == {GPU: 8}
    assert reader.reads == 1
    reader.quotas = {GPU: 16}  # raised meanwhile
    stack.clock.advance(CACHE_FOR.total_seconds() + 1)
    assert container().training_instances() == {GPU: 16}
    assert reader.reads == 2


def test_types_named_beside_auto_only_lower_their_quota() -> None:
    settings = Settings.from_environ(
        ENVIRONMENT
        | {
            "INSTANCE_TYPE_BUDGETS": f"auto,{GPU}=4,ml.g5.xlarge=50,ml.c5.xlarge=3",
            "JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs",
        }
    )
    quotas = {GPU: 8, "ml.g5.xlarge": 10, "ml.m5.xlarge": 20}
    assert budgets(settings, quotas).instance_types == {
        GPU: 4,
        "ml.g5.xlarge": 10,
        "ml.m5.xlarge": 20,
        "ml.c5.xlarge": 3,
    }


# -- against the simulated account: the quotas SageMaker enforces are the budgets ------------


@pytest.fixture
def granted(stack: Stack) -> tuple[Stack, str]:
    """The stack with a jobs queue, its account granted 4 GPU instances for training."""
    queue_url = boto3.client("sqs").create_queue(QueueName="jobctl-jobs")["QueueUrl"]
    stack.sagemaker.set_quota(GPU, 4)
    return stack, queue_url


def gpu_job(name: str, gpus: int) -> dict[str, Any]:
    body = request_body(job_name=name, request_id=name)
    body["spec"]["ResourceConfig"] |= {"InstanceType": GPU, "InstanceCount": gpus}
    return body


def recorded(stack: Stack) -> Budgets:
    """The budgets the controller schedules under, as ``jobctl queue`` reads them."""
    budgets = DynamoDBCapacity(stack.clients.dynamodb, IDEMPOTENCY_TABLE, JOBS_TABLE)
    found = budgets.recorded_budgets()
    assert found is not None
    return found


def woken(queue_url: str) -> list[str]:
    sqs = boto3.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return [message["Body"] for message in messages]


def test_auto_budgets_are_the_quotas_granted_to_the_account(granted: tuple[Stack, str]) -> None:
    stack, queue_url = granted
    stack.reconfigure(INSTANCE_TYPE_BUDGETS="auto", JOBS_QUEUE_URL=queue_url)
    per_type = recorded(stack).instance_types
    assert (per_type[GPU], per_type["ml.m5.xlarge"], per_type["ml.g5.xlarge"]) == (4, 30, 0)
    calls = stack.service_quotas.calls
    assert calls["ListServiceQuotas"] >= 1
    assert calls["ListAWSDefaultServiceQuotas"] >= 1


def test_a_type_named_beside_auto_lowers_the_granted_quota(granted: tuple[Stack, str]) -> None:
    stack, queue_url = granted
    stack.reconfigure(INSTANCE_TYPE_BUDGETS=f"auto,{GPU}=2", JOBS_QUEUE_URL=queue_url)
    assert recorded(stack).instance_types[GPU] == 2
    stack.submit(gpu_job("two", 2), gpu_job("one-more", 1))
    assert stack.job("one-more").waiting_for == (
        f"waiting for capacity ({GPU}: 2 of 2 instances in use, needs 1)"
    )


def test_with_auto_a_job_beyond_the_quota_waits_queued_and_starts_when_room_frees(
    granted: tuple[Stack, str],
) -> None:
    stack, queue_url = granted
    stack.reconfigure(INSTANCE_TYPE_BUDGETS="auto", JOBS_QUEUE_URL=queue_url)
    assert stack.submit(gpu_job("four", 4), gpu_job("one-more", 1)) == {"batchItemFailures": []}
    waiting = stack.job("one-more")
    assert (waiting.status, waiting.waiting_for) == (
        "Queued",
        f"waiting for capacity ({GPU}: 4 of 4 instances in use, needs 1)",
    )
    assert stack.sagemaker.calls["CreateTrainingJob"] == 1  # never sent to be refused
    stack.sagemaker.complete("TrainingJob", "four")
    stack.deliver(stack.sagemaker.training_event("four"))
    (body,) = woken(queue_url)
    assert stack.submit(body) == {"batchItemFailures": []}
    assert stack.job("one-more").status == "InProgress"
    assert stack.sagemaker.error_answers["ResourceLimitExceeded"] == 0


def test_without_a_budget_sagemaker_refuses_the_job_beyond_the_quota(
    granted: tuple[Stack, str],
) -> None:
    stack, queue_url = granted
    stack.reconfigure(JOBS_QUEUE_URL=queue_url)
    outcome = stack.submit(gpu_job("four", 4), gpu_job("one-more", 1))
    assert len(outcome["batchItemFailures"]) == 1  # delivered again, and again...
    assert stack.sagemaker.error_answers["ResourceLimitExceeded"] == 1
    assert "ResourceLimitExceeded" in (stack.job("one-more").last_error or "")
