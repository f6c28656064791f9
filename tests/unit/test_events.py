"""The samples in events/ are valid for what they stand for, and agree with each other.

Requests are checked against botocore's own SageMaker model; Lambda events against the
shapes AWS documents for SQS, EventBridge and scheduled events.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ParamValidationError
from botocore.model import MapShape, StructureShape
from botocore.session import get_session
from botocore.validate import validate_parameters

from tests.support.template import EVENTS, load_event

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobctl-sagemaker-execution"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobctl-JobsQueue-example"
TRAINING_ARN = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/demo-xgboost-churn"
REQUESTS = ["training", "automl", "stop", "invalid"]
STATE_CHANGES = ["inprogress", "completed", "failed"]
# The request samples that must be accepted: file, operation, the operation's name member.
VALID = [
    ("training.json", "CreateTrainingJob", "TrainingJobName"),
    ("automl.json", "CreateAutoMLJob", "AutoMLJobName"),
]


def operation_input(operation: str) -> StructureShape:
    shape = get_session().get_service_model("sagemaker").operation_model(operation).input_shape
    assert shape is not None
    return shape


def full_match(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def epoch_millis(event_time: str) -> int:
    moment = datetime.strptime(event_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


# -- request bodies (docs/contract.md §3) --------------------------------------------------


@pytest.mark.parametrize(("sample", "operation", "name_member"), VALID)
def test_each_valid_request_spec_fits_botocores_sagemaker_model(
    sample: str, operation: str, name_member: str
) -> None:
    body = load_event(f"requests/{sample}")
    assert "RoleArn" not in body["spec"]
    assert name_member not in body["spec"]
    validate_parameters(
        {**body["spec"], name_member: body["job_name"], "RoleArn": ROLE}, operation_input(operation)
    )


@pytest.mark.parametrize(("sample", "operation", "name_member"), VALID)
def test_each_sample_job_name_keeps_sagemakers_name_rules(
    sample: str, operation: str, name_member: str
) -> None:
    body = load_event(f"requests/{sample}")
    rules = operation_input(operation).members[name_member].metadata
    assert full_match(rules["pattern"], body["job_name"])
    assert len(body["job_name"]) <= rules["max"]
    assert len(body["request_id"]) <= 128


def test_the_samples_are_the_documented_demo_jobs() -> None:
    training = load_event("requests/training.json")
    automl = load_event("requests/automl.json")
    assert (training["job_type"], training["job_name"], training["request_id"]) == (
        "TrainingJob",
        "demo-xgboost-churn",
        "demo-train-1",
    )
    assert (automl["job_type"], automl["job_name"], automl["request_id"]) == (
        "AutoMLJob",
        "demo-autopilot-churn",
        "demo-automl-1",
    )
    assert training["spec"]["Environment"] == {
        "WANDB_API_KEY": "example-not-a-real-key",
        "LOG_LEVEL": "info",
    }
    assert training["spec"]["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 10,
    }
    assert automl["spec"]["ProblemType"] == "BinaryClassification"
    assert automl["spec"]["AutoMLJobObjective"] == {"MetricName": "F1"}
    assert automl["spec"]["AutoMLJobConfig"]["CompletionCriteria"]["MaxCandidates"] == 10


def test_the_stop_sample_stops_the_training_sample() -> None:
    assert load_event("requests/stop.json") == {
        "job_type": "TrainingJob",
        "action": "stop",
        "job_name": load_event("requests/training.json")["job_name"],
    }


def test_the_invalid_sample_breaks_several_rules_at_once() -> None:
    body = load_event("requests/invalid.json")
    shape = operation_input("CreateTrainingJob")
    with pytest.raises(ParamValidationError) as problems:
        validate_parameters(
            {**body["spec"], "TrainingJobName": body["job_name"], "RoleArn": ROLE}, shape
        )
    assert 'Missing required parameter in input: "OutputDataConfig"' in str(problems.value)
    assert 'Unknown parameter in input: "InstanceType"' in str(problems.value)
    # botocore does not check patterns: the key breaks the model's own rule all the same.
    environment = shape.members["Environment"]
    assert isinstance(environment, MapShape)
    key_pattern = environment.key.metadata["pattern"]
    assert not full_match(key_pattern, "1-BAD-KEY")
    assert "1-BAD-KEY" in body["spec"]["Environment"]
    assert all(
        full_match(key_pattern, key) for key in body["spec"]["Environment"] if key != "1-BAD-KEY"
    )


# -- SQS → SubmitFunction events -------------------------------------------------------------


@pytest.mark.parametrize("name", REQUESTS)
def test_each_sqs_event_carries_its_request_file(name: str) -> None:
    (record,) = load_event(f"sqs-{name}-request.json")["Records"]
    assert json.loads(record["body"]) == load_event(f"requests/{name}.json")


@pytest.mark.parametrize("name", REQUESTS)
def test_each_sqs_event_is_a_first_delivery_from_the_jobs_queue(name: str) -> None:
    (record,) = load_event(f"sqs-{name}-request.json")["Records"]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == QUEUE_ARN
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324
    assert set(record) >= {"messageId", "receiptHandle", "attributes", "messageAttributes"}


def test_the_sqs_samples_have_distinct_message_ids() -> None:
    ids = [load_event(f"sqs-{name}-request.json")["Records"][0]["messageId"] for name in REQUESTS]
    assert len(set(ids)) == len(ids)


# -- EventBridge → ReconcileFunction events -------------------------------------------------


@pytest.mark.parametrize("status", STATE_CHANGES)
def test_each_state_change_has_eventbridges_envelope(status: str) -> None:
    event = load_event(f"training-state-change-{status}.json")
    assert event["version"] == "0"
    assert event["source"] == "aws.sagemaker"
    assert event["detail-type"] == "SageMaker Training Job State Change"
    assert (event["account"], event["region"]) == (ACCOUNT, "us-east-1")
    assert event["resources"] == [TRAINING_ARN]
    assert event["id"]


@pytest.mark.parametrize("status", STATE_CHANGES)
def test_each_state_change_describes_the_training_sample_job(status: str) -> None:
    detail = load_event(f"training-state-change-{status}.json")["detail"]
    request = load_event("requests/training.json")
    assert detail["TrainingJobName"] == request["job_name"]
    assert detail["TrainingJobArn"] == TRAINING_ARN
    assert detail["HyperParameters"] == request["spec"]["HyperParameters"]
    assert detail["Environment"] == request["spec"]["Environment"]


@pytest.mark.parametrize("status", STATE_CHANGES)
def test_state_change_times_are_epoch_milliseconds_in_order(status: str) -> None:
    event = load_event(f"training-state-change-{status}.json")
    detail = event["detail"]
    stamps = [detail["CreationTime"], detail["TrainingStartTime"], detail["LastModifiedTime"]]
    # As in AWS's documented sample: strings of digits, milliseconds (not seconds).
    assert all(isinstance(t, str) and t.isdigit() for t in stamps)
    times = [int(t) for t in stamps]
    assert all(t > 10**12 for t in times)
    assert times == sorted(times)
    assert epoch_millis(event["time"]) >= times[-1]
    transitions = detail["SecondaryStatusTransitions"]
    starts = [int(t["StartTime"]) for t in transitions]
    assert starts == sorted(starts)
    assert transitions[-1]["Status"] == detail["SecondaryStatus"]


@pytest.mark.parametrize(
    ("status", "primary", "secondary"),
    [
        ("inprogress", "InProgress", "Training"),
        ("completed", "Completed", "Completed"),
        ("failed", "Failed", "Failed"),
    ],
)
def test_each_state_change_reports_its_status(status: str, primary: str, secondary: str) -> None:
    detail = load_event(f"training-state-change-{status}.json")["detail"]
    assert (detail["TrainingJobStatus"], detail["SecondaryStatus"]) == (primary, secondary)
    assert ("FailureReason" in detail) is (primary == "Failed")
    assert ("ModelArtifacts" in detail) is (primary == "Completed")


def test_the_completed_state_change_carries_artifacts_and_final_metrics() -> None:
    detail = load_event("training-state-change-completed.json")["detail"]
    assert detail["ModelArtifacts"]["S3ModelArtifacts"].startswith("s3://")
    assert detail["ModelArtifacts"]["S3ModelArtifacts"].endswith("/output/model.tar.gz")
    metrics = detail["FinalMetricDataList"]
    assert metrics
    assert all({"MetricName", "Value", "Timestamp"} <= set(metric) for metric in metrics)


def test_the_scheduled_sweep_is_a_classic_scheduled_event() -> None:
    event = load_event("scheduled-sweep.json")
    assert (event["source"], event["detail-type"]) == ("aws.events", "Scheduled Event")
    assert event["detail"] == {}
    (rule,) = event["resources"]
    assert rule.startswith(f"arn:aws:events:us-east-1:{ACCOUNT}:rule/")


def test_every_sample_file_is_covered_here() -> None:
    named = {f"requests/{name}.json" for name in REQUESTS}
    named |= {f"sqs-{name}-request.json" for name in REQUESTS}
    named |= {f"training-state-change-{status}.json" for status in STATE_CHANGES}
    named |= {"scheduled-sweep.json"}
    on_disk = {str(path.relative_to(EVENTS)) for path in EVENTS.rglob("*.json")}
    assert on_disk == named
