"""API economy: what a simulated fleet costs the controller, next to polling baselines.

500 training and 50 AutoML jobs arrive on the queue over the first 20 simulated minutes
and run on the simulated SageMaker (its clock is a fake one that this driver moves in
30-second ticks): for up to ~2 hours, about an hour on average (``--profile mixed``), or
about two hours each (``--profile 2h``, the issue's workload). Training jobs' state
changes are delivered as events twice each, and 1 % of the changes the rule matches lose
both deliveries; AutoML jobs get no events, as in AWS. The sweep runs every 5 simulated
minutes. The handlers run in-process under moto, exactly as in the integration tests;
SageMaker calls are counted by the simulator, the DynamoDB and SNS calls on botocore's
``before-call`` event of the handlers' own clients.

The controller's simulator keeps SageMaker's account-wide rate limits on (Create* 1/s,
List* 2/s, others 5/s, ``jobctl_tools.local.sagemaker.RATE_LIMITS``): a throttled call reaches
the controller as a failure (``attach`` answers on ``before-call``, so botocore's own
retries do not run). The controller paces its calls on the simulated clock
(the controller's, this driver's ``ManualClock``: sleeping moves it), so a submit
invocation creating a batch spends simulated seconds. The driver runs submit invocations
one after another (one container), so the functions get ``SUBMIT_MAX_CONCURRENCY=1``
(``bench.harness.ENVIRONMENT``): one container may spend the whole create rate. The
result reports the throttled calls and the peak List and Describe calls per second.

``--tracking terminal`` runs the functions with ``TRACKING_MODE=terminal`` and delivers
only the events the template's rule matches in that mode (``TrackingMode=terminal``: a
training job's outcome alone).

In the same run, two pollers drive their own copies of the fleet (same arrivals, same
durations, same outcomes): each creates its jobs and describes every in-flight job
every 30 s (Airflow's ``SageMakerHook`` default ``check_interval``) or every 60 s until
it settles. A real account would throttle them (a tick's arrivals created at once, and
every in-flight job described at the same instant: hundreds of Describes a second): their
simulators run with ``rate_limits=None``, so the pollers are counted, not throttled —
their figures are what polling asks for, not what it would get.
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bench.harness import (
    BENCH_EPOCH,
    DEFAULT_ROLE,
    ApiCalls,
    deploy_in_moto,
    install_controller,
    job_request,
    lambda_environment,
    quiet,
    rule_patterns,
    write_result,
)
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.lambda_events import LambdaContext, scheduled_event, sqs_event

TICK = 30  # seconds of simulated time per step of the driver
SWEEP_EVERY = 300  # the template's rate(5 minutes)
ARRIVAL_WINDOW = 20 * 60
TRAINING_JOBS = 500
AUTOML_JOBS = 50
DROP_RATE = 0.01  # share of state changes whose every delivery is lost
DELIVERIES = 2  # SageMaker delivers each state change more than once
SEED = 20251126
POLL_INTERVALS = (30, 60)
TARGET_RATIOS = (35, 100)  # the issue's: progress tracked, terminal-only tracking
TRACKING_MODES = ("progress", "terminal")  # the functions' TRACKING_MODE

# Seconds a job stays in a secondary status before its next one (uniform ranges).
DWELL = {
    "Pending": (60, 600),  # one training job in five waits for capacity first
    "Starting": (120, 360),
    "Downloading": (60, 240),
    "Training": (20 * 60, 85 * 60),
    "Uploading": (60, 180),
    "AnalyzingData": (5 * 60, 15 * 60),
    "FeatureEngineering": (5 * 60, 15 * 60),
    "ModelTuning": (20 * 60, 50 * 60),
    "GeneratingExplainabilityReport": (3 * 60, 8 * 60),
    "GeneratingModelInsightsReport": (2 * 60, 6 * 60),
}
# The workload: jobs that run about two hours (failures still come early).
LONG_DWELL = DWELL | {"Training": (108 * 60, 130 * 60), "ModelTuning": (85 * 60, 110 * 60)}
# profile: (dwell times, simulated seconds the driver runs: every job settles within it)
PROFILES = {"mixed": (DWELL, 2 * 3600), "2h": (LONG_DWELL, 3 * 3600)}
OUTCOMES = {
    "TrainingJob": [("Completed", 0.92), ("Failed", 0.08)],
    "AutoMLJob": [("Completed", 0.8), ("ExplainabilityError", 0.1), ("Failed", 0.1)],
}
DESCRIBES = ("DescribeTrainingJob", "DescribeAutoMLJob")
CREATES = ("CreateTrainingJob", "CreateAutoMLJob")
LISTS = ("ListTrainingJobs", "ListAutoMLJobs")
DYNAMODB_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


@dataclass
class PlannedJob:
    job_type: str
    name: str
    arrival: int
    outcome: str
    dwell: list[int]  # seconds before each step of the simulator's planned path
    # Seconds in Pending, for a job the simulator makes wait for capacity before Starting.
    pending: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.job_type, self.name)

    def request(self) -> dict[str, Any]:
        return job_request(self.job_type, self.name, self.outcome)


def plan_fleet(
    training: int, automl: int, rng: random.Random, dwell_table: dict[str, tuple[int, int]]
) -> list[PlannedJob]:
    from jobctl_tools.local.sagemaker import planned_path

    jobs = []
    for job_type, count, prefix in (
        ("TrainingJob", training, "bench-train"),
        ("AutoMLJob", automl, "bench-automl"),
    ):
        names, weights = zip(*OUTCOMES[job_type], strict=True)
        for index in range(count):
            outcome = rng.choices(names, weights)[0]
            path = planned_path(job_type, outcome)
            current, dwell = "Starting", []
            for _, secondary in path:
                low, high = dwell_table[current]
                if secondary == "Failed":  # failures come early in the phase
                    low, high = low // 4, high // 3
                dwell.append(rng.randint(max(low, 2 * TICK), high))
                current = secondary
            arrival = rng.randrange(ARRIVAL_WINDOW)
            pending = rng.randint(*dwell_table["Pending"])
            jobs.append(
                PlannedJob(job_type, f"{prefix}-{index:04d}", arrival, outcome, dwell, pending)
            )
    return jobs


class Timeline:
    """Moves each simulator's copy of a job along its plan at the planned times."""

    def __init__(self, plans: dict[tuple[str, str], PlannedJob]) -> None:
        self.plans = plans
        self.due: list[dict[tuple[str, str], list[datetime]]] = []
        self.sims: list[Any] = []

    def add(self, sim: Any) -> None:
        self.sims.append(sim)
        self.due.append({})

    def schedule_new(self) -> None:
        for sim, due in zip(self.sims, self.due, strict=True):
            for key, job in sim.jobs.items():
                if key not in due:
                    moments, at = [], job.created
                    plan = self.plans[key]
                    # The simulator puts some training jobs in Pending first (by name, so
                    # alike in every copy): one more step, from Pending to Starting.
                    extra = len(job.plan) - len(plan.dwell)
                    for seconds in [plan.pending] * extra + plan.dwell:
                        at += timedelta(seconds=seconds)
                        moments.append(at)
                    due[key] = moments

    def move(self, now: datetime) -> None:
        for sim, due in zip(self.sims, self.due, strict=True):
            for key, moments in due.items():
                while moments and moments[0] <= now:
                    moments.pop(0)
                    sim.take_step(*key)  # one step along the job's planned path


class Poller:
    """The baseline: create each job, then describe every in-flight job every ``interval``."""

    def __init__(self, clock: ManualClock, interval: int, quotas: dict[str, int]) -> None:
        from jobctl_tools.local.sagemaker import SimulatedSageMaker

        self.interval = interval
        # Counted, not throttled: a real account would refuse most of these calls.
        self.sim = SimulatedSageMaker(clock=clock, rate_limits=None, training_quotas=quotas)
        self.in_flight: set[tuple[str, str]] = set()

    def create(self, jobs: Iterable[PlannedJob]) -> None:
        for job in jobs:
            body = job.request()
            member = "TrainingJobName" if job.job_type == "TrainingJob" else "AutoMLJobName"
            params = {member: job.name, "RoleArn": DEFAULT_ROLE, **body["spec"]}
            self.sim.handle(f"Create{job.job_type}", params)
            self.in_flight.add(job.key)

    def poll(self, elapsed: float) -> None:
        from jobctl.logic.lifecycle import is_settled

        if elapsed <= 0 or elapsed % self.interval:
            return
        for job_type, name in sorted(self.in_flight):
            if job_type == "TrainingJob":
                answer = self.sim.handle("DescribeTrainingJob", {"TrainingJobName": name})
                state = (answer["TrainingJobStatus"], answer.get("SecondaryStatus"))
            else:
                answer = self.sim.handle("DescribeAutoMLJob", {"AutoMLJobName": name})
                state = (answer["AutoMLJobStatus"], answer.get("AutoMLJobSecondaryStatus"))
            if is_settled(*state):
                self.in_flight.discard((job_type, name))


@dataclass
class Retry:
    due: float
    run: Callable[[], None]


@dataclass
class Controller:
    """jobctl's two functions, invoked the way their event sources would."""

    clock: ManualClock
    sim: Any
    dynamodb: ApiCalls
    sns: ApiCalls
    rng: random.Random
    patterns: list[Any]  # the EventBridge rule's patterns for ReconcileFunction
    invocations: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)
    pending_events: list[str] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    duplicate_describes: int = 0
    unsettled_describes: int = 0
    items_read: Counter[str] = field(default_factory=Counter)
    retries: list[Retry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notice_ids: Counter[str] = field(default_factory=Counter)

    def on_change(self, job: Any) -> None:
        self.changes[job.job_type] += 1
        if job.job_type == "TrainingJob":  # SageMaker sends no AutoML state-change events
            self.pending_events.append(job.name)

    # -- SubmitFunction: SQS batches of up to 10 ------------------------------------------

    def submit(self, bodies: list[dict[str, Any]], receive_count: int = 1) -> None:
        from jobctl.handlers import submit

        for start in range(0, len(bodies), 10):
            batch = bodies[start : start + 10]
            event = sqs_event(batch, receive_count=receive_count)
            self.invocations["submit"] += 1
            try:
                answer = submit.handler(event, LambdaContext("SubmitFunction", 120))
                failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
            except Exception as exc:  # noqa: BLE001 - as Lambda: every record comes back
                self.errors.append(f"submit: {exc!r}")
                failed = {r["messageId"] for r in event["Records"]}
            again = [
                b for b, r in zip(batch, event["Records"], strict=True) if r["messageId"] in failed
            ]
            if again:  # back after the queue's visibility timeout (720 s)
                self._later(720, functools.partial(self.submit, again, receive_count + 1))

    # -- ReconcileFunction: events and the schedule -----------------------------------------

    def deliver_changes(self) -> None:
        first, duplicates = [], []
        for name in self.pending_events:
            event = self.sim.training_event(name)
            self.events["changes"] += 1
            if not any(p.matches_event(event) for p in self.patterns):
                self.events["not_matched"] += 1  # the rule never invokes the function
                continue
            self.events["matched"] += 1
            if self.rng.random() < DROP_RATE:
                self.events["dropped"] += 1
                continue
            first.append(event)
            duplicates.extend([event] * (DELIVERIES - 1))
        self.pending_events.clear()
        self.rng.shuffle(duplicates)
        for event in first:
            self.reconcile(event)
        for event in duplicates:
            before = sum(self.sim.calls[op] for op in DESCRIBES)
            self.reconcile(event)
            self.duplicate_describes += sum(self.sim.calls[op] for op in DESCRIBES) - before

    def reconcile(self, event: dict[str, Any], attempt: int = 0) -> Any:
        from jobctl.handlers import reconcile

        kind = "sweep" if event.get("source") == "aws.events" else "event"
        self.invocations[f"reconcile_{kind}"] += 1
        self.events["deliveries"] += kind == "event"
        try:
            return reconcile.handler(event, LambdaContext("ReconcileFunction", 300))
        except Exception as exc:  # noqa: BLE001 - as Lambda: retried twice, a minute apart
            self.errors.append(f"reconcile ({kind}, attempt {attempt + 1}): {exc!r}")
            if attempt < 2:
                self._later(60, lambda: self.reconcile(event, attempt + 1))
            return None

    def sweep(self) -> Any:
        return self.reconcile(scheduled_event(self.clock.now()))

    def run_due(self) -> None:
        due = [r for r in self.retries if r.due <= self.clock.elapsed]
        self.retries = [r for r in self.retries if r.due > self.clock.elapsed]
        for retry in due:
            retry.run()

    def _later(self, seconds: float, run: Callable[[], None]) -> None:
        self.retries.append(Retry(self.clock.elapsed + seconds, run))

    # -- counting -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Counter[str]]:
        return {
            "sagemaker": Counter(self.sim.calls),
            "dynamodb": self.dynamodb.snapshot(),
            "sns": self.sns.snapshot(),
            "invocations": Counter(self.invocations),
            "items_read": Counter(self.items_read),
        }

    def count_items(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        """DynamoDB items read: a read call's cost grows with them (capacity units)."""
        if model.name == "Query":
            self.items_read[model.name] += parsed.get("Count", 0)
        elif model.name == "GetItem":
            self.items_read[model.name] += "Item" in parsed
        elif model.name == "BatchGetItem":
            self.items_read[model.name] += sum(map(len, parsed.get("Responses", {}).values()))

    def count_describe(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        """Describes whose answer is not a settled job: progress a cheaper source could give."""
        from jobctl.logic.lifecycle import is_settled

        if model.name == "DescribeTrainingJob":
            state = (parsed.get("TrainingJobStatus", ""), parsed.get("SecondaryStatus"))
        elif model.name == "DescribeAutoMLJob":
            state = (parsed.get("AutoMLJobStatus", ""), parsed.get("AutoMLJobSecondaryStatus"))
        else:
            return
        self.unsettled_describes += not is_settled(*state)

    def count_notice(self, params: dict[str, Any], **_: Any) -> None:
        attributes = params.get("MessageAttributes") or {}
        self.notice_ids[attributes.get("notice_id", {}).get("StringValue", "?")] += 1


def rate_limits_text(limits: dict[str, Any] | None) -> dict[str, str] | None:
    """A simulator's account-wide rate limits, readable (None: off)."""
    from jobctl_tools.local.sagemaker import DEFAULT_RATE_LIMIT

    if limits is None:
        return None
    shown = {op: f"{limit.per_second:g}/s, burst {limit.burst:g}" for op, limit in limits.items()}
    shown["any other operation"] = (
        f"{DEFAULT_RATE_LIMIT.per_second:g}/s, burst {DEFAULT_RATE_LIMIT.burst:g}"
    )
    return shown


def _diff(after: dict[str, Counter[str]], before: dict[str, Counter[str]]) -> dict[str, Any]:
    return {name: after[name] - before[name] for name in after}


def _subtract(total: dict[str, Counter[str]], part: dict[str, Counter[str]]) -> None:
    for name, counter in part.items():
        total[name].subtract(counter)
        total[name] = +total[name]


def _sagemaker_summary(calls: Counter[str], jobs: int) -> dict[str, Any]:
    groups = {
        "create": sum(calls[op] for op in CREATES),
        "describe": sum(calls[op] for op in DESCRIBES),
        "list_pages": sum(calls[op] for op in LISTS),
    }
    groups["other"] = sum(calls.values()) - sum(groups.values())
    total = sum(calls.values())
    return {
        "by_operation": dict(sorted(calls.items())),
        **groups,
        "total": total,
        "per_job": {k: round(v / jobs, 3) for k, v in {**groups, "total": total}.items()},
    }


def _sweep_probe(diff: dict[str, Counter[str]], answer: Any) -> dict[str, Any]:
    sweep = (answer or {}).get("sweep", {})
    dynamodb = diff["dynamodb"]
    return {
        "describes": sum(diff["sagemaker"][op] for op in DESCRIBES),
        "list_calls": sum(diff["sagemaker"][op] for op in LISTS),
        "jobs_listed": sweep.get("listed"),
        "in_flight": sum((sweep.get("in_flight") or {}).values()),
        "unfinished_scans": sweep.get("unfinished_scans"),
        "dynamodb_reads": sum(v for op, v in dynamodb.items() if op in DYNAMODB_READS),
        "dynamodb_writes": sum(v for op, v in dynamodb.items() if op not in DYNAMODB_READS),
        "dynamodb_items_read": sum(diff["items_read"].values()),
        "dynamodb_items_read_by_operation": dict(diff["items_read"]),
    }


def run(
    training: int = TRAINING_JOBS,
    automl: int = AUTOML_JOBS,
    tracking: str = "progress",
    profile: str = "mixed",
) -> dict[str, Any]:
    lambda_environment()
    os.environ["TRACKING_MODE"] = tracking  # the template's TrackingMode parameter
    dwell_table, horizon = PROFILES[profile]
    from moto import mock_aws

    from jobctl.logic.lifecycle import record_is_settled
    from jobctl_tools.local.sagemaker import SimulatedSageMaker

    started = time.perf_counter()
    rng = random.Random(SEED)  # noqa: S311 - a reproducible workload, not cryptography
    plans = plan_fleet(training, automl, rng, dwell_table)
    by_key = {job.key: job for job in plans}
    arrivals: dict[int, list[PlannedJob]] = {}
    for job in plans:
        tick = -(-job.arrival // TICK) * TICK  # the first tick at or after its arrival
        arrivals.setdefault(tick, []).append(job)

    clock = ManualClock(BENCH_EPOCH)
    timeline = Timeline(by_key)
    # The fleet's account was granted an instance for each of its training jobs: how many
    # run at once is the arrivals' and the dwell times' doing, not a quota's.
    quotas = {"ml.m5.xlarge": training}
    pollers = [Poller(clock, interval, quotas) for interval in POLL_INTERVALS]

    with mock_aws(), quiet():
        deploy_in_moto()
        # The controller's clock is the simulated one, as the simulator's.
        built, made = install_controller(clock)

        dynamodb, sns = ApiCalls(), ApiCalls()
        dynamodb.watch(made.dynamodb)
        sns.watch(made.sns)
        controller = Controller(clock, None, dynamodb, sns, rng, rule_patterns(tracking))
        sim = SimulatedSageMaker(
            clock=clock, on_change=controller.on_change, training_quotas=quotas
        )
        controller.sim = sim
        sim.attach(made.sagemaker)
        made.sns.meta.events.register("before-parameter-build.sns.Publish", controller.count_notice)
        made.sagemaker.meta.events.register("after-call.sagemaker", controller.count_describe)
        made.dynamodb.meta.events.register("after-call.dynamodb", controller.count_items)
        for copy in (sim, *(p.sim for p in pollers)):
            timeline.add(copy)

        excluded: list[dict[str, Counter[str]]] = []
        probes: list[dict[str, Any]] = []
        for elapsed in range(0, horizon + TICK, TICK):
            clock.set(elapsed)
            arriving = arrivals.get(elapsed, [])
            if arriving:
                controller.submit([job.request() for job in arriving])
                for poller in pollers:
                    poller.create(arriving)
            controller.run_due()
            timeline.schedule_new()
            timeline.move(clock.now())
            controller.deliver_changes()
            if elapsed and elapsed % SWEEP_EVERY == 0:
                controller.sweep()
                # A probe (left out of the totals): another sweep at once, nothing changed.
                before = controller.snapshot()
                unsettled = controller.unsettled_describes
                answer = controller.sweep()
                probe = _diff(controller.snapshot(), before)
                controller.unsettled_describes = unsettled
                excluded.append(probe)
                probes.append({"at_minute": elapsed // 60, **_sweep_probe(probe, answer)})
            for poller in pollers:
                poller.poll(elapsed)

        totals = controller.snapshot()
        for part in excluded:
            _subtract(totals, part)
        # Then nothing more happens: a few sweeps of the settled fleet.
        idle: dict[str, Any] = {}
        for extra in range(1, 5):
            clock.set(horizon + extra * SWEEP_EVERY)
            before = controller.snapshot()
            answer = controller.sweep()
            idle = _sweep_probe(_diff(controller.snapshot(), before), answer)

        reconciler = built.reconciler
        ledger, limits = reconciler.ledger, reconciler.limits
        records = ledger.get_many((job.name, job.job_type) for job in plans)
        last_change = max(job.modified for job in sim.jobs.values())
        idle["minutes_after_last_change"] = round((clock.now() - last_change).total_seconds() / 60)

    jobs = len(plans)
    sagemaker = _sagemaker_summary(totals["sagemaker"], jobs)
    changes = sum(controller.changes.values())
    describes_by_type = {
        "TrainingJob": totals["sagemaker"]["DescribeTrainingJob"],
        "AutoMLJob": totals["sagemaker"]["DescribeAutoMLJob"],
    }
    dynamodb_calls = totals["dynamodb"]
    reads = sum(v for op, v in dynamodb_calls.items() if op in DYNAMODB_READS)
    writes = sum(v for op, v in dynamodb_calls.items() if op not in DYNAMODB_READS)
    invocations = dict(totals["invocations"])
    baselines = {}
    for poller in pollers:
        summary = _sagemaker_summary(poller.sim.calls, jobs)
        summary["unsettled_at_end"] = len(poller.in_flight)
        baselines[f"poll_{poller.interval}s"] = summary
    lifetimes = [
        ((job.ended or job.modified) - job.created).total_seconds() for job in sim.jobs.values()
    ]
    mean_lifetime = sum(lifetimes) / len(lifetimes)
    calls_per_job = sagemaker["total"] / jobs
    settled = [r for r in records.values() if record_is_settled(r)]
    matching = [
        r
        for r in records.values()
        if (sm := sim.jobs.get((r.job_type, r.job_name)))
        and (r.sagemaker_status, r.secondary_status) == (sm.status, sm.secondary)
    ]
    return {
        "workload": {
            "training_jobs": training,
            "automl_jobs": automl,
            "scaled_down": (training, automl) != (TRAINING_JOBS, AUTOML_JOBS),
            "profile": profile,
            "tracking_mode": tracking,
            "simulated_hours": horizon / 3600,
            "tick_seconds": TICK,
            "arrival_window_minutes": ARRIVAL_WINDOW // 60,
            "sweep_every_seconds": SWEEP_EVERY,
            "sweep_list_calls": limits.list_calls,
            "sweep_describe_calls": limits.describe_calls,
            "sweep_list_window_hours": limits.list_window.total_seconds() / 3600,
            "account_history_jobs": 0,  # bench.sweep prices the sweep over a long history
            "controller_rate_limits": rate_limits_text(sim.rate_limits),
            "poller_rate_limits": None,  # counted, not throttled
            "submit_max_concurrency": int(os.environ["SUBMIT_MAX_CONCURRENCY"]),
            "deliveries_per_change": DELIVERIES,
            "dropped_change_rate": DROP_RATE,
            "seed": SEED,
            "mean_job_lifetime_minutes": round(mean_lifetime / 60, 1),
            "longest_job_lifetime_minutes": round(max(lifetimes) / 60, 1),
        },
        "state_changes": {**controller.changes, "total": changes},
        "events": dict(controller.events),
        "controller": {
            "sagemaker": sagemaker,
            "lambda_invocations": {**invocations, "total": sum(invocations.values())},
            "dynamodb": {
                "reads": reads,
                "writes": writes,
                "items_read": dict(totals["items_read"]),
                "by_operation": dict(sorted(dynamodb_calls.items())),
            },
            "sns_publishes": totals["sns"]["Publish"],
            "per_job": {
                "sagemaker_calls": round(calls_per_job, 3),
                "create": sagemaker["per_job"]["create"],
                "describe": sagemaker["per_job"]["describe"],
                "list_pages": sagemaker["per_job"]["list_pages"],
                "lambda_invocations": round(sum(invocations.values()) / jobs, 3),
                "lambda_invocations_by_kind": {
                    kind: round(n / jobs, 3) for kind, n in sorted(invocations.items())
                },
                "dynamodb_reads": round(reads / jobs, 3),
                "dynamodb_writes": round(writes / jobs, 3),
                "dynamodb_items_read": round(sum(totals["items_read"].values()) / jobs, 1),
                "sns_publishes": round(totals["sns"]["Publish"] / jobs, 3),
            },
            "errors": controller.errors[:20],
            "error_count": len(controller.errors),
            # The account's rate limits: calls they refused, and the busiest second.
            "throttled": dict(sim.throttled),
            "throttled_total": sum(sim.throttled.values()),
            "peak_calls_per_second": {
                "create": sim.peak_rate(*CREATES),
                "list": sim.peak_rate(*LISTS),
                "describe": sim.peak_rate(*DESCRIBES),
            },
            "simulated_seconds_paced": round(clock.slept, 1),
        },
        "peak_list_tps": sim.peak_rate(*LISTS),
        "peak_describe_tps": sim.peak_rate(*DESCRIBES),
        "throttled": dict(sim.throttled),
        "baselines": baselines,
        "describe_per_state_change": round(sum(describes_by_type.values()) / changes, 3),
        "describe_per_state_change_by_type": {
            t: round(describes_by_type[t] / controller.changes[t], 3) for t in describes_by_type
        },
        "duplicate_delivery_describes": controller.duplicate_describes,
        "quiet_sweep_in_flight": {
            "probes": len(probes),
            "max_describes": max(p["describes"] for p in probes),
            "max_list_calls": max(p["list_calls"] for p in probes),
            "median_list_calls": statistics.median(p["list_calls"] for p in probes),
            "busiest": max(probes, key=lambda p: (p["list_calls"], p["jobs_listed"])),
            "max_dynamodb_items_read": max(probes, key=lambda p: p["dynamodb_items_read"]),
        },
        "quiet_sweep_settled": idle,
        "calls_ratio_vs_poll": {
            name: round(b["total"] / sagemaker["total"], 1) for name, b in baselines.items()
        },
        # The 30 s poller costs about 1 + lifetime / 30 s calls per job: the mean lifetime
        # at which it costs that many times what the controller spent per job here.
        "break_even_lifetime_minutes": {
            f"{ratio}x_vs_poll_30s": round((ratio * calls_per_job - 1) * 30 / 60, 1)
            for ratio in TARGET_RATIOS
        },
        # Describes whose answer was a job not settled yet. Events record progress from
        # their detail and the sweep from List summaries, and only settled jobs are
        # described (a job in flight past the List window aside): this should be ~0.
        "unsettled_describes": controller.unsettled_describes,
        "checks": {
            "jobs": jobs,
            "settled_in_ledger": len(settled),
            "ledger_matches_sagemaker": len(matching),
            "notices_published": sum(controller.notice_ids.values()),
            "jobs_notified_exactly_once": sum(1 for n in controller.notice_ids.values() if n == 1),
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", help="where to write the result (JSON)")
    parser.add_argument("--scale", type=float, default=1.0, help="fleet size factor (< 1: smaller)")
    parser.add_argument(
        "--tracking", choices=TRACKING_MODES, default="progress", help="TRACKING_MODE"
    )
    parser.add_argument(
        "--profile", choices=sorted(PROFILES), default="mixed", help="how long the jobs run"
    )
    args = parser.parse_args()
    training = max(10, round(TRAINING_JOBS * args.scale))
    automl = max(1, round(AUTOML_JOBS * args.scale))
    result = run(training, automl, args.tracking, args.profile)
    write_result(result, args.out)


if __name__ == "__main__":
    main()
