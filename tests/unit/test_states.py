"""The job state machine and settle rules (docs/contract.md §4, §6), without AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobctl.errors import IllegalMove
from jobctl.logic import states
from jobctl.models.jobs import JobRecord, Observation

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/demo"


def record(**changes: object) -> JobRecord:
    base = JobRecord(
        job_name="demo",
        job_type="TrainingJob",
        status="InProgress",
        job_arn=ARN,
        created_at="2026-11-26T11:00:00.000Z",
        updated_at="2026-11-26T11:00:00.000Z",
    )
    return base.model_copy(update=changes)


def seen(primary: str, secondary: str | None, at: datetime, **extra: object) -> Observation:
    return Observation(
        job_name="demo",
        job_type="TrainingJob",
        job_arn=ARN,
        primary_status=primary,
        secondary_status=secondary,
        modified_at=at,
        **extra,
    )


def observe(current: JobRecord, *observations: Observation) -> JobRecord:
    for observation in observations:
        if states.is_newer(current, observation):
            current = states.apply_observation(current, observation, T0)
    return current


@pytest.mark.parametrize(
    ("primary", "secondary", "settled"),
    [
        ("Completed", "Completed", True),
        ("Failed", "Failed", True),
        ("Stopped", "Stopped", True),
        ("Completed", None, True),
        ("Completed", "ExplainabilityError", True),
        ("Completed", "MaxCandidatesReached", True),
        ("Completed", "GeneratingExplainabilityReport", False),
        ("Completed", "GeneratingModelInsightsReport", False),
        ("Completed", "DeployingModel", False),
        ("Stopped", "Stopping", False),
        ("Failed", "Restarting", False),
        ("InProgress", "Training", False),
        ("Stopping", "Stopping", False),
    ],
)
def test_a_job_is_settled_only_when_terminal_and_no_work_is_named(
    primary: str, secondary: str | None, settled: bool
) -> None:
    assert states.is_settled(primary, secondary) is settled


def test_an_error_secondary_status_on_a_completed_job_is_a_warning_not_a_failure() -> None:
    done = observe(record(), seen("Completed", "ExplainabilityError", T0, failure_reason="no SHAP"))
    assert done.status == "Completed"
    assert done.warnings == ["ExplainabilityError: no SHAP"]
    assert done.notice_pending == "1"


def test_a_completed_automl_job_still_generating_a_report_is_not_announced_yet() -> None:
    busy = observe(record(), seen("Completed", "GeneratingExplainabilityReport", T0))
    assert busy.status == "Completed"
    assert busy.notice_pending is None
    done = observe(busy, seen("Completed", "Completed", T0 + timedelta(minutes=5)))
    assert done.notice_pending == "1"


def test_a_stale_observation_cannot_move_a_job_backwards() -> None:
    done = observe(
        record(),
        seen("InProgress", "Training", T0),
        seen("Completed", "Completed", T0 + timedelta(minutes=10)),
        seen("InProgress", "Uploading", T0 + timedelta(minutes=9)),
    )
    assert (done.status, done.secondary_status) == ("Completed", "Completed")


def test_a_newer_timestamp_with_a_lower_rank_status_is_still_refused() -> None:
    stopping = observe(record(), seen("Stopping", "Stopping", T0))
    assert observe(stopping, seen("InProgress", "Training", T0 + timedelta(seconds=1))).status == (
        "Stopping"
    )


def test_history_gets_one_entry_per_observed_change_oldest_first() -> None:
    done = observe(
        record(),
        seen("InProgress", "Starting", T0),
        seen("InProgress", "Starting", T0),  # duplicate delivery
        seen("InProgress", "Training", T0 + timedelta(minutes=1)),
        seen("Completed", "Completed", T0 + timedelta(minutes=2)),
    )
    assert [(h.status, h.secondary_status) for h in done.history] == [
        ("InProgress", "Starting"),
        ("InProgress", "Training"),
        ("Completed", "Completed"),
    ]


def test_unknown_future_statuses_are_kept_verbatim() -> None:
    odd = observe(record(), seen("Hibernating", "Dreaming", T0))
    assert odd.status == "InProgress"  # the ledger's own status stays a known one
    assert (odd.sagemaker_status, odd.secondary_status) == ("Hibernating", "Dreaming")


def test_observations_of_a_different_job_with_the_same_name_are_ignored() -> None:
    foreign = seen("Completed", "Completed", T0).model_copy(update={"job_arn": ARN + "-other"})
    assert not states.is_newer(record(), foreign)


def test_records_that_never_reached_sagemaker_ignore_what_it_says() -> None:
    for status in ("Rejected", "SubmitFailed"):
        assert not states.is_newer(record(status=status, job_arn=None), seen("Completed", None, T0))
    cancelled = record(status="Stopped", job_arn=None)
    assert not states.is_newer(cancelled, seen("InProgress", "Training", T0))


def test_stopped_is_its_own_outcome_with_no_warning() -> None:
    stopped = observe(record(), seen("Stopped", "Stopped", T0))
    assert stopped.status == "Stopped"
    assert stopped.warnings == []
    assert stopped.notice_pending == "1"


def test_a_queued_record_takes_no_job_from_what_sagemaker_says_of_its_name() -> None:
    queued = record(status="Queued", job_arn=None)
    assert not states.is_newer(queued, seen("InProgress", "Training", T0))


def test_an_observation_that_names_no_job_is_not_about_ours() -> None:
    anonymous = seen("Completed", "Completed", T0).model_copy(update={"job_arn": None})
    assert not states.is_newer(record(), anonymous)


def test_only_a_bound_unsettled_record_is_in_flight() -> None:
    at = "2026-11-26T12:00:00.000Z"
    bound = states.bind(record(status="Queued", job_arn=None), ARN, at)
    assert (bound.status, bound.in_flight, bound.submitted_at) == ("InProgress", "TrainingJob", at)
    done = observe(bound, seen("Completed", "Completed", T0))
    assert done.in_flight is None
    generating = observe(bound, seen("Completed", "GeneratingExplainabilityReport", T0))
    assert generating.in_flight == "TrainingJob"  # not settled yet: still followed


@pytest.mark.parametrize(
    ("current", "to"),
    [
        ("Completed", "Queued"),  # a settled job never goes back
        ("InProgress", "Queued"),
        ("Stopped", "InProgress"),
        ("SubmitFailed", "InProgress"),  # a redrive goes through Queued
        ("Rejected", "InProgress"),
    ],
)
def test_a_move_the_table_does_not_allow_is_a_bug_that_raises(current: str, to: str) -> None:
    with pytest.raises(IllegalMove):
        states.transition(record(status=current), to, "2026-11-26T12:00:00.000Z")


@pytest.mark.parametrize(
    ("current", "to"),
    [
        ("Queued", "InProgress"),
        ("Queued", "Rejected"),
        ("Queued", "SubmitFailed"),
        ("Queued", "Stopped"),
        ("SubmitFailed", "Queued"),
        ("Rejected", "Queued"),
        ("Rejected", "Rejected"),
    ],
)
def test_the_controllers_own_moves_are_in_the_table(current: str, to: str) -> None:
    moved = states.transition(record(status=current), to, "2026-11-26T12:00:00.000Z")
    assert (moved.status, moved.history[-1].status) == (to, to)


def test_sagemaker_cannot_move_a_settled_record_to_another_outcome() -> None:
    completed = record(status="Completed", sagemaker_status="Completed")
    with pytest.raises(IllegalMove):
        states.apply_observation(completed, seen("Failed", "Failed", T0), T0)
