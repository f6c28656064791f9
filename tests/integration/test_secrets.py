"""CONTRACT §7: Environment and HyperParameters values reach no log, metric or notice."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from tests.conftest import Stack, request_body

SECRET = "hunter2-do-not-log-me"
HYPER_SECRET = "hp-secret-value-42"


def secret_request(**changes: object) -> dict[str, object]:
    body = request_body(**changes)
    body["spec"]["Environment"] = {"API_TOKEN": SECRET}
    body["spec"]["HyperParameters"] = {"token": HYPER_SECRET}
    return body


def assert_secret_free(text: str) -> None:
    assert SECRET not in text
    assert HYPER_SECRET not in text


def test_no_secret_reaches_logs_metrics_or_notices_on_any_path(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    # accepted, then completed (the event's detail carries the Environment back)
    stack.submit(secret_request())
    stack.sagemaker.complete("TrainingJob", "demo-xgboost-churn")
    event = stack.sagemaker.training_event("demo-xgboost-churn")
    assert event["detail"]["Environment"] == {"API_TOKEN": SECRET}
    stack.deliver(event)
    # rejected by our own rules
    invalid = secret_request(job_name="bad-one", request_id="bad-1")
    invalid["spec"]["Environment"]["1-NOT-A-KEY"] = SECRET
    stack.submit(invalid)
    # rejected by SageMaker, whose message echoes the value
    stack.sagemaker.fail_next(
        "CreateTrainingJob", "ValidationException", message=f"Value '{SECRET}' is invalid"
    )
    stack.submit(secret_request(job_name="echoed", request_id="echoed-1"))
    # given up after transient failures
    stack.sagemaker.fail_next("CreateTrainingJob", "ThrottlingException", times=5)
    for receive in (1, 3):
        with pytest.raises(BatchProcessingError):
            stack.submit(
                secret_request(job_name="throttled", request_id="t-1"), receive_count=receive
            )
    # a malformed event that still carries secrets
    stack.deliver({"source": "aws.sagemaker", "detail": {"Environment": {"K": SECRET}}})

    captured = capsys.readouterr()
    assert_secret_free(captured.out + captured.err)
    assert_secret_free(json.dumps(stack.notices()))
    statuses = {item["job_name"]["S"]: item["status"]["S"] for item in stack.ledger_items()}
    assert statuses == {
        "demo-xgboost-churn": "Completed",
        "bad-one": "Rejected",
        "echoed": "Rejected",
        "throttled": "SubmitFailed",
    }
    for item in stack.ledger_items():
        assert_secret_free(item.get("failure_reason", {}).get("S", ""))
