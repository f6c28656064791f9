"""`make demo`: the sample requests in events/ through jobctl on the embedded local stack.

A training job that completes, one that fails, an AutoML job that completes with
ExplainabilityError, and an invalid request — each submitted through the real queue,
handlers and ledger, with live progress, then the ledger and the notices received.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.text import Text

from jobctl.logic.lifecycle import record_is_settled
from jobctl_cli.client import NoticeCollector
from jobctl_cli.render import Follow, console, ledger_view, notices_view
from jobctl_tools.local.sagemaker import OUTCOME_TAG
from jobctl_tools.local.stack import LocalStack, LocalStackOptions
from jobctl_tools.local.template import EVENTS

REQUESTS = EVENTS / "requests"
TIMEOUT_SECONDS = 60


def sample(name: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((REQUESTS / name).read_text())
    body.update(changes)
    return body


def with_outcome(body: dict[str, Any], outcome: str) -> dict[str, Any]:
    body["spec"]["Tags"] = [*body["spec"].get("Tags", []), {"Key": OUTCOME_TAG, "Value": outcome}]
    return body


def demo_requests() -> list[tuple[dict[str, Any], str]]:
    """(request, the outcome it should end in)."""
    return [
        (sample("training.json"), "Completed"),
        (
            with_outcome(
                sample("training.json", job_name="demo-xgboost-fails", request_id="demo-train-2"),
                "Failed",
            ),
            "Failed",
        ),
        (with_outcome(sample("automl.json"), "ExplainabilityError"), "ExplainabilityError"),
        (sample("invalid.json"), "Rejected"),
    ]


def outcome_of(status: str, secondary: str | None) -> str:
    return secondary if status == "Completed" and secondary == "ExplainabilityError" else status


def main() -> int:
    options = LocalStackOptions(
        state_dir=Path(tempfile.mkdtemp(prefix="jobctl-demo-")), step_seconds=0.5, sweep_seconds=2
    )
    console.print(
        "[bold]jobctl demo[/]: starting the embedded local stack (moto + simulated SageMaker)"
    )
    with LocalStack(options) as stack:
        client = stack.client()
        collector = NoticeCollector(client).start()
        received = collector.received

        plan = demo_requests()
        client.send([body for body, _ in plan], check=False)  # the invalid one on purpose
        names = [(body["job_name"], body["job_type"]) for body, _ in plan]
        for (name, kind), (_, expected) in zip(names, plan, strict=True):
            console.print(
                Text.assemble(f"  submitted {kind:<11} ", (name, "bold"), f" (expect {expected})")
            )

        deadline = time.monotonic() + TIMEOUT_SECONDS
        with Follow(console) as live:
            while True:
                records = [r for name, kind in names for r in client.get(name, kind)]
                live.update(ledger_view(records, title="progress"))
                settled = len(records) == len(names) and all(record_is_settled(r) for r in records)
                if (settled and len(received) >= len(names)) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        collector.stop()

        console.print(ledger_view(client.find(), title="the ledger"))
        console.print(notices_view(received, title="notices received"))

        outcomes = {
            r.job_name: outcome_of(r.status, r.secondary_status)
            for name, kind in names
            for r in client.get(name, kind)
        }
        wanted = {name: outcome for (name, _), (_, outcome) in zip(names, plan, strict=True)}
        notified = sorted(n["job_name"] for n in received)
        ok = outcomes == wanted and notified == sorted(wanted)
        if stack.errors:
            console.print(Text(f"local stack reported: {stack.errors!r}", style="yellow"))
    if ok:
        console.print("[green]demo finished: every job ended as expected, with one notice each[/]")
        return 0
    console.print(
        Text.assemble(
            ("demo failed", "red"),
            f": outcomes {outcomes}, expected {wanted}; notices for {notified}",
        )
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
