"""Scheduling under contention (docs/contract.md §8; README, Benchmarks), on the simulated
clock.

300 training requests on ``ml.p4d.24xlarge`` (a budget of 8 instances) from three shares
weighted 1:2:3, priorities 0, 50 and 100, 1 to 4 instances and 10 to 60 minutes each
(``MaxRuntimeInSeconds`` 1.2 to 2 times that; seeded), reach the jobs queue over 30
minutes, on the one runtime
(``bench.harness.Scenario``) with ``bench.fakes``' in-process DynamoDB. Measured from the
ledger's and the simulator's times:

- ``slot_idle_seconds``: for each instance freed while a job waits, the seconds until a
  waiting job's create takes it; slower ones told apart by cause (``slot_idle_causes``:
  room held for top-priority jobs that all need more, or anything else); and the p95
  without the slots kept for a reservation whose job started within a minute;
- ``priority_inversions``: admissions while a waiting job of higher priority would fit;
- ``share_deviation_percent``: while all shares wait at the top waiting priority, the
  largest gap between a share's part of the instance-hours and its weight's, relative to
  the latter; over the run and per 6-hour window (where they waited most of it);
- ``utilisation_percent``: the budget's instances running while some job waits;
- ``largest_job_wait_hours``: the longest a 4-instance job waited (``--rule before``: as
  jobctl scheduled before reservations and fair share over time);
- ``expected_start_error_p50``/``_p95``: minutes between each expected start the ledger
  was given and the job's real start.
"""

from __future__ import annotations

import functools
import json
import os
import random
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from moto import mock_aws

from bench.harness import (
    BENCH_EPOCH,
    RUNTIME,
    Scenario,
    distribution,
    job_request,
    lambda_environment,
    measure_main,
    quiet,
    simulated_seconds,
)
from jobctl.logic import scheduling
from jobctl_tools.local.clocks import ManualClock

SEED = 20251211
REQUESTS = 300
INSTANCE_TYPE = "ml.p4d.24xlarge"
BUDGET = 8  # instances of INSTANCE_TYPE at once
SHARE_WEIGHTS = {"vision": 1, "nlp": 2, "prod": 3}
PRIORITIES = (0, 50, 100)
INSTANCE_COUNTS = (1, 4)
JOB_SECONDS = (10 * 60, 60 * 60)
LIMIT_OVER_RUN = (1.2, 2.0)  # MaxRuntimeInSeconds, as a multiple of the job's real run
WINDOW = 6 * 3600  # shares' parts are measured per window of this many seconds too
ARRIVAL_WINDOW = 30 * 60
IDLE_TARGET = 10.0  # the issue's: a freed slot reused within 10 s (p95)
REACTION = 30.0  # seconds by which the controller has acted on a freed slot
HORIZON = 120 * 3600.0  # a run that has not finished by then stops (and says so)


@dataclass(frozen=True)
class PlannedJob:
    name: str
    share: str
    priority: int
    instances: int
    seconds: int  # how long SageMaker runs it
    limit: int  # its MaxRuntimeInSeconds: 1.2 to 2 times that
    arrival: float  # when its request reaches the queue (simulated seconds)

    def request(self) -> dict[str, Any]:
        body = job_request("TrainingJob", self.name, max_runtime=self.limit)
        body["spec"]["ResourceConfig"] = {
            "InstanceType": INSTANCE_TYPE,
            "InstanceCount": self.instances,
            "VolumeSizeInGB": 50,
        }
        body.update(priority=self.priority, share=self.share)
        return body


def plan_requests(count: int, rng: random.Random) -> list[PlannedJob]:
    shares = list(SHARE_WEIGHTS)
    jobs = []
    for index in range(count):
        priority, instances = rng.choice(PRIORITIES), rng.randint(*INSTANCE_COUNTS)
        seconds = rng.randint(*JOB_SECONDS)
        jobs.append(
            PlannedJob(
                name=f"bench-sched-{index:04d}",
                share=shares[index % len(shares)],
                priority=priority,
                instances=instances,
                seconds=seconds,
                limit=round(seconds * rng.uniform(*LIMIT_OVER_RUN)),
                arrival=round(rng.uniform(0, ARRIVAL_WINDOW), 3),
            )
        )
    return jobs


# -- the measures, on a timeline of jobs ------------------------------------------------


@dataclass(frozen=True)
class Span:
    """One job's life as the measures see it, in simulated seconds from the start."""

    name: str
    priority: int
    share: str
    instances: int
    arrived: float  # the controller recorded its request
    admitted: float | None  # it took its room
    created: float | None  # CreateTrainingJob
    ended: float | None  # SageMaker ended it: its room is free

    def waits(self, at: float) -> bool:
        """Waiting for room at ``at``: recorded before it, not admitted yet."""
        return self.arrived < at and (self.admitted is None or self.admitted > at)

    def holds(self, at: float) -> bool:
        """Holding room at ``at``: admitted by then, its job not ended."""
        return self.admitted is not None and self.admitted <= at and not self.ended_by(at)

    def ended_by(self, at: float) -> bool:
        return self.ended is not None and self.ended <= at


@dataclass(frozen=True)
class Idle:
    freed_at: float
    seconds: float


def slot_idle(spans: Iterable[Span], budget: int) -> list[Idle]:
    """For each slot (unit of the budget) that frees while a job waits to be created: the
    seconds until a create takes it. Creates take the slots free longest first; slots
    still free when no job waits any more are not counted (no waiting job wanted them)."""
    events: list[tuple[float, int, Span]] = []
    for span in spans:
        events.append((span.arrived, 1, span))
        if span.created is not None:
            events.append((span.created, 2, span))
        if span.ended is not None:
            events.append((span.ended, 0, span))
    events.sort(key=lambda e: (e[0], e[1], e[2].name))
    free: deque[tuple[float, bool]] = deque([(0.0, False)] * budget)  # (since, counted)
    waiting = 0  # recorded, not created yet
    idle: list[Idle] = []
    for at, kind, span in events:
        if kind == 0:  # its job ended: its slots free
            free.extend([(at, waiting > 0)] * span.instances)
        elif kind == 1:
            waiting += 1
        else:
            waiting -= 1
            for _ in range(min(span.instances, len(free))):
                since, counted = free.popleft()
                if counted:
                    idle.append(Idle(since, at - since))
            if not waiting:
                free = deque((since, False) for since, _ in free)
    return idle


def held_for_larger(spans: list[Span], budget: int, at: float) -> bool:
    """Whether, at ``at``, every waiting job of the top waiting priority needs more room
    than is left: the room is kept for them, so no job may take it (by design)."""
    waiting = [s for s in spans if s.waits(at)]
    if not waiting:
        return False
    room = budget - sum(s.instances for s in spans if s.holds(at))
    top = max(s.priority for s in waiting)
    return min(s.instances for s in waiting if s.priority == top) > room


def idle_causes(spans: list[Span], budget: int, idle: list[Idle]) -> dict[str, Any]:
    """Why slots stayed free longer than the target: ``REACTION`` seconds after each one
    freed (the controller has acted by then; or just before it was taken, if sooner), was
    the room held for waiting jobs of the top priority that all need more than it?"""
    slow = [i for i in idle if i.seconds > IDLE_TARGET]
    held = [
        i
        for i in slow
        if held_for_larger(spans, budget, i.freed_at + min(REACTION, i.seconds - 0.001))
    ]
    other = [i.seconds for i in slow if i not in held]
    return {
        f"within_{IDLE_TARGET:g}_s": len(idle) - len(slow),
        "held_for_larger_jobs_of_the_top_priority": len(held),
        "other": len(other),
        "other_seconds": distribution(other),
    }


def priority_inversions(spans: Iterable[Span], budget: int) -> list[dict[str, Any]]:
    """Admissions of a job while a waiting job of higher priority would have fitted in the
    room left without it (every job here needs the same budget)."""
    spans = list(spans)
    found = []
    for span in sorted((s for s in spans if s.admitted is not None), key=lambda s: s.admitted or 0):
        at = span.admitted
        assert at is not None  # noqa: S101 - filtered above
        room = budget - sum(s.instances for s in spans if s is not span and s.holds(at))
        passed_over = [
            s
            for s in spans
            if s.priority > span.priority and s.waits(at) and s.instances <= room and s is not span
        ]
        if passed_over:
            first = max(passed_over, key=lambda s: (s.priority, -s.arrived))
            found.append({"at": at, "admitted": span.name, "passed_over": first.name})
    return found


@dataclass
class _State:
    """What holds between two moments of the timeline."""

    waiting: Counter[tuple[str, int]] = field(default_factory=Counter)  # (share, priority)
    uncreated: int = 0  # recorded, not created yet
    running: int = 0  # instances
    running_instances: Counter[str] = field(default_factory=Counter)  # by share


def _intervals(spans: Iterable[Span]) -> Iterable[tuple[float, float, _State]]:
    """(start, length, state) for each stretch of time between two changes."""
    changes: list[tuple[float, int, Span]] = []
    for span in spans:
        for kind, moment in enumerate((span.arrived, span.admitted, span.created, span.ended)):
            if moment is not None:
                changes.append((moment, kind, span))
    changes.sort(key=lambda change: (change[0], change[1]))
    state, last = _State(), None
    for moment, kind, span in changes:
        if last is not None and moment > last:
            yield last, moment - last, state
        _apply(state, kind, span)
        last = moment


def _apply(state: _State, kind: int, span: Span) -> None:
    if kind == 0:  # recorded
        state.waiting[(span.share, span.priority)] += 1
        state.uncreated += 1
    elif kind == 1:  # admitted
        state.waiting[(span.share, span.priority)] -= 1
    elif kind == 2:  # created
        state.uncreated -= 1
        state.running += span.instances
        state.running_instances[span.share] += span.instances
    else:  # ended
        state.running -= span.instances
        state.running_instances[span.share] -= span.instances


def _top_priority_backlogged(state: _State, shares: Iterable[str]) -> bool:
    waiting = [key for key, n in state.waiting.items() if n > 0]
    if not waiting:
        return False
    top = max(priority for _, priority in waiting)
    return all(state.waiting[(share, top)] > 0 for share in shares)


def share_usage(
    spans: Iterable[Span], weights: dict[str, float], within: tuple[float, float] | None = None
) -> dict[str, Any]:
    """Instance-hours by share while every share has jobs waiting at the top waiting
    priority (``within`` a window of the run, if given), against the weights' parts."""
    used: dict[str, float] = dict.fromkeys(weights, 0.0)
    window = 0.0
    for start, length, state in _intervals(spans):
        if within is not None and not within[0] <= start < within[1]:
            continue
        if _top_priority_backlogged(state, weights):
            window += length
            for share in weights:
                used[share] += state.running_instances[share] * length
    total, weights_total = sum(used.values()), sum(weights.values())
    shares = {}
    for share, weight in weights.items():
        fair = weight / weights_total
        part = used[share] / total if total else 0.0
        shares[share] = {
            "weight": weight,
            "instance_hours": round(used[share] / 3600, 1),
            "part": round(part, 4),
            "fair_part": round(fair, 4),
            "deviation_percent": round(abs(part - fair) / fair * 100, 1),
        }
    return {
        "backlogged_hours": round(window / 3600, 2),
        "deviation_percent": max(s["deviation_percent"] for s in shares.values())
        if total
        else None,
        "shares": shares,
    }


def utilisation_percent(spans: Iterable[Span], budget: int) -> tuple[float | None, float]:
    """The budget's use (instances running ÷ budget) while some job waits to be created, and
    how long jobs waited (hours)."""
    busy = waited = 0.0
    for _, length, state in _intervals(spans):
        if state.uncreated > 0:
            waited += length
            busy += length * state.running
    if not waited:
        return None, 0.0
    return round(busy / (budget * waited) * 100, 1), round(waited / 3600, 2)


def peak_in_use(spans: Iterable[Span]) -> int:
    """The most instances running at once."""
    return max((state.running for _, _, state in _intervals(spans)), default=0)


def measure(spans: list[Span], budget: int) -> dict[str, Any]:
    """Every figure of a run's timeline."""
    idle = slot_idle(spans, budget)
    inversions = priority_inversions(spans, budget)
    fair = share_usage(spans, dict(SHARE_WEIGHTS))
    end = max((s.ended or 0.0 for s in spans), default=0.0)
    windows = [
        share_usage(spans, dict(SHARE_WEIGHTS), (start, start + WINDOW))
        for start in range(0, int(end), WINDOW)
    ]
    # A window counts where shares were all backlogged for most of it.
    full = [w for w in windows if w["backlogged_hours"] >= WINDOW / 3600 / 2]
    utilisation, waited_hours = utilisation_percent(spans, budget)
    largest = [
        (s.admitted - s.arrived) / 3600
        for s in spans
        if s.instances == INSTANCE_COUNTS[1] and s.admitted is not None
    ]
    return {
        "slot_idle_seconds": distribution([i.seconds for i in idle]),
        "slot_idle_causes": idle_causes(spans, budget, idle),
        "priority_inversions": len(inversions),
        "priority_inversion_examples": inversions[:5],
        "share_deviation_percent": fair["deviation_percent"],
        "share_deviation_percent_per_window_max": max(
            (w["deviation_percent"] for w in full if w["deviation_percent"] is not None),
            default=None,
        ),
        "share_deviation_percent_per_window": [w["deviation_percent"] for w in full],
        "share_usage": fair,
        "largest_job_wait_hours": round(max(largest, default=0.0), 2),
        "utilisation_percent": utilisation,
        "hours_with_work_waiting": waited_hours,
        "peak_instances_running": peak_in_use(spans),
    }


# -- the driver -------------------------------------------------------------------------


class Contention(Scenario):
    """The fleet on the simulated clock (``bench.harness.Scenario``): requests
    reach the queue, SageMaker runs each job for its planned time once it is created."""

    def __init__(
        self,
        jobs: list[PlannedJob],
        clock: ManualClock,
    ) -> None:
        # An account granted the budget's instances (AWS's default quota is 0): the
        # budget, not the quota, decides here.
        super().__init__(clock, training_quotas={INSTANCE_TYPE: BUDGET})
        self.jobs = {job.name: job for job in jobs}
        self.started: set[str] = set()
        self.ended: set[str] = set()
        # Each expected start the ledger was given: (job, when, the start it expects).
        self.estimates: list[tuple[str, float, float]] = []

    def attached(self, made: Any) -> None:
        for operation in ("PutItem", "TransactWriteItems"):
            made.dynamodb.meta.events.register(
                f"provide-client-params.dynamodb.{operation}", self._estimates
            )

    def _estimates(self, params: dict[str, Any], **_: Any) -> None:
        puts = (
            [params]
            if "Item" in params
            else [entry["Put"] for entry in params.get("TransactItems", []) if "Put" in entry]
        )
        for put in puts:
            item = put["Item"]
            name, estimate = item.get("job_name", {}).get("S"), item.get("expected_start")
            if name in self.jobs and estimate:
                expected = simulated_seconds(estimate["S"]) or 0.0
                self.estimates.append((name, self.clock.elapsed, expected))

    def run(self, horizon: float = HORIZON) -> None:
        for job in self.jobs.values():
            self.arrive(job.arrival, json.dumps(job.request()))
        super().run(horizon)

    def finished(self) -> bool:
        return len(self.ended) == len(self.jobs)

    def job_changed(self, job: Any) -> None:
        planned = self.jobs.get(job.name)
        if planned is not None and job.name not in self.started:
            self.started.add(job.name)
            self.at(self.clock.elapsed + planned.seconds, functools.partial(self._finish, job.name))

    def _finish(self, name: str) -> None:
        self.ended.add(name)
        self.sim.set_state("TrainingJob", name, "Completed", "Completed")


def timeline(driver: Contention, records: dict[tuple[str, str], Any]) -> list[Span]:
    """Each job's span, from its ledger record (when the controller recorded and admitted
    it) and the simulator (when SageMaker created and ended it)."""
    spans = []
    for job in driver.jobs.values():
        record = records.get((job.name, "TrainingJob"))
        if record is None:
            continue  # never recorded (still in the queue, or lost): reported in the checks
        simulated = driver.sim.jobs.get(("TrainingJob", job.name))
        created = simulated_seconds(simulated.created) if simulated else None
        spans.append(
            Span(
                name=job.name,
                priority=job.priority,
                share=job.share,
                instances=job.instances,
                arrived=simulated_seconds(record.created_at) or 0.0,
                admitted=simulated_seconds(record.admitted_at),
                created=created,
                ended=simulated_seconds(simulated.ended) if simulated and simulated.ended else None,
            )
        )
    return spans


def run(requests: int = REQUESTS, rule: str = "jobctl", half_life: int = 3600) -> dict[str, Any]:
    """The scenario, and the issue's figures from it; ``rule`` "before" schedules as
    jobctl did before reservations and fair share over time (no reservation: a job that
    does not fit holds its budget from lower priorities only; only what runs now counts)."""
    lambda_environment()
    os.environ.update(
        INSTANCE_TYPE_BUDGETS=f"{INSTANCE_TYPE}={BUDGET}",
        TRACKING_MODE="progress",
        SHARE_WEIGHTS=",".join(f"{s}={w}" for s, w in SHARE_WEIGHTS.items()),
        SHARE_HALF_LIFE_SECONDS=str(half_life),
    )
    if rule == "before":
        os.environ["SHARE_HALF_LIFE_SECONDS"] = "0"
        scheduling.RESERVATIONS = 0
    started = time.perf_counter()
    jobs = plan_requests(requests, random.Random(SEED))  # noqa: S311 - a reproducible workload
    driver = Contention(jobs, ManualClock(BENCH_EPOCH))
    with mock_aws(), quiet(), driver:
        built = driver.install()
        driver.run()
        records = built.reconciler.ledger.get_many((job.name, "TrainingJob") for job in jobs)
        checks = driver.checks(list(records.values()), len(jobs))
    spans = timeline(driver, records)
    figures = measure(spans, BUDGET)
    kept = kept_for_reservations(slot_idle(spans, BUDGET), driver.estimates, spans)
    return {
        "slot_idle_seconds_p95_excluding_reservations": distribution(kept["other"])["p95"],
        "slot_idle_kept_for_a_reservation_within_a_minute": kept["kept"],
        "rule": rule,
        "share_half_life_seconds": int(os.environ["SHARE_HALF_LIFE_SECONDS"]),
        "workload": workload(requests),
        **estimate_errors(driver.estimates, spans),
        "slot_idle_seconds_p50": figures["slot_idle_seconds"]["p50"],
        "slot_idle_seconds_p95": figures["slot_idle_seconds"]["p95"],
        **figures,
        "simulated_hours_to_last_end": round(
            max((s.ended or 0 for s in spans), default=0) / 3600, 2
        ),
        "checks": checks
        | {"created": sum(1 for j in jobs if ("TrainingJob", j.name) in driver.sim.jobs)},
        "calls": {
            "create_training_job": driver.sim.calls["CreateTrainingJob"],
            "sagemaker_throttled": dict(driver.sim.throttled),
            "queue_messages_sent": driver.deployment.messages_sent,
            "submit_records_handled": driver.deployment.records_handled,
            "lambda_invocations": dict(driver.deployment.invocations),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def kept_for_reservations(
    idle: list[Idle], estimates: list[tuple[str, float, float]], spans: list[Span]
) -> dict[str, Any]:
    """Slots idle while a reservation that starts within a minute keeps them (the issue
    leaves those out): ``REACTION`` seconds after the slot freed (or just before it was
    taken), a job holding a reservation then (given an expected start before) is
    admitted within the next 60 s."""
    reserved_since: dict[str, float] = {}
    for name, written, _ in estimates:
        reserved_since.setdefault(name, written)
    admitted = {s.name: s.admitted for s in spans if s.admitted is not None}
    kept, other = 0, []
    for slot in idle:
        at = slot.freed_at + min(REACTION, slot.seconds - 0.001)
        if any(
            since <= at < admitted.get(name, -1.0) <= at + 60
            for name, since in reserved_since.items()
        ):
            kept += 1
        else:
            other.append(slot.seconds)
    return {"kept": kept, "other": other}


def estimate_errors(estimates: list[tuple[str, float, float]], spans: list[Span]) -> dict[str, Any]:
    """How far each expected start the ledger was given was from the job's real start
    (its admission), in minutes; and how many were late (the job started more than a
    minute after it), all of them and those given after the last request arrived (later
    requests of higher priority may take a reservation's room)."""
    started = {s.name: s.admitted for s in spans if s.admitted is not None}
    errors = [
        (at, (expected - started[name]) / 60) for name, at, expected in estimates if name in started
    ]
    settled = [error for at, error in errors if at > ARRIVAL_WINDOW]
    return {
        "expected_start_error_p50": distribution([abs(e) for _, e in errors])["p50"],
        "expected_start_error_p95": distribution([abs(e) for _, e in errors])["p95"],
        "expected_starts": len(errors),
        "expected_starts_late": sum(1 for _, e in errors if e < -1),
        "after_arrivals": {
            "error_minutes": distribution([abs(e) for e in settled]),
            "late": sum(1 for e in settled if e < -1),
        },
    }


def workload(requests: int) -> dict[str, Any]:
    return {
        "requests": requests,
        "scaled_down": requests != REQUESTS,
        "instance_type_budget": f"{INSTANCE_TYPE}={BUDGET}",
        "share_weights": SHARE_WEIGHTS,
        "requests_per_share": requests // len(SHARE_WEIGHTS),
        "priorities": list(PRIORITIES),
        "instance_counts": list(INSTANCE_COUNTS),
        "job_minutes": [JOB_SECONDS[0] // 60, JOB_SECONDS[1] // 60],
        "arrival_window_minutes": ARRIVAL_WINDOW // 60,
        **RUNTIME,
        "seed": SEED,
    }


if __name__ == "__main__":
    measure_main(run, __doc__, requests=REQUESTS, rule="jobctl", half_life=3600)
