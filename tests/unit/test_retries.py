"""Retries by failure cause, and what each job used (docs/contract.md §9), on in-memory fakes:
each try is a new SageMaker job, the record stays under the request's name, and one notice
goes out when the last try settles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobctl.logic.lifecycle import matches, try_name
from jobctl.logic.requests import JOB_TAG_KEY
from jobctl.models.requests import JOB_NAME_PATTERN, UnreadableRequest, parse_request
from tests.support.fakes import ANSWER_LOST
from tests.support.requests import request_body
from tests.unit.conftest import Logic

QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/jobctl-jobs"
NAME = "churn"
CAPACITY = "CapacityError: Unable to provision requested ML compute capacity."
ALGORITHM = "AlgorithmError: ClientError: invalid hyperparameter"


def retried_job(name: str = NAME, attempts: int = 3, **fields: Any) -> dict[str, Any]:
    body = request_body(job_name=name, request_id=f"{name}-1", **fields)
    body["retry"] = {"attempts": attempts, "on": ["CapacityError*", "InternalServerError*"]}
    return body


@pytest.fixture
def retrying(logic: Logic) -> Logic:
    logic.reconfigure(JOBS_QUEUE_URL=QUEUE)
    return logic


def report(logic: Logic, sagemaker_name: str) -> None:
    """SageMaker's event of the job's current state reaches the reconciler."""
    logic.reconciler.on_state_change("TrainingJob", logic.sagemaker.event(sagemaker_name))


def fail(logic: Logic, sagemaker_name: str, reason: str, **used: Any) -> None:
    logic.sagemaker.set_state("TrainingJob", sagemaker_name, "Failed", "Failed", reason, **used)
    report(logic, sagemaker_name)


def complete(logic: Logic, sagemaker_name: str, **used: Any) -> None:
    logic.sagemaker.complete("TrainingJob", sagemaker_name, **used)
    report(logic, sagemaker_name)


def used(training: int, billable: int | None = None) -> dict[str, int]:
    billable = training if billable is None else billable
    return {"TrainingTimeInSeconds": training, "BillableTimeInSeconds": billable}


# -- names and matching ------------------------------------------------------------------


@pytest.mark.parametrize(("job_type", "limit"), [("TrainingJob", 63), ("AutoMLJob", 32)])
def test_try_names_stay_within_sagemakers_limit_and_apart(job_type: Any, limit: int) -> None:
    longest = "a" * limit
    same_start = "a" * (limit - 1) + "b"
    names = {try_name(job_type, name, n) for name in (longest, same_start) for n in range(2, 11)}
    assert len(names) == 18  # every try of each name its own
    assert all(len(name) <= limit and JOB_NAME_PATTERN.fullmatch(name) for name in names)
    assert try_name(job_type, longest, 1) == longest  # the first try keeps the name
    assert try_name(job_type, "short", 2) == try_name(job_type, "short", 2)  # deterministic
    assert try_name(job_type, "short", 2).startswith("short-try2-")


def test_a_name_cut_before_a_hyphen_stays_a_valid_name() -> None:
    name = "a" * 49 + "-" + "b" * 13  # 63 characters: the cut lands on the hyphen
    assert JOB_NAME_PATTERN.fullmatch(try_name("TrainingJob", name, 10))


@pytest.mark.parametrize(
    ("reason", "patterns", "expected"),
    [
        (CAPACITY, ("CapacityError*",), True),
        (ALGORITHM, ("CapacityError*",), False),
        ("InternalServerError: We encountered an internal error.", ("*Internal*",), True),
        ("Error [42]", ("Error [42]",), True),  # a bracket is only a bracket
        ("Error 4", ("Error [42]",), False),
        ("CapacityError", ("Capacity?rror",), True),
        (None, ("*",), False),
        (CAPACITY, (), False),
    ],
)
def test_failure_reasons_match_glob_patterns(
    reason: str | None, patterns: tuple[str, ...], expected: bool
) -> None:
    assert matches(reason, patterns) is expected


@pytest.mark.parametrize(
    ("retry", "problem"),
    [
        ({"attempts": 0}, "retry.attempts: Input should be greater than or equal to 1"),
        ({"attempts": 11}, "retry.attempts: Input should be less than or equal to 10"),
        ({"attempts": "3"}, "retry.attempts: Input should be a valid integer"),
        ({"on": "CapacityError*"}, "retry.on: Input should be a valid tuple"),
        ({"on": [3]}, "retry.on.0: Input should be a valid string"),
        ({"on": [""]}, "retry.on.0: String should have at least 1 character"),
        ({"tries": 3}, "retry.tries: unknown field"),
        (None, "retry: must not be null"),
    ],
)
def test_a_bad_retry_is_rejected_naming_the_problem(retry: Any, problem: str) -> None:
    body = request_body()
    body["retry"] = retry
    with pytest.raises(UnreadableRequest) as rejected:
        parse_request(json.dumps(body))
    assert problem in rejected.value.problems


# -- tries --------------------------------------------------------------------------------


def test_a_capacity_failure_is_tried_again_as_a_new_job_and_announced_once(
    retrying: Logic,
) -> None:
    assert retrying.handle(retried_job()).status == "InProgress"
    first_arn = retrying.record(NAME).job_arn
    fail(retrying, NAME, CAPACITY)

    waiting = retrying.record(NAME)
    assert (waiting.status, waiting.attempt, waiting.job_arn) == ("Queued", 2, None)
    assert retrying.notices.published == []
    assert [o.status for o in retrying.deliver_wakeups()] == ["InProgress"]

    second = try_name("TrainingJob", NAME, 2)
    job = retrying.sagemaker.describe_job("TrainingJob", second)
    assert (
        retrying.sagemaker.job_tags(job.job_arn or "")[JOB_TAG_KEY] == NAME
    )  # its events lead back to the request's record
    complete(retrying, second)
    record = retrying.record(NAME)
    assert (record.status, record.attempt, record.job_arn) == ("Completed", 2, job.job_arn)
    assert [(a.sagemaker_job_name, a.status, a.job_arn) for a in record.attempts] == [
        (NAME, "Failed", first_arn),
        (second, "Completed", job.job_arn),
    ]
    assert record.attempts[0].failure_reason == CAPACITY
    (notice,) = retrying.notices.published
    assert (notice.status, notice.attempts) == ("Completed", 2)


def test_an_algorithm_error_fails_at_once(retrying: Logic) -> None:
    retrying.handle(retried_job())
    fail(retrying, NAME, ALGORITHM)
    record = retrying.record(NAME)
    assert (record.status, record.attempt, record.failure_reason) == ("Failed", 1, ALGORITHM)
    assert retrying.wakeup.sent == []
    assert retrying.sagemaker.calls["create_job"] == 1
    assert [n.status for n in retrying.notices.published] == ["Failed"]


def test_the_last_try_failing_ends_it_with_one_notice(retrying: Logic) -> None:
    retrying.handle(retried_job(attempts=2))
    fail(retrying, NAME, CAPACITY)
    retrying.deliver_wakeups()
    fail(retrying, try_name("TrainingJob", NAME, 2), CAPACITY + " (again)")
    record = retrying.record(NAME)
    assert (record.status, record.attempt) == ("Failed", 2)
    assert record.failure_reason == CAPACITY + " (again)"
    (notice,) = retrying.notices.published
    assert notice.attempts == 2
    assert retrying.wakeup.sent == []


def test_without_retry_a_failure_is_final(retrying: Logic) -> None:
    retrying.handle(request_body(job_name=NAME, request_id="plain"))
    fail(retrying, NAME, CAPACITY)
    assert retrying.record(NAME).status == "Failed"
    assert retrying.record(NAME).request_body is None  # nothing kept for a retry


def test_the_stacks_default_retry_applies_when_a_request_names_none(retrying: Logic) -> None:
    retrying.reconfigure(JOBS_QUEUE_URL=QUEUE, DEFAULT_RETRY='{"attempts": 2}')
    retrying.handle(request_body(job_name=NAME, request_id="plain"))
    fail(retrying, NAME, CAPACITY)
    assert (retrying.record(NAME).status, retrying.record(NAME).attempt) == ("Queued", 2)


def test_a_stop_between_tries_cancels_the_next_one(retrying: Logic) -> None:
    retrying.handle(retried_job())
    fail(retrying, NAME, CAPACITY)
    stop = {"job_type": "TrainingJob", "action": "stop", "job_name": NAME, "request_id": "s"}
    assert retrying.handle(stop).status == "Stopped"
    assert [o.status for o in retrying.deliver_wakeups()] == ["Stopped"]  # a late wake-up
    assert retrying.sagemaker.calls["create_job"] == 1
    assert [n.status for n in retrying.notices.published] == ["Stopped"]


def test_a_stop_of_a_running_try_ends_the_retries(retrying: Logic) -> None:
    retrying.handle(retried_job())
    stop = {"job_type": "TrainingJob", "action": "stop", "job_name": NAME, "request_id": "s"}
    retrying.handle(stop)
    # The try fails of its own before the stop takes effect: the retries ended anyway.
    fail(retrying, NAME, CAPACITY)
    record = retrying.record(NAME)
    assert (record.status, record.attempt) == ("Failed", 1)
    assert retrying.wakeup.sent == []
    assert len(retrying.notices.published) == 1


def test_a_retry_whose_create_answer_was_lost_is_adopted(retrying: Logic) -> None:
    retrying.handle(retried_job())
    fail(retrying, NAME, CAPACITY)
    (wakeup,) = retrying.wakeup.take()
    retrying.sagemaker.fail_next("create_job", ANSWER_LOST, after_effect=True)
    with pytest.raises(Exception, match="InternalFailure"):
        retrying.handle_text(wakeup)  # created, but the answer lost: the message fails
    assert retrying.record(NAME).status == "Queued"
    retrying.clock.advance(2)
    assert retrying.handle_text(wakeup, receive_count=2).status == "InProgress"  # redelivered
    second = retrying.sagemaker.describe_job("TrainingJob", try_name("TrainingJob", NAME, 2))
    assert retrying.record(NAME).job_arn == second.job_arn
    assert retrying.sagemaker.calls["create_job"] == 3  # no third job


def test_events_of_an_earlier_try_change_nothing(retrying: Logic) -> None:
    retrying.handle(retried_job())
    fail(retrying, NAME, CAPACITY)
    waiting = retrying.record(NAME)
    report(retrying, NAME)  # try 1's Failed event again, late: its tags are ours too
    assert retrying.record(NAME) == waiting  # not adopted as the next try
    retrying.deliver_wakeups()
    running = retrying.record(NAME)
    report(retrying, NAME)
    assert retrying.record(NAME) == running


def test_another_teams_job_naming_our_record_in_its_tags_changes_nothing(
    retrying: Logic,
) -> None:
    retrying.handle(retried_job())
    theirs = request_body()["spec"] | {
        "TrainingJobName": "their-job",
        "RoleArn": "arn:aws:iam::123456789012:role/team-b-role",
    }
    theirs["Tags"] = [{"Key": JOB_TAG_KEY, "Value": NAME}]
    retrying.clock.advance(1)
    retrying.sagemaker.add("TrainingJob", theirs)
    before = retrying.record(NAME)
    fail(retrying, "their-job", CAPACITY)
    assert retrying.record(NAME) == before


def test_the_sweep_follows_a_retry_under_its_own_name(retrying: Logic) -> None:
    retrying.handle(retried_job())
    fail(retrying, NAME, CAPACITY)
    retrying.deliver_wakeups()
    second = try_name("TrainingJob", NAME, 2)
    retrying.sagemaker.complete("TrainingJob", second)  # its event is lost
    retrying.clock.advance(60)
    retrying.sweep()
    assert retrying.record(NAME).status == "Completed"
    assert len(retrying.notices.published) == 1


# -- usage and cost -------------------------------------------------------------------------


def test_usage_is_summed_over_tries_and_priced(retrying: Logic) -> None:
    retrying.reconfigure(JOBS_QUEUE_URL=QUEUE, INSTANCE_PRICES="ml.m5.xlarge=0.36")
    body = retried_job()
    body["spec"]["ResourceConfig"]["InstanceCount"] = 2
    retrying.handle(body)
    fail(retrying, NAME, CAPACITY, **used(600))
    retrying.deliver_wakeups()
    complete(retrying, try_name("TrainingJob", NAME, 2), **used(3000))
    record = retrying.record(NAME)
    assert record.usage is not None
    assert record.usage.model_dump(exclude={"instances"}) == {
        "instance_type": "ml.m5.xlarge",
        "instance_count": 2,
        "training_seconds": 3600,
        "billable_seconds": 3600,
        "billable_instance_seconds": 7200,
        "spot": False,
        "spot_savings_percent": 0.0,
    }
    assert record.estimated_cost_usd == pytest.approx(0.72)  # 2 instance-hours at 0.36
    (notice,) = retrying.notices.published
    assert (notice.usage, notice.estimated_cost_usd) == (record.usage, record.estimated_cost_usd)


def test_spot_savings_show_as_billable_below_training_time(logic: Logic) -> None:
    body = request_body(job_name=NAME, request_id="spot")
    body["spec"]["EnableManagedSpotTraining"] = True
    body["spec"]["StoppingCondition"] = {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    logic.handle(body)
    complete(logic, NAME, EnableManagedSpotTraining=True, **used(1000, 300))
    usage = logic.record(NAME).usage
    assert usage is not None
    assert (usage.spot, usage.billable_seconds, usage.spot_savings_percent) == (True, 300, 70.0)
    assert logic.record(NAME).estimated_cost_usd is None  # no price for the type


def test_a_type_without_a_price_has_no_estimate(logic: Logic) -> None:
    logic.reconfigure(INSTANCE_PRICES="ml.p4d.24xlarge=37.69")
    logic.handle(request_body(job_name=NAME, request_id="unpriced"))
    complete(logic, NAME, **used(100))
    assert logic.record(NAME).usage is not None
    assert logic.record(NAME).estimated_cost_usd is None


def test_each_try_takes_a_slot_like_any_request(retrying: Logic) -> None:
    retrying.reconfigure(JOBS_QUEUE_URL=QUEUE, CONCURRENCY_BUDGET="1")
    retrying.handle(retried_job())
    urgent = request_body(job_name="urgent", request_id="urgent", priority=100)
    assert retrying.handle(urgent).status == "Queued"
    fail(retrying, NAME, CAPACITY)
    # The failed try's slot goes to the waiting job of higher priority; the retry waits.
    assert [o.job_name for o in retrying.deliver_wakeups()] == ["urgent"]
    waiting = retrying.record(NAME)
    assert (waiting.status, waiting.waiting) == ("Queued", True)
    assert waiting.waiting_for is not None
    complete(retrying, "urgent")
    assert [o.status for o in retrying.deliver_wakeups()] == ["InProgress"]
    assert retrying.record(NAME).attempt == 2
