"""Jobs that wait for capacity (docs/contract.md §8): requests sized for the budgets, the
wake-ups the controller sends an admitted job, and settling a job to free its room."""

from __future__ import annotations

from typing import Any

import boto3

from tests.support.requests import request_body
from tests.support.stack import Stack

GPU = "ml.p4d.24xlarge"


def job(
    name: str, instance_type: str = "ml.m5.xlarge", count: int = 1, **fields: Any
) -> dict[str, Any]:
    """A training request named ``name`` (its request id too) on ``count`` instances."""
    body = request_body(job_name=name, request_id=name, **fields)
    body["spec"]["ResourceConfig"] = {
        **body["spec"]["ResourceConfig"],
        "InstanceType": instance_type,
        "InstanceCount": count,
    }
    return body


def wake_ups(queue_url: str) -> list[str]:
    """The requests sent back to the jobs queue (admitted jobs), taken off it."""
    sqs = boto3.client("sqs")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def finish(stack: Stack, name: str) -> None:
    """The training job completes, and its state-change event reaches the controller."""
    stack.sagemaker.complete("TrainingJob", name)
    stack.deliver(stack.sagemaker.training_event(name))
