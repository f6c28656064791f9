"""Sweep cost over an account's history: the List calls one sweep makes in a mature account.

SageMaker never deletes a job, and a List call takes its page in sort order first and
filters it afterwards: a listing filtered on ``LastModifiedTimeAfter`` pages through the
account's whole history, whatever the filter keeps. This measures what that means for
the sweep, in a simulated account (``jobctl_tools.local.sagemaker``, its rate limits on: List*
2 calls a second per operation) holding ``HISTORY`` finished jobs of other teams
(``seed_history``: one in 25 an AutoML job, created over the past year) and
``IN_FLIGHT`` training jobs of ours, submitted through the real submit handler under
moto (as ``bench.fleet`` does) and still running: none has settled, so the sweep has
them all to look for. No state-change events are delivered: the first sweep finds
every job's first status from List, the most a sweep could have to record.

- The first sweep, then a quiet one at the next schedule (5 simulated minutes later,
  nothing changed): List calls and Describes, as the simulator counts them.
- The same quiet sweep as the sweep was before the in-flight index: it listed both job
  types with only ``LastModifiedTimeAfter=<watermark - 60 s>`` and
  ``PaginationConfig={"PageSize": 100}`` through botocore's paginator, in each API's
  default sort (ListTrainingJobs oldest first, ListAutoMLJobs by name). That call
  pattern is replayed, with the watermark at the newest LastModifiedTime of our jobs,
  against a *second simulator seeded identically* (the same ``seed_history`` at the
  same moment of the same clock, and each of our jobs created in it at the moment the
  controller created it in the first one), with ``rate_limits=None``: the paginator
  makes its calls back to back, and what is counted is how many pages it needs, not
  how the account would refuse them. The seconds those calls need at 2 calls a second
  (SageMaker's List limit) and at the controller's 1 a second are reported with them.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import timedelta
from typing import Any

from bench.harness import (
    BENCH_EPOCH,
    job_request,
    lambda_environment,
    measure_main,
    quiet,
)
from jobctl_tools.local.clocks import ManualClock

HISTORY = 50_000
IN_FLIGHT = 200
# Both accounts were granted an instance for every job of ours in flight.
QUOTAS = {"ml.m5.xlarge": IN_FLIGHT}
SWEEP_EVERY = 300  # the template's rate(5 minutes)
LISTS = ("ListTrainingJobs", "ListAutoMLJobs")
DESCRIBES = ("DescribeTrainingJob", "DescribeAutoMLJob")
LIST_LIMIT_PER_SECOND = 2  # SageMaker's, per List operation (jobctl_tools.local.sagemaker)
OLD_OVERLAP = timedelta(seconds=60)  # the former SWEEP_OVERLAP_SECONDS default
MAX_RUNTIME = 7 * 86_400  # the jobs run for days: none is reported stuck here
TARGET_LIST_CALLS = 4


def _calls(sim: Any, operations: tuple[str, ...]) -> Counter[str]:
    return Counter({op: sim.calls[op] for op in operations if sim.calls[op]})


def _snapshot(sim: Any) -> dict[tuple[str, str], tuple[Any, ...]]:
    """What a List call shows of every job in the account."""
    return {
        key: (job.created, job.modified, job.status, job.secondary) for key, job in sim.jobs.items()
    }


class Sweeps:
    """The scheduled sweep through the deployment's reconcile function, its SageMaker calls
    counted."""

    def __init__(self, deployment: Any) -> None:
        self.deployment, self.sim, self.clock = deployment, deployment.sagemaker, deployment.clock

    def run(self) -> dict[str, Any]:
        lists, describes = _calls(self.sim, LISTS), _calls(self.sim, DESCRIBES)
        started, wall = self.clock.now(), time.perf_counter()
        answer = self.deployment.sweep()
        list_calls = _calls(self.sim, LISTS) - lists
        report = answer["sweep"]
        return {
            "list_calls": sum(list_calls.values()),
            "list_calls_by_operation": dict(list_calls),
            "describes": sum((_calls(self.sim, DESCRIBES) - describes).values()),
            "report": report,
            "simulated_seconds": round((self.clock.now() - started).total_seconds(), 2),
            "wall_ms": round((time.perf_counter() - wall) * 1000, 1),
        }


def replay_old_quiet_sweep(replay: Any, watermark: Any) -> dict[str, Any]:
    """The former sweep's List calls, exactly: botocore's paginator, ``LastModifiedTimeAfter``
    and a page size of 100, each API's default sort, both job types."""
    import boto3

    client = replay.attach(boto3.client("sagemaker"))
    since = watermark - OLD_OVERLAP
    before = _calls(replay, LISTS)
    kept: Counter[str] = Counter()
    for operation, member in (
        ("list_training_jobs", "TrainingJobSummaries"),
        ("list_auto_ml_jobs", "AutoMLJobSummaries"),
    ):
        pages = client.get_paginator(operation).paginate(
            LastModifiedTimeAfter=since, PaginationConfig={"PageSize": 100}
        )
        for page in pages:
            kept[operation] += len(page.get(member, []))
    calls = _calls(replay, LISTS) - before
    total = sum(calls.values())
    return {
        "list_calls": total,
        "list_calls_by_operation": dict(calls),
        "summaries_returned": dict(kept),  # what the filter kept, out of every page
        "last_modified_time_after": since.isoformat(),
        "seconds_at_2_calls_per_second": round(total / LIST_LIMIT_PER_SECOND, 1),
        "seconds_at_the_controllers_list_rate": None,  # filled in by run()
        "replayed_on": "a second simulator seeded identically, rate_limits=None (checked: "
        "the same jobs, times and statuses as the controller's account)",
    }


def run() -> dict[str, Any]:
    lambda_environment()
    from moto import mock_aws

    from jobctl.adapters.aws import clients
    from jobctl.config import Settings
    from jobctl.logic.lifecycle import is_settled
    from jobctl_tools.local.runtime import Deployment
    from jobctl_tools.local.sagemaker import SimulatedJob, SimulatedSageMaker

    started = time.perf_counter()
    clock = ManualClock(BENCH_EPOCH)
    # The second account, seeded identically: every job of ours the controller creates in
    # the first is created in it at the same moment of the same clock.
    replay = SimulatedSageMaker(clock=clock, rate_limits=None, training_quotas=QUOTAS)

    def mirror(job: SimulatedJob) -> None:
        if (job.job_type, job.name) not in replay.jobs:
            replay.handle(f"Create{job.job_type}", job.request)

    # The account's rate limits on.
    sim = SimulatedSageMaker(clock=clock, on_change=mirror, training_quotas=QUOTAS)
    seeding = time.perf_counter()
    for account in (sim, replay):
        account.seed_history(HISTORY)
    seed_seconds = time.perf_counter() - seeding

    with mock_aws(), quiet():
        deployment = Deployment(clock, sim).deploy(queue=False)  # no queue: no clock for SQS
        sim.on_change = mirror  # no events: the sweep alone finds what changed
        made = clients()
        sim.attach(made.sagemaker)
        built = deployment.install(Settings.from_environ(os.environ), made)
        names = [f"bench-sweep-{index:04d}" for index in range(IN_FLIGHT)]
        submitting, failures = clock.now(), 0
        for first in range(0, IN_FLIGHT, 10):
            bodies = [
                job_request("TrainingJob", name, "Hang", MAX_RUNTIME)
                for name in names[first : first + 10]
            ]
            answer = deployment.submit(bodies)
            failures += len(answer.get("batchItemFailures", []))
        submit_seconds = (clock.now() - submitting).total_seconds()
        ours = [
            sim.jobs[("TrainingJob", name)] for name in names if ("TrainingJob", name) in sim.jobs
        ]
        ledger = built.reconciler.ledger
        in_flight_index = len(ledger.in_flight("TrainingJob"))
        statuses = Counter(f"{job.status}/{job.secondary}" for job in ours)
        unsettled = sum(1 for job in ours if not is_settled(job.status, job.secondary))
        if failures or len(ours) != IN_FLIGHT or unsettled != IN_FLIGHT:
            raise RuntimeError(
                f"{failures} submit failures, {len(ours)} jobs created, {unsettled} in flight"
            )

        sweeps = Sweeps(deployment)
        first_sweep = sweeps.run()
        clock.set(clock.elapsed + SWEEP_EVERY)
        quiet_sweep = sweeps.run()

        # The former sweep, on the same account at the same moment: a quiet sweep, its
        # watermark at the newest change of our jobs (nothing changed since).
        if _snapshot(replay) != _snapshot(sim):
            raise RuntimeError("the replay's account differs from the controller's")
        watermark = max(replay.jobs[("TrainingJob", name)].modified for name in names)
        before = replay_old_quiet_sweep(replay, watermark)
        before["seconds_at_the_controllers_list_rate"] = round(
            before["list_calls"] / built.settings.sagemaker_list_rate, 1
        )
        still_in_flight = len(ledger.in_flight("TrainingJob"))

    history = Counter(job.job_type for job in sim.jobs.values() if not job.name.startswith("bench"))
    return {
        "account": {
            "history_jobs": HISTORY,
            "history_by_type": dict(history),
            "history_span_days": 365,
            "ours_in_flight": IN_FLIGHT,
            "ours_by_status": dict(statuses),
            "in_flight_index_entries": in_flight_index,
            "in_flight_after_the_sweeps": still_in_flight,
            "rate_limits": "on (List* 2/s, burst 2; Create* 1/s; others 5/s)",
            "submit_simulated_seconds": round(submit_seconds, 1),
            "seed_wall_seconds": round(seed_seconds, 2),
        },
        "first_sweep": first_sweep,
        "quiet_sweep": quiet_sweep,
        "quiet_sweep_before": before,
        "sweep_list_calls_first_50k": first_sweep["list_calls"],
        "sweep_list_calls_quiet_50k": quiet_sweep["list_calls"],
        "sweep_list_calls_quiet_50k_before": before["list_calls"],
        "sweep_describes_first_50k": first_sweep["describes"],
        "sweep_describes_quiet_50k": quiet_sweep["describes"],
        "target_list_calls": TARGET_LIST_CALLS,
        "throttled": dict(sim.throttled),
        "peak_list_tps": sim.peak_rate(*LISTS),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    measure_main(run, __doc__)
