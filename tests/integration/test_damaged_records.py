"""A ledger record the controller cannot read (docs/contract.md §6) is logged by its key, never
its contents, counted in a metric, and skipped: it never stops the sweep or delays
other jobs."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.support.environment import JOBS_TABLE
from tests.support.logs import Logs
from tests.support.requests import request_body
from tests.support.stack import Stack

SECRET = "damaged-record-secret-value"


def submit(stack: Stack, name: str, **environment: str) -> None:
    body = request_body(job_name=name, request_id=name)
    body["spec"]["Environment"] = environment or body["spec"]["Environment"]
    assert stack.submit(body) == {"batchItemFailures": []}


def damage(name: str, *attributes: str) -> None:
    """Remove attributes of a record by hand, as an operator's mistake would."""
    boto3.client("dynamodb").update_item(
        TableName=JOBS_TABLE,
        Key={"job_name": {"S": name}, "job_type": {"S": "TrainingJob"}},
        UpdateExpression="REMOVE " + ", ".join(f"#{a}" for a in attributes),
        ExpressionAttributeNames={f"#{a}": a for a in attributes},
    )


def metrics_named(output: str, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    return [line for line in lines if name in line]


@pytest.mark.parametrize("missing", [("status",), ("created_at",), ("status", "updated_at")])
def test_the_sweep_skips_a_damaged_record_and_catches_up_every_other_job(
    stack: Stack, capsys: pytest.CaptureFixture[str], logs: Logs, missing: tuple[str, ...]
) -> None:
    submit(stack, "damaged-job", API_TOKEN=SECRET)
    submit(stack, "healthy-job")
    damage("damaged-job", *missing)
    stack.sagemaker.complete("TrainingJob", "healthy-job")  # its events were lost
    capsys.readouterr()

    report = stack.sweep()["sweep"]
    assert stack.job("healthy-job").status == "Completed"
    assert len(stack.notices_for("healthy-job")) == 1
    assert report["skipped"] is None
    (logged,) = [line for line in logs.lines() if "unreadable" in line["message"]]
    assert (logged["job_name"], logged["job_type"]) == ("damaged-job", "TrainingJob")
    out = capsys.readouterr().out
    assert SECRET not in out + logs.text
    assert metrics_named(out, "LedgerRecordsUnreadable")


def test_an_event_about_a_damaged_record_is_dropped_not_retried(
    stack: Stack, capsys: pytest.CaptureFixture[str], logs: Logs
) -> None:
    submit(stack, "damaged-job", API_TOKEN=SECRET)
    damage("damaged-job", "status")
    stack.sagemaker.complete("TrainingJob", "damaged-job")
    answer = stack.deliver(stack.sagemaker.training_event("damaged-job"))
    assert answer == {"job_name": "damaged-job", "status": None}
    assert "unreadable" in logs.text
    assert SECRET not in capsys.readouterr().out + logs.text


def test_a_request_for_a_name_whose_record_is_damaged_is_rejected_by_its_message_id(
    stack: Stack, capsys: pytest.CaptureFixture[str], logs: Logs
) -> None:
    submit(stack, "damaged-job", API_TOKEN=SECRET)
    damage("damaged-job", "created_at")
    body = request_body(job_name="damaged-job", request_id="another-request")
    assert stack.submit(body, message_ids=["m-damaged"]) == {"batchItemFailures": []}
    rejected = stack.job("rejected-m-damaged")
    assert rejected.failure_reason is not None
    assert "cannot be read" in rejected.failure_reason
    assert SECRET not in capsys.readouterr().out + logs.text
