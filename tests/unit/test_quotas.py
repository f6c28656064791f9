"""Guaranteed quotas, borrowing and preemption (docs/contract.md §10) on in-memory fakes:
a share's quota is its own, idle room is lent, and an owner takes lent room back by
preempting borrowers, who wait again as their next try."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobctl.config import Settings, SettingsError
from jobctl.errors import InvalidRequest, RetryableError
from jobctl.logic.fair_share import Holding
from jobctl.logic.quotas import Quotas, borrowers, victims
from jobctl.models.jobs import unpack_request
from jobctl.models.requests import parse_request
from tests.support.environment import ENVIRONMENT
from tests.unit.conftest import Logic
from tests.unit.test_retries import used
from tests.unit.test_waiting_room import GPU, QUEUE, finish, gpu_job

QUOTAS = f"prod:{GPU}=2,research:{GPU}=2"


@pytest.fixture
def shared(logic: Logic) -> Logic:
    """4 GPUs: 2 guaranteed to prod, 2 to research; both lend and borrow."""
    logic.reconfigure(INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=QUEUE, SHARE_QUOTAS=QUOTAS)
    return logic


def job(name: str, share: str, gpus: int = 1, **fields: Any) -> dict[str, Any]:
    return gpu_job(name, gpus, share=share, **fields)


def run(logic: Logic, *bodies: dict[str, Any]) -> None:
    """Send requests, and hand admitted ones back, as the queue would; a second apart."""
    for body in bodies:
        logic.handle(body)
        logic.clock.advance(1)
    logic.deliver_wakeups()


def stopped(logic: Logic, name: str) -> None:
    """SageMaker ends a stopping job Stopped, and says so."""
    logic.sagemaker.set_state("TrainingJob", name, "Stopped")
    logic.reconciler.on_state_change("TrainingJob", logic.sagemaker.event(name))
    logic.deliver_wakeups()


def research_borrowing_everything(logic: Logic) -> None:
    run(logic, *(job(f"research-{i}", "research") for i in range(4)))
    assert {logic.record(f"research-{i}").status for i in range(4)} == {"InProgress"}


# -- borrowing ----------------------------------------------------------------------------


def test_a_share_borrows_the_room_another_share_leaves_idle(shared: Logic) -> None:
    research_borrowing_everything(shared)
    assert shared.capacity.in_use(GPU) == 4


def test_a_job_within_its_quota_preempts_the_youngest_borrower_and_starts_once_it_stopped(
    shared: Logic,
) -> None:
    research_borrowing_everything(shared)
    run(shared, job("prod-0", "prod"))
    waiting = shared.record("prod-0")
    assert waiting.status == "Queued"
    assert waiting.waiting_for == "waiting for its quota's room (preempting research-3)"
    victim = shared.record("research-3")
    assert victim.preempted_by == "prod-0"
    assert shared.sagemaker.status("TrainingJob", "research-3") == "Stopping"
    stopped(shared, "research-3")
    assert shared.record("prod-0").status == "InProgress"
    requeued = shared.record("research-3")
    assert (requeued.status, requeued.attempt, requeued.preemptions) == ("Queued", 2, 1)
    assert requeued.attempts[0].status == "Stopped"
    assert requeued.attempts[0].preempted_by == "prod-0"
    assert shared.notices.published == []  # not settled: no notice yet


def test_jobs_running_within_their_quota_are_never_preempted(shared: Logic) -> None:
    research_borrowing_everything(shared)
    run(shared, job("prod-big", "prod", gpus=2))
    preempted = {f"research-{i}" for i in range(4) if shared.record(f"research-{i}").preempted_by}
    assert preempted == {"research-2", "research-3"}  # the two started last borrow


def test_a_younger_job_within_its_quota_is_passed_over_for_an_older_borrower(
    shared: Logic,
) -> None:
    run(shared, job("dev-0", "dev"))  # no quota: it borrows
    run(shared, job("research-0", "research"), job("research-1", "research"))
    run(shared, job("prod-0", "prod"), job("prod-1", "prod"))
    assert shared.record("dev-0").preempted_by == "prod-1"
    assert shared.record("research-1").preempted_by is None


def test_a_job_that_would_borrow_preempts_nobody(shared: Logic) -> None:
    research_borrowing_everything(shared)
    run(shared, job("prod-huge", "prod", gpus=3))  # beyond prod's quota of 2: it would borrow
    assert all(shared.record(f"research-{i}").preempted_by is None for i in range(4))
    assert shared.record("prod-huge").status == "Queued"


def test_borrowing_never_takes_room_owed_to_a_share_waiting_within_its_quota(
    shared: Logic,
) -> None:
    run(shared, job("research-0", "research"), job("research-1", "research"))
    run(shared, job("prod-big", "prod", gpus=2), job("prod-more", "prod", gpus=1))
    shared.sagemaker.complete("TrainingJob", "prod-big")  # frees 2 GPUs
    shared.reconciler.on_state_change("TrainingJob", shared.sagemaker.event("prod-big"))
    run(shared, job("research-2", "research", priority=9))
    # prod-more is within prod's quota: the freed room is its, whatever research's priority.
    assert shared.record("prod-more").status == "InProgress"


def test_a_non_preemptible_job_runs_only_within_its_quota(shared: Logic) -> None:
    run(shared, job("research-0", "research"), job("research-1", "research"))
    run(shared, job("research-pinned", "research", preemptible=False))
    waiting = shared.record("research-pinned")
    assert waiting.status == "Queued"
    assert "runs only within its quota" in (waiting.waiting_for or "")
    run(shared, job("research-free", "research"))
    assert shared.record("research-free").status == "InProgress"  # a preemptible one borrows


def test_a_reserving_share_lends_nothing(logic: Logic) -> None:
    logic.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4",
        JOBS_QUEUE_URL=QUEUE,
        SHARE_QUOTAS=QUOTAS,
        SHARE_SHARING="prod=reserve",
    )
    research_two = [job(f"research-{i}", "research") for i in range(3)]
    run(logic, *research_two)
    assert logic.record("research-2").status == "Queued"
    assert "guaranteed to other shares (prod)" in (logic.record("research-2").waiting_for or "")


def test_a_lending_share_does_not_borrow(logic: Logic) -> None:
    logic.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4",
        JOBS_QUEUE_URL=QUEUE,
        SHARE_QUOTAS=QUOTAS,
        SHARE_SHARING="prod=lend",
    )
    run(logic, *(job(f"prod-{i}", "prod") for i in range(3)))
    assert logic.record("prod-2").status == "Queued"
    assert "does not borrow (lend)" in (logic.record("prod-2").waiting_for or "")


# -- choosing victims ----------------------------------------------------------------------


def test_a_job_that_resumes_from_checkpoints_is_preempted_before_a_younger_one(
    shared: Logic,
) -> None:
    resumes = job("research-ckpt", "research")
    resumes["spec"]["CheckpointConfig"] = {"S3Uri": "s3://bucket/checkpoints/research-ckpt"}
    run(shared, job("research-0", "research"), job("research-1", "research"))
    run(shared, resumes, job("research-young", "research"))  # both borrow
    run(shared, job("prod-0", "prod"))
    assert shared.record("research-ckpt").preempted_by == "prod-0"
    assert shared.record("research-young").preempted_by is None
    stopped(shared, "research-ckpt")
    requeued = shared.record("research-ckpt")
    assert requeued.request_body is not None
    spec = json.loads(unpack_request(requeued.request_body))["spec"]
    assert spec["CheckpointConfig"] == resumes["spec"]["CheckpointConfig"]  # it resumes


def test_victims_prefer_checkpoints_then_the_most_recently_started() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    holders = {
        "old": Holding(1, "research", since=start),
        "young": Holding(1, "research", since=start + timedelta(hours=1)),
        "resumes": Holding(1, "research", since=start, checkpoint=True),
    }
    assert victims(holders, holders, 1) == ["resumes"]
    assert victims(holders, ["old", "young"], 1) == ["young"]
    assert victims(holders, holders, 2) == ["resumes", "young"]
    assert victims(holders, ["old"], 2) is None


def test_victims_are_as_few_as_free_the_room() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    holders = {
        "small": Holding(1, "research", since=start + timedelta(hours=2)),
        "large": Holding(4, "research", since=start + timedelta(hours=1)),
    }
    assert victims(holders, holders, 4) == ["large"]  # the small one is not needed after all


def test_the_jobs_beyond_a_shares_quota_are_those_started_last() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    holders = {
        f"r{i}": Holding(1, "research", since=start + timedelta(minutes=i)) for i in range(4)
    }
    assert borrowers(holders, Quotas({"research": {GPU: 2}}), GPU) == {"r2", "r3"}


# -- bounded churn, one notice, usage -----------------------------------------------------


def test_a_job_preempted_max_preemptions_times_runs_only_within_quotas(logic: Logic) -> None:
    logic.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4",
        JOBS_QUEUE_URL=QUEUE,
        SHARE_QUOTAS=QUOTAS,
        MAX_PREEMPTIONS="1",
    )
    research_borrowing_everything(logic)
    run(logic, job("prod-0", "prod"))
    stopped(logic, "research-3")
    victim = logic.record("research-3")
    assert victim.preemptions == 1
    assert "runs only within its quota" in (victim.waiting_for or "")


def test_a_preempted_job_is_announced_once_when_its_last_try_settles_with_every_try_counted(
    shared: Logic,
) -> None:
    research_borrowing_everything(shared)
    run(shared, job("prod-0", "prod"))
    shared.sagemaker.set_state("TrainingJob", "research-3", "Stopped", "Stopped", None, **used(600))
    shared.reconciler.on_state_change("TrainingJob", shared.sagemaker.event("research-3"))
    shared.deliver_wakeups()
    finish(shared, "prod-0")
    shared.deliver_wakeups()
    again = shared.record("research-3")
    assert (again.status, again.attempt) == ("InProgress", 2)
    shared.sagemaker.complete("TrainingJob", again.sagemaker_name, **used(1800))
    shared.reconciler.on_state_change("TrainingJob", shared.sagemaker.event(again.sagemaker_name))
    (notice,) = [n for n in shared.notices.published if n.job_name == "research-3"]
    assert (notice.status, notice.attempts) == ("Completed", 2)
    assert notice.usage is not None
    assert notice.usage.billable_seconds == 2400  # the preempted try's time counts too


def test_a_stop_that_failed_is_repeated_by_the_sweep(shared: Logic) -> None:
    research_borrowing_everything(shared)
    shared.sagemaker.fail_next("stop_job", RetryableError("throttled"))
    run(shared, job("prod-0", "prod"))
    assert shared.sagemaker.status("TrainingJob", "research-3") == "InProgress"
    shared.clock.advance(600)
    shared.sweep()
    assert shared.sagemaker.status("TrainingJob", "research-3") == "Stopping"


def test_a_users_stop_of_a_job_being_preempted_ends_it(shared: Logic) -> None:
    research_borrowing_everything(shared)
    run(shared, job("prod-0", "prod"))
    shared.handle(
        {
            "job_type": "TrainingJob",
            "action": "stop",
            "job_name": "research-3",
            "request_id": "stop-r3",
        }
    )
    stopped(shared, "research-3")
    assert shared.record("research-3").status == "Stopped"
    assert [n.status for n in shared.notices.published if n.job_name == "research-3"] == ["Stopped"]


# -- settings and requests -------------------------------------------------------------------


def test_quotas_of_a_type_may_not_add_up_to_more_than_its_budget() -> None:
    with pytest.raises(
        SettingsError, match=f"{GPU}: quotas add up to 5, more than its budget of 4"
    ):
        Settings.from_environ(
            {
                **ENVIRONMENT,
                "INSTANCE_TYPE_BUDGETS": f"{GPU}=4",
                "JOBS_QUEUE_URL": QUEUE,
                "SHARE_QUOTAS": f"prod:{GPU}=3,research:{GPU}=2",
            }
        )


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("SHARE_QUOTAS", f"prod{GPU}=2", "expected share:instance_type=count"),
        ("SHARE_QUOTAS", f"prod:{GPU}=two", "SHARE_QUOTAS .*expected name=count"),
        ("SHARE_SHARING", "prod=share_everything", "SHARE_SHARING.prod"),
        ("MAX_PREEMPTIONS", "-1", "MAX_PREEMPTIONS"),
    ],
)
def test_quota_settings_that_do_not_parse_are_refused_naming_the_problem(
    setting: str, value: str, message: str
) -> None:
    environment = {**ENVIRONMENT, "INSTANCE_TYPE_BUDGETS": f"{GPU}=4", "JOBS_QUEUE_URL": QUEUE}
    with pytest.raises(SettingsError, match=message):
        Settings.from_environ({**environment, setting: value})


@pytest.mark.parametrize("value", [None, "yes", 1])
def test_preemptible_must_be_a_boolean(value: Any) -> None:
    body = job("any", "prod") | {"preemptible": value}
    with pytest.raises(InvalidRequest, match="preemptible"):
        parse_request(json.dumps(body))


@pytest.mark.parametrize("within_share", [True, False])
def test_a_job_preempts_a_lower_priority_job_of_its_own_share_only_when_allowed(
    logic: Logic, within_share: bool
) -> None:
    logic.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4",
        JOBS_QUEUE_URL=QUEUE,
        SHARE_QUOTAS=QUOTAS,
        PREEMPT_WITHIN_SHARE=str(within_share).lower(),
    )
    run(logic, job("prod-low", "prod"), job("prod-pinned", "prod", preemptible=False))
    run(logic, job("research-0", "research"), job("research-1", "research"))
    run(logic, job("prod-urgent", "prod", priority=5))
    assert logic.record("prod-pinned").preempted_by is None  # never a non-preemptible job
    assert logic.record("prod-low").preempted_by == ("prod-urgent" if within_share else None)
    assert logic.record("research-1").preempted_by is None


def test_a_job_behind_its_shares_head_preempts_for_its_own_quota_room_at_once(
    shared: Logic,
) -> None:
    research_borrowing_everything(shared)
    run(shared, job("prod-0", "prod"))
    assert shared.record("research-3").preempted_by == "prod-0"
    run(shared, job("prod-1", "prod"))  # research-3's room is prod-0's: it preempts another
    assert shared.record("research-2").preempted_by == "prod-1"


def test_a_preempted_job_waits_again_without_preempting_back(shared: Logic) -> None:
    """No loop: research's requeued job would borrow, so it preempts nobody; it waits for
    room prod's quota does not guarantee."""
    research_borrowing_everything(shared)
    run(shared, job("prod-0", "prod"), job("prod-1", "prod"))
    stopped(shared, "research-3")
    stopped(shared, "research-2")
    assert {shared.record(n).status for n in ("prod-0", "prod-1")} == {"InProgress"}
    for name in ("research-2", "research-3"):
        requeued = shared.record(name)
        assert requeued.status == "Queued"
        assert requeued.waiting_for is not None
    assert all(r.preempted_by is None for r in shared.ledger.records.values() if r.share == "prod")
