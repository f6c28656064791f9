"""Ownership and cancellation (docs/contract.md §3, §6): a record takes a SageMaker job only from
its own create answer or a tag-verified adoption, a stop never reaches a job this
deployment did not create, and nothing it created runs untracked."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from jobctl.logic.requests import ownership_tags
from jobctl.logic.submission.submit import FOREIGN_JOB
from tests.support.environment import DEPLOYMENT_ID, IDEMPOTENCY_TABLE
from tests.support.requests import request_body
from tests.support.stack import Stack

NAME = "demo-xgboost-churn"
REQUEST_ID = "demo-train-1"
THEIR_ROLE = "arn:aws:iam::123456789012:role/team-b-role"


def sagemaker_job(stack: Stack, tags: list[dict[str, str]], **changes: Any) -> Any:
    """A job of this name created in SageMaker by someone else (or by us, out of sight)."""
    spec = request_body()["spec"] | {"RoleArn": THEIR_ROLE, "TrainingJobName": NAME}
    spec["Environment"] = {"THEIR_SECRET": "team-b-credentials-do-not-copy"}
    spec["Tags"] = tags
    stack.clock.advance(1)  # within SageMaker's Create rate
    stack.sagemaker.handle("CreateTrainingJob", spec | changes)
    stack.clock.advance(1)
    return stack.sagemaker.jobs[("TrainingJob", NAME)]


def throttled_submit(stack: Stack) -> None:
    """Our create is throttled (Create allows about 1 call a second): the record waits."""
    stack.sagemaker.fail_next("CreateTrainingJob", "ThrottlingException")
    with pytest.raises(BatchProcessingError):
        stack.submit(request_body())
    assert stack.job(NAME).status == "Queued"


def assert_untouched_by(stack: Stack, job: Any) -> None:
    record = stack.job(NAME)
    assert record is not None
    assert record.job_arn != job.arn
    assert record.environment is None
    assert "team-b-credentials" not in str(stack.ledger_items())


# -- a same-named job of another team ---------------------------------------------------------


def test_another_teams_same_named_job_cannot_bind_a_queued_record(stack: Stack) -> None:
    throttled_submit(stack)
    theirs = sagemaker_job(stack, [{"Key": "team", "Value": "b"}])
    stack.sagemaker.set_state("TrainingJob", NAME, "InProgress", "Training")
    stack.deliver(stack.sagemaker.training_event(NAME))
    stack.sweep()
    assert stack.job(NAME).status == "Queued"
    assert_untouched_by(stack, theirs)


def test_the_redelivered_request_then_finds_the_name_taken_and_stops_nothing(stack: Stack) -> None:
    throttled_submit(stack)
    theirs = sagemaker_job(stack, [{"Key": "team", "Value": "b"}])
    stack.submit(request_body(), receive_count=2)
    record = stack.job(NAME)
    assert (record.status, record.failure_reason) == ("Rejected", FOREIGN_JOB)
    stack.submit(request_body("stop.json"))
    assert stack.sagemaker.calls["StopTrainingJob"] == 0
    assert theirs.status == "InProgress"
    assert_untouched_by(stack, theirs)


def test_a_job_of_another_jobctl_stack_is_not_adopted(stack: Stack) -> None:
    # The other stack tags its jobs as jobctl's, for a request of the same id even.
    theirs = sagemaker_job(stack, ownership_tags("another-stacks-id", REQUEST_ID, NAME))
    stack.submit(request_body())
    assert stack.job(NAME).status == "Rejected"
    assert stack.sagemaker.calls["StopTrainingJob"] == 0
    assert_untouched_by(stack, theirs)


def test_an_adoption_checks_the_request_id_too(stack: Stack) -> None:
    theirs = sagemaker_job(stack, ownership_tags(DEPLOYMENT_ID, "some-other-request", NAME))
    stack.submit(request_body())
    assert stack.job(NAME).status == "Rejected"
    assert_untouched_by(stack, theirs)


def test_a_lost_create_answer_is_adopted_from_the_jobs_own_event(stack: Stack) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", "InternalFailure", after_effect=True)
    with pytest.raises(BatchProcessingError):
        stack.submit(request_body())
    ours = stack.sagemaker.jobs[("TrainingJob", NAME)]
    stack.sagemaker.set_state("TrainingJob", NAME, "InProgress", "Training")
    stack.deliver(stack.sagemaker.training_event(NAME))  # its Tags name this deployment
    record = stack.job(NAME)
    assert (record.status, record.job_arn) == ("InProgress", ours.arn)
    assert record.secondary_status == "Training"
    stack.submit(request_body(), receive_count=2)  # the redelivery finds it taken: done
    assert len(stack.sagemaker.jobs) == 1


# -- cancelling a job whose create answer was lost ---------------------------------------------


def test_stopping_a_queued_job_whose_create_answer_was_lost_stops_the_job_too(
    stack: Stack,
) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", "InternalFailure", after_effect=True)
    with pytest.raises(BatchProcessingError):
        stack.submit(request_body())
    assert stack.job(NAME).status == "Queued"
    stack.clock.advance(2)
    stack.submit(request_body("stop.json"))
    assert stack.job(NAME).status == "Stopped"
    assert stack.sagemaker.jobs[("TrainingJob", NAME)].status == "Stopping"
    stack.submit(request_body(), receive_count=2)  # the queued message comes back
    assert stack.sagemaker.calls["CreateTrainingJob"] == 1
    assert [n["status"] for n in stack.notices_for(NAME)] == ["Stopped"]


def test_a_create_that_lands_after_the_cancel_is_stopped_by_the_redelivered_submit(
    stack: Stack,
) -> None:
    throttled_submit(stack)
    stack.submit(request_body("stop.json"))  # nothing to stop in SageMaker yet
    # The earlier create (timed out on our side) lands in SageMaker after all.
    ours = sagemaker_job(stack, ownership_tags(DEPLOYMENT_ID, REQUEST_ID, NAME))
    stack.submit(request_body(), receive_count=2)
    assert ours.status == "Stopping"
    assert stack.job(NAME).status == "Stopped"


def test_cancelling_a_queued_job_never_stops_someone_elses_job_of_that_name(
    stack: Stack,
) -> None:
    throttled_submit(stack)
    theirs = sagemaker_job(stack, ownership_tags("another-stacks-id", REQUEST_ID, NAME))
    stack.submit(request_body("stop.json"))
    assert stack.job(NAME).status == "Stopped"
    assert theirs.status == "InProgress"
    assert stack.sagemaker.calls["StopTrainingJob"] == 0


# -- rejections use nothing up -------------------------------------------------------------------


def wrong_role(**changes: Any) -> dict[str, Any]:
    body = request_body(**changes)
    body["spec"]["RoleArn"] = "arn:aws:iam::123456789012:role/AdministratorAccess"
    return body


def test_a_rejected_request_corrected_and_sent_again_is_handled_as_new(stack: Stack) -> None:
    stack.submit(wrong_role(), message_ids=["m-wrong"])
    assert stack.job(NAME).status == "Rejected"
    stack.submit(request_body(), message_ids=["m-fixed"])  # same job_name, same request_id
    record = stack.job(NAME)
    assert record.status == "InProgress"
    assert [h.status for h in record.history] == ["Rejected", "Queued", "InProgress"]
    assert record.failure_reason is None
    stack.sagemaker.complete("TrainingJob", NAME)
    stack.deliver(stack.sagemaker.training_event(NAME))
    assert [n["status"] for n in stack.notices_for(NAME)] == ["Rejected", "Completed"]


def test_a_rejected_name_is_free_for_another_request(stack: Stack) -> None:
    stack.submit(wrong_role())
    stack.submit(request_body(request_id="a-different-request"))
    assert stack.job(NAME).status == "InProgress"
    assert stack.job(NAME).request_id == "a-different-request"


def test_a_second_rejection_of_a_name_replaces_the_first(stack: Stack) -> None:
    stack.submit(wrong_role(), message_ids=["m-1"])
    stack.submit(wrong_role(request_id="another-try"), message_ids=["m-2"])
    record = stack.job(NAME)
    assert (record.status, record.request_id) == ("Rejected", "another-try")
    assert [h.status for h in record.history] == ["Rejected", "Rejected"]
    assert len(stack.notices_for(NAME)) == 2


def test_a_stop_of_a_name_never_submitted_does_not_reserve_it(stack: Stack) -> None:
    stack.submit(request_body("stop.json"))
    assert stack.job(NAME).status == "Rejected"
    stack.submit(request_body())
    assert stack.job(NAME).status == "InProgress"


def test_a_redelivered_rejection_never_touches_the_corrected_job(stack: Stack) -> None:
    stack.submit(wrong_role(), message_ids=["m-wrong"])
    stack.submit(request_body(), message_ids=["m-fixed"])
    stack.submit(wrong_role(), message_ids=["m-wrong"], receive_count=2)  # the old message
    assert stack.job(NAME).status == "InProgress"
    assert [n["status"] for n in stack.notices_for(NAME)] == ["Rejected"]


# -- a request id reused for another body ------------------------------------------------------


def forget_idempotency(stack: Stack) -> None:
    """What the idempotency table's TTL does a day later."""
    dynamodb = boto3.client("dynamodb")
    for item in dynamodb.scan(TableName=IDEMPOTENCY_TABLE)["Items"]:
        dynamodb.delete_item(TableName=IDEMPOTENCY_TABLE, Key={"id": item["id"]})


def with_longer_runtime() -> dict[str, Any]:
    body = request_body()
    body["spec"]["StoppingCondition"] = {"MaxRuntimeInSeconds": 7200}
    return body


def test_a_reused_request_id_is_refused_even_after_its_idempotency_record_expired(
    stack: Stack,
) -> None:
    stack.submit(request_body())
    forget_idempotency(stack)
    stack.submit(with_longer_runtime(), message_ids=["m-reused"])
    rejected = stack.job("rejected-m-reused")
    assert rejected.failure_reason == "request_id: already used for a different request"
    assert stack.job(NAME).status == "InProgress"
    assert stack.sagemaker.calls["CreateTrainingJob"] == 1
    assert [n["job_name"] for n in stack.notices()] == ["rejected-m-reused"]


def test_a_redrive_with_another_body_is_refused_not_created(stack: Stack) -> None:
    stack.sagemaker.fail_next("CreateTrainingJob", "ResourceLimitExceeded", times=3)
    for receive in (1, 2, 3):
        with pytest.raises(BatchProcessingError):
            stack.submit(request_body(), receive_count=receive)
    assert stack.job(NAME).status == "SubmitFailed"
    forget_idempotency(stack)
    stack.submit(with_longer_runtime(), message_ids=["m-redriven"])
    assert stack.job("rejected-m-redriven").status == "Rejected"
    assert stack.job(NAME).status == "SubmitFailed"
    assert stack.sagemaker.jobs == {}
