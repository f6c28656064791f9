"""jobctl_producer with the SageMaker Python SDK v2: requests built by ``Estimator``, a
framework estimator and ``AutoML`` reach the local stack as ``fit()`` would have sent
them to SageMaker, run there, and ``Estimator.attach`` / ``AutoML.attach`` read them back
from the simulated SageMaker."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from sagemaker.automl.automl import AutoML
from sagemaker.estimator import Estimator
from sagemaker.pytorch import PyTorch
from sagemaker.session import Session

from jobctl.errors import InvalidRequest
from jobctl_cli.client import UserError
from jobctl_producer import Producer
from jobctl_tools.local.stack import LOCAL_ROLE, LocalStack, LocalStackOptions
from tests.support.local_stack import local_stack_in_process

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "s3://producer-tests"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    options = LocalStackOptions(state_dir=tmp_path, speed=20)
    with local_stack_in_process(options) as local:
        boto3.client("s3").create_bucket(Bucket=BUCKET.removeprefix("s3://"))
        yield local


@pytest.fixture
def session(stack: LocalStack) -> Session:
    """An SDK session whose clients reach the local stack (its environment's endpoints)."""
    return Session(boto_session=boto3.Session())


@pytest.fixture
def producer(stack: LocalStack) -> Producer:
    return Producer(stack.client())


def settled(stack: LocalStack, name: str, job_type: str = "TrainingJob") -> Any:
    """The job's ledger record once it has settled (the stack runs 20 times faster than
    the wall clock: a job takes a few seconds)."""
    ledger = stack.client()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = ledger.get(name, job_type)
        if found and found[0].status in ("Completed", "Failed", "Stopped"):
            return found[0]
        time.sleep(0.2)
    pytest.fail(f"{job_type} {name} did not settle within a minute")


def xgboost(session: Session, **changes: Any) -> Estimator:
    settings = {
        "image_uri": IMAGE,
        "role": LOCAL_ROLE,
        "instance_count": 1,
        "instance_type": "ml.m5.xlarge",
        "output_path": f"{BUCKET}/output",
        "hyperparameters": {"num_round": "10"},
        "environment": {"STAGE": "test"},
        "max_run": 3600,
        "sagemaker_session": session,
    }
    return Estimator(**(settings | changes))


def test_an_estimators_job_runs_as_fit_would_have_created_it_and_attach_reads_it(
    stack: LocalStack, session: Session, producer: Producer
) -> None:
    estimator = xgboost(
        session, use_spot_instances=True, max_wait=7200, checkpoint_s3_uri=f"{BUCKET}/ckpt"
    )
    inputs = {"train": f"{BUCKET}/train"}
    sent = producer.submit_estimator(estimator, inputs, share="research", retry={"attempts": 2})
    assert sent.name.startswith("sagemaker-xgboost-")  # the SDK's generated name
    record = settled(stack, sent.name)
    assert (record.status, record.share) == ("Completed", "research")
    assert record.retry is not None
    assert record.retry.attempts == 2
    attached = Estimator.attach(sent.name, sagemaker_session=session)
    assert attached.hyperparameters() == {"num_round": "10"}
    assert attached.use_spot_instances
    assert attached.output_kms_key == ""
    # attach reads neither back: the job has them as fit() would have sent them.
    job = session.sagemaker_client.describe_training_job(TrainingJobName=sent.name)
    assert job["Environment"] == {"STAGE": "test"}
    assert job["CheckpointConfig"]["S3Uri"] == f"{BUCKET}/ckpt"


def test_a_framework_estimator_keeps_its_generated_name_in_its_hyperparameters(
    stack: LocalStack, session: Session, producer: Producer, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text("print('training')\n")
    estimator = PyTorch(
        entry_point="train.py",
        source_dir=str(tmp_path),
        framework_version="2.1",
        py_version="py310",
        role=LOCAL_ROLE,
        instance_count=1,
        instance_type="ml.m5.xlarge",
        output_path=f"{BUCKET}/output",
        code_location=f"{BUCKET}/code",
        sagemaker_session=session,
    )
    sent = producer.submit_estimator(estimator, f"{BUCKET}/train", priority=50)
    assert settled(stack, sent.name).status == "Completed"
    job = session.sagemaker_client.describe_training_job(TrainingJobName=sent.name)
    assert job["HyperParameters"]["sagemaker_job_name"] == json.dumps(sent.name)
    uploaded = json.loads(job["HyperParameters"]["sagemaker_submit_directory"])
    assert uploaded.startswith(f"{BUCKET}/code/{sent.name}/")  # fit()'s own upload


def test_a_name_given_is_the_name_the_sdk_builds_the_request_with(
    stack: LocalStack, session: Session, producer: Producer
) -> None:
    sent = producer.submit_estimator(xgboost(session), f"{BUCKET}/train", job_name="churn-1")
    assert sent.name == "churn-1"
    assert settled(stack, "churn-1").status == "Completed"


def test_an_automl_job_runs_and_attach_reads_it(
    stack: LocalStack, session: Session, producer: Producer
) -> None:
    automl = AutoML(
        role=LOCAL_ROLE,
        target_attribute_name="churned",
        output_path=f"{BUCKET}/automl",
        max_candidates=2,
        sagemaker_session=session,
    )
    sent = producer.submit_automl(automl, f"{BUCKET}/train.csv", share="prod")
    assert settled(stack, sent.name, "AutoMLJob").status == "Completed"
    attached = AutoML.attach(sent.name, sagemaker_session=session)
    assert attached.target_attribute_name == "churned"
    assert attached.max_candidate == 2


def test_a_request_the_controller_would_reject_is_refused_before_it_is_sent(
    session: Session, producer: Producer
) -> None:
    other_role = "arn:aws:iam::123456789012:role/someone-elses"
    with pytest.raises((InvalidRequest, UserError), match="RoleArn"):
        producer.submit_estimator(xgboost(session, role=other_role), f"{BUCKET}/train")
