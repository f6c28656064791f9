"""INSTANCE_TYPE_BUDGETS=auto: the account's training instance quotas, read through Service
Quotas, shared between containers for an hour, and lowered by types the setting names."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from jobctl.adapters.quotas import (
    CACHE_FOR,
    CachedQuotas,
    QuotasUnavailable,
    ServiceQuotasReader,
    training_quotas,
)
from jobctl.bootstrap import budgets
from jobctl.config import Settings
from tests.support.environment import ENVIRONMENT, IDEMPOTENCY_TABLE
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
