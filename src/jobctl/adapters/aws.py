"""boto3 clients, created once per container with botocore's retry modes configured.

Retries are botocore's job, in ``standard`` mode (exponential backoff with jitter). Not
``adaptive`` for SageMaker: the SageMaker adapter paces its calls at the deployment's
share of the account's rates, and adaptive mode's own limiter fights that pacing
(README, "Rate limits"). What still fails after them reaches the adapters as an error.
Endpoints follow boto3's own settings (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_<SERVICE>``),
which is how the local stack points the same code at its simulators.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sagemaker import SageMakerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

_RETRIES: dict[str, dict[str, Any]] = {
    "sagemaker": {"mode": "standard", "max_attempts": 8},
    "dynamodb": {"mode": "standard", "max_attempts": 6},
    "sns": {"mode": "standard", "max_attempts": 5},
    "sqs": {"mode": "standard", "max_attempts": 5},
}


# DynamoDB requests are built by the adapters, never from user input, so botocore's
# per-call parameter validation only costs time (about a fifth of a handler's).
_VALIDATED = {"dynamodb": False}


@cache
def _session() -> boto3.session.Session:
    # One session for every client: each new session loads botocore's data afresh.
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    config = Config(
        retries=_RETRIES.get(service, {"mode": "standard"}),  # type: ignore[arg-type]
        connect_timeout=5,
        read_timeout=20,
        tcp_keepalive=True,
        parameter_validation=_VALIDATED.get(service, True),
    )
    return _session().client(service, config=config)  # type: ignore[call-overload]


def reset() -> None:
    """Forget every client and the session (tests point the environment elsewhere)."""
    client.cache_clear()
    _session.cache_clear()


def sagemaker() -> SageMakerClient:
    return client("sagemaker")  # type: ignore[no-any-return]


def dynamodb() -> DynamoDBClient:
    return client("dynamodb")  # type: ignore[no-any-return]


def sns() -> SNSClient:
    return client("sns")  # type: ignore[no-any-return]


def sqs() -> SQSClient:
    return client("sqs")  # type: ignore[no-any-return]
