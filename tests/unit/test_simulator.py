"""The simulated SageMaker that every test shares, checked against botocore's model and
against the ways the real service is unkind: List filters after paging, account-wide
rate limits, today's statuses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ParamValidationError

from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.sagemaker import OUTCOME_TAG, PENDING_SHARE, SimulatedSageMaker
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
    clock.advance(60)
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
