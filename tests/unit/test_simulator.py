"""The simulated SageMaker that every test shares, checked against botocore's model and
against the ways the real service is unkind: List filters after paging, account-wide
rate limits, today's statuses."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.sagemaker import (
    ALGORITHM_ERROR,
    AUTOML_COMPLETION_DEFAULTS,
    CAPACITY_ERROR,
    CHECKPOINT_TAG,
    CREATE_ERRORS_TAG,
    DEFAULT_FAILURE_REASON,
    FAILED_TRIES_TAG,
    FAILURE_REASON_TAG,
    INTERNAL_SERVER_ERROR,
    OUTCOME_TAG,
    PENDING_SHARE,
    REQUEST_TAG,
    STOPPING_SECONDS,
    SimulatedSageMaker,
)
from tests.support.environment import DEFAULT_ROLE
from tests.support.requests import request_body
from tests.support.shapes import output_problems


@pytest.fixture
def client(sagemaker: SimulatedSageMaker) -> Any:
    return sagemaker.attach(boto3.client("sagemaker"))


def create(client: Any, clock: ManualClock, name: str = "sim-job", **changes: Any) -> str:
    """Create a training job as a polite user would: within the Create rate (1/s)."""
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE} | changes
    arn = str(client.create_training_job(TrainingJobName=name, **spec)["TrainingJobArn"])
    clock.advance(1)
    return arn


def error_code(caught: pytest.ExceptionInfo[ClientError]) -> str:
    return str(caught.value.response["Error"]["Code"])


def list_pages(client: Any, clock: ManualClock, **params: Any) -> list[dict[str, Any]]:
    """Every page of ListTrainingJobs, as a polite user reads them: within List's 2/s."""
    pages = [client.list_training_jobs(**params)]
    while "NextToken" in pages[-1]:
        clock.advance(0.5)
        pages.append(client.list_training_jobs(**params, NextToken=pages[-1]["NextToken"]))
    return pages


def names(page: dict[str, Any]) -> list[str]:
    return [summary["TrainingJobName"] for summary in page["TrainingJobSummaries"]]


# -- requests and answers --------------------------------------------------------------------


def test_describe_echoes_the_environment_given_at_create(client: Any, clock: ManualClock) -> None:
    create(client, clock, "sim-job-1")
    answer = client.describe_training_job(TrainingJobName="sim-job-1")
    assert answer["Environment"] == request_body()["spec"]["Environment"]
    assert answer["TrainingJobStatus"] == "InProgress"
    assert answer["SecondaryStatus"] in ("Starting", "Pending")


def test_model_limits_botocore_does_not_check_are_answered_with_validation_exception(
    client: Any, clock: ManualClock
) -> None:
    with pytest.raises(ClientError) as caught:
        create(client, clock, Environment={f"K{i}": "v" for i in range(101)})
    assert error_code(caught) == "ValidationException"


def test_botocore_still_checks_what_it_checks_before_anything_is_sent(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    with pytest.raises(ParamValidationError):
        client.create_training_job(TrainingJobName="x")
    assert sagemaker.calls["CreateTrainingJob"] == 0


def test_a_second_create_of_the_same_name_is_resource_in_use(
    client: Any, clock: ManualClock
) -> None:
    create(client, clock)
    with pytest.raises(ClientError) as caught:
        create(client, clock)
    assert error_code(caught) == "ResourceInUse"


def test_describing_an_unknown_training_job_is_a_validation_exception(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.describe_training_job(TrainingJobName="nope")
    assert error_code(caught) == "ValidationException"


def test_injected_faults_carry_their_code_and_http_status(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.fail_next("CreateTrainingJob", "ServiceUnavailable")
    with pytest.raises(ClientError) as caught:
        create(client, clock)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    clock.advance(1)
    create(client, clock)  # the fault was used up


def test_complete_walks_the_documented_training_path(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(client, clock, "sim-job-1")  # not one of the jobs that wait in Pending
    sagemaker.complete("TrainingJob", "sim-job-1")
    answer = client.describe_training_job(TrainingJobName="sim-job-1")
    assert [t["Status"] for t in answer["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert answer["ModelArtifacts"]["S3ModelArtifacts"].endswith("sim-job-1/output/model.tar.gz")


def test_stop_moves_a_running_job_to_stopping_and_refuses_an_ended_one(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(client, clock)
    client.stop_training_job(TrainingJobName="sim-job")
    assert (
        client.describe_training_job(TrainingJobName="sim-job")["TrainingJobStatus"] == "Stopping"
    )
    sagemaker.set_state("TrainingJob", "sim-job", "Stopped")
    clock.advance(1)
    with pytest.raises(ClientError):
        client.stop_training_job(TrainingJobName="sim-job")


def test_automl_v1_jobs_are_created_described_and_listed(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    spec = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    client.create_auto_ml_job(AutoMLJobName="sim-automl", **spec)
    sagemaker.set_state("AutoMLJob", "sim-automl", "Completed", "ExplainabilityError")
    answer = client.describe_auto_ml_job(AutoMLJobName="sim-automl")
    assert answer["AutoMLJobSecondaryStatus"] == "ExplainabilityError"
    assert answer["BestCandidate"]["FinalAutoMLJobObjectiveMetric"]["MetricName"] == "F1"
    (summary,) = client.list_auto_ml_jobs()["AutoMLJobSummaries"]
    assert summary["AutoMLJobStatus"] == "Completed"


def test_a_training_summary_carries_what_the_real_shape_carries(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    spec = request_body()["spec"]
    warm = spec["ResourceConfig"] | {"KeepAlivePeriodInSeconds": 600}
    create(client, clock, "warm-pool-job", ResourceConfig=warm)
    sagemaker.complete("TrainingJob", "warm-pool-job")
    (summary,) = client.list_training_jobs()["TrainingJobSummaries"]
    assert summary["SecondaryStatus"] == "Completed"
    assert summary["WarmPoolStatus"] == {"Status": "Available"}
    assert {"CreationTime", "LastModifiedTime", "TrainingEndTime"} <= set(summary)


def test_answers_fit_botocores_output_shapes(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(client, clock, "sim-job-1")
    sagemaker.complete("TrainingJob", "sim-job-1")
    spec = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    client.create_auto_ml_job(AutoMLJobName="sim-automl", **spec)
    sagemaker.complete("AutoMLJob", "sim-automl")
    calls = [
        ("DescribeTrainingJob", {"TrainingJobName": "sim-job-1"}),
        ("ListTrainingJobs", {}),
        ("DescribeAutoMLJob", {"AutoMLJobName": "sim-automl"}),
        ("ListAutoMLJobs", {}),
    ]
    for operation, params in calls:
        clock.advance(1)
        assert output_problems("sagemaker", operation, sagemaker.handle(operation, params)) == ""


CAPTURED = json.loads((Path(__file__).parents[1] / "support/captured_answers.json").read_text())


def missing_members(captured: Any, answer: Any, path: str = "") -> list[str]:
    """Members a captured real answer has, at any depth, that the simulator's answer lacks."""
    if isinstance(captured, dict):
        if not isinstance(answer, dict):
            return [path or "(answer)"]
        return [
            problem
            for key, value in captured.items()
            for problem in (
                missing_members(value, answer[key], f"{path}.{key}")
                if key in answer
                else [f"{path}.{key}"]
            )
        ]
    if isinstance(captured, list) and captured:
        return missing_members(captured[0], answer[0], f"{path}[0]") if answer else [path]
    return []


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("DescribeTrainingJob", {"TrainingJobName": "sim-job-1"}),
        ("ListTrainingJobs", {}),
        ("DescribeAutoMLJob", {"AutoMLJobName": "sim-automl"}),
        ("ListAutoMLJobs", {}),
    ],
)
def test_answers_carry_every_member_a_captured_real_answer_carries(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock, operation: str, params: Any
) -> None:
    create(client, clock, "sim-job-1")
    sagemaker.complete("TrainingJob", "sim-job-1")
    spec = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    client.create_auto_ml_job(AutoMLJobName="sim-automl", **spec)
    sagemaker.complete("AutoMLJob", "sim-automl")
    clock.advance(1)
    answer = sagemaker.handle(operation, params)
    assert missing_members(CAPTURED[operation], answer) == []


def test_an_automl_describe_fills_the_criteria_the_request_left_out(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    spec = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    spec["AutoMLJobConfig"] = {"CompletionCriteria": {"MaxCandidates": 2}}
    client.create_auto_ml_job(AutoMLJobName="sim-automl", **spec)
    answer = client.describe_auto_ml_job(AutoMLJobName="sim-automl")
    criteria = answer["AutoMLJobConfig"]["CompletionCriteria"]
    assert criteria["MaxCandidates"] == 2
    assert (
        criteria["MaxAutoMLJobRuntimeInSeconds"]
        == AUTOML_COMPLETION_DEFAULTS["MaxAutoMLJobRuntimeInSeconds"]
    )
    assert "AutoMLJobArtifacts" not in answer  # the data is not analysed yet


def test_a_training_describe_carries_what_real_answers_carry_beyond_the_request(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    """Members the service model marks optional but real answers hold, which the
    SageMaker Python SDK's Estimator.attach and wait read."""
    create(client, clock, "sim-job-1")
    sagemaker.complete("TrainingJob", "sim-job-1")
    answer = client.describe_training_job(TrainingJobName="sim-job-1")
    assert answer["OutputDataConfig"]["KmsKeyId"] == ""
    assert all(entry["StatusMessage"] for entry in answer["SecondaryStatusTransitions"])
    assert answer["SecondaryStatusTransitions"][-1]["StatusMessage"] == "Training job completed"
    assert answer["EnableNetworkIsolation"] is False
    assert answer["EnableInterContainerTrafficEncryption"] is False


def test_a_training_describe_keeps_what_the_request_said_over_the_defaults(
    client: Any, clock: ManualClock
) -> None:
    output = request_body()["spec"]["OutputDataConfig"] | {"KmsKeyId": "alias/team"}
    create(client, clock, "sim-job-1", OutputDataConfig=output, EnableNetworkIsolation=True)
    answer = client.describe_training_job(TrainingJobName="sim-job-1")
    assert answer["OutputDataConfig"]["KmsKeyId"] == "alias/team"
    assert answer["EnableNetworkIsolation"] is True


# -- List: a page first, the filters after ---------------------------------------------------


def test_a_filtered_list_pages_through_the_history_before_finding_anything(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.seed_history(450)
    since = clock.now()
    clock.advance(1)
    create(client, clock, "the-new-one")
    pages = list_pages(client, clock, LastModifiedTimeAfter=since, MaxResults=100)
    # Oldest first by default: every page of the history comes back empty, with a token.
    assert [names(page) for page in pages[:-1]] == [[]] * (len(pages) - 1)
    assert names(pages[-1]) == ["the-new-one"]
    assert len(pages) == -(-(sum(1 for k in sagemaker.jobs if k[0] == "TrainingJob")) // 100)


def test_status_equals_filters_a_page_after_it_is_taken(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    sagemaker.seed_history(60)  # finished jobs only
    answer = client.list_training_jobs(StatusEquals="InProgress", MaxResults=10)
    assert answer["TrainingJobSummaries"] == []
    assert "NextToken" in answer


def test_list_sorts_as_botocore_documents_unless_told_otherwise(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    for name in ("job-b", "job-c", "job-a"):
        create(client, clock, name)
    assert names(client.list_training_jobs()) == ["job-b", "job-c", "job-a"]  # oldest first
    newest_first = client.list_training_jobs(SortBy="CreationTime", SortOrder="Descending")
    assert names(newest_first) == ["job-a", "job-c", "job-b"]
    clock.advance(1)
    by_name = client.list_training_jobs(SortBy="Name", SortOrder="Ascending")
    assert names(by_name) == ["job-a", "job-b", "job-c"]

    spec = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    for name in ("automl-b", "automl-c", "automl-a"):
        client.create_auto_ml_job(AutoMLJobName=name, **spec)
        clock.advance(1)
    automl = client.list_auto_ml_jobs()["AutoMLJobSummaries"]
    assert [s["AutoMLJobName"] for s in automl] == ["automl-c", "automl-b", "automl-a"]


def test_a_page_holds_at_most_100_jobs(client: Any) -> None:
    with pytest.raises(ClientError) as caught:
        client.list_training_jobs(MaxResults=101)
    assert error_code(caught) == "ValidationException"


def test_a_next_token_keeps_its_place_while_new_jobs_are_created(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.seed_history(30)
    first = client.list_training_jobs(SortBy="CreationTime", SortOrder="Descending", MaxResults=10)
    create(client, clock, "arrived-meanwhile")
    second = client.list_training_jobs(
        SortBy="CreationTime", SortOrder="Descending", MaxResults=10, NextToken=first["NextToken"]
    )
    assert not set(names(first)) & set(names(second))
    assert "arrived-meanwhile" not in names(second)


def test_a_token_from_another_listing_is_refused(
    client: Any, sagemaker: SimulatedSageMaker
) -> None:
    sagemaker.seed_history(30)
    token = client.list_training_jobs(MaxResults=5)["NextToken"]
    with pytest.raises(ClientError) as caught:
        client.list_training_jobs(MaxResults=5, SortBy="Name", NextToken=token)
    assert error_code(caught) == "ValidationException"


def test_the_history_is_other_teams_finished_jobs_from_the_last_year(
    sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    sagemaker.seed_history(500)
    jobs = list(sagemaker.jobs.values())
    assert len(jobs) == 500
    assert {job.status for job in jobs} <= {"Completed", "Failed", "Stopped"}
    assert all(clock.now() - timedelta(days=366) < job.created < clock.now() for job in jobs)
    assert {job.job_type for job in jobs} == {"TrainingJob", "AutoMLJob"}
    assert sagemaker.advance() == 0


# -- account-wide rate limits ------------------------------------------------------------------


def test_creates_beyond_one_a_second_are_throttled_as_sagemaker_does(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE}
    client.create_training_job(TrainingJobName="first", **spec)
    client.create_training_job(TrainingJobName="second", **spec)  # a burst of two passes
    with pytest.raises(ClientError) as caught:
        client.create_training_job(TrainingJobName="third", **spec)
    assert (error_code(caught), caught.value.response["Error"]["Message"]) == (
        "ThrottlingException",
        "Rate exceeded",
    )
    clock.advance(1)
    client.create_training_job(TrainingJobName="third", **spec)
    with pytest.raises(ClientError):
        client.create_training_job(TrainingJobName="fourth", **spec)  # then 1 a second
    assert sagemaker.throttled["CreateTrainingJob"] == 2


def test_the_limits_are_the_accounts_not_a_clients(
    sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    ours, theirs = (sagemaker.attach(boto3.client("sagemaker")) for _ in range(2))
    ours.list_training_jobs()
    theirs.list_training_jobs()  # List allows 2 a second: the second team used the last one
    with pytest.raises(ClientError) as caught:
        ours.list_training_jobs()
    assert error_code(caught) == "ThrottlingException"
    clock.advance(0.5)
    ours.list_training_jobs()


def test_rate_limits_can_be_turned_off_only_by_asking_for_it(clock: ManualClock) -> None:
    unlimited = SimulatedSageMaker(clock=clock, rate_limits=None)
    client = unlimited.attach(boto3.client("sagemaker"))
    for _ in range(20):
        client.list_training_jobs()
    assert unlimited.error_answers["ThrottlingException"] == 0


def test_peak_rate_counts_calls_within_one_second_of_the_clock(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    client.list_training_jobs()
    client.list_training_jobs()
    clock.advance(1)
    client.list_training_jobs()
    assert sagemaker.peak_rate("ListTrainingJobs", "ListAutoMLJobs") == 2


# -- today's statuses --------------------------------------------------------------------------


def stepping(clock: ManualClock) -> SimulatedSageMaker:
    return SimulatedSageMaker(clock=clock, step=timedelta(minutes=1), rate_limits=None)


def run_until_settled(sim: SimulatedSageMaker, clock: ManualClock, steps: int = 40) -> None:
    for _ in range(steps):
        clock.advance(60)
        sim.advance()


def secondaries(sim: SimulatedSageMaker, job_type: str, name: str) -> list[str]:
    return [t["Status"] for t in sim.jobs[(job_type, name)].transitions]


def test_some_jobs_wait_in_pending_before_they_start(clock: ManualClock) -> None:
    sim = stepping(clock)
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE}
    for index in range(3 * PENDING_SHARE):
        sim.handle("CreateTrainingJob", {"TrainingJobName": f"job-{index}", **spec})
    run_until_settled(sim, clock)
    paths = [secondaries(sim, "TrainingJob", f"job-{i}") for i in range(3 * PENDING_SHARE)]
    waited = [path for path in paths if path[0] == "Pending"]
    assert 0 < len(waited) < len(paths)
    assert all(path[:2] == ["Pending", "Starting"] for path in waited)
    assert all(path[-1] == "Completed" for path in paths)


def test_a_spot_job_is_interrupted_and_restarts(clock: ManualClock) -> None:
    sim = stepping(clock)
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE, "EnableManagedSpotTraining": True}
    spec["StoppingCondition"] = {"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 14400}
    sim.handle("CreateTrainingJob", {"TrainingJobName": "spot-job-1", **spec})
    run_until_settled(sim, clock)
    path = secondaries(sim, "TrainingJob", "spot-job-1")
    assert path[path.index("Interrupted") :] == [
        "Interrupted",
        "Restarting",
        "Training",
        "Uploading",
        "Completed",
    ]


def test_sagemaker_stops_a_job_at_its_maximum_runtime(clock: ManualClock) -> None:
    sim = stepping(clock)
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE}
    spec["StoppingCondition"] = {"MaxRuntimeInSeconds": 600}
    spec["Tags"] = [{"Key": OUTCOME_TAG, "Value": "Hang"}]
    sim.handle("CreateTrainingJob", {"TrainingJobName": "too-long-1", **spec})
    run_until_settled(sim, clock)
    job = sim.jobs[("TrainingJob", "too-long-1")]
    assert (job.status, job.secondary) == ("Stopped", "MaxRuntimeExceeded")
    assert secondaries(sim, "TrainingJob", "too-long-1")[-2:] == ["Stopping", "MaxRuntimeExceeded"]


def test_a_job_tagged_to_hang_trains_until_stopped(clock: ManualClock) -> None:
    sim = SimulatedSageMaker(clock=clock, step=timedelta(0))
    client = sim.attach(boto3.client("sagemaker"))
    spec = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE}
    spec["StoppingCondition"] = {"MaxRuntimeInSeconds": 86_400}
    spec["Tags"] = [{"Key": OUTCOME_TAG, "Value": "Hang"}]
    client.create_training_job(TrainingJobName="sim-job-1", **spec)
    for _ in range(10):
        clock.advance(60)
        sim.advance()
    assert (
        client.describe_training_job(TrainingJobName="sim-job-1")["SecondaryStatus"] == "Training"
    )
    client.stop_training_job(TrainingJobName="sim-job-1")
    clock.advance(STOPPING_SECONDS)  # SageMaker's grace period for a stop
    sim.advance()
    assert (
        client.describe_training_job(TrainingJobName="sim-job-1")["TrainingJobStatus"] == "Stopped"
    )


def test_an_automl_job_completes_then_writes_its_reports(clock: ManualClock) -> None:
    sim = stepping(clock)
    spec = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    spec["ModelDeployConfig"] = {"AutoGenerateEndpointName": True}
    sim.handle("CreateAutoMLJob", {"AutoMLJobName": "automl-1", **spec})
    states = []
    for _ in range(12):
        clock.advance(60)
        sim.advance()
        job = sim.jobs[("AutoMLJob", "automl-1")]
        states.append((job.status, job.secondary))
    assert list(dict.fromkeys(states))[-4:] == [
        ("Completed", "GeneratingExplainabilityReport"),
        ("Completed", "GeneratingModelInsightsReport"),
        ("Completed", "DeployingModel"),
        ("Completed", "MaxCandidatesReached"),  # the sample stops at MaxCandidates
    ]


def test_an_ensembling_automl_job_trains_models_instead_of_tuning(clock: ManualClock) -> None:
    sim = stepping(clock)
    spec = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    spec["AutoMLJobConfig"] = {"Mode": "ENSEMBLING"}
    sim.handle("CreateAutoMLJob", {"AutoMLJobName": "ensemble-1", **spec})
    run_until_settled(sim, clock)
    assert secondaries(sim, "AutoMLJob", "ensemble-1")[:4] == [
        "Starting",
        "AnalyzingData",
        "PreTraining",
        "TrainingModels",
    ]


def test_a_state_change_event_is_shaped_like_the_documented_sample(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(client, clock, "sim-job-1")
    event = sagemaker.training_event("sim-job-1")
    detail = event["detail"]
    assert detail["LastModifiedTime"].isdigit()
    assert detail["CreationTime"].isdigit()
    assert all(t["StartTime"].isdigit() for t in detail["SecondaryStatusTransitions"])
    assert detail["Tags"] == {"team": "churn-models"}
    assert event["resources"] == [detail["TrainingJobArn"]]


# -- failed tries, with the reason chosen ------------------------------------------------------


def tagged(**tags: str) -> dict[str, Any]:
    """The sample training spec, with these tags beside its own."""
    spec: dict[str, Any] = request_body()["spec"] | {"RoleArn": DEFAULT_ROLE}
    spec["Tags"] = [*spec["Tags"], *({"Key": k, "Value": v} for k, v in tags.items())]
    return spec


def try_of(request: str, failed_tries: int, reason: str = INTERNAL_SERVER_ERROR) -> dict[str, Any]:
    """A try of ``request`` as the controller tags it, its first tries set to fail."""
    return tagged(
        **{REQUEST_TAG: request, FAILED_TRIES_TAG: str(failed_tries), FAILURE_REASON_TAG: reason}
    )


def settled(sim: SimulatedSageMaker, clock: ManualClock, name: str) -> dict[str, Any]:
    run_until_settled(sim, clock)
    return sim.handle("DescribeTrainingJob", {"TrainingJobName": name})


def test_the_first_tries_of_a_request_fail_with_the_chosen_reason_then_one_completes(
    clock: ManualClock,
) -> None:
    sim = stepping(clock)
    sim.handle("CreateTrainingJob", {"TrainingJobName": "churn", **try_of("churn", 1)})
    first = settled(sim, clock, "churn")
    assert (first["TrainingJobStatus"], first["FailureReason"]) == (
        "Failed",
        INTERNAL_SERVER_ERROR,
    )
    sim.handle("CreateTrainingJob", {"TrainingJobName": "churn-try-2", **try_of("churn", 1)})
    second = settled(sim, clock, "churn-try-2")
    assert second["TrainingJobStatus"] == "Completed"
    assert "FailureReason" not in second


def test_the_request_tag_is_the_one_the_controller_puts_on_every_try() -> None:
    from jobctl.logic.requests import JOB_TAG_KEY

    assert REQUEST_TAG == JOB_TAG_KEY


def test_each_request_counts_its_own_tries(clock: ManualClock) -> None:
    sim = stepping(clock)
    creates = [("a-1", "a"), ("b-1", "b"), ("a-2", "a"), ("b-2", "b"), ("a-3", "a")]
    for name, request in creates:
        sim.handle("CreateTrainingJob", {"TrainingJobName": name, **try_of(request, 2)})
    sim.handle("CreateTrainingJob", {"TrainingJobName": "untouched", **tagged()})
    run_until_settled(sim, clock)
    statuses = {name: sim.jobs[("TrainingJob", name)].status for name, _ in creates}
    assert statuses == {
        "a-1": "Failed",
        "b-1": "Failed",
        "a-2": "Failed",
        "b-2": "Failed",
        "a-3": "Completed",
    }
    assert sim.jobs[("TrainingJob", "untouched")].status == "Completed"


def test_a_job_without_the_request_tag_is_a_request_of_its_own(clock: ManualClock) -> None:
    sim = stepping(clock)
    tags = {FAILED_TRIES_TAG: "1", FAILURE_REASON_TAG: ALGORITHM_ERROR}
    for name in ("solo-1", "solo-2"):
        sim.handle("CreateTrainingJob", {"TrainingJobName": name, **tagged(**tags)})
    run_until_settled(sim, clock)
    for name in ("solo-1", "solo-2"):
        job = sim.jobs[("TrainingJob", name)]
        assert (job.status, job.failure_reason) == ("Failed", ALGORITHM_ERROR)


def test_later_tries_take_the_outcome_the_outcome_tag_gives_them(clock: ManualClock) -> None:
    sim = stepping(clock)
    for name in ("hung-1", "hung-2"):
        spec = try_of("hung", 1) | {"StoppingCondition": {"MaxRuntimeInSeconds": 86_400}}
        spec["Tags"].append({"Key": OUTCOME_TAG, "Value": "Hang"})
        sim.handle("CreateTrainingJob", {"TrainingJobName": name, **spec})
    run_until_settled(sim, clock)
    assert sim.jobs[("TrainingJob", "hung-1")].status == "Failed"
    assert (
        sim.jobs[("TrainingJob", "hung-2")].status,
        secondaries(sim, "TrainingJob", "hung-2")[-1],
    ) == (
        "InProgress",
        "Training",
    )


def test_a_capacity_error_fails_the_job_while_it_starts(clock: ManualClock) -> None:
    sim = stepping(clock)
    sim.handle(
        "CreateTrainingJob", {"TrainingJobName": "gpu-1", **try_of("gpu", 1, CAPACITY_ERROR)}
    )
    answer = settled(sim, clock, "gpu-1")
    assert (answer["TrainingJobStatus"], answer["FailureReason"]) == ("Failed", CAPACITY_ERROR)
    assert secondaries(sim, "TrainingJob", "gpu-1")[-2:] == ["Starting", "Failed"]


def test_without_failed_tries_the_outcome_tag_fails_every_job_with_the_reason_given(
    clock: ManualClock,
) -> None:
    sim = stepping(clock)
    failing = {OUTCOME_TAG: "Failed"}
    sim.handle("CreateTrainingJob", {"TrainingJobName": "plain", **tagged(**failing)})
    chosen = failing | {FAILURE_REASON_TAG: ALGORITHM_ERROR}
    for name in ("chosen-1", "chosen-2"):
        sim.handle("CreateTrainingJob", {"TrainingJobName": name, **tagged(**chosen)})
    run_until_settled(sim, clock)
    reasons = {
        name: sim.jobs[("TrainingJob", name)].failure_reason
        for name in ("plain", "chosen-1", "chosen-2")
    }
    assert reasons == {
        "plain": DEFAULT_FAILURE_REASON,
        "chosen-1": ALGORITHM_ERROR,
        "chosen-2": ALGORITHM_ERROR,
    }


def test_failed_tries_counts_automl_jobs_too(clock: ManualClock) -> None:
    sim = stepping(clock)
    spec = request_body("automl.json")["spec"] | {"RoleArn": DEFAULT_ROLE}
    spec["Tags"] = [
        {"Key": REQUEST_TAG, "Value": "churn-automl"},
        {"Key": FAILED_TRIES_TAG, "Value": "1"},
        {"Key": FAILURE_REASON_TAG, "Value": INTERNAL_SERVER_ERROR},
    ]
    for name in ("churn-automl", "churn-automl-2"):
        sim.handle("CreateAutoMLJob", {"AutoMLJobName": name, **spec})
    run_until_settled(sim, clock)
    first, second = (sim.jobs[("AutoMLJob", n)] for n in ("churn-automl", "churn-automl-2"))
    assert (first.status, first.failure_reason) == ("Failed", INTERNAL_SERVER_ERROR)
    assert second.status == "Completed"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (FAILED_TRIES_TAG, "one"),
        (FAILED_TRIES_TAG, "-1"),
        (FAILED_TRIES_TAG, "²"),
        (CREATE_ERRORS_TAG, "ResourceLimitExceeded:many"),
        (CREATE_ERRORS_TAG, "ResourceLimitExceeded:"),
    ],
)
def test_the_simulators_own_tags_must_say_what_it_understands(
    client: Any, sagemaker: SimulatedSageMaker, key: str, value: str
) -> None:
    with pytest.raises(ClientError) as caught:
        client.create_training_job(TrainingJobName="sim-job", **tagged(**{key: value}))
    assert error_code(caught) == "ValidationException"
    assert key in caught.value.response["Error"]["Message"]
    assert not sagemaker.jobs


def test_create_errors_answer_the_first_creates_of_a_name(client: Any, clock: ManualClock) -> None:
    spec = tagged(**{CREATE_ERRORS_TAG: "ResourceLimitExceeded:2"})
    for _ in range(2):
        with pytest.raises(ClientError) as caught:
            client.create_training_job(TrainingJobName="sim-job", **spec)
        assert error_code(caught) == "ResourceLimitExceeded"
        clock.advance(1)
    client.create_training_job(TrainingJobName="sim-job", **spec)


# -- SageMaker's tag rules ---------------------------------------------------------------------


@pytest.mark.parametrize("reason", [CAPACITY_ERROR, INTERNAL_SERVER_ERROR, ALGORITHM_ERROR])
def test_the_failure_reasons_fit_in_a_tag(client: Any, clock: ManualClock, reason: str) -> None:
    arn = create(client, clock, "sim-job", Tags=try_of("sim-job", 1, reason)["Tags"])
    assert reason in [tag["Value"] for tag in client.list_tags(ResourceArn=arn)["Tags"]]


@pytest.mark.parametrize(
    "value",
    [
        "AlgorithmError: ExecuteUserScriptError:\nExitCode 1",
        "simulated failure (here)",
        "ResourceLimitExceeded*5",  # the separator jobctl-sim:create-errors once took
    ],
)
def test_a_tag_value_off_sagemakers_pattern_is_refused_without_echoing_it(
    client: Any, sagemaker: SimulatedSageMaker, value: str
) -> None:
    spec = tagged(**{FAILURE_REASON_TAG: value})
    with pytest.raises(ClientError) as caught:
        client.create_training_job(TrainingJobName="sim-job", **spec)
    assert error_code(caught) == "ValidationException"
    message = caught.value.response["Error"]["Message"]
    assert message.startswith(f"Tags[{len(spec['Tags']) - 1}].Value: does not match the pattern")
    assert value not in message
    assert ("TrainingJob", "sim-job") not in sagemaker.jobs


def test_a_tag_key_off_the_pattern_is_refused_and_letters_of_any_script_pass(
    client: Any, clock: ManualClock
) -> None:
    with pytest.raises(ClientError) as caught:
        create(client, clock, Tags=[{"Key": "team#1", "Value": "x"}])
    assert error_code(caught) == "ValidationException"
    assert "Tags[0].Key" in caught.value.response["Error"]["Message"]
    clock.advance(1)
    create(client, clock, Tags=[{"Key": "équipe", "Value": "データ 2 + ü@x.org"}])


def test_a_tag_value_longer_than_256_characters_is_refused(client: Any, clock: ManualClock) -> None:
    with pytest.raises(ClientError) as caught:
        create(client, clock, Tags=[{"Key": FAILURE_REASON_TAG, "Value": "E" * 257}])
    assert error_code(caught) == "ValidationException"


# -- stopping, and resuming from checkpoints ------------------------------------------------


def test_a_stopped_training_job_stays_stopping_for_sagemakers_grace_period(
    client: Any, clock: ManualClock
) -> None:
    moving = SimulatedSageMaker(clock=clock, step=timedelta(seconds=5))
    client = moving.attach(boto3.client("sagemaker"))
    create(client, clock, "sim-job")
    client.stop_training_job(TrainingJobName="sim-job")
    clock.advance(STOPPING_SECONDS - 1)
    moving.advance()
    assert client.describe_training_job(TrainingJobName="sim-job")["TrainingJobStatus"] == (
        "Stopping"
    )
    clock.advance(1)
    moving.advance()
    assert client.describe_training_job(TrainingJobName="sim-job")["TrainingJobStatus"] == (
        "Stopped"
    )


def checkpointed(name: str, minutes: str = "20") -> dict[str, Any]:
    tags = [{"Key": CHECKPOINT_TAG, "Value": minutes}, {"Key": "jobctl:job", "Value": "resumes"}]
    checkpoint = {"S3Uri": "s3://bucket/checkpoints/resumes"}
    return {"Tags": tags, "CheckpointConfig": checkpoint}


def test_a_later_try_resumes_from_the_last_checkpoint_of_a_stopped_one(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    create(client, clock, "resumes", **checkpointed("resumes"))
    sagemaker.set_state("TrainingJob", "resumes", "InProgress", "Training")
    clock.advance(50 * 60)  # 50 minutes of training: checkpoints at 20 and 40
    sagemaker.set_state("TrainingJob", "resumes", "Stopping", "Stopping")
    sagemaker.set_state("TrainingJob", "resumes", "Stopped", "Stopped")
    create(client, clock, "resumes-try2", **checkpointed("resumes-try2"))
    assert sagemaker.jobs["TrainingJob", "resumes-try2"].resumed_seconds == 40 * 60


def test_a_job_without_a_checkpoint_config_resumes_from_nothing(
    client: Any, sagemaker: SimulatedSageMaker, clock: ManualClock
) -> None:
    tags = checkpointed("x")["Tags"]
    create(client, clock, "restarts", Tags=tags)
    sagemaker.set_state("TrainingJob", "restarts", "InProgress", "Training")
    clock.advance(50 * 60)
    sagemaker.set_state("TrainingJob", "restarts", "Stopped", "Stopped")
    create(client, clock, "restarts-try2", Tags=tags)
    assert sagemaker.jobs["TrainingJob", "restarts-try2"].resumed_seconds == 0
