"""What an admission pass costs with many jobs waiting (docs/contract.md §8, cost; README,
Benchmarks), through the controller's own logic and adapters on the template's tables in
moto called in-process (``bench.fakes``). Items are counted from DynamoDB's answers.

- ``admission_items_read_<n>`` and ``admission_plan_ms_<n>``: with n jobs waiting in 100
  shares of 100 priorities and a budget of 8 GPUs full, one job settles: the items the
  pass that follows reads (its waiting room, budgets and records), and the wall time of
  its plan's computation on this machine;
- ``burst_items_read_per_job_<n>``: requests join that full budget one at a time, as SQS
  hands them over, until n wait: the items read per request (of the last 1,000 at 10k:
  the first 9,000 are written directly, as moto's Query reads its whole index to answer
  one partition).

Wall times here are moto's as much as the controller's; the items read are DynamoDB's.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import boto3
from moto import mock_aws

from bench.harness import (
    IDEMPOTENCY_TABLE,
    JOBS_TABLE,
    ItemsRead,
    job_request,
    lambda_environment,
    measure_main,
    quiet,
    template_tables,
)
from jobctl.adapters.aws import clients
from jobctl.adapters.ledger import item_of
from jobctl.adapters.waiting_room import ROOM_KEY
from jobctl.bootstrap import bootstrap
from jobctl.config import Settings
from jobctl.logic import admission, scheduling
from jobctl.logic.submission import Delivery
from jobctl.models.jobs import JobRecord, Phase, pack_request, utc_iso
from jobctl.models.requests import parse_request
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.sagemaker import SimulatedSageMaker

GPU = "ml.p4d.24xlarge"
SHARES = 100
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/jobctl-jobs"


class PlanTime:
    """The wall time of the pass's plans (``logic.scheduling.plan``, as admission calls it)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._plan = scheduling.plan
        admission.plan = self._timed  # type: ignore[attr-defined,assignment]

    def _timed(self, *args: Any) -> Any:
        started = time.perf_counter()
        try:
            return self._plan(*args)
        finally:
            self.seconds += time.perf_counter() - started


def gpu_request(name: str, share: str, priority: int) -> str:
    body = job_request("TrainingJob", name, max_runtime=3600)
    body["spec"]["ResourceConfig"].update(InstanceType=GPU, InstanceCount=1)
    body.update(share=share, priority=priority)
    return json.dumps(body)


def run(waiting: int = 1_000, burst: int = 0) -> dict[str, Any]:
    """A budget of 8 GPUs, full, with ``waiting`` jobs waiting (written as the controller
    writes them); ``burst`` more requests join one at a time; then a running job settles."""
    lambda_environment()
    os.environ.update(
        INSTANCE_TYPE_BUDGETS=f"{GPU}=8",
        JOBS_QUEUE_URL=QUEUE_URL,
        MAX_WAITING_JOBS=str(waiting + burst + 8),
    )
    with mock_aws(), quiet():
        boto3.client("sqs").create_queue(QueueName="jobctl-jobs")
        clock = ManualClock()
        made = clients()
        template_tables().attach(made.dynamodb)
        sim = SimulatedSageMaker(clock=clock)
        sim.set_quota(GPU, 8)
        sim.attach(made.sagemaker)
        controller = bootstrap(Settings.from_environ(os.environ), made, clock)
        read = ItemsRead()
        read.watch(made.dynamodb)

        def arrive(name: str, share: str, priority: int) -> None:
            body = gpu_request(name, share, priority)
            controller.submitter.handle(parse_request(body), Delivery(name, 1, body))
            clock.advance(0.01)

        for n in range(8):
            arrive(f"running-{n}", "running", 0)
        fill(made.dynamodb, waiting, clock)
        read.by_call.clear()
        started = time.perf_counter()
        for n in range(burst):
            arrive(f"b-{n}", f"s{n % SHARES}", n % 100)
        figures: dict[str, Any] = {"jobs_waiting": waiting + burst}
        size = f"{(waiting + burst) // 1000}k"
        if burst:
            figures[f"burst_items_read_per_job_{size}"] = round(read.total / burst, 1)
            figures[f"burst_wall_ms_per_job_{size}"] = round(
                (time.perf_counter() - started) / burst * 1000, 2
            )
        figures.update(settle_one(controller, read, size))
    return figures


def fill(dynamodb: Any, waiting: int, clock: ManualClock) -> None:
    """``waiting`` jobs waiting in SHARES shares of 100 priorities, written as the ledger
    writes them, and the waiting room's counts to match."""
    at = utc_iso(clock.now())
    records = [
        JobRecord(
            job_name=f"w-{n}",
            job_type="TrainingJob",
            status="Queued",
            phase=Phase.WAITING,
            created_at=at,
            updated_at=at,
            priority=n % 100,
            share=f"s{n % SHARES}",
            instances={GPU: 1},
            max_runtime_seconds=3600,
            request_body=pack_request(gpu_request(f"w-{n}", f"s{n % SHARES}", n % 100)),
            version=1,
        )
        for n in range(waiting)
    ]
    for start in range(0, waiting, 25):
        puts = [{"PutRequest": {"Item": item_of(r)}} for r in records[start : start + 25]]
        dynamodb.batch_write_item(RequestItems={JOBS_TABLE: puts})
    counts = {f"s{s}": {"N": str(len(range(s, waiting, SHARES)))} for s in range(SHARES)}
    dynamodb.put_item(
        TableName=IDEMPOTENCY_TABLE,
        Item={**ROOM_KEY, "total": {"N": str(waiting)}, "shares": {"M": counts}},
    )


def settle_one(controller: Any, read: ItemsRead, size: str) -> dict[str, Any]:
    """A running job settles and gives its room back: the pass that follows."""
    passes = controller.reconciler.admission
    settled = passes.ledger.get("running-0", "TrainingJob")
    planned = PlanTime()
    read.by_call.clear()
    started = time.perf_counter()
    passes.release(settled, settled.holds)
    seconds = time.perf_counter() - started
    return {
        f"admission_items_read_{size}": read.total,
        f"admission_plan_ms_{size}": round(planned.seconds * 1000, 1),
        f"admission_pass_wall_ms_{size}": round(seconds * 1000, 1),
    }


def main() -> None:
    measure_main(run, __doc__, waiting=1_000, burst=0)


if __name__ == "__main__":
    main()
