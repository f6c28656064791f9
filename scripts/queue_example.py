"""The README's `jobctl queue` example (Scheduling), produced for real on the local stack.

Eight ml.p4d.24xlarge instances busy (prod-nightly and llm-sweep-16, 4 each), four jobs
waiting behind them a second apart, then `jobctl update` of one's priority and
`jobctl queue` and `jobctl shares`, as a user runs them, printed as a transcript to paste:

    PYTHONPATH=src:tools .venv/bin/python scripts/queue_example.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from jobctl_cli.cli import main as jobctl
from jobctl_cli.client import JobctlClient
from jobctl_tools.local.stack import LocalStack, LocalStackOptions
from jobctl_tools.local.template import EVENTS

GPU = "ml.p4d.24xlarge"
COLUMNS = 100
PARAMETERS = {"InstanceTypeBudgets": f"{GPU}=8", "ShareWeights": "research=1,prod=3"}
RUNNING = [("prod-nightly", "prod", 4), ("llm-sweep-16", "research", 4)]
WAITING = [
    ("llm-sweep-17", "research", 0, 2),
    ("prod-retrain", "prod", 50, 4),
    ("eval-17", "research", 0, 1),
    ("prod-eval", "prod", 0, 1),
]


def training(name: str, share: str, count: int, priority: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "requests" / "training.json").read_text())
    body.update(job_name=name, request_id=name, share=share)
    if priority is not None:
        body["priority"] = priority
    body["spec"]["ResourceConfig"].update(InstanceType=GPU, InstanceCount=count)
    return body


def wait_for(what: str, ready: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def status(client: JobctlClient, name: str) -> tuple[str, int | None] | None:
    records = client.get(name, "TrainingJob")
    return (records[0].status, records[0].priority) if records else None


def run(*args: str) -> str:
    result = CliRunner().invoke(jobctl, list(args), env={"COLUMNS": str(COLUMNS)})
    if result.exit_code != 0:
        raise SystemExit(f"jobctl {' '.join(args)} failed: {result.output}")
    return f"$ jobctl {' '.join(args)}\n{result.output}"


def main() -> int:
    options = LocalStackOptions(
        state_dir=Path(tempfile.mkdtemp(prefix="jobctl-queue-example-")),
        step_seconds=3600,  # the running jobs keep their instances while this runs
        log_level="WARNING",
        parameters=PARAMETERS,
        quotas={GPU: 8},  # an account granted 8 GPUs (AWS's default quota is 0)
    )
    with LocalStack(options) as stack:
        client = stack.client()
        client.send([training(name, share, count) for name, share, count in RUNNING])
        wait_for(
            "the running jobs",
            lambda: all(status(client, n) == ("InProgress", 0) for n, _, _ in RUNNING),
        )
        for name, share, priority, count in WAITING:
            client.send([training(name, share, count, priority or None)])
            wait_for(name, lambda name=name: status(client, name) is not None)
            time.sleep(1)  # a second apart: the oldest is the first of equals
        transcript = [run("update", "llm-sweep-17", "--priority", "100")]
        wait_for("the update", lambda: status(client, "llm-sweep-17") == ("Queued", 100))
        transcript.append(run("queue"))
        transcript.append(run("shares"))
        if stack.errors:
            print(f"the local stack reported: {stack.errors!r}", file=sys.stderr)
    lines = "\n".join(transcript).rstrip().splitlines()
    print("\n".join(line.rstrip() for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
