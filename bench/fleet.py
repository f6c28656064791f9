"""API economy: what a simulated fleet costs the controller, next to polling baselines
(README, Benchmarks).

500 training and 50 AutoML jobs arrive over 20 simulated minutes and move along their
planned paths at planned times: up to ~2 hours, an hour on average (``--profile mixed``),
or about two hours each (``--profile 2h``). The deployment is the one runtime
(``bench.harness.Scenario``); 1 % of training state changes lose both deliveries, and
each scheduled sweep is followed at once by a probe sweep pricing a quiet one (left out
of the totals). SageMaker's rate limits are on and the controller paces on the simulated
clock. ``--tracking terminal`` runs ``TRACKING_MODE=terminal``, the template's rule
matching outcomes only.

Beside it, what a poller describing every in-flight job every 30 s (Airflow's
``SageMakerHook`` default) or 60 s would ask for the same jobs (``polled``): counted, not
throttled. ``HandlerTime`` times
each invocation, the fakes' answers taken out.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import random
import statistics
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from moto import mock_aws

from bench.harness import (
    BENCH_EPOCH,
    SWEEP_EVERY,
    ItemsRead,
    Scenario,
    job_request,
    lambda_environment,
    measure_main,
    percentile,
    quiet,
)
from jobctl.logic.lifecycle import is_settled, record_is_settled
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.runtime import DELIVERIES
from jobctl_tools.local.sagemaker import planned_path

TICK = 30  # the shortest step a planned job takes, in seconds
ARRIVAL_WINDOW = 20 * 60
TRAINING_JOBS = 500
AUTOML_JOBS = 50
DROP_RATE = 0.01  # share of state changes whose every delivery is lost
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


def step_times(job: Any, plan: PlannedJob) -> list[float]:
    """Seconds from the job's creation to each step of its planned path (the simulator
    puts some training jobs in Pending first, by name: one step more, Pending to Starting)."""
    extra = len(job.plan) - len(plan.dwell)
    return list(itertools.accumulate([plan.pending] * extra + plan.dwell))


def polled(fleet: Fleet, interval: int) -> dict[str, Any]:
    """What a poller asks of SageMaker for the same fleet: it creates each job as its
    request arrives, then describes every job in flight on each tick of ``interval``
    seconds, until a Describe finds it settled; each job lives as long as SageMaker kept
    the controller's copy. Counted, not throttled: a real account would refuse most of it."""
    describes = 0
    for plan in fleet.plans.values():
        job = fleet.sim.jobs[plan.key]
        settled = plan.arrival + ((job.ended or job.modified) - job.created).total_seconds()
        # The ticks after its creation, up to the first at or after it settled.
        describes += math.ceil(settled / interval) - plan.arrival // interval
    jobs = len(fleet.plans)
    return {
        "create": jobs,
        "describe": describes,
        "total": jobs + describes,
        "per_job": {"total": round((jobs + describes) / jobs, 3)},
    }


class Fleet(Scenario):
    """The fleet on the one runtime: requests arrive on the jobs queue, each SageMaker job
    moves along its planned path at its planned times,
    and after every scheduled sweep a probe sweep measures what a quiet one costs (left
    out of the totals)."""

    def __init__(
        self, plans: list[PlannedJob], clock: ManualClock, tracking: str, profile: str
    ) -> None:
        # The account was granted an instance for each of its training jobs: how many run
        # at once is the arrivals' and the dwell times' doing, not a quota's.
        quotas = {"ml.m5.xlarge": sum(1 for job in plans if job.job_type == "TrainingJob")}
        super().__init__(clock, tracking, training_quotas=quotas)
        self.tracking, self.profile, self.horizon = tracking, profile, PROFILES[profile][1]
        self.deployment.drop_event_ratio = DROP_RATE
        self.plans = {job.key: job for job in plans}
        self.changes: Counter[str] = Counter()
        self.items_read = ItemsRead()
        self.duplicate_describes = 0
        self.unsettled_describes = 0
        self.notice_ids: Counter[str] = Counter()
        self.excluded: list[dict[str, Counter[str]]] = []  # the probes' calls
        self.probes: list[dict[str, Any]] = []
        self.moving: set[tuple[str, str]] = set()
        self.deployment.sweep_watchers.append(self.probe)
        self.handler_time = HandlerTime(self.deployment)
        for job in plans:
            self.arrive(job.arrival, json.dumps(job.request()))

    def job_changed(self, job: Any) -> None:
        self.changes[job.job_type] += 1
        key = (job.job_type, job.name)
        if key not in self.moving:  # created: its steps are planned
            self.moving.add(key)
            created = (job.created - self.clock.start).total_seconds()
            for seconds in step_times(job, self.plans[key]):
                step = functools.partial(self.sim.take_step, job.job_type, job.name)
                self.at(created + seconds, step)

    def attached(self, made: Any) -> None:
        self.handler_time.watch(made)
        made.sns.meta.events.register("before-parameter-build.sns.Publish", self._notice)
        made.sagemaker.meta.events.register("after-call.sagemaker", self._described)
        self.items_read.watch(made.dynamodb)

    def probe(self) -> None:
        """Another sweep right after the scheduled one, nothing changed: what it costs."""
        before, unsettled = self.snapshot(), self.unsettled_describes
        self.handler_time.quiet = True
        answer = self.deployment.sweep()
        self.handler_time.quiet = False
        spent = _diff(self.snapshot(), before)
        self.unsettled_describes = unsettled
        self.excluded.append(spent)
        self.probes.append(
            {"at_minute": int(self.clock.elapsed // 60), **_sweep_probe(spent, answer)}
        )

    def snapshot(self) -> dict[str, Counter[str]]:
        return {
            "sagemaker": Counter(self.sim.calls),
            "dynamodb": Counter(self.handler_time.calls["dynamodb"]),
            "sns": Counter(self.handler_time.calls["sns"]),
            "invocations": Counter(self.deployment.invocations),
            "items_read": Counter(self.items_read.by_call),
        }

    def _described(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        """Describes of jobs not settled yet (progress a cheaper source could give), and
        Describes made on a duplicate delivery of an event."""
        if model.name == "DescribeTrainingJob":
            state = (parsed.get("TrainingJobStatus", ""), parsed.get("SecondaryStatus"))
        elif model.name == "DescribeAutoMLJob":
            state = (parsed.get("AutoMLJobStatus", ""), parsed.get("AutoMLJobSecondaryStatus"))
        else:
            return
        self.unsettled_describes += not is_settled(*state)
        delivering = self.deployment.delivering
        self.duplicate_describes += bool(delivering and self.deployment.deliveries[delivering] > 1)

    def _notice(self, params: dict[str, Any], **_: Any) -> None:
        attributes = params.get("MessageAttributes") or {}
        self.notice_ids[attributes.get("notice_id", {}).get("StringValue", "?")] += 1


class HandlerTime:
    """Each invocation's own time: wall time in the handler less the time the fakes took to
    answer its calls (the simulator, the in-process DynamoDB, moto's SNS; from botocore's
    first ``before-call`` handler to its last ``after-call``), so what is left is
    Powertools, pydantic, botocore's request side and jobctl. Pacing sleeps on the
    simulated clock and cost no wall time. It counts the calls too (once per call, whatever
    botocore's retries)."""

    def __init__(self, deployment: Any) -> None:
        self.deployment, self.faked, self._call_started = deployment, 0.0, 0.0
        self.samples: dict[str, list[float]] = {}  # seconds per record, by kind
        self.calls: dict[str, Counter[str]] = defaultdict(Counter)  # by service, operation
        self.quiet_sweeps: list[tuple[int, float]] = []  # (jobs in flight, seconds)
        self.quiet = False  # a probe sweep is running
        invoke = deployment.functions.invoke
        deployment.functions.invoke = functools.partial(self._timed, invoke)

    def watch(self, made: Any) -> None:
        for client in (made.sagemaker, made.dynamodb, made.sns):
            service = client.meta.service_model.service_id.hyphenize()
            client.meta.events.register_first(f"before-call.{service}", self._call)
            client.meta.events.register_last(f"after-call.{service}", self._answered)

    def _call(self, model: Any, **_: Any) -> None:
        self.calls[model.service_model.endpoint_prefix][model.name] += 1
        self._call_started = time.perf_counter()

    def _answered(self, **_: Any) -> None:
        self.faked += time.perf_counter() - self._call_started

    def _timed(self, invoke: Any, logical_id: str, event: dict[str, Any]) -> Any:
        self.faked, started = 0.0, time.perf_counter()
        answer = invoke(logical_id, event)
        own = time.perf_counter() - started - self.faked
        if self.quiet:
            self.quiet_sweeps.append((sum(answer["sweep"]["in_flight"].values()), own))
        elif logical_id == "SubmitFunction":
            records = len(event["Records"])
            kind = "submit_batch_1" if records == 1 else "submit_batched"  # 2 to 10 records
            self.samples.setdefault(kind, []).append(own / records)
        elif event.get("source") == "aws.events":
            self.samples.setdefault("sweep", []).append(own)
        else:
            delivering = self.deployment.delivering
            again = delivering and self.deployment.deliveries[delivering] > 1
            self.samples.setdefault("event_again" if again else "event", []).append(own)
        return answer

    def figures(self) -> dict[str, Any]:
        """Microseconds per record (p50, p99) by kind; what a quiet sweep costs, fitted on
        the jobs in flight at each probe."""
        in_flight, seconds = zip(*self.quiet_sweeps, strict=True)
        slope, intercept = statistics.linear_regression(in_flight, seconds)
        return {
            kind: {
                "invocations": len(samples),
                **{f"p{q}_us": round(percentile(samples, q / 100) * 1e6) for q in (50, 99)},
            }
            for kind, samples in sorted(self.samples.items())
        } | {
            "quiet_sweep_ms_base": round(intercept * 1000, 2),
            "quiet_sweep_us_per_job_in_flight": round(slope * 1e6, 1),
            "quiet_sweep_probes": len(in_flight),
        }


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
    }


def run(scale: float = 1.0, tracking: str = "progress", profile: str = "mixed") -> dict[str, Any]:
    """The fleet, ``scale`` times the size (< 1: smaller), its functions on ``tracking``
    (``TRACKING_MODES``), its jobs running as ``profile`` says (``PROFILES``)."""
    if tracking not in TRACKING_MODES or profile not in PROFILES:
        raise SystemExit(f"tracking: one of {TRACKING_MODES}; profile: one of {sorted(PROFILES)}")
    training = max(10, round(TRAINING_JOBS * scale))
    automl = max(1, round(AUTOML_JOBS * scale))
    lambda_environment()
    os.environ["TRACKING_MODE"] = tracking  # the template's TrackingMode parameter
    dwell_table, horizon = PROFILES[profile]
    started, clock = time.perf_counter(), ManualClock(BENCH_EPOCH)
    plans = plan_fleet(training, automl, random.Random(SEED), dwell_table)  # noqa: S311
    fleet = Fleet(plans, clock, tracking, profile)

    with mock_aws(), quiet(), fleet:
        built = fleet.install()
        fleet.run(horizon)
        fleet.deployment.sweep_watchers.clear()
        totals = fleet.snapshot()
        for part in fleet.excluded:
            _subtract(totals, part)
        # Then nothing more happens: a few sweeps of the settled fleet, the last measured.
        fleet.deployment.run(until=3 * SWEEP_EVERY)
        before = fleet.snapshot()
        answer = fleet.deployment.sweep()
        idle = _sweep_probe(_diff(fleet.snapshot(), before), answer)

        records = built.reconciler.ledger.get_many((job.name, job.job_type) for job in plans)
        last_change = max(job.modified for job in fleet.sim.jobs.values())
        idle["minutes_after_last_change"] = round((clock.now() - last_change).total_seconds() / 60)

    wall_seconds = round(time.perf_counter() - started, 1)
    return figures(fleet, plans, totals, idle, records) | {"wall_seconds": wall_seconds}


def figures(
    fleet: Fleet,
    plans: list[PlannedJob],
    totals: dict[str, Counter[str]],
    idle: dict[str, Any],
    records: dict[tuple[str, str], Any],
) -> dict[str, Any]:
    """What the run measured, from its counts, the ledger and the simulator."""
    sim = fleet.sim
    jobs = len(plans)
    sagemaker = _sagemaker_summary(totals["sagemaker"], jobs)
    changes = sum(fleet.changes.values())
    deployment = fleet.deployment
    describes_by_type = {
        "TrainingJob": totals["sagemaker"]["DescribeTrainingJob"],
        "AutoMLJob": totals["sagemaker"]["DescribeAutoMLJob"],
    }
    baselines = {}
    for interval in POLL_INTERVALS:
        baselines[f"poll_{interval}s"] = polled(fleet, interval)
    calls_per_job = sagemaker["total"] / jobs
    return {
        "workload": _workload(fleet, plans),
        "state_changes": {**fleet.changes, "total": changes},
        "events": {
            "changes": deployment.events_sent,
            "dropped": deployment.events_dropped,
            "matched": len(deployment.deliveries),
            "deliveries": sum(deployment.deliveries.values()),
        },
        "controller": _controller(fleet, totals, len(plans)),
        "peak_list_tps": sim.peak_rate(*LISTS),
        "peak_describe_tps": sim.peak_rate(*DESCRIBES),
        "throttled": dict(sim.throttled),
        "baselines": baselines,
        "describe_per_state_change": round(sum(describes_by_type.values()) / changes, 3),
        "describe_per_state_change_by_type": {
            t: round(describes_by_type[t] / fleet.changes[t], 3) for t in describes_by_type
        },
        "duplicate_delivery_describes": fleet.duplicate_describes,
        "quiet_sweep_in_flight": _quiet_sweeps(fleet.probes),
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
        "unsettled_describes": fleet.unsettled_describes,
        "checks": _checks(fleet, records),
        "handler_time": fleet.handler_time.figures(),
    }


def _quiet_sweeps(probes: list[dict[str, Any]]) -> dict[str, Any]:
    """The probe sweeps run while jobs were in flight: the worst of them."""
    return {
        "probes": len(probes),
        "max_describes": max(p["describes"] for p in probes),
        "max_list_calls": max(p["list_calls"] for p in probes),
        "median_list_calls": statistics.median(p["list_calls"] for p in probes),
        "busiest": max(probes, key=lambda p: (p["list_calls"], p["jobs_listed"])),
        "max_dynamodb_items_read": max(probes, key=lambda p: p["dynamodb_items_read"]),
    }


def _checks(fleet: Fleet, records: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """Every job settled in the ledger as SageMaker has it, and announced once."""
    matching = [
        r
        for r in records.values()
        if (sm := fleet.sim.jobs.get((r.job_type, r.job_name)))
        and (r.sagemaker_status, r.secondary_status) == (sm.status, sm.secondary)
    ]
    return {
        "jobs": len(fleet.plans),
        "settled_in_ledger": sum(1 for r in records.values() if record_is_settled(r)),
        "ledger_matches_sagemaker": len(matching),
        "notices_published": sum(fleet.notice_ids.values()),
        "jobs_notified_exactly_once": sum(1 for n in fleet.notice_ids.values() if n == 1),
    }


def _workload(fleet: Fleet, plans: list[PlannedJob]) -> dict[str, Any]:
    lifetimes = [
        ((job.ended or job.modified) - job.created).total_seconds()
        for job in fleet.sim.jobs.values()
    ]
    training = sum(1 for plan in plans if plan.job_type == "TrainingJob")
    return {
        "training_jobs": training,
        "automl_jobs": len(plans) - training,
        "scaled_down": (training, len(plans) - training) != (TRAINING_JOBS, AUTOML_JOBS),
        "profile": fleet.profile,
        "tracking_mode": fleet.tracking,
        "simulated_hours": fleet.horizon / 3600,
        "arrival_window_minutes": ARRIVAL_WINDOW // 60,
        "sweep_every_seconds": SWEEP_EVERY,
        "submit_max_concurrency": int(os.environ["SUBMIT_MAX_CONCURRENCY"]),
        "deliveries_per_change": DELIVERIES,
        "dropped_change_rate": DROP_RATE,
        "seed": SEED,
        "mean_job_lifetime_minutes": round(statistics.fmean(lifetimes) / 60, 1),
        "longest_job_lifetime_minutes": round(max(lifetimes) / 60, 1),
    }


def _controller(fleet: Fleet, totals: dict[str, Counter[str]], jobs: int) -> dict[str, Any]:
    sagemaker = _sagemaker_summary(totals["sagemaker"], jobs)
    dynamodb = totals["dynamodb"]
    reads = sum(v for op, v in dynamodb.items() if op in DYNAMODB_READS)
    invocations = dict(totals["invocations"])
    return {
        "sagemaker": sagemaker,
        "lambda_invocations": invocations,
        "dynamodb_calls": dict(sorted(dynamodb.items())),
        "dynamodb_items_read": dict(totals["items_read"]),
        "per_job": {
            "sagemaker_calls": sagemaker["per_job"]["total"],
            **{key: sagemaker["per_job"][key] for key in ("create", "describe", "list_pages")},
            "lambda_invocations": round(sum(invocations.values()) / jobs, 3),
            "dynamodb_reads": round(reads / jobs, 3),
            "dynamodb_writes": round((sum(dynamodb.values()) - reads) / jobs, 3),
            "dynamodb_items_read": round(sum(totals["items_read"].values()) / jobs, 1),
            "sns_publishes": round(totals["sns"]["Publish"] / jobs, 3),
        },
        "errors": fleet.deployment.errors[:20],
        "error_count": fleet.deployment.errors.total,
        "simulated_seconds_paced": round(fleet.clock.slept, 1),
    }


if __name__ == "__main__":
    measure_main(run, __doc__, scale=1.0, tracking="progress", profile="mixed")
