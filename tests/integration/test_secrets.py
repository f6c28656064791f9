"""docs/contract.md §7: Environment and HyperParameters values reach no log, metric or notice."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from tests.support.logs import Logs
from tests.support.requests import request_body
from tests.support.stack import Stack

SECRET = "hunter2-do-not-log-me"
HYPER_SECRET = "hp-secret-value-42"
# A value that messages escape: a quote, a backslash, a non-ASCII letter.
ODD_SECRET = 'pa"ss\\wörd-do-not-log'


def secret_request(**changes: Any) -> dict[str, Any]:
    body = request_body(**changes)
    body["spec"]["Environment"] = {"API_TOKEN": SECRET}
    body["spec"]["HyperParameters"] = {"token": HYPER_SECRET, "password": ODD_SECRET}
    return body


def assert_secret_free(text: str) -> None:
    assert SECRET not in text
    assert HYPER_SECRET not in text
    for escaped in (
        ODD_SECRET,
        json.dumps(ODD_SECRET)[1:-1],
        ODD_SECRET.encode("unicode_escape").decode(),
    ):
        assert escaped not in text


def test_no_secret_reaches_logs_metrics_or_notices_on_any_path(
    stack: Stack, capsys: pytest.CaptureFixture[str], logs: Logs
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
    assert_secret_free(captured.out + captured.err + logs.text)
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


# -- what SageMaker says carries secrets too (docs/contract.md §7) -------------------------


def everything_kept(stack: Stack, logs: Logs, capsys: pytest.CaptureFixture[str]) -> str:
    """Every place a secret could land: logs, metrics, notices, the ledger."""
    captured = capsys.readouterr()
    return "".join(
        [
            captured.out,
            captured.err,
            logs.text,
            json.dumps(stack.notices()),
            json.dumps(stack.ledger_items(), default=str),
        ]
    )


def without_environment(text: str) -> str:
    """The ledger keeps the Environment map itself (as SageMaker reports it): leave it out."""
    return text.replace(f'"API_TOKEN": {{"S": "{SECRET}"}}', "")


def test_a_failure_reason_echoing_a_hyperparameter_is_scrubbed(
    stack: Stack, capsys: pytest.CaptureFixture[str], logs: Logs
) -> None:
    stack.submit(secret_request())
    reason = f"AlgorithmError: invalid value {HYPER_SECRET} for token; env {SECRET} rejected"
    stack.sagemaker.set_state(
        "TrainingJob", "demo-xgboost-churn", "Failed", "Failed", failure_reason=reason
    )
    stack.deliver(stack.sagemaker.training_event("demo-xgboost-churn"))
    record = stack.job("demo-xgboost-churn")
    assert record is not None
    assert record.failure_reason == "AlgorithmError: invalid value *** for token; env *** rejected"
    assert_secret_free(without_environment(everything_kept(stack, logs, capsys)))


def test_a_5xx_message_echoing_a_secret_reaches_no_reason_notice_or_traceback(
    stack: Stack, capsys: pytest.CaptureFixture[str], logs: Logs
) -> None:
    message = f"internal error while reading Environment API_TOKEN={SECRET}"
    stack.sagemaker.fail_next("CreateTrainingJob", "InternalFailure", times=3, message=message)
    failures = []
    for receive in (1, 2, 3):
        with pytest.raises(BatchProcessingError) as caught:
            stack.submit(secret_request(), receive_count=receive)
        failures.append(str(caught.value))
    record = stack.job("demo-xgboost-churn")
    assert record is not None
    assert record.status == "SubmitFailed"
    assert record.failure_reason is not None
    assert "InternalFailure" in record.failure_reason
    assert_secret_free("".join(failures) + everything_kept(stack, logs, capsys))


@pytest.mark.parametrize(
    "echo",
    [
        f"Value '{SECRET}' at 'environment' failed to satisfy constraint: Member too long",
        f'Value "{SECRET}" at "environment"',  # double quotes
        f"invalid value {json.dumps(ODD_SECRET)[1:-1]} for password",  # JSON-escaped
        f"invalid value {ODD_SECRET.encode('unicode_escape').decode()} for password",  # escaped
        f"invalid value {SECRET} for token",  # not quoted at all
        f"The value {SECRET[:12]}",  # cut off where SageMaker cut the message short
        f"Value '{SECRET[:15]}",  # cut off inside an unclosed quote
    ],
)
def test_a_validation_message_echoing_a_secret_in_any_form_is_scrubbed(
    stack: Stack, capsys: pytest.CaptureFixture[str], logs: Logs, echo: str
) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", "ValidationException", message=echo)
    stack.submit(secret_request())
    record = stack.job("demo-xgboost-churn")
    assert record is not None
    assert record.status == "Rejected"
    assert record.failure_reason is not None
    assert_secret_free(record.failure_reason)
    assert SECRET[:8] not in record.failure_reason
    assert_secret_free(everything_kept(stack, logs, capsys))


def test_a_validation_message_keeps_its_field_path_and_constraint(stack: Stack) -> None:
    echo = (
        f"1 validation error detected: Value '{{API_TOKEN={SECRET}}}' at 'environment' failed"
        " to satisfy constraint: Map value must satisfy constraint: [Member must have length"
        " less than or equal to 512]"
    )
    stack.sagemaker.fail_next("CreateTrainingJob", "ValidationException", message=echo)
    stack.submit(secret_request())
    record = stack.job("demo-xgboost-churn")
    assert record is not None
    assert record.failure_reason == (
        "SageMaker rejected the request: ValidationException at environment: Map value must"
        " satisfy constraint: [Member must have length less than or equal to 512]"
    )


def test_a_malformed_event_is_logged_by_its_shape_only(stack: Stack, logs: Logs) -> None:
    event = {
        "source": "aws.sagemaker",
        "detail-type": "SageMaker Training Job State Change",
        "detail": {"hyperparameters": SECRET, "ENVIRONMENT": [SECRET], "TrainingJobName": 7},
    }
    assert "dropped" in stack.deliver(event)
    (logged,) = [line for line in logs.lines() if line["message"] == "malformed event dropped"]
    assert logged["event"]["detail_keys"] == ["ENVIRONMENT", "TrainingJobName", "hyperparameters"]
    assert_secret_free(logs.text)


def test_debug_logging_and_event_logging_print_no_secret(
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    logs: Logs,
) -> None:
    # An operator turns everything up: the root logger at DEBUG, Powertools' event logging on.
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    caplog.set_level(logging.DEBUG)
    stack.submit(secret_request())
    stack.sagemaker.complete("TrainingJob", "demo-xgboost-churn")
    stack.deliver(stack.sagemaker.training_event("demo-xgboost-churn"))
    captured = capsys.readouterr()
    assert_secret_free(caplog.text + captured.out + captured.err + logs.text)
