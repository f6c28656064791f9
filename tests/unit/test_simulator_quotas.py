"""The simulated account's training quotas: instances per instance type, on-demand and spot
apart, held by the jobs that run, refused as SageMaker refuses them."""

from __future__ import annotations

import re
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.sagemaker import SimulatedSageMaker
from jobctl_tools.local.sagemaker_quotas import ACCOUNT_TRAINING_QUOTAS
from tests.support.environment import DEFAULT_ROLE
from tests.support.requests import request_body

GPU = "ml.p4d.24xlarge"


@pytest.fixture
def client(sagemaker: SimulatedSageMaker) -> Any:
    return sagemaker.attach(boto3.client("sagemaker"))


def resources(instance_type: str = "ml.m5.xlarge", count: int = 1) -> dict[str, Any]:
    return {"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 10}


def create(client: Any, clock: ManualClock, name: str, **changes: Any) -> None:
    """Create a training job within the Create rate (1/s)."""
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE} | changes
    try:
        client.create_training_job(TrainingJobName=name, **spec)
    finally:
        clock.advance(1)


def refusal(client: Any, clock: ManualClock, name: str, **changes: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        create(client, clock, name, **changes)
    error = caught.value.response["Error"]
    return str(error["Code"]), str(error["Message"])


def spot(**changes: Any) -> dict[str, Any]:
    stopping = {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    return {"EnableManagedSpotTraining": True, "StoppingCondition": stopping, **changes}


def test_a_create_beyond_the_quota_is_refused_in_sagemakers_words(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.set_quota(GPU, 8)
    create(client, clock, "big", ResourceConfig=resources(GPU, 8))
    assert refusal(client, clock, "one-more", ResourceConfig=resources(GPU)) == (
        "ResourceLimitExceeded",
        "The account-level service limit 'ml.p4d.24xlarge for training job usage' is 8 "
        "Instances, with current utilization of 8 Instances and a request delta of 1 "
        "Instances. Please use AWS Service Quotas to request an increase for this quota. If "
        "AWS Service Quotas is not available, contact AWS support to request an increase "
        "for this quota.",
    )
    assert ("TrainingJob", "one-more") not in sagemaker.jobs


def test_a_job_holds_its_instances_until_it_has_stopped(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.set_quota(GPU, 4)
    create(client, clock, "first", ResourceConfig=resources(GPU, 4))
    client.stop_training_job(TrainingJobName="first")
    assert refusal(client, clock, "second", ResourceConfig=resources(GPU, 4))[0] == (
        "ResourceLimitExceeded"  # Stopping still holds them
    )
    sagemaker.set_state("TrainingJob", "first", "Stopped")
    create(client, clock, "second", ResourceConfig=resources(GPU, 4))
    sagemaker.complete("TrainingJob", "second")
    create(client, clock, "third", ResourceConfig=resources(GPU, 4))
    assert sagemaker.training_instances_in_use() == {GPU: 4}


def test_spot_jobs_count_against_their_own_quota(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.set_quota("ml.m5.xlarge", 1)
    create(client, clock, "on-demand", ResourceConfig=resources())
    # AWS's default spot quota for ml.m5.xlarge is 4, whatever the on-demand one holds.
    create(client, clock, "spot-1", **spot(ResourceConfig=resources(count=4)))
    code, message = refusal(client, clock, "spot-2", **spot(ResourceConfig=resources()))
    assert code == "ResourceLimitExceeded"
    assert message.startswith(
        "The account-level service limit 'ml.m5.xlarge for spot training job usage' is 4 "
        "Instances, with current utilization of 4 Instances and a request delta of 1"
    )
    assert refusal(client, clock, "on-demand-2", ResourceConfig=resources())[0] == (
        "ResourceLimitExceeded"
    )
    sagemaker.set_quota("ml.m5.xlarge", 10, spot=True)
    create(client, clock, "spot-2", **spot(ResourceConfig=resources()))
    assert sagemaker.training_instances_in_use(spot=True) == {"ml.m5.xlarge": 5}


def test_every_instance_group_counts_against_its_types_quota(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.set_quota(GPU, 2)
    sagemaker.set_quota("ml.c5.xlarge", 2)
    groups = [
        {"InstanceGroupName": "gpus", "InstanceType": GPU, "InstanceCount": 2},
        {"InstanceGroupName": "loaders", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1},
    ]
    create(
        client,
        clock,
        "heterogeneous",
        ResourceConfig={"InstanceGroups": groups, "VolumeSizeInGB": 10},
    )
    assert sagemaker.training_instances_in_use() == {GPU: 2, "ml.c5.xlarge": 1}
    create(client, clock, "loader", ResourceConfig=resources("ml.c5.xlarge"))
    code, message = refusal(client, clock, "gpu", ResourceConfig=resources(GPU))
    assert code == "ResourceLimitExceeded"
    assert (
        "'ml.p4d.24xlarge for training job usage' is 2 Instances, with current utilization "
        "of 2 Instances and a request delta of 1 Instances"
    ) in message


def test_the_accounts_finished_history_holds_no_instances(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.seed_history(500)
    for index in range(ACCOUNT_TRAINING_QUOTAS["ml.m5.xlarge"]):
        create(client, clock, f"job-{index}")
    assert refusal(client, clock, "one-too-many")[0] == "ResourceLimitExceeded"


def test_a_new_account_may_run_no_on_demand_training_instance(clock: ManualClock) -> None:
    new_account = SimulatedSageMaker(clock=clock, training_quotas={})
    client = new_account.attach(boto3.client("sagemaker"))
    code, message = refusal(client, clock, "first-job")
    assert code == "ResourceLimitExceeded"
    assert "'ml.m5.xlarge for training job usage' is 0 Instances" in message


def test_a_create_of_a_running_job_is_resource_in_use_even_at_the_quota(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.set_quota(GPU, 1)
    create(client, clock, "lost-answer", ResourceConfig=resources(GPU))
    # Resent after a lost answer: the controller adopts the job on ResourceInUse.
    assert refusal(client, clock, "lost-answer", ResourceConfig=resources(GPU))[0] == (
        "ResourceInUse"
    )


def test_automl_jobs_are_not_refused_for_instances(clock: ManualClock) -> None:
    new_account = SimulatedSageMaker(clock=clock, training_quotas={})
    client = new_account.attach(boto3.client("sagemaker"))
    spec = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    client.create_auto_ml_job(AutoMLJobName="automl-1", **spec)
    described = client.describe_auto_ml_job(AutoMLJobName="automl-1")
    assert described["AutoMLJobStatus"] == "InProgress"


def test_a_quota_is_set_only_for_an_instance_type_sagemaker_trains_on(
    sagemaker: SimulatedSageMaker,
) -> None:
    with pytest.raises(KeyError, match=re.escape("ml.m5.xlarg for training job usage")):
        sagemaker.set_quota("ml.m5.xlarg", 10)
    with pytest.raises(ValueError, match="cannot be negative"):
        sagemaker.set_quota("ml.m5.xlarge", -1)


def test_the_peaks_are_the_most_jobs_and_instances_ever_running_at_once(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.set_quota(GPU, 8)
    create(client, clock, "a", ResourceConfig=resources(GPU, 4))
    create(client, clock, "b", ResourceConfig=resources(GPU, 3))
    sagemaker.complete("TrainingJob", "a")
    clock.advance(1)
    create(client, clock, "c", ResourceConfig=resources(GPU, 1))  # b and c: 4 at once
    create(client, clock, "d", ResourceConfig=resources())
    assert sagemaker.peaks() == (3, {GPU: 7, "ml.m5.xlarge": 1})
    assert sagemaker.peaks(lambda job: job.name in ("a", "c")) == (1, {GPU: 4})
