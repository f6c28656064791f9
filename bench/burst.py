"""A burst of requests: 1,000 training requests enqueued at once, on the embedded local stack.

``jobctl_tools.local.stack.LocalStack`` runs in this process (moto server over HTTP for SQS,
DynamoDB and SNS; the simulated SageMaker over HTTP, its account-wide rate limits on:
CreateTrainingJob 1 call a second, burst 2). The controller runs at its default settings
(``SAGEMAKER_CREATE_RATE`` 0.9/s), and the local stack runs one invocation at a time, so
it sets ``SUBMIT_MAX_CONCURRENCY=1``: one submit invocation may spend the whole create
rate. At the wall clock's pace 1,000 creates would take over 18 minutes, so the stack and
the functions share a clock ``SPEED`` times faster (``ScaledClock``; ``stack.clock.now()``
is simulated time, and the ledger's times are on it). Jobs do not move on their own (a
very long step), so every one stays InProgress.

Measured: simulated seconds from the first enqueue to the last record InProgress (the
InProgress entry of its ledger history), divided by the number of requests; requests
that ended SubmitFailed, dead letters, the calls the account's limits throttled, the most
creates in one simulated second, records whose ``last_error`` still mentions throttling,
and wall seconds. The default create rate bounds the figure by design: 1 / 0.9 = 1.11
seconds a job, leaving 10 % of SageMaker's 1/s for network jitter and other users of the
account. To tell that bound from this machine's own speed, the simulated seconds the
controller's pacer slept (waiting for its turn) are reported too: a pacer that seldom
waits means the stack, not the rate, was the limit. ``--speed`` runs the same burst on
another clock (a diagnostic; ``make bench`` runs it at ``SPEED``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.harness import job_request, write_result

REQUESTS = 1_000
# The local stack's own work per job (SQS, DynamoDB and the simulator over HTTP, all in
# this process) takes about 140 ms of wall time on 2 cores: at 20x that is 2.8 simulated
# seconds, more than a create's turn. At 5x a turn (1/0.9 s) is 222 wall ms, so the
# figure measures the controller's pacing, not this machine.
SPEED = 5
TIMEOUT = 900  # wall seconds to wait for every request to settle into InProgress or fail
MAX_RUNTIME = 7 * 86_400  # no job reaches its maximum runtime during the burst
TARGET_SECONDS_PER_JOB = 1.15


class PacerWatch:
    """Simulated seconds the controller's pacers slept on the stack's clock (its ``sleep``):
    the creates' mostly, the sweep's List and the Describes' too."""

    def __init__(self, clock: Any) -> None:
        self.slept = 0.0
        self.sleeps = 0
        self._sleep = clock.sleep
        self._lock = threading.Lock()
        clock.sleep = self.sleep  # the pacer looks the method up on the clock it was given

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept += max(0.0, seconds)
            self.sleeps += 1
        self._sleep(seconds)


def run(speed: float = SPEED, requests: int = REQUESTS) -> dict[str, Any]:
    import boto3

    from jobctl.config import get_settings
    from jobctl.models.jobs import IN_PROGRESS, SUBMIT_FAILED
    from jobctl_tools.local.stack import LocalStack, LocalStackOptions

    started = time.perf_counter()
    options = LocalStackOptions(
        state_dir=Path(tempfile.mkdtemp(prefix="jobctl-bench-burst-")),
        step_seconds=10**9,  # jobs stay InProgress
        sweep_seconds=300,  # the template's rate(5 minutes), in simulated time
        visibility_timeout=5,
        speed=speed,
        # An account that bursts this many jobs was granted the instances to run them
        # all at once (every one stays InProgress): the quota is not what is measured.
        quotas={"ml.m5.xlarge": requests},
    )
    names = [f"bench-burst-{index:04d}" for index in range(requests)]
    wanted = set(names)
    with LocalStack(options) as stack:
        watch = PacerWatch(stack.clock)
        client = stack.client()
        sqs: Any = boto3.client("sqs")  # the local stack set AWS_ENDPOINT_URL
        bodies = [
            json.dumps(job_request("TrainingJob", name, max_runtime=MAX_RUNTIME)) for name in names
        ]
        first = stack.clock.now()
        wall_first = time.perf_counter()
        for start in range(0, requests, 10):
            entries: Any = [
                {"Id": str(i), "MessageBody": body}
                for i, body in enumerate(bodies[start : start + 10])
            ]
            sqs.send_message_batch(QueueUrl=client.resources.queue_url, Entries=entries)
        enqueue_wall = time.perf_counter() - wall_first

        def created() -> int:
            jobs = stack.sagemaker.jobs
            return sum(1 for name in names if ("TrainingJob", name) in jobs)

        records: list[Any] = []
        deadline, last_read = time.monotonic() + TIMEOUT, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(2)
            # Counting SageMaker's jobs is cheap (in memory); the ledger (a scan through
            # moto, in this process) is read once every job exists, or every 30 s in case
            # some requests failed for good.
            if created() < requests and time.monotonic() - last_read < 30:
                continue
            last_read = time.monotonic()
            records = [r for r in client.find() if r.job_name in wanted]
            done = [r for r in records if r.job_arn or r.status == SUBMIT_FAILED]
            if len(done) == requests:
                break
        wall_span = time.perf_counter() - wall_first
        letters = [d for d in client.dead_letters() if d.job_name in wanted]
        sagemaker = stack.sagemaker
        throttled = dict(sagemaker.throttled)
        peak_create = sagemaker.peak_rate("CreateTrainingJob")
        create_calls = sagemaker.calls["CreateTrainingJob"]
        create_rate = get_settings().sagemaker_create_rate
        concurrency = get_settings().submit_max_concurrency
        errors = list(stack.errors)

    in_progress_at = [
        datetime.fromisoformat(entry.at.replace("Z", "+00:00"))
        for record in records
        for entry in record.history
        if entry.status == IN_PROGRESS
    ]
    last = max(in_progress_at) if in_progress_at else None
    span = (last - first).total_seconds() if last else None
    in_progress = sum(1 for r in records if r.job_arn)
    statuses = Counter(r.status for r in records)
    throttle_errors = [
        {"job_name": r.job_name, "status": r.status, "last_error": r.last_error}
        for r in records
        if "throttl" in (r.last_error or "").lower() or "rate exceeded" in (r.last_error or "")
    ]
    per_job = round(span / requests, 3) if span and in_progress == requests else None
    pacer_floor = 1 / (create_rate / concurrency)
    return {
        "requests": requests,
        "speed": speed,
        "sagemaker_create_rate": create_rate,
        "submit_max_concurrency": concurrency,
        "create_rate_limit_per_second": 1,
        "seconds_per_job_floor_by_design": round(pacer_floor, 3),
        "in_progress": in_progress,
        "ledger_statuses": dict(statuses),
        "simulated_seconds_to_last_in_progress": round(span, 1) if span else None,
        "burst_seconds_per_job": per_job,
        "burst_submit_failed": statuses.get(SUBMIT_FAILED, 0),
        "dead_letters": len(letters),
        "create_calls": create_calls,
        "throttled": throttled,
        "throttled_total": sum(throttled.values()),
        "peak_creates_per_second": peak_create,
        "records_with_a_throttling_error": throttle_errors[:20],
        "records_with_a_throttling_error_count": len(throttle_errors),
        # Where the time went: the pacer waiting for its turn, or the stack working.
        "pacer_slept_simulated_seconds": round(watch.slept, 1),
        "pacer_sleeps": watch.sleeps,
        "busy_share": round(1 - watch.slept / span, 3) if span else None,
        "wall_seconds_to_last_in_progress": round(wall_span, 1),
        "wall_ms_per_job": round(wall_span / requests * 1000, 1),
        "wall_ms_per_job_budget_at_speed": round(pacer_floor / speed * 1000, 1),
        "enqueue_wall_seconds": round(enqueue_wall, 2),
        "target_seconds_per_job": TARGET_SECONDS_PER_JOB,
        "stack_errors": errors[:10],
        "stack_error_count": len(errors),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", nargs="?", help="where to write the result (JSON)")
    parser.add_argument(
        "--speed", type=float, default=SPEED, help="simulated seconds per wall second"
    )
    parser.add_argument("--requests", type=int, default=REQUESTS)
    args = parser.parse_args()
    write_result(run(args.speed, args.requests), args.out)


if __name__ == "__main__":
    main()
