"""The embedded local stack under load: requests per second from enqueue to InProgress,
and latency from a state-change event to its notice.

``jobctl_tools.local.stack.LocalStack`` runs in this process: moto server over HTTP for SQS,
DynamoDB and SNS, the simulated SageMaker over HTTP, the SQS event source, the event
router (each change delivered twice) and the schedule. Invocations are serialized, like
one warm container per function. The simulated jobs do not move on their own here
(a long step): this driver settles them, one at a time and then in a burst, and times
each notice from the moment SageMaker's state changed to the SNS Publish call.

The simulator keeps SageMaker's account-wide rate limits (CreateTrainingJob 1/s), and the
controller creates at its default 0.9/s: at the wall clock's pace 200 requests would take
almost four minutes. The stack runs on a clock ``SPEED`` times faster (``ScaledClock``,
shared by the simulator and the functions), so enqueue → InProgress is reported in
simulated time (what a deployment would see) and in wall time (what this machine
managed). The notice latencies are wall time; the sweep runs every 5 simulated minutes,
as the template schedules it.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import job_request, measure_main, percentile

REQUESTS = 200
SEQUENTIAL_NOTICES = 20
BURST_NOTICES = 50
TIMEOUT = 180
SPEED = 20


def _wait(condition: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def run() -> dict[str, Any]:
    import json

    import boto3

    from jobctl_tools.local.stack import LocalStack, LocalStackOptions

    started = time.perf_counter()
    options = LocalStackOptions(
        state_dir=Path(tempfile.mkdtemp(prefix="jobctl-bench-stack-")),
        step_seconds=86_400,  # jobs stay where this driver puts them
        sweep_seconds=300,
        visibility_timeout=5,
        speed=SPEED,
        quotas={"ml.m5.xlarge": REQUESTS},  # granted an instance for every job it runs
    )
    with LocalStack(options) as stack:
        published: dict[str, float] = {}

        def stamp(params: dict[str, Any], **_: Any) -> None:
            notice_id = params["MessageAttributes"]["notice_id"]["StringValue"]
            published.setdefault(notice_id, time.perf_counter())

        stack.controller.clients.sns.meta.events.register(
            "before-parameter-build.sns.Publish", stamp
        )
        sqs = boto3.client("sqs")
        queue_url = stack.outputs["JobsQueueUrl"]
        names = [f"bench-tput-{index:04d}" for index in range(REQUESTS)]

        # 1. Enqueue → InProgress, in simulated time (the ledger's times are the clock's).
        enqueued: dict[str, float] = {}
        first = stack.clock.now().timestamp()
        wall_first = time.perf_counter()
        for start in range(0, REQUESTS, 10):
            batch = names[start : start + 10]
            entries: list[Any] = [
                {"Id": str(i), "MessageBody": json.dumps(job_request("TrainingJob", name))}
                for i, name in enumerate(batch)
            ]
            at = stack.clock.now().timestamp()
            sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            enqueued.update(dict.fromkeys(batch, at))
        enqueue_seconds = time.perf_counter() - wall_first
        ledger = stack.controller.reconciler.ledger
        keys = [(name, "TrainingJob") for name in names]
        records: dict[Any, Any] = {}

        def all_in_progress() -> bool:
            records.update(ledger.get_many(keys))
            return sum(1 for r in records.values() if r.job_arn) == REQUESTS

        _wait(all_in_progress, TIMEOUT, interval=0.25)
        wall_span = time.perf_counter() - wall_first
        accepted = {
            key[0]: next(h.at for h in r.history if h.status == "InProgress")
            for key, r in records.items()
            if r.job_arn
        }
        latencies = [
            _epoch(at) - enqueued[name] for name, at in accepted.items() if name in enqueued
        ]
        span = max(_epoch(at) for at in accepted.values()) - first if accepted else 0.0

        # Let the Starting events (two deliveries each) drain before timing notices.
        _wait(
            lambda: all(r.sagemaker_status for r in ledger.get_many(keys).values()),
            TIMEOUT,
            interval=0.5,
        )
        time.sleep(1)

        # 2. State change → notice, one job at a time, then a burst.
        def settle(name: str) -> float:
            at = time.perf_counter()
            stack.sagemaker.set_state("TrainingJob", name, "Completed", "Completed")
            return at

        sequential = []
        for name in names[:SEQUENTIAL_NOTICES]:
            changed = settle(name)
            notice = f"TrainingJob/{name}/Completed"
            if _wait(lambda notice=notice: notice in published, 30, interval=0.002):
                sequential.append(published[notice] - changed)
        burst_names = names[SEQUENTIAL_NOTICES : SEQUENTIAL_NOTICES + BURST_NOTICES]
        changed_at = {name: settle(name) for name in burst_names}
        burst_started = min(changed_at.values())
        wanted = {f"TrainingJob/{name}/Completed": name for name in burst_names}
        _wait(lambda: all(n in published for n in wanted), TIMEOUT, interval=0.01)
        burst = [published[n] - changed_at[name] for n, name in wanted.items() if n in published]
        burst_span = max(published[n] for n in wanted if n in published) - burst_started
        errors = list(stack.errors)
        sagemaker = stack.sagemaker
        throttled = dict(sagemaker.throttled)
        peak_create = sagemaker.peak_rate("CreateTrainingJob", "CreateAutoMLJob")

    return {
        "requests": REQUESTS,
        "speed": SPEED,
        "enqueue_seconds": round(enqueue_seconds, 2),
        "accepted": len(accepted),
        # Simulated time: what a deployment would see (bounded by the create rate).
        "requests_per_second": round(len(accepted) / span, 2) if span else None,
        "simulated_seconds": round(span, 1),
        # Wall time: what this machine managed at SPEED.
        "requests_per_wall_second": round(len(accepted) / wall_span, 1) if wall_span else None,
        "wall_seconds_to_in_progress": round(wall_span, 1),
        "enqueue_to_in_progress_ms": _distribution(latencies),
        "enqueue_to_in_progress_clock": "simulated",
        "throttled": throttled,
        "peak_creates_per_second": peak_create,
        "event_to_notice_ms": {
            "one_at_a_time": _distribution(sequential),
            f"burst_of_{BURST_NOTICES}": {
                **_distribution(burst),
                "notices_per_second": round(len(burst) / burst_span, 1) if burst else None,
            },
        },
        "stack_errors": errors[:10],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _distribution(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"count": 0}
    return {
        "count": len(seconds),
        "p50": round(percentile(seconds, 0.5) * 1000, 1),
        "p95": round(percentile(seconds, 0.95) * 1000, 1),
        "max": round(max(seconds) * 1000, 1),
        "mean": round(statistics.fmean(seconds) * 1000, 1),
    }


if __name__ == "__main__":
    measure_main(run, __doc__)
