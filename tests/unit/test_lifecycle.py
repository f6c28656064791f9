"""A job's lifecycle (docs/contract.md §4, §6, §9): its phases, the table of moves, the
settle rules and what each move leaves to do. Pure functions: no ports, no simulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobctl.adapters.ledger import index_flags
from jobctl.errors import IllegalMove
from jobctl.logic import lifecycle
from jobctl.models.jobs import SETTLED_PHASES, JobRecord, Observation, Phase
from jobctl.models.requests import RetryPolicy

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ARN = "arn:aws:sagemaker:us-east-1:123456789012:training-job/demo"


def record(**changes: object) -> JobRecord:
    """A record as the ledger would hold it: its phase derived from its status, unless given."""
    base: dict[str, object] = {
        "job_name": "demo",
        "job_type": "TrainingJob",
        "status": "InProgress",
        "job_arn": ARN,
        "created_at": "2026-11-26T11:00:00.000Z",
        "updated_at": "2026-11-26T11:00:00.000Z",
    }
    return JobRecord.model_validate({**base, **changes})


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
        if lifecycle.is_newer(current, observation):
            current = lifecycle.apply_observation(current, observation, T0)
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
    assert lifecycle.is_settled(primary, secondary) is settled


def test_an_error_secondary_status_on_a_completed_job_is_a_warning_not_a_failure() -> None:
    done = observe(record(), seen("Completed", "ExplainabilityError", T0, failure_reason="no SHAP"))
    assert done.status == "Completed"
    assert done.warnings == ["ExplainabilityError: no SHAP"]
    assert (done.phase, done.notice_pending) == (Phase.COMPLETED, True)


def test_a_completed_automl_job_still_generating_a_report_is_not_announced_yet() -> None:
    busy = observe(record(), seen("Completed", "GeneratingExplainabilityReport", T0))
    assert (busy.status, busy.phase, busy.notice_pending) == ("Completed", Phase.RUNNING, False)
    done = observe(busy, seen("Completed", "Completed", T0 + timedelta(minutes=5)))
    assert (done.phase, done.notice_pending) == (Phase.COMPLETED, True)


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
    assert not lifecycle.is_newer(record(), foreign)


def test_records_that_never_reached_sagemaker_ignore_what_it_says() -> None:
    for status in ("Rejected", "SubmitFailed"):
        assert not lifecycle.is_newer(
            record(status=status, job_arn=None), seen("Completed", None, T0)
        )
    cancelled = record(status="Stopped", job_arn=None)
    assert not lifecycle.is_newer(cancelled, seen("InProgress", "Training", T0))


def test_stopped_is_its_own_outcome_with_no_warning() -> None:
    stopped = observe(record(), seen("Stopped", "Stopped", T0))
    assert stopped.status == "Stopped"
    assert stopped.warnings == []
    assert (stopped.phase, stopped.notice_pending) == (Phase.STOPPED, True)


def test_a_queued_record_takes_no_job_from_what_sagemaker_says_of_its_name() -> None:
    queued = record(status="Queued", job_arn=None)
    assert not lifecycle.is_newer(queued, seen("InProgress", "Training", T0))


def test_an_observation_that_names_no_job_is_not_about_ours() -> None:
    anonymous = seen("Completed", "Completed", T0).model_copy(update={"job_arn": None})
    assert not lifecycle.is_newer(record(), anonymous)


def test_only_a_bound_unsettled_record_is_in_flight() -> None:
    at = "2026-11-26T12:00:00.000Z"
    bound = lifecycle.bind(record(status="Queued", job_arn=None), ARN, at)
    assert (bound.status, bound.in_flight, bound.submitted_at) == ("InProgress", "TrainingJob", at)
    done = observe(bound, seen("Completed", "Completed", T0))
    assert done.in_flight is None
    generating = observe(bound, seen("Completed", "GeneratingExplainabilityReport", T0))
    assert generating.in_flight == "TrainingJob"  # not settled yet: still followed


def test_a_move_the_table_does_not_hold_is_refused() -> None:
    at = "2026-11-26T12:00:00.000Z"
    for phase, move in [
        (Phase.COMPLETED, lifecycle.Move.JOIN),  # a settled job never goes back
        (Phase.RUNNING, lifecycle.Move.CANCEL),  # SageMaker has it: a stop stops it there
        (Phase.WAITING, lifecycle.Move.CREATE),  # a waiting job holds no room yet
        (Phase.SUBMIT_FAILED, lifecycle.Move.CREATE),  # a redrive goes through Queued
        (Phase.STOPPED, lifecycle.Move.SEE_RUNNING),
    ]:
        with pytest.raises(IllegalMove):
            lifecycle.moved(record(phase=phase), move, at)


def test_sagemaker_cannot_move_a_settled_record_to_another_outcome() -> None:
    completed = record(status="Completed", sagemaker_status="Completed")
    with pytest.raises(IllegalMove):
        lifecycle.apply_observation(completed, seen("Failed", "Failed", T0), T0)


def test_every_phase_is_reached_and_every_unsettled_one_can_move_on() -> None:
    reached = {Phase.SUBMITTING, Phase.WAITING} | set(lifecycle.MOVES.values())
    assert reached == set(Phase)
    leaving = {phase for phase, _ in lifecycle.MOVES}
    assert set(Phase) - SETTLED_PHASES <= leaving


def test_a_job_walks_its_lifecycle_through_the_table_alone() -> None:
    at = "2026-11-26T12:00:00.000Z"
    queued = lifecycle.start(record(status="Queued", job_arn=None), waits=True)
    admitted = lifecycle.admit(queued, {"all": 1}, at)
    running = lifecycle.bind(admitted, ARN, at)
    done = observe(running, seen("Completed", "Completed", T0))
    assert [r.phase for r in (queued, admitted, running, done)] == [
        Phase.WAITING,
        Phase.ADMITTED,
        Phase.RUNNING,
        Phase.COMPLETED,
    ]
    assert [r.status for r in (queued, admitted, running, done)] == [
        "Queued",
        "Queued",
        "InProgress",
        "Completed",
    ]


def test_the_sparse_index_flags_follow_the_phase() -> None:
    def flags(**changes: object) -> dict[str, str | None]:
        return index_flags(record(**changes))

    waiting = flags(status="Queued", job_arn=None, phase=Phase.WAITING, share="prod", priority=7)
    assert waiting["queue"] == "prod"
    assert waiting["queue_rank"] == f"9992#{record().created_at}#TrainingJob#{record().job_name}"
    assert flags(status="Queued", job_arn=None, phase=Phase.ADMITTED)["repair"] == "admitted"
    assert flags()["in_flight"] == "TrainingJob"
    assert flags(status="Completed", sagemaker_status="Completed") == {
        "waiting": None,
        "queue": None,
        "queue_rank": None,
        "notice_pending": "1",
        "in_flight": None,
        "repair": None,
    }
    announced = flags(status="Completed", notified_at="2026-11-26T12:00:00.000Z")
    assert announced["notice_pending"] is None


@pytest.mark.parametrize(
    ("stored", "phase"),
    [
        ({"status": "Queued", "waiting": "1", "job_arn": None}, Phase.WAITING),
        ({"status": "Queued", "admitted_at": "x", "job_arn": None}, Phase.ADMITTED),
        ({"status": "Queued", "job_arn": None}, Phase.SUBMITTING),
        ({"status": "Stopped", "job_arn": None}, Phase.CANCELLED),
        (
            {"status": "Completed", "secondary_status": "GeneratingModelInsightsReport"},
            Phase.RUNNING,
        ),
        ({"status": "Stopped", "secondary_status": "Stopping"}, Phase.STOPPING),
        ({"status": "SubmitFailed", "job_arn": None}, Phase.SUBMIT_FAILED),
    ],
)
def test_records_written_before_phases_read_with_the_phase_their_flags_meant(
    stored: dict[str, object], phase: Phase
) -> None:
    assert record(**stored).phase == phase


def test_a_failure_that_earns_another_try_leaves_the_job_between_tries_holding_its_room() -> None:
    retried = record(retry=RetryPolicy(attempts=2), holds={"all": 1}, request_body="kept")
    failed = observe(retried, seen("Failed", "Failed", T0, failure_reason="CapacityError: none"))
    assert (failed.phase, failed.status, failed.holds) == (
        Phase.BETWEEN_TRIES,
        "Queued",
        {"all": 1},
    )
    steps = lifecycle.next_steps(retried, failed)
    assert (steps.next_try, steps.notice, steps.release) == (True, False, {})
    waiting = lifecycle.next_try(failed, T0)
    assert (waiting.phase, waiting.attempt, waiting.holds, waiting.job_arn) == (
        Phase.WAITING,
        2,
        {},
        None,
    )
    assert waiting.sagemaker_name == lifecycle.try_name("TrainingJob", "demo", 2)


def test_a_settled_job_gives_back_its_room_and_is_announced() -> None:
    held = record(holds={"ml.m5.xlarge": 2})
    done = observe(held, seen("Failed", "Failed", T0, failure_reason="AlgorithmError: x"))
    steps = lifecycle.next_steps(held, done)
    assert (steps.release, steps.notice, steps.next_try) == ({"ml.m5.xlarge": 2}, True, False)


def test_only_an_admitted_job_is_woken_again() -> None:
    at = "2026-11-26T12:05:00.000Z"
    admitted = record(status="Queued", job_arn=None, phase=Phase.ADMITTED, wakes=1)
    assert lifecycle.wake_again(admitted, at) == admitted.model_copy(
        update={"wakes": 2, "admitted_at": at, "updated_at": at}
    )
    assert lifecycle.wake_again(record(status="Queued", job_arn=None), at) is None


def test_only_lifecycle_changes_a_phase() -> None:
    """The table is the one authority: no other module of the package sets ``phase``."""
    import ast
    from pathlib import Path

    package = Path(lifecycle.__file__).parents[1]
    allowed = {package / "logic" / "lifecycle.py", package / "models" / "jobs.py"}
    offenders = []
    for path in package.rglob("*.py"):
        if path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            keywords = [k.arg for k in node.keywords] if isinstance(node, ast.Call) else []
            keys = (
                [k.value for k in node.keys if isinstance(k, ast.Constant)]
                if isinstance(node, ast.Dict)
                else []
            )
            if "phase" in keywords or "phase" in keys:
                offenders.append(f"{path.relative_to(package)}:{getattr(node, 'lineno', 0)}")
    assert offenders == []


def test_the_readmes_lifecycle_table_names_every_unsettled_phase_and_every_sweep_repair() -> None:
    from pathlib import Path

    readme = Path(__file__).parents[2] / "README.md"
    section = readme.read_text().split("### A job's lifecycle", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = {
        phase.strip("`") for row in rows for phase in row.split("|")[1].split() if "`" in phase
    }
    unsettled = {phase.value for phase in Phase if phase not in SETTLED_PHASES}
    assert unsettled <= {name.strip("`,") for name in named}
    for step in ("wake-ups", "tries", "budgets"):  # the sweep's repair steps, by name
        assert f'(step "{step}")' in section


def test_an_expected_start_is_written_again_when_later_or_much_earlier_only() -> None:
    # Written later than it is, it would no longer be an upper bound; a little earlier is
    # not worth a write at every pass.
    noted = record(status="Queued", phase=Phase.WAITING, expected_start="2026-12-01T10:00:00.000Z")
    assert lifecycle.reservation_moved(noted, "2026-12-01T10:06:00.000Z")
    assert not lifecycle.reservation_moved(noted, "2026-12-01T10:04:00.000Z")
    assert not lifecycle.reservation_moved(noted, "2026-12-01T09:50:00.000Z")
    assert lifecycle.reservation_moved(noted, "2026-12-01T09:40:00.000Z")
    assert lifecycle.reservation_moved(noted, None)
