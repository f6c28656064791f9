"""The waiting room (docs/contract.md §8) on in-memory fakes: jobs wait in the ledger, and a
freed slot goes to the next waiting job in the same invocation that freed it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from jobctl.errors import RetryableError
from jobctl.logic import admission
from jobctl.logic.admission import Admission
from jobctl.logic.fair_share import BudgetItem, fair_use
from jobctl.logic.submission import submit
from jobctl.logic.submission.reject import UNKNOWN_JOB
from jobctl.logic.submission.update import not_waiting
from jobctl.models.jobs import Waiting
from tests.support.environment import MAX_RECEIVE_COUNT
from tests.support.fakes import BAD_IMAGE, THROTTLED
from tests.support.requests import request_body
from tests.unit.conftest import Logic

GPU = "ml.p4d.24xlarge"
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/jobctl-jobs"


def gpu_job(name: str, gpus: int = 1, priority: int | None = None, **fields: Any) -> dict[str, Any]:
    body = request_body(job_name=name, request_id=name, **fields)
    body["spec"]["ResourceConfig"] = {
        **body["spec"]["ResourceConfig"],
        "InstanceType": GPU,
        "InstanceCount": gpus,
    }
    if priority is not None:
        body["priority"] = priority
    return body


def update(name: str, priority: int, request_id: str | None = None) -> dict[str, Any]:
    return {
        "job_type": "TrainingJob",
        "action": "update",
        "job_name": name,
        "request_id": request_id or f"{name}-priority-{priority}",
        "priority": priority,
    }


@pytest.fixture
def budgeted(logic: Logic) -> Logic:
    """A budget of 4 GPU instances."""
    logic.reconfigure(INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=QUEUE)
    return logic


def finish(logic: Logic, name: str) -> None:
    """The job completes in SageMaker and its event reaches the reconciler."""
    logic.sagemaker.complete("TrainingJob", name)
    logic.reconciler.on_state_change("TrainingJob", logic.sagemaker.event(name))


def statuses(logic: Logic, names: Iterable[str]) -> dict[str, str]:
    return {name: logic.record(name).status for name in names}


def test_a_job_over_budget_waits_queued_naming_the_full_budget(budgeted: Logic) -> None:
    assert budgeted.handle(gpu_job("big", gpus=4)).status == "InProgress"
    assert budgeted.handle(gpu_job("next")).status == "Queued"
    waiting = budgeted.record("next")
    assert waiting.waiting_for == f"waiting for capacity ({GPU}: 4 of 4 instances in use, needs 1)"
    assert budgeted.sagemaker.calls["create_job"] == 1
    assert budgeted.notices.published == []


def test_a_settled_job_admits_the_next_waiting_job_in_the_same_invocation(
    budgeted: Logic,
) -> None:
    budgeted.handle(gpu_job("big", gpus=4))
    budgeted.handle(gpu_job("next"))
    finish(budgeted, "big")
    record = budgeted.record("next")
    assert (record.waiting, record.holds) == (False, {GPU: 1})
    assert len(budgeted.wakeup.sent) == 1  # its request goes back on the queue, at once
    assert [o.status for o in budgeted.deliver_wakeups()] == ["InProgress"]
    assert budgeted.record("next").request_body is None  # kept no longer than needed


def test_instances_are_counted_not_jobs(budgeted: Logic) -> None:
    outcomes = [
        budgeted.handle(gpu_job(name, gpus)).status
        for name, gpus in [("three", 3), ("two", 2), ("one", 1)]
    ]
    assert outcomes == ["InProgress", "Queued", "InProgress"]
    assert budgeted.capacity.in_use(GPU) == 4


def test_waiting_jobs_start_by_priority_then_age(budgeted: Logic) -> None:
    budgeted.handle(gpu_job("running", gpus=4))
    waiting = {"low": 0, "high": 100, "mid": 50, "high-later": 100}
    for name, priority in waiting.items():
        budgeted.clock.advance(1)
        budgeted.handle(gpu_job(name, gpus=4, priority=priority))
    started, last = [], "running"
    for _ in waiting:
        finish(budgeted, last)
        budgeted.deliver_wakeups()
        (last,) = [
            n for n in waiting if n not in started and statuses(budgeted, [n])[n] != "Queued"
        ]
        started.append(last)
    assert started == ["high", "high-later", "mid", "low"]


def test_among_equal_priorities_the_share_using_least_for_its_weight_starts_first(
    logic: Logic,
) -> None:
    logic.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=6", SHARE_WEIGHTS="research=3", JOBS_QUEUE_URL=QUEUE
    )
    for name, share in [("research-1", "research"), ("prod-1", "prod"), ("prod-x", "prod")]:
        logic.handle(gpu_job(name, gpus=2, share=share))
    logic.handle(gpu_job("prod-2", gpus=2, share="prod"))
    logic.clock.advance(1)
    logic.handle(gpu_job("research-2", gpus=2, share="research"))
    finish(logic, "prod-x")
    logic.deliver_wakeups()
    # Each now uses 2 of 6; research weighs 3, so its use for its weight is the lower,
    # and its job starts though prod's waited longer.
    assert statuses(logic, ["research-2", "prod-2"]) == {
        "research-2": "InProgress",
        "prod-2": "Queued",
    }


def test_a_job_at_its_shares_limit_does_not_hold_back_other_shares(logic: Logic) -> None:
    logic.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=8", SHARE_LIMITS="research=1", JOBS_QUEUE_URL=QUEUE
    )
    logic.handle(gpu_job("research-1", share="research"))
    assert logic.handle(gpu_job("research-2", priority=100, share="research")).status == "Queued"
    assert logic.handle(gpu_job("prod-1", share="prod")).status == "InProgress"
    assert logic.record("research-2").waiting_for == (
        "waiting for capacity (share research: 1 of its limit of 1 running)"
    )


def runs_for(body: dict[str, Any], seconds: int) -> dict[str, Any]:
    body["spec"]["StoppingCondition"] = {"MaxRuntimeInSeconds": seconds}
    return body


def test_a_job_that_would_delay_a_reservation_waits_and_one_that_ends_before_it_starts(
    budgeted: Logic,
) -> None:
    budgeted.handle(runs_for(gpu_job("running", gpus=2), 3600))
    budgeted.handle(runs_for(gpu_job("urgent-big", gpus=4, priority=100), 3600))
    reserved = budgeted.record("urgent-big")
    assert reserved.expected_start is not None  # when "running" ends at the latest
    assert budgeted.handle(runs_for(gpu_job("long", gpus=1), 7200)).status == "Queued"
    assert "room reserved for a job before it" in (budgeted.record("long").waiting_for or "")
    assert budgeted.handle(runs_for(gpu_job("short", gpus=1), 600)).status == "InProgress"


def test_a_job_larger_than_its_budget_is_rejected_not_left_waiting(budgeted: Logic) -> None:
    assert budgeted.handle(gpu_job("huge", gpus=5)).status == "Rejected"
    assert budgeted.record("huge").failure_reason == (
        f"spec.ResourceConfig: needs 5 {GPU} instances; its budget allows 4 at once"
    )


def test_waiting_never_fails_a_delivery_so_never_reaches_the_dlq(budgeted: Logic) -> None:
    budgeted.handle(gpu_job("big", gpus=4))
    for receive in range(1, MAX_RECEIVE_COUNT * 2):
        assert budgeted.handle(gpu_job("next"), receive_count=receive).status == "Queued"
    assert budgeted.record("next").status == "Queued"
    assert budgeted.wakeup.sent == []


def test_an_update_changes_a_waiting_jobs_priority_and_it_starts_first(budgeted: Logic) -> None:
    budgeted.handle(gpu_job("running", gpus=4))
    budgeted.handle(gpu_job("first", gpus=4))
    budgeted.clock.advance(1)
    budgeted.handle(gpu_job("second", gpus=4))
    assert budgeted.handle(update("second", 10)).status == "Queued"
    assert budgeted.record("second").priority == 10
    finish(budgeted, "running")
    budgeted.deliver_wakeups()
    assert statuses(budgeted, ["first", "second"]) == {"first": "Queued", "second": "InProgress"}


def test_an_update_of_a_running_job_is_rejected_and_changes_nothing(budgeted: Logic) -> None:
    budgeted.handle(gpu_job("running"))
    outcome = budgeted.handle(update("running", 99), message_id="m-9")
    assert (outcome.job_name, outcome.status) == ("rejected-m-9", "Rejected")
    assert budgeted.record("rejected-m-9").failure_reason == not_waiting("InProgress")
    assert budgeted.record("running").priority == 0
    assert budgeted.notices.statuses("rejected-m-9") == ["Rejected"]


def test_an_update_of_an_unknown_job_is_rejected(budgeted: Logic) -> None:
    assert budgeted.handle(update("nobody", 5)).status == "Rejected"
    assert budgeted.record("nobody").failure_reason == UNKNOWN_JOB


def test_a_stopped_waiting_job_leaves_the_waiting_room_and_is_never_created(
    budgeted: Logic,
) -> None:
    budgeted.handle(gpu_job("big", gpus=4))
    budgeted.handle(gpu_job("next"))
    assert budgeted.record("next").waiting_for
    stop = {"job_type": "TrainingJob", "action": "stop", "job_name": "next"}
    assert budgeted.handle(stop).status == "Stopped"
    assert budgeted.record("next").waiting_for is None  # it waits for nothing now
    finish(budgeted, "big")
    assert budgeted.deliver_wakeups() == []
    assert ("TrainingJob", "next") not in budgeted.sagemaker.answers
    assert budgeted.notices.statuses("next") == ["Stopped"]


def test_a_job_stopped_after_admission_gives_its_room_to_the_next(budgeted: Logic) -> None:
    budgeted.handle(gpu_job("big", gpus=4))
    budgeted.handle(gpu_job("admitted", gpus=4))
    budgeted.clock.advance(1)
    budgeted.handle(gpu_job("after", gpus=4))
    finish(budgeted, "big")  # "admitted" holds the room; its wake-up is on the queue
    budgeted.handle({"job_type": "TrainingJob", "action": "stop", "job_name": "admitted"})
    budgeted.deliver_wakeups()
    assert statuses(budgeted, ["admitted", "after"]) == {
        "admitted": "Stopped",
        "after": "InProgress",
    }
    assert budgeted.capacity.in_use(GPU) == 4


def test_a_transient_create_failure_keeps_the_jobs_room_for_its_retry(budgeted: Logic) -> None:
    budgeted.sagemaker.fail_next("create_job", THROTTLED)
    with pytest.raises(RetryableError):
        budgeted.handle(gpu_job("big", gpus=4))
    assert budgeted.handle(gpu_job("other")).status == "Queued"
    assert budgeted.handle(gpu_job("big", gpus=4), receive_count=2).status == "InProgress"


def test_a_job_sagemaker_refuses_gives_its_room_to_the_next(budgeted: Logic) -> None:
    budgeted.handle(gpu_job("big", gpus=4))
    budgeted.handle(gpu_job("bad", gpus=4))
    budgeted.sagemaker.fail_next("create_job", BAD_IMAGE)
    budgeted.clock.advance(1)
    budgeted.handle(gpu_job("good", gpus=4))
    finish(budgeted, "big")
    budgeted.deliver_wakeups()  # "bad" is refused; "good" is woken and starts
    budgeted.deliver_wakeups()
    assert statuses(budgeted, ["bad", "good"]) == {"bad": "Rejected", "good": "InProgress"}


def test_the_submitter_admits_its_own_job_though_the_index_does_not_show_it_yet(
    budgeted: Logic,
) -> None:
    budgeted.ledger.index_lags = True
    assert budgeted.handle(gpu_job("first")).status == "InProgress"


# -- crash repair, and races -----------------------------------------------------------------


def test_the_sweep_wakes_an_admitted_job_whose_wake_up_was_lost(budgeted: Logic) -> None:
    budgeted.handle(gpu_job("big", gpus=4))
    budgeted.handle(gpu_job("next"))
    finish(budgeted, "big")
    budgeted.wakeup.take()  # the message was lost (or the invocation died before sending)
    assert (
        budgeted.sweep()["repaired"]["wake-ups sent again"] == 0
    )  # too soon: the wake-up may be in flight
    budgeted.clock.advance(180)
    assert budgeted.sweep()["repaired"]["wake-ups sent again"] == 1
    assert [o.status for o in budgeted.deliver_wakeups()] == ["InProgress"]


def test_the_sweep_frees_room_a_settled_job_still_holds_and_admits_the_next(
    budgeted: Logic,
) -> None:
    budgeted.handle(gpu_job("big", gpus=4))
    budgeted.handle(gpu_job("next"))
    # The reconciler died between recording the outcome and freeing the room.
    budgeted.reconciler.admission = None
    finish(budgeted, "big")
    budgeted.reconfigure(INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=QUEUE)
    assert budgeted.capacity.in_use(GPU) == 4
    assert budgeted.sweep()["repaired"]["budgets derived again"] == 1
    assert [o.status for o in budgeted.deliver_wakeups()] == ["InProgress"]


def test_the_sweep_admits_a_waiting_job_nobody_woke(budgeted: Logic) -> None:
    budgeted.handle(gpu_job("big", gpus=4))
    budgeted.handle(gpu_job("next"))
    budgeted.capacity.release("TrainingJob/big", {GPU: 4})  # freed, then the pass died
    budgeted.sweep()
    assert [o.status for o in budgeted.deliver_wakeups()] == ["InProgress"]


class RacingCapacity:
    """The budgets, where a rival pass runs between this pass's reading and its writing."""

    def __init__(self, logic: Logic, rival: Admission) -> None:
        self.inner = logic.capacity
        self.rival: Admission | None = rival

    def items(self, keys: Iterable[str]) -> dict[str, BudgetItem]:
        seen = self.inner.items(keys)
        if self.rival is not None:
            rival, self.rival = self.rival, None
            rival.run()
        return seen

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class LaggingIndex:
    """The ledger as a pass sees it whose read of the waiting room missed some jobs."""

    def __init__(self, logic: Logic, hidden: set[str]) -> None:
        self.inner = logic.ledger
        self.hidden = hidden

    def queue_page(
        self, share: str, limit: int, after: str | None = None
    ) -> tuple[list[Waiting], str | None]:
        page, more = self.inner.queue_page(share, limit, after)
        return [w for w in page if w.job_name not in self.hidden], more

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_two_passes_racing_for_one_slot_admit_one_job(budgeted: Logic) -> None:
    budgeted.handle(gpu_job("big", gpus=4))
    budgeted.handle(gpu_job("a", gpus=4))
    budgeted.clock.advance(1)
    budgeted.handle(gpu_job("b", gpus=4))
    budgeted.capacity.release("TrainingJob/big", {GPU: 4})  # room frees for one of them
    rival = budgeted.reconciler.admission
    assert rival is not None
    # This pass read the budgets before the rival admitted "a", and the waiting room
    # without "a": it plans to admit "b" into the room the rival has just taken.
    late = Admission(
        LaggingIndex(budgeted, {"a"}),
        RacingCapacity(budgeted, rival),
        budgeted.wakeup,
        rival.budgets,
        budgeted.clock.now,
    )
    assert late.run().admitted == []
    assert budgeted.capacity.in_use(GPU) == 4
    assert (budgeted.record("a").holds, budgeted.record("b").waiting) == ({GPU: 4}, True)


def test_a_request_too_large_to_keep_while_waiting_is_rejected_not_lost(
    budgeted: Logic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submit, "MAX_KEPT_REQUEST", 100)
    assert budgeted.handle(gpu_job("long")).status == "Rejected"
    assert budgeted.record("long").failure_reason == submit.TOO_LARGE_TO_WAIT
    assert budgeted.notices.statuses("long") == ["Rejected"]


# -- the waiting room's bounds (docs/contract.md §8) ------------------------------------------


def test_a_request_beyond_max_waiting_jobs_is_rejected_naming_the_limit(budgeted: Logic) -> None:
    budgeted.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=QUEUE, MAX_WAITING_JOBS="2"
    )
    budgeted.handle(gpu_job("running", gpus=4))
    budgeted.handle(gpu_job("w1", gpus=4))
    budgeted.handle(gpu_job("w2", gpus=4))
    outcome = budgeted.handle(gpu_job("w3"), message_id="m-3")
    assert outcome.status == "Rejected"
    rejection = budgeted.record("rejected-m-3")
    assert rejection.failure_reason == (
        "the waiting room is full: 2 jobs wait, at most 2 may (MAX_WAITING_JOBS); "
        "send the request again later"
    )
    assert budgeted.ledger.get("w3", "TrainingJob") is None  # the name stays free
    finish(budgeted, "running")  # w1 is admitted: a place frees
    assert budgeted.handle(gpu_job("w3")).status == "Queued"


def test_a_new_share_beyond_max_waiting_shares_is_rejected_and_known_ones_still_join(
    budgeted: Logic,
) -> None:
    budgeted.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=QUEUE, MAX_WAITING_SHARES="1"
    )
    budgeted.handle(gpu_job("running", gpus=4))
    assert budgeted.handle(gpu_job("a1", share="a")).status == "Queued"
    assert budgeted.handle(gpu_job("a2", share="a")).status == "Queued"
    assert budgeted.handle(gpu_job("b1", share="b"), message_id="m-b").status == "Rejected"
    assert budgeted.record("rejected-m-b").failure_reason == (
        "share b: 1 shares have jobs waiting, at most 1 may (MAX_WAITING_SHARES); "
        "send the request again later"
    )


def test_a_retry_of_an_accepted_job_is_never_refused_by_the_bounds(budgeted: Logic) -> None:
    budgeted.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=QUEUE, MAX_WAITING_JOBS="1"
    )
    retried = {"attempts": 2, "on": ["CapacityError*"]}
    budgeted.handle(gpu_job("flaky", gpus=4, retry=retried))
    budgeted.handle(gpu_job("w1"))  # the room is full now
    reason = "CapacityError: Unable to provision requested ML compute capacity."
    budgeted.sagemaker.set_state("TrainingJob", "flaky", "Failed", "Failed", reason)
    budgeted.reconciler.on_state_change("TrainingJob", budgeted.sagemaker.event("flaky"))
    assert budgeted.record("flaky").attempt == 2
    assert budgeted.record("flaky").status == "Queued"


def test_a_share_not_in_shares_is_rejected_naming_the_known_ones(budgeted: Logic) -> None:
    budgeted.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=QUEUE, SHARES="prod,research"
    )
    assert budgeted.handle(gpu_job("x", share="marketing")).status == "Rejected"
    assert budgeted.record("x").failure_reason == (
        "share: not one of this deployment's shares (prod, research)"
    )
    assert budgeted.handle(gpu_job("y", share="prod")).status == "InProgress"


# -- what a pass reads (docs/contract.md §8, cost) -------------------------------------------


def fill_waiting_room(logic: Logic, jobs: int, shares: int) -> None:
    logic.handle(gpu_job("running", gpus=4))
    for n in range(jobs):
        logic.handle(gpu_job(f"w{n}", share=f"s{n % shares}", priority=n % 100))


def test_a_pass_reads_the_heads_of_the_shares_queues_not_the_whole_room(budgeted: Logic) -> None:
    fill_waiting_room(budgeted, 1000, 100)
    budgeted.ledger.queue_items_read = 0
    finish(budgeted, "running")  # 4 GPUs free: the pass admits 4 one-GPU jobs
    assert len(budgeted.wakeup.take()) == 4
    # One job of each share's queue, and one more page of the shares it admitted from.
    assert budgeted.ledger.queue_items_read <= 100 + 4 * admission.READ_MORE


def test_a_job_that_joins_behind_its_shares_head_and_cannot_start_skips_the_pass(
    budgeted: Logic,
) -> None:
    fill_waiting_room(budgeted, 500, 50)
    budgeted.ledger.queue_items_read = 0
    assert budgeted.handle(gpu_job("late", share="s7")).status == "Queued"
    assert budgeted.ledger.queue_items_read == 1  # its share's head only
    assert budgeted.record("late").waiting_for == (
        f"waiting for capacity ({GPU}: 4 of 4 instances in use, needs 1)"
    )


# -- fair share over time ------------------------------------------------------------------


def test_a_share_that_ran_lately_waits_behind_one_that_did_not_though_neither_runs_now(
    budgeted: Logic,
) -> None:
    budgeted.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=QUEUE, SHARE_HALF_LIFE_SECONDS="3600"
    )
    budgeted.handle(gpu_job("busy-1", gpus=4, share="busy"))
    budgeted.clock.advance(2 * 3600)
    budgeted.handle(gpu_job("busy-2", gpus=4, share="busy"))  # waits, the oldest
    budgeted.clock.advance(1)
    budgeted.handle(gpu_job("idle-1", gpus=4, share="idle"))
    finish(budgeted, "busy-1")  # neither share runs anything now
    budgeted.deliver_wakeups()
    assert budgeted.record("idle-1").status == "InProgress"
    assert budgeted.record("busy-2").status == "Queued"


def test_with_a_half_life_of_zero_only_what_runs_now_counts(budgeted: Logic) -> None:
    budgeted.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=QUEUE, SHARE_HALF_LIFE_SECONDS="0"
    )
    budgeted.handle(gpu_job("busy-1", gpus=4, share="busy"))
    budgeted.clock.advance(2 * 3600)
    budgeted.handle(gpu_job("busy-2", gpus=4, share="busy"))
    budgeted.clock.advance(1)
    budgeted.handle(gpu_job("idle-1", gpus=4, share="idle"))
    finish(budgeted, "busy-1")
    budgeted.deliver_wakeups()
    assert budgeted.record("busy-2").status == "InProgress"  # the oldest, as use is equal


def test_a_settled_jobs_use_is_kept_in_its_shares_past_use_and_fades(budgeted: Logic) -> None:
    budgeted.reconfigure(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=QUEUE, SHARE_HALF_LIFE_SECONDS="3600"
    )
    budgeted.handle(gpu_job("a", gpus=2, share="team"))
    budgeted.clock.advance(3600)
    finish(budgeted, "a")
    (use, _) = budgeted.capacity.past_use[GPU]["team"]
    assert use == pytest.approx(1.0)  # 2 instances for one half-life: half of 2
    budgeted.clock.advance(3600)
    item = budgeted.capacity.items([GPU])[GPU]
    assert fair_use(item, budgeted.clock.now(), 3600)["team"] == pytest.approx(0.5)
