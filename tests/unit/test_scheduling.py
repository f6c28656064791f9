"""The scheduling rules (docs/contract.md §8), with no ports at all: which budgets a job
needs, and the order waiting jobs are admitted in."""

from __future__ import annotations

from collections.abc import Mapping

from jobctl.logic.scheduling import (
    OVERALL,
    Budgets,
    Candidate,
    Place,
    Usage,
    admission_order,
    instances_of,
    plan,
    share_key,
)

GPU = "ml.p4d.24xlarge"


def waiting(
    name: str,
    priority: int = 0,
    share: str = "default",
    gpus: int = 1,
    since: str = "2026-12-01T00:00:00.000Z",
) -> Candidate:
    return Candidate((name, "TrainingJob"), priority, share, {GPU: gpus} if gpus else {}, since)


def at(second: int) -> str:
    return f"2026-12-01T00:00:{second:02d}.000Z"


def admitted(places: list[Place]) -> list[str]:
    return [p.candidate.key[0] for p in places if p.admit]


def order(places: list[Place]) -> list[str]:
    return [p.candidate.key[0] for p in places]


def gpu_budget(limit: int = 8, **weights: float) -> Budgets:
    return Budgets(instance_types={GPU: limit}, share_weights=weights)


def in_use(units: int, by_share: Mapping[str, int] | None = None) -> dict[str, Usage]:
    return {GPU: Usage(units, by_share or {"default": units})}


def test_a_job_counts_every_instance_it_runs_on_as_sagemakers_quotas_do() -> None:
    params = {
        "ResourceConfig": {
            "InstanceType": GPU,
            "InstanceCount": 2,
            "InstanceGroups": [
                {"InstanceType": GPU, "InstanceCount": 4, "InstanceGroupName": "a"},
                {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "InstanceGroupName": "b"},
            ],
        }
    }
    assert instances_of(params) == {GPU: 6, "ml.c5.xlarge": 1}


def test_an_automl_job_runs_on_no_instances_it_names_so_it_counts_as_one_job() -> None:
    automl = instances_of({"ProblemType": "BinaryClassification"})
    budgets = Budgets(overall=3, instance_types={GPU: 1})
    assert budgets.needs(automl, "default") == {OVERALL: 1}


def test_a_job_needs_room_in_the_overall_budget_its_types_and_its_shares_limit() -> None:
    budgets = Budgets(overall=10, instance_types={GPU: 8}, share_limits={"research": 2})
    needs = budgets.needs({GPU: 4, "ml.m5.xlarge": 1}, "research")
    assert needs == {OVERALL: 1, GPU: 4, share_key("research"): 1}
    assert budgets.needs({GPU: 4}, "prod") == {OVERALL: 1, GPU: 4}


def test_a_job_larger_than_its_budget_could_never_start() -> None:
    assert gpu_budget(8).never_fits({GPU: 9}, "default") == [
        f"spec.ResourceConfig: needs 9 {GPU} instances; its budget allows 8 at once"
    ]
    assert gpu_budget(8).never_fits({GPU: 8}, "default") == []


def test_higher_priority_is_admitted_first() -> None:
    places = plan(
        [waiting("low", 0, since=at(1)), waiting("high", 100, since=at(2))],
        in_use(7),
        gpu_budget(8),
    )
    assert admitted(places) == ["high"]
    assert order(places) == ["high", "low"]


def test_among_equal_priorities_the_share_using_least_for_its_weight_goes_first() -> None:
    # research holds 4 of 8 at weight 2 (load 0.25); prod holds 2 at weight 1 (load 0.25);
    # batch holds 1 at weight 1 (load 0.125): batch first, then the oldest of the others.
    usage = in_use(7, {"research": 4, "prod": 2, "batch": 1})
    places = plan(
        [
            waiting("prod-1", share="prod", since=at(1)),
            waiting("research-1", share="research", since=at(2)),
            waiting("batch-1", share="batch", since=at(3)),
        ],
        usage,
        gpu_budget(8, research=2),
    )
    assert order(places) == ["batch-1", "prod-1", "research-1"]
    assert admitted(places) == ["batch-1"]


def test_among_equal_priority_and_use_the_oldest_request_goes_first() -> None:
    places = plan(
        [waiting("newer", since=at(5)), waiting("older", since=at(1))], in_use(7), gpu_budget()
    )
    assert admitted(places) == ["older"]


def test_what_a_pass_admits_counts_toward_the_shares_use_within_the_same_pass() -> None:
    places = plan(
        [
            waiting("a-1", share="a", since=at(1)),
            waiting("a-2", share="a", since=at(2)),
            waiting("b-1", share="b", since=at(3)),
        ],
        in_use(0, {}),
        gpu_budget(2),
    )
    assert admitted(places) == ["a-1", "b-1"]


def test_a_job_at_its_shares_limit_does_not_hold_back_other_shares() -> None:
    budgets = Budgets(instance_types={GPU: 8}, share_limits={"research": 1})
    usage = {GPU: Usage(1, {"research": 1}), share_key("research"): Usage(1, {"research": 1})}
    places = plan(
        [
            waiting("research-2", 100, "research", since=at(1)),
            waiting("prod-1", 0, "prod", since=at(2)),
        ],
        usage,
        budgets,
    )
    assert admitted(places) == ["prod-1"]
    (research,) = [p for p in places if not p.admit]
    assert (
        research.waits_for == "waiting for capacity (share research: 1 of its limit of 1 running)"
    )


def test_a_job_that_does_not_fit_holds_its_budget_back_from_lower_priorities() -> None:
    places = plan(
        [waiting("big-urgent", 100, gpus=4, since=at(1)), waiting("small", 0, gpus=1, since=at(2))],
        in_use(6),
        gpu_budget(8),
    )
    assert admitted(places) == []
    small = places[1]
    assert small.waits_for == f"waiting for capacity ({GPU}: held for jobs of higher priority)"


def test_a_job_of_the_same_priority_may_use_room_a_larger_one_cannot() -> None:
    places = plan(
        [waiting("big", 50, gpus=4, since=at(1)), waiting("small", 50, gpus=2, since=at(2))],
        in_use(6),
        gpu_budget(8),
    )
    assert admitted(places) == ["small"]
    assert places[0].waits_for == f"waiting for capacity ({GPU}: 6 of 8 instances in use, needs 4)"


def test_budgets_of_other_instance_types_are_not_held_back() -> None:
    budgets = Budgets(instance_types={GPU: 8, "ml.g5.xlarge": 4})
    cpu_job = Candidate(("g5", "TrainingJob"), 0, "default", {"ml.g5.xlarge": 1}, at(2))
    places = plan([waiting("big-urgent", 100, gpus=4, since=at(1)), cpu_job], in_use(6), budgets)
    assert admitted(places) == ["g5"]


def test_the_queue_counts_the_jobs_ahead_that_want_the_same_budget() -> None:
    budgets = Budgets(instance_types={GPU: 1, "ml.g5.xlarge": 1})
    other = Candidate(("g5", "TrainingJob"), 0, "default", {"ml.g5.xlarge": 1}, at(1))
    usage = {GPU: Usage(1, {"default": 1}), "ml.g5.xlarge": Usage(1, {"default": 1})}
    places = plan(
        [waiting("first", since=at(2)), other, waiting("second", since=at(3))], usage, budgets
    )
    ahead = {p.candidate.key[0]: p.ahead for p in places}
    assert ahead == {"first": 0, "g5": 0, "second": 1}


def test_with_no_budget_that_applies_every_job_is_admitted() -> None:
    places = plan([waiting(f"job-{n}") for n in range(5)], {}, Budgets(overall=0))
    assert len(admitted(places)) == 5


# -- the order of admission as room frees (jobctl queue) ----------------------------------


def fair_share_queue() -> list[Candidate]:
    """Six 1-GPU jobs waiting: research's two oldest, prod's three, and a research job of
    higher priority, the newest."""
    return [
        waiting("r1", share="research", since=at(1)),
        waiting("r2", share="research", since=at(2)),
        waiting("p1", share="prod", since=at(3)),
        waiting("p2", share="prod", since=at(4)),
        waiting("p3", share="prod", since=at(5)),
        waiting("urgent", 5, share="research", since=at(6)),
    ]


def test_the_order_of_admission_counts_each_job_before_it_in_its_shares_use() -> None:
    # 6 GPUs, all taken by a share with nothing waiting; prod weighs 3. Once urgent
    # (research) runs, research uses 1/6: prod's jobs go first until prod's use for its
    # weight (3/6 / 3) equals research's, then the oldest, r1.
    budgets = gpu_budget(6, prod=3)
    usage = in_use(6, {"batch": 6})
    expected = ["urgent", "p1", "p2", "p3", "r1", "r2"]
    assert order(admission_order(fair_share_queue(), usage, budgets)) == expected
    # One plan alone does not see its own admissions' use: it ranks by the use of now.
    assert order(plan(fair_share_queue(), usage, budgets)) != expected


def test_the_order_of_admission_starts_with_the_jobs_there_is_room_for_now() -> None:
    places = admission_order(
        [waiting("big-urgent", 100, gpus=4, since=at(1)), waiting("small", 100, since=at(2))],
        in_use(6),
        gpu_budget(8),
    )
    assert [(p.candidate.key[0], p.admit, p.ahead) for p in places] == [
        ("small", True, 0),
        ("big-urgent", False, 0),
    ]
    assert places[1].waits_for == f"waiting for capacity ({GPU}: 6 of 8 instances in use, needs 4)"


def test_the_order_of_admission_counts_the_jobs_ahead_in_that_order() -> None:
    budgets = gpu_budget(6, prod=3)
    places = admission_order(fair_share_queue(), in_use(6, {"batch": 6}), budgets)
    assert [p.ahead for p in places] == [0, 1, 2, 3, 4, 5]


def test_a_budget_lowered_to_zero_keeps_its_jobs_waiting_and_others_running() -> None:
    # Fault 3 of issue 16: a waiting job whose budget became 0 broke every pass.
    budgets = Budgets(instance_types={GPU: 0, "ml.m5.xlarge": 4}, share_weights={"a": 2})
    cpu_job = Candidate(("cpu", "TrainingJob"), 0, "a", {"ml.m5.xlarge": 1}, at(2))
    places = plan(
        [waiting("gpu", 0, share="a", gpus=1, since=at(1)), cpu_job],
        {GPU: Usage(0, {}), "ml.m5.xlarge": Usage(0, {})},
        budgets,
    )
    assert admitted(places) == ["cpu"]
    assert places[0].waits_for == f"waiting for capacity ({GPU}: 0 of 0 instances in use, needs 1)"
