"""The local stack under a burst: 1,000 training requests enqueued at once, then state
changes timed to their notices (README, Benchmarks).

``jobctl_tools.local.stack.LocalStack`` runs in this process: moto's server over HTTP,
the simulated SageMaker over HTTP with its account-wide rate limits (CreateTrainingJob
1/s, burst 2), the one runtime on a clock ``SPEED`` times the wall's (``ScaledClock``;
the ledger's times are on it). The controller runs at its default create rate (0.9/s,
so 1 / 0.9 = 1.11 simulated seconds a job by design) with ``SUBMIT_MAX_CONCURRENCY=1``.
Jobs do not move on their own (a very long step). The simulated seconds the controller's
pacers slept tell the create rate's bound from this machine's speed.

Then 20 jobs complete one at a time, and 50 at once: wall milliseconds from each state
change to its SNS Publish.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from bench.harness import distribution, job_request, measure_main
from jobctl.config import get_settings
from jobctl.models.jobs import IN_PROGRESS, SUBMIT_FAILED
from jobctl_tools.local.stack import LocalStack, LocalStackOptions

REQUESTS = 1_000
# The local stack's own work per job takes about 140 wall ms on 2 cores: at 5x a create's
# turn (1/0.9 s) is 222 wall ms, so the figure measures the controller's pacing, not this
# machine.
SPEED = 5
TIMEOUT = 900  # wall seconds to wait for every request to settle into InProgress or fail
MAX_RUNTIME = 7 * 86_400  # no job reaches its maximum runtime during the burst
SEQUENTIAL_NOTICES, BURST_NOTICES = 20, 50


def run(speed: float = SPEED, requests: int = REQUESTS) -> dict[str, Any]:
    started = time.perf_counter()
    options = LocalStackOptions(
        state_dir=Path(tempfile.mkdtemp(prefix="jobctl-bench-burst-")),
        step_seconds=10**9,  # jobs stay where this driver puts them
        sweep_seconds=300,  # the template's rate(5 minutes), in simulated time
        visibility_timeout=5,
        speed=speed,
        # Granted the instances to run every job at once: the quota is not what is measured.
        quotas={"ml.m5.xlarge": requests},
    )
    names = [f"bench-burst-{index:04d}" for index in range(requests)]
    with LocalStack(options) as stack:
        first, wall_first = stack.clock.now(), time.perf_counter()
        enqueue(stack, names)
        records = wait_in_progress(stack, names)
        wall_span = time.perf_counter() - wall_first
        letters = [d for d in stack.client().dead_letters() if d.job_name in set(names)]
        sagemaker, errors = stack.sagemaker, list(stack.errors)
        slept = stack.clock.slept  # by the burst's end
        notices = notice_latency(stack, names)
    span = last_in_progress(records, first)
    settings = get_settings()
    floor = settings.submit_max_concurrency / settings.sagemaker_create_rate
    statuses = Counter(r.status for r in records)
    in_progress = sum(1 for r in records if r.job_arn)
    all_in = span if span and in_progress == requests else None
    return {
        "requests": requests,
        "speed": speed,
        "sagemaker_create_rate": settings.sagemaker_create_rate,
        "seconds_per_job_floor_by_design": round(floor, 3),
        "in_progress": in_progress,
        "ledger_statuses": dict(statuses),
        "simulated_seconds_to_last_in_progress": round(span, 1) if span else None,
        "burst_seconds_per_job": round(all_in / requests, 3) if all_in else None,
        "requests_per_second": round(in_progress / span, 2) if span else None,
        "burst_submit_failed": statuses.get(SUBMIT_FAILED, 0),
        "dead_letters": len(letters),
        "create_calls": sagemaker.calls["CreateTrainingJob"],
        "throttled": dict(sagemaker.throttled),
        "throttled_total": sum(sagemaker.throttled.values()),
        "peak_creates_per_second": sagemaker.peak_rate("CreateTrainingJob"),
        # Where the time went: the pacer waiting for its turn, or the stack working.
        "pacer_slept_simulated_seconds": round(slept, 1),
        "busy_share": round(1 - slept / span, 3) if span else None,
        "wall_seconds_to_last_in_progress": round(wall_span, 1),
        "wall_ms_per_job": round(wall_span / requests * 1000, 1),
        "event_to_notice_ms": notices,
        "stack_errors": errors[:10],
        "stack_error_count": len(errors),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def enqueue(stack: LocalStack, names: list[str]) -> None:
    sqs: Any = boto3.client("sqs")  # the local stack set AWS_ENDPOINT_URL
    bodies = [json.dumps(job_request("TrainingJob", n, max_runtime=MAX_RUNTIME)) for n in names]
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start:][:10])]
        sqs.send_message_batch(QueueUrl=stack.outputs["JobsQueueUrl"], Entries=entries)


def wait_in_progress(stack: LocalStack, names: list[str]) -> list[Any]:
    """The requests' records once each is InProgress or given up (or at the timeout)."""
    ledger, keys = stack.controller.reconciler.ledger, [(n, "TrainingJob") for n in names]
    records: list[Any] = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(2)
        # SageMaker's jobs are counted in memory; the ledger is read once they all exist.
        if sum(1 for key in keys if key in stack.sagemaker.jobs) < len(keys):
            continue
        records = list(ledger.get_many(keys).values())
        if sum(1 for r in records if r.job_arn or r.status == SUBMIT_FAILED) == len(keys):
            break
    return records


def last_in_progress(records: list[Any], first: datetime) -> float | None:
    times = [
        datetime.fromisoformat(entry.at.replace("Z", "+00:00"))
        for record in records
        for entry in record.history
        if entry.status == IN_PROGRESS
    ]
    return (max(times) - first).total_seconds() if times else None


def notice_latency(stack: LocalStack, names: list[str]) -> dict[str, Any]:
    """Wall time from a job's state change to its notice's Publish: one at a time, then a
    burst, once the Starting events of every job were recorded."""
    published: dict[str, float] = {}

    def stamp(params: dict[str, Any], **_: Any) -> None:
        notice_id = params["MessageAttributes"]["notice_id"]["StringValue"]
        published.setdefault(notice_id, time.perf_counter())

    stack.controller.clients.sns.meta.events.register("before-parameter-build.sns.Publish", stamp)
    keys = [(name, "TrainingJob") for name in names]
    ledger = stack.controller.reconciler.ledger
    _wait(lambda: all(r.sagemaker_status for r in ledger.get_many(keys).values()), 120)

    def settle(chosen: list[str], timeout: float) -> list[float]:
        changed = {}
        for name in chosen:
            changed[f"TrainingJob/{name}/Completed"] = time.perf_counter()
            stack.sagemaker.set_state("TrainingJob", name, "Completed", "Completed")
        _wait(lambda: all(notice in published for notice in changed), timeout, 0.002)
        return [published[n] - at for n, at in changed.items() if n in published]

    one_at_a_time = [x for name in names[:SEQUENTIAL_NOTICES] for x in settle([name], 30)]
    burst_started = time.perf_counter()
    burst = settle(names[SEQUENTIAL_NOTICES:][:BURST_NOTICES], 120)
    burst_span = max(published.values()) - burst_started
    return {
        "one_at_a_time": distribution(one_at_a_time, 1000),
        f"burst_of_{BURST_NOTICES}": distribution(burst, 1000)
        | {"notices_per_second": round(len(burst) / burst_span, 1) if burst else None},
    }


def _wait(condition: Any, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


if __name__ == "__main__":
    measure_main(run, __doc__, speed=float(SPEED), requests=REQUESTS)
