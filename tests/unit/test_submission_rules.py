"""What happens to a request (docs/contract.md §3), on in-memory fakes: no moto."""

from __future__ import annotations

from typing import Any

import pytest

from jobctl.errors import RetryableError, ServiceRefused
from jobctl.logic.requests import ownership_tags
from jobctl.logic.submission.submit import FOREIGN_JOB, NAME_TAKEN, REUSED_REQUEST_ID
from tests.support.environment import DEFAULT_ROLE, DEPLOYMENT_ID, MAX_RECEIVE_COUNT
from tests.support.fakes import ACCESS_DENIED, ANSWER_LOST, BAD_IMAGE, THROTTLED
from tests.support.requests import request_body
from tests.unit.conftest import Logic

NAME = "demo-xgboost-churn"


def wrong_role(**changes: Any) -> dict[str, Any]:
    body = request_body(**changes)
    body["spec"]["RoleArn"] = "arn:aws:iam::123456789012:role/AdministratorAccess"
    return body


def someone_elses_job(logic: Logic, tags: list[dict[str, str]]) -> None:
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE, "TrainingJobName": NAME}
    logic.sagemaker.add("TrainingJob", spec | {"Tags": tags})
    logic.clock.advance(2)


def test_a_valid_request_is_created_and_its_record_takes_the_job(logic: Logic) -> None:
    assert logic.handle(request_body()).status == "InProgress"
    record = logic.record(NAME)
    job = logic.sagemaker.describe_job("TrainingJob", NAME)
    assert (record.job_arn, record.in_flight) == (job.job_arn, "TrainingJob")
    assert [h.status for h in record.history] == ["Queued", "InProgress"]
    assert logic.notices.published == []


def test_a_redelivered_request_acts_once(logic: Logic) -> None:
    logic.handle(request_body(), message_id="m-1")
    logic.handle(request_body(), message_id="m-1", receive_count=2)
    assert logic.sagemaker.calls["create_job"] == 1


def test_a_rejected_request_can_be_corrected_and_takes_its_name_over(logic: Logic) -> None:
    assert logic.handle(wrong_role()).status == "Rejected"
    assert logic.handle(request_body()).status == "InProgress"
    statuses = [h.status for h in logic.record(NAME).history]
    assert statuses == ["Rejected", "Queued", "InProgress"]
    assert logic.notices.statuses(NAME) == ["Rejected"]


def test_a_name_taken_by_another_request_is_rejected_by_message_id(logic: Logic) -> None:
    logic.handle(request_body())
    logic.handle(request_body(request_id="another"), message_id="m-2")
    assert logic.record("rejected-m-2").failure_reason == NAME_TAKEN
    assert logic.record(NAME).status == "InProgress"


def test_a_request_id_reused_for_another_body_is_rejected(logic: Logic) -> None:
    logic.handle(request_body())
    changed = request_body()
    changed["spec"]["StoppingCondition"] = {"MaxRuntimeInSeconds": 60}
    logic.handle(changed, message_id="m-3")
    assert logic.record("rejected-m-3").failure_reason == REUSED_REQUEST_ID
    assert logic.sagemaker.calls["create_job"] == 1


def test_a_transient_failure_waits_then_the_last_delivery_gives_up_once(logic: Logic) -> None:
    logic.sagemaker.fail_next("create_job", THROTTLED, times=MAX_RECEIVE_COUNT)
    for receive in range(1, MAX_RECEIVE_COUNT):
        with pytest.raises(RetryableError):
            logic.handle(request_body(), receive_count=receive)
        assert logic.record(NAME).status == "Queued"
        assert "ThrottlingException" in (logic.record(NAME).last_error or "")
    with pytest.raises(RetryableError):
        logic.handle(request_body(), receive_count=MAX_RECEIVE_COUNT)
    assert logic.record(NAME).status == "SubmitFailed"
    assert logic.notices.statuses(NAME) == ["SubmitFailed"]


def test_a_lost_create_answer_is_adopted_only_with_this_deployments_tags(logic: Logic) -> None:
    logic.sagemaker.fail_next("create_job", ANSWER_LOST, after_effect=True)
    with pytest.raises(RetryableError):
        logic.handle(request_body())
    logic.clock.advance(2)
    assert logic.handle(request_body(), receive_count=2).status == "InProgress"
    assert len(logic.sagemaker.answers) == 1


def test_another_stacks_job_of_the_same_name_is_not_adopted(logic: Logic) -> None:
    someone_elses_job(logic, ownership_tags("another-stack", "demo-train-1", "demo-xgboost-churn"))
    logic.handle(request_body())
    assert (logic.record(NAME).status, logic.record(NAME).failure_reason) == (
        "Rejected",
        FOREIGN_JOB,
    )
    assert logic.record(NAME).job_arn is None


def test_cancelling_a_queued_job_stops_the_job_a_lost_create_started(logic: Logic) -> None:
    logic.sagemaker.fail_next("create_job", ANSWER_LOST, after_effect=True)
    with pytest.raises(RetryableError):
        logic.handle(request_body())
    logic.clock.advance(2)
    assert logic.handle(request_body("stop.json")).status == "Stopped"
    assert logic.sagemaker.status("TrainingJob", NAME) == "Stopping"
    assert logic.notices.statuses(NAME) == ["Stopped"]


def test_cancelling_never_stops_another_teams_job_of_the_same_name(logic: Logic) -> None:
    logic.sagemaker.fail_next("create_job", THROTTLED)
    with pytest.raises(RetryableError):
        logic.handle(request_body())
    someone_elses_job(logic, ownership_tags("another-stack", "demo-train-1", "demo-xgboost-churn"))
    logic.handle(request_body("stop.json"))
    assert logic.sagemaker.status("TrainingJob", NAME) == "InProgress"


def test_a_stop_of_an_unknown_name_reserves_nothing(logic: Logic) -> None:
    assert logic.handle(request_body("stop.json")).status == "Rejected"
    assert logic.handle(request_body()).status == "InProgress"


def test_the_ownership_tags_name_this_deployment_and_request(logic: Logic) -> None:
    logic.handle(request_body())
    tags = logic.sagemaker.job_tags(logic.record(NAME).job_arn or "")
    expected = {
        tag["Key"]: tag["Value"]
        for tag in ownership_tags(DEPLOYMENT_ID, "demo-train-1", "demo-xgboost-churn")
    }
    assert expected.items() <= tags.items()


def test_a_refusal_retrying_cannot_cure_ends_submit_failed_not_queued_for_good(
    logic: Logic,
) -> None:
    # A role without sagemaker:CreateTrainingJob: every delivery meets the same refusal.
    logic.sagemaker.fail_next("create_job", ACCESS_DENIED, times=5)
    for receive in range(1, MAX_RECEIVE_COUNT + 1):
        with pytest.raises(ServiceRefused):
            logic.handle(request_body(), receive_count=receive)
    record = logic.record(NAME)
    assert record.status == "SubmitFailed"
    assert "AccessDeniedException" in (record.failure_reason or "")
    assert logic.notices.statuses(NAME) == ["SubmitFailed"]


def test_a_rejected_request_sent_twice_unchanged_is_one_rejection_and_one_notice(
    logic: Logic,
) -> None:
    logic.handle(wrong_role(), message_id="m-1")
    logic.handle(wrong_role(), message_id="m-2")  # the producer sent it twice
    assert [h.status for h in logic.record(NAME).history] == ["Rejected"]
    assert logic.notices.statuses(NAME) == ["Rejected"]


def test_a_request_sagemaker_rejected_sent_again_unchanged_is_not_created_again(
    logic: Logic,
) -> None:
    logic.sagemaker.fail_next("create_job", BAD_IMAGE)
    logic.handle(request_body(), message_id="m-1")
    logic.handle(request_body(), message_id="m-2")
    assert logic.sagemaker.calls["create_job"] == 1
    assert logic.notices.statuses(NAME) == ["Rejected"]
