"""bench.scheduling's measures, on hand-made timelines: what each counts, and what not."""

from __future__ import annotations

from bench.scheduling import (
    Span,
    held_for_larger,
    idle_causes,
    priority_inversions,
    share_usage,
    slot_idle,
    utilisation_percent,
)


def span(
    name: str,
    arrived: float,
    admitted: float | None,
    ended: float | None,
    units: int = 1,
    priority: int = 0,
    share: str = "a",
    created: float | None = None,
) -> Span:
    """A job recorded at ``arrived``, admitted at ``admitted`` and created a second later
    (unless ``created`` says when), ended at ``ended``."""
    if created is None and admitted is not None:
        created = admitted + 1
    return Span(name, priority, share, units, arrived, admitted, created, ended)


def test_a_slot_freed_while_a_job_waits_is_idle_until_the_create_that_takes_it() -> None:
    spans = [
        span("running", 0, 0, ended=100, units=2),
        span("waiting", 10, admitted=105, created=106, ended=200),
    ]
    idle = slot_idle(spans, budget=2)
    # Two slots freed at 100 while "waiting" waited; its create at 106 took one. The other
    # was still free when nothing waited any more: no waiting job wanted it.
    assert [(i.freed_at, i.seconds) for i in idle] == [(100, 6)]


def test_slots_freed_while_nothing_waits_are_not_counted() -> None:
    spans = [
        span("first", 0, 0, ended=100),
        span("later", 150, 150, ended=300),  # arrives after the slot freed, fits at once
    ]
    assert slot_idle(spans, budget=1) == []


def test_a_create_takes_the_slot_free_longest() -> None:
    spans = [
        span("a", 0, 0, ended=100),
        span("b", 0, 0, ended=130),
        span("big", 10, admitted=135, created=140, ended=500, units=2),
    ]
    idle = slot_idle(spans, budget=2)
    assert sorted(i.seconds for i in idle) == [10, 40]


def test_admitting_a_lower_priority_job_while_a_higher_one_fits_is_an_inversion() -> None:
    spans = [
        span("running", 0, 0, ended=500, units=2),
        span("low", 5, admitted=20, ended=600, units=2, priority=0),
        span("high", 10, admitted=600, ended=900, units=2, priority=100),
    ]
    [inversion] = priority_inversions(spans, budget=4)
    assert inversion == {"at": 20, "admitted": "low", "passed_over": "high"}


def test_a_higher_priority_job_too_large_for_the_room_is_no_inversion() -> None:
    spans = [
        span("running", 0, 0, ended=500, units=2),
        span("low", 5, admitted=20, ended=600, units=2, priority=0),
        span("high", 10, admitted=600, ended=900, units=3, priority=100),
    ]
    assert priority_inversions(spans, budget=4) == []


def test_a_job_that_arrives_after_the_admission_is_no_inversion() -> None:
    spans = [
        span("low", 5, admitted=20, ended=600, priority=0),
        span("high", 30, admitted=600, ended=900, priority=100),
    ]
    assert priority_inversions(spans, budget=4) == []


def test_share_deviation_compares_instance_hours_with_the_weights_while_all_wait() -> None:
    weights = {"a": 1.0, "b": 3.0}
    spans = [
        # Each share runs 2 instances from 0 to 100 and has a job waiting all that time.
        span("a-run", 0, 0, ended=101, units=2, share="a", created=1),
        span("b-run", 0, 0, ended=101, units=2, share="b", created=1),
        span("a-wait", 0, admitted=101, ended=200, share="a"),
        span("b-wait", 0, admitted=101, ended=200, share="b"),
    ]
    usage = share_usage(spans, weights)
    assert usage["shares"]["a"]["part"] == 0.5
    assert usage["shares"]["a"]["fair_part"] == 0.25
    assert usage["deviation_percent"] == 100.0  # (0.5 - 0.25) / 0.25
    assert usage["backlogged_hours"] == round(101 / 3600, 2)


def test_shares_count_as_backlogged_only_at_the_top_waiting_priority() -> None:
    weights = {"a": 1.0, "b": 1.0}
    spans = [
        span("a-run", 0, 0, ended=100, share="a", created=0),
        span("a-urgent", 0, admitted=100, ended=200, share="a", priority=100),
        span("b-later", 0, admitted=100, ended=200, share="b", priority=0),
    ]
    # b waits only behind a's more urgent job: the shares do not compete, nothing is measured.
    assert share_usage(spans, weights)["backlogged_hours"] == 0


def test_utilisation_counts_only_the_time_work_waits() -> None:
    spans = [
        span("running", 0, 0, ended=200, units=2, created=0),
        span("waiting", 0, admitted=99, created=100, ended=300, units=2),
    ]
    percent, hours = utilisation_percent(spans, budget=4)
    assert percent == 50.0  # 2 of 4 instances during the 100 s "waiting" waited
    assert hours == round(100 / 3600, 2)


def test_room_kept_for_a_larger_job_of_the_top_priority_is_told_apart() -> None:
    spans = [
        span("small-running", 0, 0, ended=100, units=1),
        span("other-running", 0, 0, ended=1000, units=3),
        span("big", 0, admitted=1000, ended=2000, units=4, priority=100),
        span("low", 0, admitted=2000, ended=3000, units=1, priority=0),
    ]
    assert held_for_larger(spans, 4, at=130)
    idle = slot_idle(spans, budget=4)
    causes = idle_causes(spans, 4, idle)
    assert causes["held_for_larger_jobs_of_the_top_priority"] >= 1
    assert causes["other"] == 0
