"""boto3 clients for the controller, made once per container from one session, with
botocore's retry modes configured.

Retries are botocore's job, in ``standard`` mode (exponential backoff with jitter). Not
``adaptive`` for SageMaker: the SageMaker adapter paces its calls at the deployment's
share of the account's rates, and adaptive mode's own limiter fights that pacing
(README, "Rate limits"). What still fails after the retries reaches the adapters as an
error. Endpoints follow boto3's own settings (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_<SERVICE>``), which is how the local stack points the same code at
its simulators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_service_quotas import ServiceQuotasClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

_RETRIES: dict[str, dict[str, Any]] = {
    "sagemaker": {"mode": "standard", "max_attempts": 8},
    "dynamodb": {"mode": "standard", "max_attempts": 6},
    "sns": {"mode": "standard", "max_attempts": 5},
    "sqs": {"mode": "standard", "max_attempts": 5},
    "service-quotas": {"mode": "standard", "max_attempts": 8},
}
# DynamoDB requests are built by the adapters, never from user input, so botocore's
# per-call parameter validation only costs time (about a fifth of a handler's).
_VALIDATED = {"dynamodb": False}


@dataclass(frozen=True)
class Clients:
    """The AWS clients the controller's adapters use."""

    sagemaker: SageMakerClient
    dynamodb: DynamoDBClient
    sns: SNSClient
    sqs: SQSClient
    # Only for INSTANCE_TYPE_BUDGETS=auto: a client costs cold-start time.
    service_quotas: ServiceQuotasClient | None = None


def client_config(service: str) -> Config:
    return Config(
        retries=_RETRIES[service],  # type: ignore[arg-type]  # botocore types it loosely
        connect_timeout=5,
        read_timeout=20,
        tcp_keepalive=True,
        parameter_validation=_VALIDATED.get(service, True),
    )


def clients(session: boto3.session.Session | None = None, service_quotas: bool = False) -> Clients:
    """One client per service from one session (each new session loads botocore's data
    afresh)."""
    session = session or boto3.session.Session()
    services = ["sagemaker", "dynamodb", "sns", "sqs"]
    if service_quotas:
        services.append("service-quotas")
    made: dict[str, Any] = {
        service.replace("-", "_"): session.client(service, config=client_config(service))  # type: ignore[call-overload]
        for service in services
    }
    return Clients(**made)
