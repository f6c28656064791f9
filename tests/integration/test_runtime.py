"""The one runtime (``jobctl_tools.local.runtime.Deployment``) on a simulated clock: the
template's event source, EventBridge rule and schedule feed the functions as AWS does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from jobctl.adapters.aws import clients
from jobctl.config import Settings
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.runtime import Deployment
from jobctl_tools.local.sagemaker import SimulatedSageMaker
from tests.support.environment import ENVIRONMENT, MAX_RECEIVE_COUNT
from tests.support.requests import request_body

NAME = "runtime-job"


@pytest.fixture
def deployment(clock: ManualClock, sagemaker: SimulatedSageMaker) -> Iterator[Deployment]:
    with mock_aws():
        parameters = {"MaxReceiveCount": str(MAX_RECEIVE_COUNT)}
        deployed = Deployment(clock, sagemaker, parameters=parameters).deploy()
        made = clients()
        sagemaker.attach(made.sagemaker)
        settings = {**ENVIRONMENT, "JOBS_QUEUE_URL": str(deployed.queue_url)}
        deployed.install(Settings.from_environ(settings), made)
        yield deployed
        deployed.close()


def request(name: str = NAME) -> str:
    return json.dumps(request_body(job_name=name, request_id=f"req-{name}"))


def fail_every(deployment: Deployment, service: str, operation: str) -> list[int]:
    """Every ``operation`` call of the functions' ``service`` client fails; how many did."""
    failed = [0]

    def refuse(**_: Any) -> None:
        failed[0] += 1
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, operation)

    client = getattr(deployment.clients, service)
    client.meta.events.register(f"provide-client-params.{service}.{operation}", refuse)
    return failed


def test_a_request_on_the_queue_reaches_the_submit_function_after_the_batch_window(
    deployment: Deployment, sagemaker: SimulatedSageMaker
) -> None:
    deployment.send(request())
    deployment.run(until=deployment.source.window_seconds - 1)
    assert ("TrainingJob", NAME) not in sagemaker.jobs  # the window is still gathering

    deployment.run(until=2)
    assert ("TrainingJob", NAME) in sagemaker.jobs
    assert deployment.records_handled == 1
    assert deployment.queue_depth() == 0  # handled, so deleted


def test_a_full_batch_is_handed_over_then_the_rest_at_once(deployment: Deployment) -> None:
    for index in range(deployment.source.batch_size + 3):
        deployment.send(request(f"{NAME}-{index}"))
    deployment.run(until=deployment.source.window_seconds + 1)
    assert deployment.invocations["submit"] == 2
    assert deployment.records_handled == deployment.source.batch_size + 3


def test_a_record_that_keeps_failing_shows_again_after_the_visibility_timeout_then_goes_dead(
    deployment: Deployment, clock: ManualClock
) -> None:
    # Neither the job nor its giving-up can be recorded: the record fails every time.
    failed = fail_every(deployment, "dynamodb", "TransactWriteItems")
    fail_every(deployment, "dynamodb", "PutItem")
    fail_every(deployment, "dynamodb", "UpdateItem")
    deployment.send(request())
    visibility = deployment.source.visibility_seconds

    deployment.run(until=visibility - 1)
    assert deployment.records_handled == 1  # received once, invisible since
    deployment.run(until=visibility + deployment.source.window_seconds)
    assert deployment.records_handled == 2

    deployment.run(until=MAX_RECEIVE_COUNT * visibility)
    assert deployment.records_handled == MAX_RECEIVE_COUNT
    assert failed[0] or deployment.errors.total  # it failed, and not silently
    assert [json.loads(body)["job_name"] for body in deployment.dead_letters()] == [NAME]
    assert deployment.queue_depth() == 0


def test_each_training_state_change_reaches_the_reconciler_twice_through_the_rule(
    deployment: Deployment, sagemaker: SimulatedSageMaker
) -> None:
    deployment.send(request())
    deployment.run(until=10)
    changes = deployment.events_sent
    assert changes >= 1
    assert deployment.invocations["reconcile_event"] == 2 * changes


def test_an_event_the_rule_does_not_match_never_reaches_the_reconciler(
    deployment: Deployment,
) -> None:
    deployment.route({"source": "aws.sagemaker", "detail-type": "SageMaker Endpoint", "detail": {}})
    assert deployment.invocations["reconcile_event"] == 0


def test_a_failed_event_invocation_is_retried_twice_a_minute_apart(
    deployment: Deployment, clock: ManualClock, sagemaker: SimulatedSageMaker
) -> None:
    deployment.send(request())
    deployment.run(until=10)
    before = deployment.invocations["reconcile_event"]
    sagemaker.set_state("TrainingJob", NAME, "Completed", "Completed")
    failed = fail_every(deployment, "dynamodb", "GetItem")
    fail_every(deployment, "dynamodb", "BatchGetItem")
    deployment.run(until=10)
    assert deployment.invocations["reconcile_event"] - before == 2  # both deliveries failed
    deployment.run(until=60)
    assert deployment.invocations["reconcile_event"] - before == 4  # each retried once
    deployment.run(until=60)
    assert deployment.invocations["reconcile_event"] - before == 6  # and again: then dropped
    deployment.run(until=120)
    assert deployment.invocations["reconcile_event"] - before == 6
    assert failed[0] > 0


def test_the_sweep_runs_on_the_templates_schedule(deployment: Deployment) -> None:
    deployment.run(until=3 * deployment.sweep_every + 1)
    assert deployment.sweep_every == 300  # rate(5 minutes)
    assert deployment.invocations["reconcile_sweep"] == 3


def test_the_controllers_own_sends_are_picked_up_by_the_event_source(
    deployment: Deployment,
) -> None:
    sqs = deployment.clients.sqs
    sqs.send_message(QueueUrl=deployment.queue_url, MessageBody=request(), DelaySeconds=30)
    deployment.run(until=30)
    assert deployment.records_handled == 0  # delayed: moto's SQS keeps the simulated clock
    deployment.run(until=deployment.source.window_seconds + 1)
    assert deployment.records_handled == 1
    assert deployment.messages_sent == 1


def test_moto_sqs_gets_the_wall_clock_back_when_the_deployment_closes(
    clock: ManualClock, sagemaker: SimulatedSageMaker
) -> None:
    import moto.sqs.models

    saved = moto.sqs.models.unix_time  # type: ignore[attr-defined]
    with mock_aws():
        deployment = Deployment(clock, sagemaker).deploy()
        assert moto.sqs.models.unix_time is not saved  # type: ignore[attr-defined]
        deployment.close()
    assert moto.sqs.models.unix_time is saved  # type: ignore[attr-defined]
    assert boto3  # the module's clients were made inside the mock
