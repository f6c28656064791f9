"""What the simulated SageMaker bills a training job for: DescribeTrainingJob's
TrainingTimeInSeconds and BillableTimeInSeconds, on the simulator's clock, less on managed
spot; and the simulator's own accounting, which a benchmark checks a report against."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3
import pytest

from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.json_api import service_model
from jobctl_tools.local.sagemaker import (
    CAPACITY_ERROR,
    DEFAULT_SPOT_SAVINGS_PERCENT,
    FAILED_TRIES_TAG,
    FAILURE_REASON_TAG,
    OUTCOME_TAG,
    SPOT_SAVINGS_TAG,
    Billed,
    SageMakerError,
    SimulatedSageMaker,
)
from tests.support.environment import DEFAULT_ROLE
from tests.support.requests import request_body
from tests.support.shapes import output_problems

TIMES = ("TrainingTimeInSeconds", "BillableTimeInSeconds")


@pytest.fixture
def sim(clock: ManualClock) -> SimulatedSageMaker:
    # Jobs move only when a test moves them; the calls are few and paced by hand.
    return SimulatedSageMaker(clock=clock, rate_limits=None)


def spec(tags: dict[str, str] | None = None, spot: bool = False) -> dict[str, Any]:
    """The sample training spec, with ``tags`` beside its own; managed spot with ``spot``."""
    body: dict[str, Any] = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE}
    body["Tags"] = [*body["Tags"], *({"Key": k, "Value": v} for k, v in (tags or {}).items())]
    if spot:
        body["EnableManagedSpotTraining"] = True
        body["StoppingCondition"] = {"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 14400}
    return body


def create(sim: SimulatedSageMaker, name: str, body: dict[str, Any]) -> None:
    sim.handle("CreateTrainingJob", {"TrainingJobName": name, **body})


def describe(sim: SimulatedSageMaker, name: str) -> dict[str, Any]:
    return sim.handle("DescribeTrainingJob", {"TrainingJobName": name})


def secondaries(answer: dict[str, Any]) -> list[str]:
    return [transition["Status"] for transition in answer["SecondaryStatusTransitions"]]


def walk(
    sim: SimulatedSageMaker, clock: ManualClock, name: str, *steps: tuple[float, str, str]
) -> None:
    """Wait ``seconds`` on the clock, then move the job to (status, secondary), each step."""
    for seconds, status, secondary in steps:
        clock.advance(seconds)
        sim.set_state("TrainingJob", name, status, secondary)


# 30 s starting, then 620.7 s on the instances: downloading, training, uploading.
TRAINED = (
    (30, "InProgress", "Downloading"),
    (100, "InProgress", "Training"),
    (500.7, "InProgress", "Uploading"),
    (20, "Completed", "Completed"),
)


def test_training_time_runs_from_the_instances_to_the_end_in_whole_seconds(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(sim, "on-demand", spec())
    created = clock.now()
    walk(sim, clock, "on-demand", *TRAINED)
    answer = describe(sim, "on-demand")
    started: datetime = answer["TrainingStartTime"]
    assert (started - created).total_seconds() == 30
    assert started == answer["SecondaryStatusTransitions"][1]["StartTime"]  # Downloading
    assert (answer["TrainingEndTime"] - started).total_seconds() == pytest.approx(620.7)
    assert (answer["TrainingTimeInSeconds"], answer["BillableTimeInSeconds"]) == (620, 620)


def test_a_running_job_reports_its_start_but_no_times_yet(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(sim, "running", spec())
    assert "TrainingStartTime" not in describe(sim, "running")  # still Starting
    walk(sim, clock, "running", *TRAINED[:2])
    answer = describe(sim, "running")
    assert "TrainingStartTime" in answer
    assert not set(TIMES) & set(answer)
    assert sim.billed("TrainingJob", "running") is None


@pytest.mark.parametrize(
    ("tags", "billable"),
    [
        ({}, 186),  # the default saving: 70 % of 620 s, 186 s billed
        ({SPOT_SAVINGS_TAG: "25"}, 465),
        ({SPOT_SAVINGS_TAG: "0"}, 620),
        ({SPOT_SAVINGS_TAG: "90"}, 62),
    ],
)
def test_managed_spot_bills_less_than_it_trains_by_the_configured_saving(
    sim: SimulatedSageMaker, clock: ManualClock, tags: dict[str, str], billable: int
) -> None:
    create(sim, "spot", spec(tags, spot=True))
    walk(sim, clock, "spot", *TRAINED)
    answer = describe(sim, "spot")
    assert (answer["TrainingTimeInSeconds"], answer["BillableTimeInSeconds"]) == (620, billable)
    saving = int(tags.get(SPOT_SAVINGS_TAG, DEFAULT_SPOT_SAVINGS_PERCENT))
    # botocore's formula for the saving gives back the configured one, to the second.
    percent = (1 - answer["BillableTimeInSeconds"] / answer["TrainingTimeInSeconds"]) * 100
    assert abs(percent - saving) * 620 / 100 <= 0.5


def test_the_spot_tag_does_not_touch_an_on_demand_job(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(sim, "on-demand", spec({SPOT_SAVINGS_TAG: "60"}))
    walk(sim, clock, "on-demand", *TRAINED)
    assert sim.billed("TrainingJob", "on-demand") == Billed(620, 620, 620)


def test_a_short_spot_job_is_billed_at_least_a_second_and_never_more_than_it_trained(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(sim, "blink", spec({SPOT_SAVINGS_TAG: "90"}, spot=True))
    walk(sim, clock, "blink", (5, "InProgress", "Training"), (0.4, "Completed", "Completed"))
    answer = describe(sim, "blink")
    assert (answer["TrainingTimeInSeconds"], answer["BillableTimeInSeconds"]) == (1, 1)


@pytest.mark.parametrize("value", ["95", "-5", "70.5", "seventy", "05"])
def test_a_spot_saving_is_a_whole_percent_up_to_90(sim: SimulatedSageMaker, value: str) -> None:
    with pytest.raises(SageMakerError) as caught:
        create(sim, "spot", spec({SPOT_SAVINGS_TAG: value}, spot=True))
    assert caught.value.code == "ValidationException"
    assert SPOT_SAVINGS_TAG in str(caught.value)


def test_a_job_that_failed_while_starting_reports_no_training(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(sim, "no-gpu", spec({FAILED_TRIES_TAG: "1", FAILURE_REASON_TAG: CAPACITY_ERROR}))
    while sim.take_step("TrainingJob", "no-gpu"):
        clock.advance(60)
    answer = describe(sim, "no-gpu")
    assert (answer["TrainingJobStatus"], answer["FailureReason"]) == ("Failed", CAPACITY_ERROR)
    assert not {"TrainingStartTime", *TIMES} & set(answer)
    assert sim.billed("TrainingJob", "no-gpu") is None


def test_a_job_that_failed_while_training_is_billed_to_its_failure(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(sim, "broken", spec({OUTCOME_TAG: "Failed"}))
    while sim.take_step("TrainingJob", "broken"):  # a step a minute
        clock.advance(60)
    answer = describe(sim, "broken")
    assert secondaries(answer)[-3:] == ["Downloading", "Training", "Failed"]
    # From Downloading to the failure: two minutes.
    assert (answer["TrainingTimeInSeconds"], answer["BillableTimeInSeconds"]) == (120, 120)


def test_a_stopped_job_is_billed_until_it_stopped(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    client = sim.attach(boto3.client("sagemaker"))
    create(sim, "stopped", spec())
    walk(sim, clock, "stopped", *TRAINED[:2])
    clock.advance(45)
    client.stop_training_job(TrainingJobName="stopped")
    clock.advance(15)
    sim.take_step("TrainingJob", "stopped")
    answer = describe(sim, "stopped")
    assert answer["TrainingJobStatus"] == "Stopped"
    assert answer["TrainingTimeInSeconds"] == 100 + 45 + 15


def test_a_job_stopped_before_it_reached_its_instances_reports_no_training(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(sim, "early", spec())
    sim.handle("StopTrainingJob", {"TrainingJobName": "early"})
    clock.advance(10)
    sim.take_step("TrainingJob", "early")
    answer = describe(sim, "early")
    assert answer["TrainingJobStatus"] == "Stopped"
    assert not {"TrainingStartTime", *TIMES} & set(answer)


# -- where SageMaker does not report them ------------------------------------------------------


def test_list_summaries_carry_no_times_as_botocores_summary_shape_has_none(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    summary_shape = service_model("sagemaker").shape_for("TrainingJobSummary")
    assert not {"TrainingStartTime", *TIMES} & set(summary_shape.members)  # type: ignore[attr-defined]
    create(sim, "listed", spec())
    walk(sim, clock, "listed", *TRAINED)
    (summary,) = sim.handle("ListTrainingJobs", {})["TrainingJobSummaries"]
    assert summary["TrainingJobStatus"] == "Completed"
    assert not {"TrainingStartTime", *TIMES} & set(summary)


def test_a_state_change_event_carries_the_start_but_not_the_times(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(sim, "evented", spec())
    walk(sim, clock, "evented", *TRAINED)
    detail = sim.training_event("evented")["detail"]
    # As AWS's documented sample: TrainingStartTime and TrainingEndTime, no seconds.
    assert detail["TrainingStartTime"].isdigit()
    assert detail["TrainingEndTime"].isdigit()
    assert not set(TIMES) & set(detail)


def test_automl_jobs_report_no_times(sim: SimulatedSageMaker) -> None:
    body = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    sim.handle("CreateAutoMLJob", {"AutoMLJobName": "automl", **body})
    sim.complete("AutoMLJob", "automl")
    answer = sim.handle("DescribeAutoMLJob", {"AutoMLJobName": "automl"})
    assert not set(TIMES) & set(answer)
    assert sim.billed("AutoMLJob", "automl") is None


def test_the_answers_fit_botocores_output_shapes(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(sim, "on-demand", spec())
    walk(sim, clock, "on-demand", *TRAINED)
    create(sim, "spot", spec(spot=True))
    walk(sim, clock, "spot", *TRAINED)
    for name in ("on-demand", "spot"):
        answer = describe(sim, name)
        assert output_problems("sagemaker", "DescribeTrainingJob", answer) == ""
    listed = sim.handle("ListTrainingJobs", {})
    assert output_problems("sagemaker", "ListTrainingJobs", listed) == ""


@pytest.mark.parametrize(
    "tags",
    [
        {OUTCOME_TAG: "Failed"},  # fails after training: reports both times
        {FAILED_TRIES_TAG: "1", FAILURE_REASON_TAG: CAPACITY_ERROR},  # never trained
    ],
)
def test_a_failed_jobs_answer_fits_but_for_the_model_artifacts_it_never_made(
    sim: SimulatedSageMaker, clock: ManualClock, tags: dict[str, str]
) -> None:
    create(sim, "failed", spec(tags))
    while sim.take_step("TrainingJob", "failed"):
        clock.advance(60)
    answer = describe(sim, "failed")
    assert answer["TrainingJobStatus"] == "Failed"
    # botocore marks ModelArtifacts required; the simulator reports it for Completed jobs
    # only (SageMaker may report one for a failed job that uploaded its artifacts: not
    # simulated). Every other member fits the model, the times among them.
    problems = output_problems("sagemaker", "DescribeTrainingJob", answer).splitlines()
    assert problems == ['Missing required parameter in input: "ModelArtifacts"']


# -- the simulator's own accounting ------------------------------------------------------------


def test_billed_is_what_describe_reports(sim: SimulatedSageMaker, clock: ManualClock) -> None:
    create(sim, "spot", spec({SPOT_SAVINGS_TAG: "40"}, spot=True))
    walk(sim, clock, "spot", *TRAINED)
    answer = describe(sim, "spot")
    billed = sim.billed("TrainingJob", "spot")
    assert billed is not None
    assert (billed.training_seconds, billed.billable_seconds) == (
        answer["TrainingTimeInSeconds"],
        answer["BillableTimeInSeconds"],
    )


def test_billed_total_sums_billable_instance_seconds_over_the_jobs_selected(
    sim: SimulatedSageMaker, clock: ManualClock
) -> None:
    sim.set_quota("ml.m5.xlarge", 10)
    sim.set_quota("ml.c5.xlarge", 10)
    four = spec()
    four["ResourceConfig"] = four["ResourceConfig"] | {"InstanceCount": 4}
    groups = spec()
    groups["ResourceConfig"] = {
        "VolumeSizeInGB": 10,
        "InstanceGroups": [
            {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "InstanceGroupName": "a"},
            {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "InstanceGroupName": "b"},
        ],
    }
    other_team = spec({"cost-center": "other"})
    for name, body in (("four", four), ("groups", groups), ("theirs", other_team)):
        create(sim, name, body)
        walk(sim, clock, name, *TRAINED)
    create(sim, "running", spec())  # not ended: billed nothing yet
    sim.seed_history(50)  # other teams' past jobs, not simulated in detail

    ours = sim.billed_total(lambda job: job.tags.get("cost-center") != "other")
    assert ours == Billed(
        training_seconds=2 * 620, billable_seconds=2 * 620, billable_instance_seconds=7 * 620
    )
    assert sim.billed_total() == ours + Billed(620, 620, 620)
