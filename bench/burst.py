"""The local stack under a burst: 1,000 training requests enqueued at once (README,
Benchmarks).

``jobctl_tools.local.stack.LocalStack`` runs in this process: moto's server over HTTP,
the simulated SageMaker over HTTP with its account-wide rate limits (CreateTrainingJob
1/s, burst 2), the one runtime on a clock ``SPEED`` times the wall's (``ScaledClock``;
the ledger's times are on it). The controller runs at its default create rate (0.9/s,
so 1 / 0.9 = 1.11 simulated seconds a job by design) with ``SUBMIT_MAX_CONCURRENCY=1``.
Jobs do not move on their own (a very long step). The simulated seconds the controller's
pacers slept tell the create rate's bound from this machine's speed.
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

from bench.harness import job_request, measure_main
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
        slept = stack.clock.slept
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
    deadline, last_read = time.monotonic() + TIMEOUT, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(2)
        # The ledger once every job exists, or every 30 s (a SubmitFailed request has none).
        created = sum(1 for name in names if ("TrainingJob", name) in stack.sagemaker.jobs)
        if created < len(names) and time.monotonic() - last_read < 30:
            continue
        last_read = time.monotonic()
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


if __name__ == "__main__":
    measure_main(run, __doc__, speed=float(SPEED), requests=REQUESTS)
