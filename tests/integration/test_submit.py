"""SubmitFunction end to end in-process: SQS batches → SageMaker → ledger → notices."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from tests.support.environment import MAX_RECEIVE_COUNT
from tests.support.requests import request_body
from tests.support.stack import Stack

NAME = "demo-xgboost-churn"


def test_a_training_request_is_created_with_its_environment_and_recorded_in_progress(
    stack: Stack,
) -> None:
    body = request_body()
    assert stack.submit(body) == {"batchItemFailures": []}

    job = stack.sagemaker.jobs[("TrainingJob", NAME)]
    assert job.request["Environment"] == body["spec"]["Environment"]
    record = stack.job(NAME)
    assert record is not None
    assert record.status == "InProgress"
    assert record.job_arn == job.arn
    assert record.request_id == "demo-train-1"
    assert [h.status for h in record.history] == ["Queued", "InProgress"]
    assert stack.notices() == []


def test_an_automl_request_uses_create_auto_ml_job_v1(stack: Stack) -> None:
    stack.submit(request_body("automl.json"))
    assert stack.sagemaker.calls["CreateAutoMLJob"] == 1
    assert stack.sagemaker.calls["CreateAutoMLJobV2"] == 0
    assert stack.job("demo-autopilot-churn", "AutoMLJob").status == "InProgress"


def test_duplicate_delivery_submits_once(stack: Stack) -> None:
    stack.submit(request_body())
    stack.submit(request_body(), receive_count=2)
    stack.submit(request_body())
    assert stack.sagemaker.calls["CreateTrainingJob"] == 1
    assert stack.job(NAME).status == "InProgress"


def test_a_lost_create_answer_is_adopted_when_the_job_carries_our_tag(stack: Stack) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", "InternalFailure", after_effect=True)
    with pytest.raises(BatchProcessingError):
        stack.submit(request_body())
    assert stack.job(NAME).status == "Queued"

    assert stack.submit(request_body(), receive_count=2) == {"batchItemFailures": []}
    assert stack.job(NAME).status == "InProgress"
    assert stack.job(NAME).job_arn == stack.sagemaker.jobs[("TrainingJob", NAME)].arn
    assert len(stack.sagemaker.jobs) == 1
    assert stack.notices() == []


def test_a_name_taken_by_a_job_jobctl_does_not_own_is_rejected(stack: Stack) -> None:
    foreign = request_body()["spec"] | {
        "TrainingJobName": "someone-elses",
        "RoleArn": "arn:aws:iam::123456789012:role/x-role-name",
    }
    stack.sagemaker.handle("CreateTrainingJob", foreign)
    stack.clock.advance(1)  # the other team created it a moment before (Create allows 1/s)
    stack.submit(request_body(job_name="someone-elses", request_id="mine-1"))
    record = stack.job("someone-elses")
    assert record.status == "Rejected"
    assert record.failure_reason is not None
    assert "not jobctl's" in record.failure_reason
    assert [n["status"] for n in stack.notices_for("someone-elses")] == ["Rejected"]


def test_partial_batch_failure_reports_exactly_the_failing_record(stack: Stack) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", "ThrottlingException")
    response = stack.submit(
        request_body(job_name="first", request_id="r1"),
        request_body(job_name="second", request_id="r2"),
        message_ids=["m-1", "m-2"],
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    first = stack.job("first")
    assert first.status == "Queued"
    assert first.last_error is not None
    assert "ThrottlingException" in first.last_error
    assert stack.job("second").status == "InProgress"


@pytest.mark.parametrize(
    "code",
    ["ThrottlingException", "ResourceLimitExceeded", "InternalFailure", "ServiceUnavailable"],
)
def test_transient_failures_leave_the_job_queued_and_the_redelivery_submits_it(
    stack: Stack, code: str
) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", code)
    with pytest.raises(BatchProcessingError):
        stack.submit(request_body())
    assert stack.job(NAME).status == "Queued"
    assert stack.notices() == []

    assert stack.submit(request_body(), receive_count=2) == {"batchItemFailures": []}
    assert stack.job(NAME).status == "InProgress"


def test_on_the_last_receive_a_failing_submission_is_given_up_once(stack: Stack) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", "ResourceLimitExceeded", times=MAX_RECEIVE_COUNT)
    for receive in range(1, MAX_RECEIVE_COUNT + 1):
        with pytest.raises(BatchProcessingError):
            stack.submit(request_body(), receive_count=receive)
    record = stack.job(NAME)
    assert record.status == "SubmitFailed"
    assert record.failure_reason is not None
    assert "ResourceLimitExceeded" in record.failure_reason
    assert [n["status"] for n in stack.notices_for(NAME)] == ["SubmitFailed"]


def test_a_sagemaker_validation_error_is_rejected_without_echoing_secrets(stack: Stack) -> None:
    body = request_body()
    secret = body["spec"]["Environment"]["WANDB_API_KEY"]
    stack.sagemaker.fail_next(
        "CreateTrainingJob",
        "ValidationException",
        message=f"Value '{secret}' at 'environment' failed to satisfy constraint",
    )
    assert stack.submit(body) == {"batchItemFailures": []}
    record = stack.job(NAME)
    assert record.status == "Rejected"
    notices = stack.notices_for(NAME)
    assert len(notices) == 1
    assert record.failure_reason is not None
    assert secret not in record.failure_reason
    assert secret not in json.dumps(notices)


def test_an_invalid_request_is_rejected_recorded_announced_and_not_retried(stack: Stack) -> None:
    body = request_body("invalid.json")
    assert stack.submit(body) == {"batchItemFailures": []}
    record = stack.job(body["job_name"])
    assert record.status == "Rejected"
    assert record.failure_reason is not None
    assert "spec.OutputDataConfig: required parameter missing" in record.failure_reason
    assert "spec.InstanceType: unknown parameter" in record.failure_reason
    assert stack.sagemaker.calls["CreateTrainingJob"] == 0
    (notice,) = stack.notices_for(body["job_name"])
    assert notice["status"] == "Rejected"


def test_an_unreadable_body_is_keyed_by_its_message_id(stack: Stack) -> None:
    assert stack.submit("{oops", message_ids=["msg-42"]) == {"batchItemFailures": []}
    record = stack.job("rejected-msg-42", "Unknown")
    assert record is not None
    assert record.failure_reason is not None
    assert record.failure_reason.startswith("body: not valid JSON")
    assert [n["job_name"] for n in stack.notices()] == ["rejected-msg-42"]


def test_a_redelivered_rejection_is_announced_once(stack: Stack) -> None:
    stack.submit("{oops", message_ids=["msg-7"])
    stack.submit("{oops", message_ids=["msg-7"], receive_count=2)
    assert len(stack.notices()) == 1


def test_a_rejection_without_a_given_name_is_keyed_by_message_id(stack: Stack) -> None:
    body = request_body("invalid.json", job_name=None, request_id="no-name-1")
    stack.submit(body, message_ids=["m-noname"])
    assert stack.job("rejected-m-noname", "TrainingJob").status == "Rejected"


def test_a_rejection_never_overwrites_another_jobs_record(stack: Stack) -> None:
    stack.submit(request_body())
    clash = request_body("invalid.json", job_name=NAME, request_id="other-request")
    stack.submit(clash, message_ids=["m-clash"])
    assert stack.job(NAME).status == "InProgress"
    assert stack.job("rejected-m-clash", "TrainingJob").status == "Rejected"


def test_reusing_a_request_id_for_a_different_body_is_rejected(stack: Stack) -> None:
    stack.submit(request_body())
    changed = request_body()
    changed["spec"]["StoppingCondition"] = {"MaxRuntimeInSeconds": 7200}
    stack.submit(changed, message_ids=["m-reuse"])
    assert stack.sagemaker.calls["CreateTrainingJob"] == 1
    rejected = stack.job("rejected-m-reuse", "TrainingJob")
    assert rejected.failure_reason == "request_id: already used for a different request"
    assert stack.job(NAME).status == "InProgress"


def test_the_same_name_for_a_new_request_is_rejected_without_touching_the_first(
    stack: Stack,
) -> None:
    stack.submit(request_body())
    stack.submit(request_body(request_id="a-new-request"), message_ids=["m-dupname"])
    assert stack.sagemaker.calls["CreateTrainingJob"] == 1
    assert stack.job("rejected-m-dupname", "TrainingJob").status == "Rejected"


def test_a_role_outside_the_allow_list_never_reaches_sagemaker(stack: Stack) -> None:
    body = request_body()
    body["spec"]["RoleArn"] = "arn:aws:iam::123456789012:role/AdministratorAccess"
    stack.submit(body)
    assert stack.job(NAME).status == "Rejected"
    assert stack.sagemaker.calls["CreateTrainingJob"] == 0


def test_stopping_a_queued_job_cancels_it_and_its_late_message_never_submits(stack: Stack) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", "ThrottlingException")
    with pytest.raises(BatchProcessingError):
        stack.submit(request_body())
    stack.submit(request_body("stop.json"))
    assert stack.job(NAME).status == "Stopped"

    stack.submit(request_body(), receive_count=2)  # the queued message comes back
    assert stack.sagemaker.calls["CreateTrainingJob"] == 1  # only the throttled attempt
    assert stack.job(NAME).status == "Stopped"
    assert [n["status"] for n in stack.notices_for(NAME)] == ["Stopped"]


def test_stopping_a_running_job_calls_stop_and_records_stopping(stack: Stack) -> None:
    stack.submit(request_body())
    stack.submit(request_body("stop.json"))
    assert stack.sagemaker.calls["StopTrainingJob"] == 1
    assert stack.job(NAME).status == "Stopping"


def test_a_stop_and_a_submit_of_the_same_job_do_not_collide_in_idempotency(stack: Stack) -> None:
    stack.submit(request_body())
    stack.submit(request_body("stop.json"))
    stack.submit(request_body("stop.json"))  # the stop redelivered: acts once
    assert stack.sagemaker.calls["StopTrainingJob"] == 1


def test_a_redriven_request_is_submitted_again_and_announced_in_its_turn(stack: Stack) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", "ResourceLimitExceeded", times=MAX_RECEIVE_COUNT)
    for receive in range(1, MAX_RECEIVE_COUNT + 1):
        with pytest.raises(BatchProcessingError):
            stack.submit(request_body(), receive_count=receive)
    assert stack.job(NAME).status == "SubmitFailed"

    # An operator fixed the quota and redrove the message: a new message, the same request.
    assert stack.submit(request_body(), receive_count=1) == {"batchItemFailures": []}
    record = stack.job(NAME)
    assert record.status == "InProgress"
    assert [h.status for h in record.history] == [
        "Queued",
        "SubmitFailed",
        "Queued",
        "InProgress",
    ]
    assert len(stack.sagemaker.jobs) == 1
    assert [n["status"] for n in stack.notices_for(NAME)] == ["SubmitFailed"]
