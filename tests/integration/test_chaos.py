"""The chaos soak's faults (``make soak CHAOS=1``): they reach the controller's adapters as
AWS failures do, kill an invocation only after a write succeeded, and are counted."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from jobctl.adapters.aws import clients
from jobctl_tools.local.chaos import Chaos, InvocationKilled


def test_every_call_may_fail_as_if_botocores_retries_ran_out() -> None:
    with mock_aws():
        made = clients(boto3.session.Session(region_name="us-east-1"))
        Chaos(fault_rate=1.0, kill_rate=0.0).attach(made)
        with pytest.raises(ClientError) as failed:
            made.sqs.list_queues()
    assert failed.value.response["Error"]["Code"] == "InternalServerError"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_a_kill_comes_only_after_a_write_succeeded_and_each_is_counted() -> None:
    with mock_aws():
        made = clients(boto3.session.Session(region_name="us-east-1"))
        queue_url = made.sqs.create_queue(QueueName="jobs")["QueueUrl"]
        chaos = Chaos(fault_rate=0.0, kill_rate=1.0)
        chaos.attach(made)
        made.sqs.get_queue_attributes(QueueUrl=queue_url)  # a read: never killed
        with pytest.raises(InvocationKilled):
            made.sqs.send_message(QueueUrl=queue_url, MessageBody="{}")
        sent = boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=queue_url)
    assert len(sent["Messages"]) == 1  # the write happened; the invocation died after it
    assert chaos.report() == {"faults by service": {}, "kills after": {"SendMessage": 1}}
