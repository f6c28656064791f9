"""jobctl_producer's capture of a create call, on a plain boto3 client (the SDK's own
tests are in tests/sdk): botocore checks the request, nothing is sent."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ParamValidationError

from jobctl_producer import captured_create
from tests.support.environment import DEFAULT_ROLE
from tests.support.requests import request_body


@pytest.fixture
def sagemaker() -> Any:
    """A client with no endpoint to reach: a call that got through would fail."""
    once = Config(retries={"total_max_attempts": 1})
    return boto3.client("sagemaker", endpoint_url="http://127.0.0.1:9", config=once)


def test_a_create_is_captured_as_botocore_built_it_and_answered_without_a_call(
    sagemaker: Any,
) -> None:
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE}
    answers = []

    def fit() -> None:
        answers.append(sagemaker.create_training_job(TrainingJobName="job-1", **spec))

    operation, captured = captured_create(sagemaker, fit)
    assert operation == "CreateTrainingJob"
    assert captured == {"TrainingJobName": "job-1", **spec}
    assert answers[0]["TrainingJobArn"].endswith(":training-job/job-1")


def test_a_request_botocore_refuses_is_refused_before_anything_is_captured(
    sagemaker: Any,
) -> None:
    def fit() -> None:
        sagemaker.create_training_job(TrainingJobName="job-1")  # no spec at all

    with pytest.raises(ParamValidationError):
        captured_create(sagemaker, fit)


def test_only_one_create_may_be_captured(sagemaker: Any) -> None:
    with pytest.raises(RuntimeError, match="made 0"):
        captured_create(sagemaker, lambda: None)


def test_the_client_calls_sagemaker_again_once_the_capture_ends(sagemaker: Any) -> None:
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE}
    captured_create(sagemaker, lambda: sagemaker.create_training_job(TrainingJobName="a", **spec))
    with pytest.raises(Exception, match="Could not connect"):
        sagemaker.create_training_job(TrainingJobName="b", **spec)
