"""The local stack's account quotas: granted with its options, enforced by the simulated
SageMaker, and served over HTTP by the simulated Service Quotas at the endpoint boto3 reads
from AWS_ENDPOINT_URL_SERVICE_QUOTAS, where INSTANCE_TYPE_BUDGETS=auto finds them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from jobctl.adapters.capacity import DynamoDBCapacity
from jobctl_tools.local.stack import LocalStack, LocalStackOptions
from tests.support.local_stack import local_stack_in_process

pytestmark = pytest.mark.e2e

GPU = "ml.p4d.24xlarge"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    """The local stack in this process, budgets read from the quotas it was granted; what
    it sets for the process is put back."""
    options = LocalStackOptions(
        state_dir=tmp_path,
        sweep_seconds=3600,
        parameters={"InstanceTypeBudgets": "auto"},
        quotas={GPU: 4},
        spot_quotas={GPU: 2},
    )
    with local_stack_in_process(options) as local:
        yield local


def test_granted_quotas_are_served_over_http_and_become_the_auto_budgets(
    stack: LocalStack,
) -> None:
    endpoint = stack.environ["AWS_ENDPOINT_URL_SERVICE_QUOTAS"]
    assert endpoint.startswith("http://127.0.0.1:")
    client = boto3.session.Session().client("service-quotas")  # from the environment only
    assert client.meta.endpoint_url == endpoint
    pages = client.get_paginator("list_service_quotas").paginate(ServiceCode="sagemaker")
    applied = {q["QuotaName"]: q["Value"] for page in pages for q in page["Quotas"]}
    assert applied[f"{GPU} for training job usage"] == 4.0
    assert applied[f"{GPU} for spot training job usage"] == 2.0
    settings = stack.controller.settings
    capacity = DynamoDBCapacity(
        stack.controller.clients.dynamodb, settings.idempotency_table, settings.jobs_table
    )
    budgets = capacity.recorded_budgets()
    assert budgets is not None
    assert budgets.instance_types[GPU] == 4
    assert stack.service_quotas.calls["ListServiceQuotas"] >= 1
