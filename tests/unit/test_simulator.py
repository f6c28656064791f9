"""The simulated SageMaker that every test shares, checked against botocore's model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from jobctl.local.sagemaker import SimulatedSageMaker
from tests.conftest import DEFAULT_ROLE, request_body


@pytest.fixture
def client(sagemaker: SimulatedSageMaker) -> Any:
    return sagemaker.attach(boto3.client("sagemaker"))


def create(client: Any, name: str = "sim-job", **changes: Any) -> str:
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE} | changes
    return str(client.create_training_job(TrainingJobName=name, **spec)["TrainingJobArn"])


def test_describe_echoes_the_environment_given_at_create(client: Any) -> None:
    create(client)
    answer = client.describe_training_job(TrainingJobName="sim-job")
    assert answer["Environment"] == request_body()["spec"]["Environment"]
    assert (answer["TrainingJobStatus"], answer["SecondaryStatus"]) == ("InProgress", "Starting")


def test_model_limits_botocore_does_not_check_are_answered_with_validation_exception(
    client: Any,
) -> None:
    with pytest.raises(ClientError) as caught:
        create(client, Environment={f"K{i}": "v" for i in range(101)})
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_botocore_still_checks_what_it_checks_before_anything_is_sent(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    with pytest.raises(ParamValidationError):
        client.create_training_job(TrainingJobName="x")
    assert sagemaker.calls["CreateTrainingJob"] == 0


def test_a_second_create_of_the_same_name_is_resource_in_use(client: Any) -> None:
    create(client)
    with pytest.raises(ClientError) as caught:
        create(client)
    assert caught.value.response["Error"]["Code"] == "ResourceInUse"


def test_describing_an_unknown_training_job_is_a_validation_exception(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.describe_training_job(TrainingJobName="nope")
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_injected_faults_carry_their_code_and_http_status(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    sagemaker.fail_next("CreateTrainingJob", "ServiceUnavailable")
    with pytest.raises(ClientError) as caught:
        create(client)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    create(client)  # the fault was used up


def test_complete_walks_the_documented_training_path(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    create(client)
    sagemaker.complete("TrainingJob", "sim-job")
    answer = client.describe_training_job(TrainingJobName="sim-job")
    assert [t["Status"] for t in answer["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert answer["ModelArtifacts"]["S3ModelArtifacts"].endswith("sim-job/output/model.tar.gz")


def test_stop_moves_a_running_job_to_stopping_and_refuses_an_ended_one(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    create(client)
    client.stop_training_job(TrainingJobName="sim-job")
    assert (
        client.describe_training_job(TrainingJobName="sim-job")["TrainingJobStatus"] == "Stopping"
    )
    sagemaker.set_state("TrainingJob", "sim-job", "Stopped")
    with pytest.raises(ClientError):
        client.stop_training_job(TrainingJobName="sim-job")


def test_list_filters_by_last_modified_time_and_pages(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    start = datetime.now(UTC) - timedelta(seconds=1)
    for index in range(25):
        create(client, f"job-{index}")
    names = [
        summary["TrainingJobName"]
        for page in client.get_paginator("list_training_jobs").paginate(
            LastModifiedTimeAfter=start, PaginationConfig={"PageSize": 10}
        )
        for summary in page["TrainingJobSummaries"]
    ]
    assert sorted(names) == sorted(f"job-{i}" for i in range(25))
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert client.list_training_jobs(LastModifiedTimeAfter=later)["TrainingJobSummaries"] == []
    assert sagemaker.calls["ListTrainingJobs"] == 4


def test_automl_v1_jobs_are_created_described_and_listed(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    spec = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    client.create_auto_ml_job(AutoMLJobName="sim-automl", **spec)
    sagemaker.set_state("AutoMLJob", "sim-automl", "Completed", "ExplainabilityError")
    answer = client.describe_auto_ml_job(AutoMLJobName="sim-automl")
    assert answer["AutoMLJobSecondaryStatus"] == "ExplainabilityError"
    assert answer["BestCandidate"]["FinalAutoMLJobObjectiveMetric"]["MetricName"] == "F1"
    (summary,) = client.list_auto_ml_jobs()["AutoMLJobSummaries"]
    assert summary["AutoMLJobStatus"] == "Completed"


def test_a_job_tagged_to_hang_trains_until_stopped(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    sagemaker.step = timedelta(0)
    create(client, Tags=[{"Key": "jobctl-sim:outcome", "Value": "Hang"}])
    later = iter(datetime.now(UTC) + timedelta(minutes=m) for m in range(1, 100))
    sagemaker.clock = lambda: next(later)
    for _ in range(10):
        sagemaker.advance()
    assert client.describe_training_job(TrainingJobName="sim-job")["SecondaryStatus"] == "Training"
    client.stop_training_job(TrainingJobName="sim-job")
    sagemaker.advance()
    assert client.describe_training_job(TrainingJobName="sim-job")["TrainingJobStatus"] == "Stopped"
