"""A notice is JSON for machines and a few readable lines for email (SNS's message
structure per protocol), with a subject that says what happened to which job."""

from __future__ import annotations

import json

import boto3
from botocore.stub import ANY, Stubber

from jobctl.adapters.notices import SnsNoticePublisher
from jobctl.models.jobs import Notice

TOPIC = "arn:aws:sns:us-east-1:123456789012:jobctl-notices"


def failed() -> Notice:
    return Notice(
        job_name="demo-xgboost-churn",
        job_type="TrainingJob",
        status="Failed",
        secondary_status="Failed",
        failure_reason="AlgorithmError: see the job's logs",
        warnings=[],
        job_arn="arn:aws:sagemaker:us-east-1:123456789012:training-job/demo-xgboost-churn",
        request_id="demo-train-1",
        outputs=None,
        updated_at="2026-12-01T16:07:21Z",
        attempts=2,
        estimated_cost_usd=1.234,
        share="research",
    )


def test_the_email_form_is_a_few_lines_a_person_reads_with_the_command_to_see_more() -> None:
    text = failed().readable()
    assert text.splitlines()[0] == "TrainingJob demo-xgboost-churn: Failed"
    assert "reason: AlgorithmError: see the job's logs" in text
    assert "tries: 2" in text
    assert "estimated cost: $1.23" in text
    assert "jobctl get demo-xgboost-churn --type TrainingJob" in text


def test_a_notice_is_published_as_json_for_every_protocol_but_email() -> None:
    client = boto3.client("sns", region_name="us-east-1")
    notice = failed()
    with Stubber(client) as stub:
        expected = {
            "TopicArn": TOPIC,
            "Subject": "jobctl: demo-xgboost-churn Failed",
            "MessageStructure": "json",
            "Message": json.dumps({"default": notice.message(), "email": notice.readable()}),
            "MessageAttributes": ANY,
        }
        stub.add_response("publish", {"MessageId": "m-1"}, expected)
        SnsNoticePublisher(client, TOPIC).publish(notice)
    assert json.loads(notice.message())["status"] == "Failed"
    assert "share" not in json.loads(notice.message())  # an attribute, not the message's
