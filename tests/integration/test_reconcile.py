"""ReconcileFunction in-process: events and the sweep → Describe → ledger → one notice."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobctl.errors import RetryableError
from jobctl.models.jobs import utc_iso
from tests.support.requests import request_body
from tests.support.stack import Stack
from tests.support.template import load_event

NAME = "demo-xgboost-churn"
AUTOML = "demo-autopilot-churn"


@pytest.fixture
def running(stack: Stack) -> Stack:
    """The sample training job, submitted and InProgress."""
    stack.submit(request_body())
    return stack


def finish(stack: Stack, name: str = NAME, **extra: Any) -> dict[str, Any]:
    stack.sagemaker.complete("TrainingJob", name, **extra)
    return stack.sagemaker.training_event(name)


def test_a_completed_event_records_the_truth_and_announces_once(running: Stack) -> None:
    metrics = [{"MetricName": "validation:auc", "Value": 0.93, "Timestamp": running.clock.now()}]
    event = finish(running, FinalMetricDataList=metrics)
    running.deliver(event)

    record = running.job(NAME)
    assert record.status == "Completed"
    assert record.environment == request_body()["spec"]["Environment"]
    assert record.outputs is not None
    assert record.outputs["final_metrics"] == {"validation:auc": 0.93}
    assert record.outputs["model_artifacts"].endswith("/output/model.tar.gz")
    assert record.notified_at is not None
    (notice,) = running.notices_for(NAME)
    assert notice["status"] == "Completed"
    assert notice["_attributes"] == {
        "job_type": "TrainingJob",
        "status": "Completed",
        "share": "default",
        "notice_id": f"TrainingJob/{NAME}/Completed",
    }
    # No INSTANCE_PRICES here: estimated_cost_usd does not apply, and is left out.
    assert set(notice) - {"_attributes"} == {
        "job_name", "job_type", "status", "secondary_status", "failure_reason",
        "warnings", "job_arn", "request_id", "outputs", "updated_at", "attempts", "usage",
    }  # fmt: skip
    assert notice["attempts"] == 1


def test_duplicate_events_describe_once_and_announce_once(running: Stack) -> None:
    event = finish(running)
    for _ in range(3):
        running.deliver(copy.deepcopy(event))
    assert running.sagemaker.calls["DescribeTrainingJob"] == 1
    assert len(running.notices_for(NAME)) == 1


def test_a_late_event_cannot_undo_a_newer_state(running: Stack) -> None:
    running.sagemaker.set_state("TrainingJob", NAME, "InProgress", "Training")
    stale = running.sagemaker.training_event(NAME)
    running.deliver(finish(running))
    running.deliver(stale)
    record = running.job(NAME)
    assert (record.status, record.secondary_status) == ("Completed", "Completed")


def test_a_stale_describe_answer_cannot_undo_a_newer_state(running: Stack) -> None:
    job = running.sagemaker.set_state("TrainingJob", NAME, "InProgress", "Training")
    running.deliver(running.sagemaker.training_event(NAME))
    training_at = job.modified
    event = finish(running)
    # A lagging replica answers Describe with a state older than the ledger's.
    truth = (job.status, job.secondary, job.modified)
    job.status, job.secondary = "InProgress", "Downloading"
    job.modified = training_at.replace(year=training_at.year - 1)
    running.deliver(event)
    assert running.job(NAME).secondary_status == "Training"

    job.status, job.secondary, job.modified = truth
    running.deliver(event)
    assert running.job(NAME).status == "Completed"


def test_a_failed_job_records_sagemakers_reason(running: Stack) -> None:
    running.sagemaker.set_state(
        "TrainingJob", NAME, "Failed", "Failed", failure_reason="AlgorithmError: boom"
    )
    running.deliver(running.sagemaker.training_event(NAME))
    record = running.job(NAME)
    assert (record.status, record.failure_reason) == ("Failed", "AlgorithmError: boom")
    assert [n["status"] for n in running.notices_for(NAME)] == ["Failed"]


def test_a_stopped_job_is_announced_as_stopped_not_completed(running: Stack) -> None:
    running.submit(request_body("stop.json"))
    running.sagemaker.set_state("TrainingJob", NAME, "Stopped", "Stopped")
    running.deliver(running.sagemaker.training_event(NAME))
    assert [n["status"] for n in running.notices_for(NAME)] == ["Stopped"]


def test_events_about_jobs_the_ledger_does_not_hold_are_ignored(stack: Stack) -> None:
    foreign = request_body()["spec"] | {
        "TrainingJobName": "not-ours",
        "RoleArn": "arn:aws:iam::123456789012:role/someone",
    }
    stack.sagemaker.handle("CreateTrainingJob", foreign)
    stack.deliver(finish(stack, "not-ours"))
    assert stack.ledger_items() == []
    assert stack.notices() == []
    assert stack.sagemaker.calls["DescribeTrainingJob"] == 0


@pytest.mark.parametrize(
    "event",
    [
        {},
        {"source": "aws.sagemaker", "detail-type": "SageMaker Training Job State Change"},
        {
            "source": "aws.sagemaker",
            "detail-type": "SageMaker Training Job State Change",
            "detail": {"TrainingJobName": 7},
        },
        {
            "source": "aws.ec2",
            "detail-type": "EC2 Instance State-change Notification",
            "detail": {},
        },
        {"source": "aws.events", "detail-type": "Something Else"},
    ],
)
def test_malformed_events_are_dropped_without_failing(stack: Stack, event: dict[str, Any]) -> None:
    assert "dropped" in stack.deliver(event)


def test_the_documented_sample_events_are_understood(running: Stack) -> None:
    # The samples carry AWS's documented shape; the ledger holds the job they name.
    for sample in ("training-state-change-inprogress.json", "training-state-change-completed.json"):
        result = running.deliver(load_event(sample))
        assert result["job_name"] == NAME


def test_a_transient_describe_failure_fails_the_invocation_so_it_is_retried(running: Stack) -> None:
    event = finish(running)
    running.sagemaker.fail_next("DescribeTrainingJob", "ThrottlingException")
    with pytest.raises(RetryableError):
        running.deliver(event)
    running.deliver(event)
    assert running.job(NAME).status == "Completed"


def test_a_job_describe_cannot_see_yet_is_retried_not_guessed(running: Stack) -> None:
    event = finish(running)
    running.sagemaker.fail_next(
        "DescribeTrainingJob", "ValidationException", message="Requested resource not found."
    )
    with pytest.raises(RetryableError):
        running.deliver(event)
    assert running.job(NAME).status == "InProgress"


def test_the_sweep_catches_a_missed_event(running: Stack) -> None:
    finish(running)  # the event is lost
    report = running.sweep()["sweep"]
    assert report["described"] == 1
    assert running.job(NAME).status == "Completed"
    assert len(running.notices_for(NAME)) == 1


def test_a_quiet_sweep_describes_nothing(running: Stack) -> None:
    running.deliver(finish(running))
    before = running.sagemaker.calls["DescribeTrainingJob"]
    report = running.sweep()["sweep"]
    assert running.sagemaker.calls["DescribeTrainingJob"] == before
    assert report["described"] == 0


def test_the_sweep_tracks_automl_jobs_through_report_generation(stack: Stack) -> None:
    stack.submit(request_body("automl.json"))
    stack.sagemaker.set_state("AutoMLJob", AUTOML, "Completed", "GeneratingExplainabilityReport")
    stack.sweep()
    assert stack.job(AUTOML, "AutoMLJob").status == "Completed"
    assert stack.notices_for(AUTOML) == []  # not settled yet

    stack.sagemaker.set_state(
        "AutoMLJob", AUTOML, "Completed", "ExplainabilityError", failure_reason="SHAP failed"
    )
    stack.sweep()
    record = stack.job(AUTOML, "AutoMLJob")
    assert record.warnings == ["ExplainabilityError: SHAP failed"]
    assert record.outputs is not None
    assert record.outputs["best_candidate"]["objective_metric_name"] == "F1"
    (notice,) = stack.notices_for(AUTOML)
    assert (notice["status"], notice["secondary_status"]) == ("Completed", "ExplainabilityError")


def test_a_notice_sns_refused_goes_out_with_the_next_sweep_exactly_once(
    running: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    sns = running.clients.sns
    real_publish = sns.publish

    def refuse(**_: Any) -> None:
        raise ClientError(
            {
                "Error": {"Code": "InternalError", "Message": "down"},
                "ResponseMetadata": {
                    "RequestId": "",
                    "HostId": "",
                    "HTTPStatusCode": 500,
                    "HTTPHeaders": {},
                    "RetryAttempts": 0,
                },
            },
            "Publish",
        )

    monkeypatch.setattr(sns, "publish", refuse)
    with pytest.raises(RetryableError):
        running.deliver(finish(running))
    assert running.job(NAME).notified_at is None
    monkeypatch.setattr(sns, "publish", real_publish)
    running.sweep()
    running.sweep()
    assert len(running.notices_for(NAME)) == 1


def settle_with_claim(stack: Stack, monkeypatch: pytest.MonkeyPatch, claimed_at: str) -> None:
    """The job settles, and its notice is left claimed at ``claimed_at`` but unsent."""
    reconciler = stack.controller.reconciler
    announce_if_due = reconciler._announce_if_due
    monkeypatch.setattr(reconciler, "_announce_if_due", lambda record: record)
    stack.deliver(finish(stack))
    record = reconciler.ledger.get(NAME, "TrainingJob")
    assert record is not None
    reconciler.ledger.update(record.model_copy(update={"notice_claimed_at": claimed_at}), record)
    monkeypatch.setattr(reconciler, "_announce_if_due", announce_if_due)


def test_a_crash_after_claiming_a_notice_is_repaired_after_the_lease(
    running: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reconciler claimed the notice long ago and died before publishing it.
    settle_with_claim(running, monkeypatch, claimed_at="2000-01-01T00:00:00.000Z")
    running.sweep()
    assert len(running.notices_for(NAME)) == 1
    assert not running.job(NAME).notice_pending


def test_a_notice_another_invocation_is_publishing_is_left_to_it(
    running: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another reconciler claimed the notice a moment ago and is publishing it now.
    settle_with_claim(running, monkeypatch, claimed_at=utc_iso(datetime.now(UTC)))
    running.sweep()
    running.deliver(running.sagemaker.training_event(NAME))
    assert running.notices_for(NAME) == []


def test_the_sweep_reports_jobs_running_past_their_maximum_runtime(
    running: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = running.controller.reconciler.ledger
    record = ledger.get(NAME, "TrainingJob")
    assert record is not None
    assert record.max_runtime_seconds == 3600
    long_ago = {"submitted_at": "2020-01-01T00:00:00.000Z"}
    ledger.update(record.model_copy(update=long_ago), record)
    capsys.readouterr()
    report = running.sweep()["sweep"]
    assert report["stuck"] == [NAME]
    metrics = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    assert any(m.get("JobsStuck") == [1.0] for m in metrics)


def test_a_job_within_its_runtime_is_not_stuck(running: Stack) -> None:
    assert running.sweep()["sweep"]["stuck"] == []


def test_automl_progress_comes_from_the_list_summary_and_only_the_outcome_is_described(
    stack: Stack,
) -> None:
    stack.submit(request_body("automl.json"))
    for secondary in ("AnalyzingData", "FeatureEngineering", "ModelTuning"):
        stack.sagemaker.set_state("AutoMLJob", AUTOML, "InProgress", secondary)
        stack.sweep()
        assert stack.job(AUTOML, "AutoMLJob").secondary_status == secondary
    assert stack.sagemaker.calls["DescribeAutoMLJob"] == 0
    stack.sagemaker.set_state("AutoMLJob", AUTOML, "Completed", "Completed")
    stack.sweep()
    assert stack.sagemaker.calls["DescribeAutoMLJob"] == 1
    outputs = stack.job(AUTOML, "AutoMLJob").outputs
    assert outputs is not None
    assert outputs["best_candidate"]["name"]


def test_a_sweep_with_nothing_in_flight_lists_nothing(running: Stack) -> None:
    running.deliver(finish(running))
    running.sweep()
    before = running.sagemaker.calls["ListTrainingJobs"] + running.sagemaker.calls["ListAutoMLJobs"]
    report = running.sweep()["sweep"]
    assert report["described"] == 0
    assert report["list_calls"] == 0
    after = running.sagemaker.calls["ListTrainingJobs"] + running.sagemaker.calls["ListAutoMLJobs"]
    assert after == before


def test_terminal_only_tracking_records_outcomes_but_not_progress(stack: Stack) -> None:
    stack.reconfigure(TRACKING_MODE="terminal")
    stack.submit(request_body("automl.json"))
    stack.sagemaker.set_state("AutoMLJob", AUTOML, "InProgress", "ModelTuning")
    stack.sweep()
    assert stack.job(AUTOML, "AutoMLJob").secondary_status is None
    stack.sagemaker.set_state("AutoMLJob", AUTOML, "Completed", "Completed")
    stack.sweep()
    assert stack.job(AUTOML, "AutoMLJob").status == "Completed"
    assert len(stack.notices_for(AUTOML)) == 1
