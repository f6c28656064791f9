"""Retries by failure cause, and what jobs used (docs/contract.md §9; README, Benchmarks).

300 training requests asking ``"retry": {"attempts": 3}`` reach the jobs queue over 30
minutes, on the one runtime (``bench.harness.Scenario``) with budgets of 60
``ml.m5.xlarge`` and 30 ``ml.g5.2xlarge`` instances. The simulator fails the first try
of 10 % with ``CapacityError`` (while Starting) and of 3 % with ``AlgorithmError`` (its
``jobctl-sim:failed-tries`` and ``jobctl-sim:failure-reason`` tags); 20 % run on managed
spot. Each job's dwell times are drawn from its request's name, so a retry runs as the
same job's untroubled first try would.

Measured: the jobs retried (the capacity failures, none of the algorithm errors), notices
per job, the SageMaker calls naming a retry's own job, and ``jobctl report``'s totals
against the simulator's own accounting, to the second.
"""

from __future__ import annotations

import functools
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from moto import mock_aws

from bench.harness import (
    BENCH_EPOCH,
    RUNTIME,
    Scenario,
    job_request,
    lambda_environment,
    measure_main,
    quiet,
)
from jobctl_cli.report import report
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.sagemaker import (
    ALGORITHM_ERROR,
    CAPACITY_ERROR,
    FAILED_TRIES_TAG,
    FAILURE_REASON_TAG,
    REQUEST_TAG,
    Billed,
)
from jobctl_tools.local.sagemaker_quotas import training_instances

SEED = 20251218
JOBS = 300
CAPACITY_SHARE = 0.10  # fail their first try with CapacityError
ALGORITHM_SHARE = 0.03  # fail their first try with AlgorithmError
SPOT_SHARE = 0.20  # run on managed spot
RETRY = {"attempts": 3}
# US dollars per instance-hour (SageMaker training, us-east-1, on-demand): the user's own
# figures, as INSTANCE_PRICES always is.
PRICES = {"ml.m5.xlarge": 0.23, "ml.g5.2xlarge": 1.515}
INSTANCE_TYPES = ("ml.m5.xlarge", "ml.m5.xlarge", "ml.g5.2xlarge")  # drawn from: 2 to 1
INSTANCE_COUNTS = (1, 2)
BUDGETS = {"ml.m5.xlarge": 60, "ml.g5.2xlarge": 30}  # instances at once (INSTANCE_TYPE_BUDGETS)
SHARES = ("vision", "nlp", "prod")
ARRIVAL_WINDOW = 30 * 60
MAX_RUNTIME = 4 * 3600
MAX_WAIT = 2 * MAX_RUNTIME  # a spot job's MaxWaitTimeInSeconds (at least MaxRuntime)
HORIZON = 24 * 3600.0
# Seconds a job stays in a secondary status before its next (uniform ranges); a failure
# comes sooner: a CapacityError while Starting, an AlgorithmError early in training.
DWELL = {
    "Pending": (60, 600),
    "Starting": (120, 360),
    "Downloading": (60, 240),
    "Training": (10 * 60, 40 * 60),
    "Interrupted": (60, 300),
    "Restarting": (60, 180),
    "Uploading": (60, 180),
}
DWELL_BEFORE_FAILING = {"Starting": (30, 180), "Training": (60, 10 * 60)}


@dataclass(frozen=True)
class PlannedJob:
    name: str
    share: str
    instance_type: str
    instances: int
    spot: bool
    cause: str | None  # what fails its first try: "capacity", "algorithm" or nothing
    arrival: float

    def request(self) -> dict[str, Any]:
        """Its request; its first try fails for its cause."""
        body = job_request("TrainingJob", self.name, max_runtime=MAX_RUNTIME)
        spec = body["spec"]
        spec["ResourceConfig"] = {
            "InstanceType": self.instance_type,
            "InstanceCount": self.instances,
            "VolumeSizeInGB": 30,
        }
        if self.spot:
            spec["EnableManagedSpotTraining"] = True
            spec["StoppingCondition"]["MaxWaitTimeInSeconds"] = MAX_WAIT
        if self.cause is not None:
            reason = CAPACITY_ERROR if self.cause == "capacity" else ALGORITHM_ERROR
            spec["Tags"] += [
                {"Key": FAILED_TRIES_TAG, "Value": "1"},
                {"Key": FAILURE_REASON_TAG, "Value": reason},
            ]
        body.update(share=self.share, retry=RETRY)
        return body


def _share_of(count: int, share: float) -> int:
    """How many of ``count`` jobs a share is: at least one, however small the fleet."""
    return max(1, round(count * share)) if count else 0


def plan_fleet(count: int, rng: random.Random) -> list[PlannedJob]:
    """``count`` requests: exactly the shares' numbers of capacity failures, algorithm
    errors (apart from them) and spot jobs (drawn from all), the rest drawn at random."""
    order = list(range(count))
    rng.shuffle(order)
    capacity = set(order[: _share_of(count, CAPACITY_SHARE)])
    algorithm = set(order[len(capacity) : len(capacity) + _share_of(count, ALGORITHM_SHARE)])
    spot = set(rng.sample(range(count), _share_of(count, SPOT_SHARE)))
    return [
        PlannedJob(
            name=f"bench-retry-{index:04d}",
            share=SHARES[index % len(SHARES)],
            instance_type=rng.choice(INSTANCE_TYPES),
            instances=rng.randint(*INSTANCE_COUNTS),
            spot=index in spot,
            cause="capacity" if index in capacity else "algorithm" if index in algorithm else None,
            arrival=round(rng.uniform(0, ARRIVAL_WINDOW), 3),
        )
        for index in range(count)
    ]


def dwell(request: str, current: str, following: str, occurrence: int) -> int:
    """Seconds the request's job stays in ``current`` (its ``occurrence``-th time there)
    before ``following``: drawn from the request's name, not the try's, so a retry runs as
    the same job's untroubled first try would."""
    low, high = (
        DWELL_BEFORE_FAILING.get(current, DWELL[current])
        if following == "Failed"
        else DWELL[current]
    )
    draw = random.Random(f"{SEED}/{request}/{current}>{following}/{occurrence}")  # noqa: S311
    return draw.randint(low, high)


class Fleet(Scenario):
    """The requests on the deployment; each SageMaker job (every try) moves along the
    simulator's own planned path (``take_step``) at its planned times."""

    def __init__(
        self,
        jobs: list[PlannedJob],
        clock: ManualClock,
    ) -> None:
        granted: Counter[str] = Counter()
        for job in jobs:
            granted[job.instance_type] += job.instances
        super().__init__(clock, training_quotas=dict(granted), spot_training_quotas=dict(granted))
        self.jobs = {job.name: job for job in jobs}
        # SageMaker calls naming a job, by (job, operation).
        self.calls_by_job: Counter[tuple[str, str]] = Counter()

    def run(self, horizon: float = HORIZON) -> None:
        for job in self.jobs.values():
            self.arrive(job.arrival, json.dumps(job.request()))
        super().run(horizon)

    def finished(self) -> bool:
        return (
            self.arrivals_due == 0
            and all(job.ended is not None for job in self.sim.jobs.values())
            and not self.deployment.queue_depth()
        )

    def job_changed(self, job: Any) -> None:
        if not job.plan:
            return
        request = job.tags.get(REQUEST_TAG, job.name)
        occurrence = sum(1 for t in job.transitions if t["Status"] == job.secondary)
        seconds = dwell(request, job.secondary, job.plan[0][1], occurrence)
        self.at(self.clock.elapsed + seconds, functools.partial(self._step, job.name))

    def _step(self, name: str) -> None:
        self.sim.take_step("TrainingJob", name)

    def attached(self, made: Any) -> None:
        made.sagemaker.meta.events.register("before-parameter-build.sagemaker", self._named)

    def _named(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = params.get("TrainingJobName") or params.get("ResourceArn", "").rpartition("/")[2]
        if name:
            self.calls_by_job[name, model.name] += 1


# -- the measures -----------------------------------------------------------------------


def notices_by_job(messages: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The notices published, by the job they announce."""
    notices: dict[str, list[dict[str, Any]]] = {}
    for message in messages:
        notice = json.loads(message)
        notices.setdefault(notice["job_name"], []).append(notice)
    return notices


def notice_figures(
    jobs: int, notices: dict[str, list[dict[str, Any]]], records: Any
) -> dict[str, Any]:
    """Notices per job, the jobs notified exactly once, and those whose notice gives the
    record's number of tries."""
    published = sum(len(n) for n in notices.values())
    return {
        "notices_per_job": round(published / jobs, 3) if jobs else None,
        "notices_published": published,
        "jobs_notified_exactly_once": sum(1 for n in notices.values() if len(n) == 1),
        "notices_giving_the_tries": sum(
            1
            for name, sent in notices.items()
            if (record := records.get((name, "TrainingJob"))) is not None
            and all(n.get("attempts") == len(record.attempts) for n in sent)
        ),
    }


def compared(jobctl: float, simulator: float) -> dict[str, Any]:
    return {"jobctl": jobctl, "simulator": simulator, "difference": jobctl - simulator}


def report_against_simulator(records: list[Any], sim: Any) -> dict[str, Any]:
    """``jobctl report``'s totals over the ledger's records against the simulator's
    accounting of the same jobs (their tries: every job the simulator ran here)."""
    total = report(records).total
    billed = sim.billed_total()
    training_instance_seconds = 0
    cost = 0.0
    for job in sim.jobs.values():
        one: Billed | None = sim.billed(job.job_type, job.name)
        if one is None:
            continue
        instances = training_instances(job.request)
        training_instance_seconds += one.training_seconds * sum(instances.values())
        cost += sum(one.billable_seconds * n * PRICES[t] / 3600 for t, n in instances.items())
    training = sum(r.usage.training_seconds for r in records if r.usage is not None)
    figures = {
        "billable_instance_seconds": compared(
            total.billable_instance_seconds, billed.billable_instance_seconds
        ),
        # report() totals no training seconds: the ledger's usage, which it reads, does.
        "training_seconds": compared(training, billed.training_seconds),
        # Training on each instance: what the report's billable and spot-saved parts add to.
        "training_instance_seconds": compared(
            total.billable_instance_seconds + total.spot_saved_instance_seconds,
            training_instance_seconds,
        ),
        "spot_saved_instance_seconds": compared(
            total.spot_saved_instance_seconds,
            training_instance_seconds - billed.billable_instance_seconds,
        ),
    }
    agree = all(f["difference"] == 0 for f in figures.values())
    # Each try is priced rounded to 4 decimals: the sum may differ by that much a try.
    figures["estimated_cost_usd"] = {
        "jobctl": round(total.estimated_cost_usd, 4),
        "simulator": round(cost, 4),
        "difference": round(total.estimated_cost_usd - cost, 4),
        "unpriced_jobs": total.unpriced_jobs,
    }
    return {"agree_to_the_second": agree, **figures}


def tries_matching_the_simulator(records: list[Any], sim: Any) -> tuple[int, int]:
    """(tries whose ``usage`` is what the simulator billed that job for, tries)."""
    matching = tries = 0
    for record in records:
        for attempt in record.attempts:
            tries += 1
            billed = sim.billed("TrainingJob", attempt.sagemaker_job_name)
            usage = attempt.usage
            if billed is None:
                matching += usage is None or usage.billable_instance_seconds == 0
            elif usage is not None:
                matching += (
                    usage.training_seconds,
                    usage.billable_seconds,
                    usage.billable_instance_seconds,
                ) == (
                    billed.training_seconds,
                    billed.billable_seconds,
                    billed.billable_instance_seconds,
                )
    return matching, tries


def run_fleet(jobs: list[PlannedJob]) -> dict[str, Any]:
    """One run of the fleet; what it left."""
    started = time.perf_counter()
    clock = ManualClock(BENCH_EPOCH)
    fleet = Fleet(jobs, clock)
    with mock_aws(), quiet(), fleet:
        built = fleet.install()
        fleet.run()
        found = built.reconciler.ledger.get_many((job.name, "TrainingJob") for job in jobs)
        records = [found[key] for key in sorted(found)]
        checks = fleet.checks(records, len(jobs))
    by_key = {record.key: record for record in records}
    notices = notices_by_job(fleet.published)
    retried = [r for r in records if len(r.attempts) > 1]
    causes = Counter(fleet.jobs[r.job_name].cause or "none" for r in retried)
    later_tries: Counter[str] = Counter()  # calls naming a retry's own job, by operation
    for (name, operation), calls in fleet.calls_by_job.items():
        later_tries[operation] += calls if name not in fleet.jobs else 0
    matching, tries = tries_matching_the_simulator(records, fleet.sim)
    return {
        "records": records,
        "sim": fleet.sim,
        "summary": {
            "retried_jobs": len(retried),
            "retried_by_cause": dict(causes),
            "tries": tries,
            "sagemaker_jobs": len(fleet.sim.jobs),
            **notice_figures(len(jobs), notices, by_key),
            "sagemaker_calls": sum(fleet.sim.calls.values()),
            "calls_naming_later_tries": dict(+later_tries),
            "checks": checks
            | {
                "tries_usage_matching_the_simulator": matching,
                "peak_instances_running": dict(sorted(fleet.sim.peaks()[1].items())),
                "sagemaker_throttled": dict(fleet.sim.throttled),
            },
            "lambda_invocations": dict(fleet.deployment.invocations),
            "simulated_hours": round(clock.elapsed / 3600, 2),
            "wall_seconds": round(time.perf_counter() - started, 1),
        },
    }


def scenario_environment() -> None:
    """The functions' environment for the fleet: the template's, with the jobs queue (for
    the retries), the prices and the budgets."""
    lambda_environment()
    os.environ.update(
        TRACKING_MODE="progress",
        INSTANCE_PRICES=",".join(f"{t}={p}" for t, p in PRICES.items()),
        INSTANCE_TYPE_BUDGETS=",".join(f"{t}={n}" for t, n in BUDGETS.items()),
    )


def scenario(count: int = JOBS) -> dict[str, Any]:
    """The fleet, and the figures from it."""
    scenario_environment()
    started = time.perf_counter()
    jobs = plan_fleet(count, random.Random(SEED))  # noqa: S311 - a reproducible workload
    expected = Counter(job.cause for job in jobs if job.cause)
    main = run_fleet(jobs)
    summary = main["summary"]
    retries = summary["tries"] - summary["checks"]["recorded"]
    accounts = report_against_simulator(main["records"], main["sim"])
    return {
        "workload": {
            "jobs": count,
            "scaled_down": count != JOBS,
            "capacity_failures": expected["capacity"],
            "algorithm_errors": expected["algorithm"],
            "spot_jobs": sum(1 for job in jobs if job.spot),
            "spot_and_capacity_failure": sum(
                1 for job in jobs if job.spot and job.cause == "capacity"
            ),
            "retry": RETRY,
            "instance_prices": PRICES,
            "instance_type_budgets": BUDGETS,
            "instance_types": dict(Counter(job.instance_type for job in jobs)),
            "instance_counts": list(INSTANCE_COUNTS),
            "arrival_window_minutes": ARRIVAL_WINDOW // 60,
            **RUNTIME,
            "seed": SEED,
        },
        "retried_jobs": summary["retried_jobs"],
        "retried_jobs_expected": expected["capacity"],
        "retried_algorithm_errors": summary["retried_by_cause"].get("algorithm", 0),
        "notices_per_job": summary["notices_per_job"],
        "jobs_notified_exactly_once": summary["jobs_notified_exactly_once"],
        # A retry is one job more: its create, its Describe once settled, its tags' read.
        "sagemaker_calls_per_retry": {
            operation: round(calls / retries, 3)
            for operation, calls in summary["calls_naming_later_tries"].items()
        },
        "retries": retries,
        "report_matches_simulator": accounts["agree_to_the_second"],
        "report_vs_simulator": accounts,
        "report_by_share": report(main["records"]).as_dict(),
        "run": summary,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    measure_main(scenario, __doc__, count=JOBS)
