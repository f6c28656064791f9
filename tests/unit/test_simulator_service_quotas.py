"""The simulated Service Quotas: SageMaker's quotas as the simulated SageMaker enforces them,
listed in botocore's shapes, a page at a time, applied values apart from defaults."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from jobctl.adapters.quotas import ServiceQuotasReader
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.json_api import ServiceError
from jobctl_tools.local.sagemaker import SimulatedSageMaker
from jobctl_tools.local.sagemaker_quotas import ACCOUNT_TRAINING_QUOTAS, QUOTAS
from jobctl_tools.local.service_quotas import (
    DEFAULT_MAX_RESULTS,
    NO_SUCH_SERVICE,
    SimulatedServiceQuotas,
    no_such_quota,
)
from tests.support.shapes import output_problems

GPU = "ml.p4d.24xlarge"
GPU_QUOTA = "L-09B4A649"  # ml.p4d.24xlarge for training job usage
GPU_SPOT_QUOTA = "L-09D56C4F"


@pytest.fixture
def service_quotas(sagemaker: SimulatedSageMaker, clock: ManualClock) -> SimulatedServiceQuotas:
    return SimulatedServiceQuotas(sagemaker.quotas, clock=clock)


@pytest.fixture
def client(service_quotas: SimulatedServiceQuotas) -> Any:
    return service_quotas.attach(boto3.client("service-quotas", region_name="us-east-1"))


def every(client: Any, operation: str, **params: Any) -> list[dict[str, Any]]:
    pages = client.get_paginator(operation).paginate(ServiceCode="sagemaker", **params)
    return [quota for page in pages for quota in page["Quotas"]]


def values(quotas: list[dict[str, Any]]) -> dict[str, float]:
    return {quota["QuotaName"]: quota["Value"] for quota in quotas}


def test_only_applied_values_are_listed_and_a_granted_quota_is_one(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    assert values(every(client, "list_service_quotas")) == {
        "ml.m5.xlarge for training job usage": ACCOUNT_TRAINING_QUOTAS["ml.m5.xlarge"]
    }
    sagemaker.set_quota(GPU, 8)
    sagemaker.set_quota(GPU, 16, spot=True)
    assert values(every(client, "list_service_quotas")) == {
        "ml.m5.xlarge for training job usage": 30.0,
        f"{GPU} for training job usage": 8.0,
        f"{GPU} for spot training job usage": 16.0,
    }


def test_a_quota_set_back_to_its_default_is_no_longer_listed_as_applied(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    sagemaker.set_quota("ml.m5.xlarge", 0)
    assert every(client, "list_service_quotas") == []


def test_the_defaults_list_every_quota_at_awss_default_whatever_was_granted(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    sagemaker.set_quota(GPU, 8)
    defaults = every(client, "list_aws_default_service_quotas")
    assert len(defaults) == len(QUOTAS) > DEFAULT_MAX_RESULTS  # more than one page
    listed = values(defaults)
    assert listed[f"{GPU} for training job usage"] == 0.0
    assert listed["ml.m5.xlarge for training job usage"] == 0.0
    assert listed["ml.m5.xlarge for spot training job usage"] == 4.0


def test_a_listing_comes_a_page_at_a_time_and_its_token_continues_it(client: Any) -> None:
    first = client.list_aws_default_service_quotas(ServiceCode="sagemaker", MaxResults=3)
    assert len(first["Quotas"]) == 3
    second = client.list_aws_default_service_quotas(
        ServiceCode="sagemaker", MaxResults=3, NextToken=first["NextToken"]
    )
    paged = [q["QuotaCode"] for q in first["Quotas"] + second["Quotas"]]
    assert paged == [quota.code for quota in QUOTAS[:6]]
    whole = client.list_aws_default_service_quotas(ServiceCode="sagemaker")
    assert len(whole["Quotas"]) == DEFAULT_MAX_RESULTS


def test_the_last_page_carries_no_token(client: Any, sagemaker: SimulatedSageMaker) -> None:
    sagemaker.set_quota(GPU, 8)
    first = client.list_service_quotas(ServiceCode="sagemaker", MaxResults=1)
    last = client.list_service_quotas(
        ServiceCode="sagemaker", MaxResults=1, NextToken=first["NextToken"]
    )
    assert [q["QuotaCode"] for q in last["Quotas"]] == [GPU_QUOTA]
    assert "NextToken" not in last


def test_a_token_of_another_listing_is_refused(client: Any) -> None:
    first = client.list_aws_default_service_quotas(ServiceCode="sagemaker", MaxResults=1)
    with pytest.raises(ClientError) as caught:
        client.list_service_quotas(ServiceCode="sagemaker", NextToken=first["NextToken"])
    assert caught.value.response["Error"]["Code"] == "InvalidPaginationTokenException"


def test_answers_fit_botocores_output_shapes(
    service_quotas: SimulatedServiceQuotas, sagemaker: SimulatedSageMaker
) -> None:
    sagemaker.set_quota(GPU, 8)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("ListServiceQuotas", {"ServiceCode": "sagemaker", "MaxResults": 1}),
        ("ListAWSDefaultServiceQuotas", {"ServiceCode": "sagemaker", "MaxResults": 100}),
        ("GetServiceQuota", {"ServiceCode": "sagemaker", "QuotaCode": GPU_QUOTA}),
        ("GetAWSDefaultServiceQuota", {"ServiceCode": "sagemaker", "QuotaCode": GPU_SPOT_QUOTA}),
    ]
    for operation, params in calls:
        answer = service_quotas.handle(operation, params)
        assert output_problems("service-quotas", operation, answer) == "", operation
    listed = service_quotas.handle("ListServiceQuotas", {"ServiceCode": "sagemaker"})["Quotas"]
    assert listed[1] == {
        "ServiceCode": "sagemaker",
        "ServiceName": "Amazon SageMaker",
        "QuotaArn": f"arn:aws:servicequotas:us-east-1:123456789012:sagemaker/{GPU_QUOTA}",
        "QuotaCode": GPU_QUOTA,
        "QuotaName": f"{GPU} for training job usage",
        "Value": 8.0,
        "Unit": "None",
        "Adjustable": True,
        "GlobalQuota": False,
        "QuotaAppliedAtLevel": "ACCOUNT",
    }


def test_get_answers_an_applied_value_and_the_default_apart(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    with pytest.raises(ClientError) as caught:
        client.get_service_quota(ServiceCode="sagemaker", QuotaCode=GPU_QUOTA)
    assert caught.value.response["Error"] == {
        "Code": "NoSuchResourceException",
        "Message": no_such_quota(GPU_QUOTA, "sagemaker"),
    }
    sagemaker.set_quota(GPU, 8)
    applied = client.get_service_quota(ServiceCode="sagemaker", QuotaCode=GPU_QUOTA)
    default = client.get_aws_default_service_quota(ServiceCode="sagemaker", QuotaCode=GPU_QUOTA)
    assert (applied["Quota"]["Value"], default["Quota"]["Value"]) == (8.0, 0.0)
    assert default["Quota"]["QuotaArn"] == f"arn:aws:servicequotas:us-east-1::sagemaker/{GPU_QUOTA}"


def test_an_unknown_service_or_quota_is_no_such_resource(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.list_service_quotas(ServiceCode="SageMaker")  # codes are case-sensitive
    assert caught.value.response["Error"] == {
        "Code": "NoSuchResourceException",
        "Message": NO_SUCH_SERVICE,
    }
    with pytest.raises(ClientError) as caught:
        client.get_aws_default_service_quota(ServiceCode="sagemaker", QuotaCode="L-00000000")
    assert caught.value.response["Error"]["Code"] == "NoSuchResourceException"


def test_the_accounts_rate_limit_answers_too_many_requests(
    service_quotas: SimulatedServiceQuotas, clock: ManualClock
) -> None:
    request = {"ServiceCode": "sagemaker", "QuotaCode": GPU_SPOT_QUOTA}
    for _ in range(10):  # 5 a second, and a burst of 5 more
        service_quotas.handle("GetAWSDefaultServiceQuota", request)
    with pytest.raises(ServiceError, match="TooManyRequestsException: Rate exceeded"):
        service_quotas.handle("GetAWSDefaultServiceQuota", request)
    assert service_quotas.throttled["GetAWSDefaultServiceQuota"] == 1
    clock.advance(1)
    service_quotas.handle("GetAWSDefaultServiceQuota", request)


def test_a_request_out_of_the_model_is_an_illegal_argument(
    service_quotas: SimulatedServiceQuotas,
) -> None:
    # botocore checks its own requests; another client's may reach the server unchecked.
    with pytest.raises(ServiceError, match=r"IllegalArgumentException.*MaxResults"):
        service_quotas.handle("ListServiceQuotas", {"ServiceCode": "sagemaker", "MaxResults": 0})


def test_jobctls_reader_sees_the_quota_the_simulated_sagemaker_enforces(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    sagemaker.set_quota(GPU, 8)
    sagemaker.set_quota("ml.g5.xlarge", 2, spot=True)  # spot: not an on-demand budget
    read = ServiceQuotasReader(client).training_instances()
    assert (read[GPU], read["ml.m5.xlarge"], read["ml.g5.xlarge"]) == (8, 30, 0)
    on_demand = " for training job usage"
    assert read.keys() == {
        quota.name.removesuffix(on_demand) for quota in QUOTAS if quota.name.endswith(on_demand)
    }
