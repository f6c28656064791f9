"""The samples in events/ are valid for what they stand for, and agree with each other."""

from __future__ import annotations

import json

import pytest
from botocore.validate import validate_parameters

from jobctl.logic.spec_validation import sagemaker_operation
from tests.support.template import load_event

VALID = [
    ("training.json", "CreateTrainingJob", "TrainingJobName"),
    ("automl.json", "CreateAutoMLJob", "AutoMLJobName"),
]
ROLE = "arn:aws:iam::123456789012:role/jobctl-sagemaker-execution"


@pytest.mark.parametrize(("sample", "operation", "name_member"), VALID)
def test_sample_specs_fit_botocores_model(sample: str, operation: str, name_member: str) -> None:
    body = load_event(f"requests/{sample}")
    params = {**body["spec"], name_member: body["job_name"], "RoleArn": ROLE}
    validate_parameters(params, sagemaker_operation(operation).input_shape)


@pytest.mark.parametrize("name", ["training", "automl", "stop", "invalid"])
def test_each_sqs_event_carries_its_request_file(name: str) -> None:
    (record,) = load_event(f"sqs-{name}-request.json")["Records"]
    assert json.loads(record["body"]) == load_event(f"requests/{name}.json")
    assert record["eventSource"] == "aws:sqs"


def test_state_change_samples_name_the_training_sample_and_use_epoch_millis() -> None:
    for status in ("inprogress", "completed", "failed"):
        event = load_event(f"training-state-change-{status}.json")
        detail = event["detail"]
        assert detail["TrainingJobName"] == load_event("requests/training.json")["job_name"]
        assert event["resources"] == [detail["TrainingJobArn"]]
        assert isinstance(detail["LastModifiedTime"], int)
        assert detail["LastModifiedTime"] > 10**12  # milliseconds, not seconds
