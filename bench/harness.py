"""Shared pieces: the functions' environment, sample requests, and ``Scenario``: a workload
on the one runtime (``jobctl_tools.local.runtime.Deployment``) on the simulated clock.
Each measurement runs in its own interpreter (``bench.run``): ``os.environ`` set here never
leaks into another.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import logging
import math
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.fakes import InProcessDynamoDB
from jobctl.adapters.aws import clients
from jobctl.config import Settings
from jobctl.logic.lifecycle import record_is_settled
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.runtime import (
    EVENT_DELAY,
    Deployment,
    EventSource,
    Names,
    rate_seconds,
    template_parameters,
)
from jobctl_tools.local.sagemaker import OUTCOME_TAG, SimulatedSageMaker
from jobctl_tools.local.template import EVENTS, table_create_kwargs

ROOT = Path(__file__).resolve().parents[1]
NAMES = Names()
JOBS_TABLE, IDEMPOTENCY_TABLE = NAMES.jobs_table, NAMES.idempotency_table
# The bench runs submit invocations one after another (one container), so a container may
# spend the deployment's whole create rate (the template's default is 2 at once).
ENVIRONMENT = NAMES.environment(
    POWERTOOLS_LOG_LEVEL="INFO",
    SUBMIT_MAX_CONCURRENCY="1",
    DEPLOYMENT_ID="5e0c4b1a-jobctl-bench",
    AWS_LAMBDA_FUNCTION_NAME="jobctl-bench",
)


def lambda_environment() -> None:
    """Point this interpreter at fakes only: no profile, no real endpoint."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER"):
        os.environ.pop(name, None)
    os.environ.update(ENVIRONMENT)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The handlers' logs and EMF metrics to /dev/null (still produced: part of their cost);
    afterwards each log handler writes where it did before, or to stdout if made inside."""
    shown = sys.stdout
    logger = logging.getLogger("jobctl")
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
        streams = dict(zip(handlers, [h.setStream(sink) for h in handlers], strict=True))
        try:
            yield
        finally:
            for handler in logger.handlers:
                if not isinstance(handler, logging.StreamHandler):
                    continue
                stream = streams.get(handler)
                if stream is not None:
                    handler.setStream(stream)
                elif handler.stream is sink:
                    handler.setStream(shown)


BENCH_EPOCH = datetime(2025, 11, 26, 12, 0, tzinfo=UTC)


@functools.cache
def sample_request(job_type: str) -> dict[str, Any]:
    """A sample request from events/requests/ (copy it before changing it)."""
    name = "training.json" if job_type == "TrainingJob" else "automl.json"
    sample: dict[str, Any] = json.loads((EVENTS / "requests" / name).read_text())
    return sample


def job_request(
    job_type: str, job_name: str, outcome: str = "Completed", max_runtime: int = 7200
) -> dict[str, Any]:
    """A submit request for ``job_name``, whose simulated outcome is ``outcome`` and whose
    maximum runtime is ``max_runtime`` seconds (the sweep reports jobs running past it)."""
    body = copy.deepcopy(sample_request(job_type))
    body.update(job_name=job_name, request_id=f"req-{job_name}", action="submit")
    spec = body["spec"]
    spec["Tags"] = [*spec.get("Tags", []), {"Key": OUTCOME_TAG, "Value": outcome}]
    if job_type == "TrainingJob":
        spec.setdefault("StoppingCondition", {})["MaxRuntimeInSeconds"] = max_runtime
    else:
        config = spec.setdefault("AutoMLJobConfig", {})
        config.setdefault("CompletionCriteria", {})["MaxAutoMLJobRuntimeInSeconds"] = max_runtime
    return body


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def distribution(values: list[float], scale: float = 1.0) -> dict[str, Any]:
    """Count, p50, p95, max and mean of ``values``, each times ``scale``, to 0.1."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "max": None, "mean": None}
    return {
        "count": len(values),
        **{f"p{q}": round(percentile(values, q / 100) * scale, 1) for q in (50, 95)},
        "max": round(max(values) * scale, 1),
        "mean": round(sum(values) / len(values) * scale, 1),
    }


def measure_main(run: Callable[..., dict[str, Any]], doc: str | None, **options: Any) -> None:
    """The command line of a measurement module: run it with ``options`` (each one a
    ``--name`` of its own, its value the default), write its result (JSON)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    parser.add_argument("out", nargs="?", help="where to write the result (JSON)")
    for name, default in options.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    arguments = vars(parser.parse_args())  # before running: --help must not run it
    out = arguments.pop("out")
    text = json.dumps(run(**arguments), indent=2, default=str)
    if out:
        Path(out).write_text(text)
    else:
        print(text)


# The deployment as the template has it: its event source and schedule (for the results).
SOURCE = EventSource.from_template(template_parameters())
SWEEP_EVERY = rate_seconds(template_parameters()["SweepSchedule"])
RUNTIME = {
    "batch_size": SOURCE.batch_size,
    "batch_window_seconds": SOURCE.window_seconds,
    "visibility_timeout_seconds": SOURCE.visibility_seconds,
    "event_delay_seconds": list(EVENT_DELAY),
    "sweep_every_seconds": SWEEP_EVERY,
}


def template_tables() -> Any:
    """The template's tables in moto's DynamoDB called in-process (``attach`` it to the
    clients it should answer)."""
    tables = InProcessDynamoDB()
    for logical, name in (("JobsTable", JOBS_TABLE), ("IdempotencyTable", IDEMPOTENCY_TABLE)):
        tables.call("CreateTable", table_create_kwargs(logical, name))
    return tables


class ItemsRead:
    """DynamoDB items in the answers the clients it watches receive, by operation: a
    read's cost (capacity units) grows with them."""

    def __init__(self) -> None:
        self.by_call: Counter[str] = Counter()

    def watch(self, client: Any) -> None:
        client.meta.events.register("after-call.dynamodb", self._count)

    @property
    def total(self) -> int:
        return sum(self.by_call.values())

    def _count(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        if model.name == "Query":
            self.by_call[model.name] += parsed.get("Count", 0)
        elif model.name == "GetItem":
            self.by_call[model.name] += "Item" in parsed
        elif model.name == "BatchGetItem":
            self.by_call[model.name] += sum(map(len, parsed.get("Responses", {}).values()))


# -- a scenario on the one runtime ------------------------------------------------------


class Scenario:
    """A workload on the one runtime in moto, on the simulated clock: requests ``arrive`` on
    the jobs queue, and a subclass says what SageMaker's jobs do (``job_changed``, on every
    state change) and when the work is done (``finished``: ``run`` goes on until then, or
    ``horizon``). ``install`` and ``run`` inside ``mock_aws``; leaving the scenario (a
    context manager) closes the deployment."""

    def __init__(self, clock: ManualClock, tracking: str = "progress", **simulator: Any) -> None:
        self.clock = clock
        self.sim = SimulatedSageMaker(clock=clock, **simulator)
        self.deployment = Deployment(clock, self.sim, parameters={"TrackingMode": tracking})
        self.deployment.watchers.append(self.job_changed)
        self.published: list[str] = []  # the notices' messages
        self.arrivals_due = 0  # requests that have not reached the queue yet

    def __enter__(self) -> Scenario:
        return self

    def __exit__(self, *_: object) -> None:
        self.deployment.close()  # moto's SQS gets the wall clock back

    def job_changed(self, job: Any) -> None:
        """A SageMaker job changed state (it must not call back into the simulator here)."""

    def finished(self) -> bool:
        """Whether the scenario's work is done (by default never: it runs to its horizon)."""
        return False

    def install(self) -> Any:
        """The template's topic and queue in moto, its tables in moto's DynamoDB called
        in-process (``bench.fakes.InProcessDynamoDB``: through botocore, moto's takes ten
        times as long here), and the functions' controller on this interpreter's
        environment (JOBS_QUEUE_URL: the deployed queue); returns it."""
        deployment = self.deployment.deploy()
        os.environ["JOBS_QUEUE_URL"] = str(deployment.queue_url)
        made = clients()
        self.attached(made)  # first: its before-call handlers see every call
        template_tables().attach(made.dynamodb)
        self.sim.attach(made.sagemaker)
        made.sns.meta.events.register("provide-client-params.sns.Publish", self._published)
        return deployment.install(Settings.from_environ(os.environ), made)

    def attached(self, made: Any) -> None:
        """The functions' clients ``made``: a scenario may watch them too."""

    def _published(self, params: dict[str, Any], **_: Any) -> None:
        """The notice's JSON, as a queue or function subscriber receives it."""
        message = params["Message"]
        if params.get("MessageStructure") == "json":
            message = json.loads(message)["default"]
        self.published.append(message)

    def at(self, seconds: float, action: Callable[[], object]) -> None:
        """Do ``action`` at ``seconds`` of simulated time (from the clock's start)."""
        self.deployment.at(seconds - self.clock.elapsed, action)

    def arrive(self, seconds: float, body: str) -> None:
        """A request reaches the jobs queue at ``seconds``."""
        self.arrivals_due += 1
        self.at(seconds, functools.partial(self._send, body))

    def _send(self, body: str) -> None:
        self.arrivals_due -= 1
        self.deployment.send(body)

    def run(self, horizon: float) -> None:
        self.deployment.run(until=horizon - self.clock.elapsed, done=self.finished)

    def checks(self, records: list[Any], jobs: int) -> dict[str, Any]:
        """What every scenario checks, inside moto: each request recorded and settled,
        nothing in the dead-letter queue, no error."""
        return {
            "jobs": jobs,
            "recorded": len(records),
            "settled_in_ledger": sum(1 for r in records if record_is_settled(r)),
            "ledger_statuses": dict(Counter(r.status for r in records)),
            "finished_within_horizon": self.finished(),
            "dead_letters": len(self.deployment.dead_letters()),
            "errors": self.deployment.errors[:10],
            "error_count": self.deployment.errors.total,
        }


def simulated_seconds(at: str | datetime | None) -> float | None:
    """A ledger or simulator time (ISO-8601 or datetime), in seconds from ``BENCH_EPOCH``."""
    if at is None:
        return None
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return (moment - BENCH_EPOCH).total_seconds()
