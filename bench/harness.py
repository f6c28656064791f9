"""Shared pieces: the Lambda-like environment, clocks, call counters and sample requests,
and the deployment on the simulated clock that the fleet scenarios drive
(``SimulatedDeployment``: SQS batching, EventBridge-driven reconciles, the sweep).

Every measurement runs in its own interpreter (see ``bench.run``), so setting
``os.environ`` here never leaks into another measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import heapq
import itertools
import json
import logging
import math
import os
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.fakes import FakeDynamoDB, FakeSNS, FakeSQS, Message, Table

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"
ACCOUNT = "123456789012"
REGION = "us-east-1"
DEFAULT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobctl-sagemaker-execution"
JOBS_TABLE = "jobctl-jobs"
IDEMPOTENCY_TABLE = "jobctl-idempotency"
TOPIC_NAME = "jobctl-notices"
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC_NAME}"
OUTCOME_TAG = "jobctl-sim:outcome"

# What the functions see in Lambda (template.yaml's Globals), minus X-Ray: there is no
# daemon to send traces to, so the tracer is off here as in the test suite.
ENVIRONMENT = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "JOBS_TABLE": JOBS_TABLE,
    "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
    "NOTICES_TOPIC_ARN": TOPIC_ARN,
    "DEFAULT_ROLE_ARN": DEFAULT_ROLE,
    "ALLOWED_ROLE_ARNS": "",
    "MAX_RECEIVE_COUNT": "5",
    "POWERTOOLS_SERVICE_NAME": "jobctl",
    "POWERTOOLS_METRICS_NAMESPACE": "jobctl",
    "POWERTOOLS_LOG_LEVEL": "INFO",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "AWS_LAMBDA_FUNCTION_NAME": "jobctl-bench",
    # The bench runs submit invocations one after another (one container), so a container
    # may spend the deployment's whole create rate (the template's default is 2 at once).
    "SUBMIT_MAX_CONCURRENCY": "1",
    "DEPLOYMENT_ID": "5e0c4b1a-jobctl-bench",
}


def install_controller(clock: Any, prepare: Callable[[Any], None] | None = None) -> tuple[Any, Any]:
    """Build the functions' controller from this interpreter's (Lambda-like) environment,
    on ``clock``, and run the handlers on it; returns it and its clients. Call it where
    the clients should be made (inside moto's mock, say); ``prepare`` gets the clients
    before the controller is built on them (to attach fakes: building may call AWS)."""
    from jobctl import handlers
    from jobctl.adapters.aws import clients
    from jobctl.bootstrap import bootstrap
    from jobctl.config import Settings

    made = clients()
    if prepare is not None:
        prepare(made)
    built = bootstrap(Settings.from_environ(os.environ), made, clock)
    handlers.use(built)
    return built, made


def lambda_environment() -> None:
    """Point this interpreter at fakes only: no profile, no real endpoint."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER"):
        os.environ.pop(name, None)
    os.environ.update(ENVIRONMENT)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Send the handlers' logs and EMF metrics to /dev/null: they are still produced
    (that is part of the handlers' cost), just not shown. Afterwards every handler writes
    where it wrote before, or to stdout if it was made inside (its stream, /dev/null, is
    closed then: a second ``quiet`` would fail flushing it)."""
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


class FakeClock:
    """Simulated time for the simulator and the controller beside it (the controller's clock):
    it moves when the driver sets it, and when the controller sleeps on it — its pacer
    spaces SageMaker calls by sleeping, which here costs no wall time and moves the
    clock, so a submit invocation that paces its creates spends simulated seconds."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._now = start
        self.slept = 0.0  # simulated seconds spent sleeping (pacing), in all

    def now(self) -> datetime:
        return self._now

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._now += timedelta(seconds=seconds)
            self.slept += seconds

    def set(self, seconds: float) -> None:
        """Move to ``seconds`` after the start, unless pacing already took the clock past
        it: time never runs backwards, so it moves to the later of the two."""
        self._now = max(self._now, self.start + timedelta(seconds=seconds))

    @property
    def elapsed(self) -> float:
        return (self._now - self.start).total_seconds()


BENCH_EPOCH = datetime(2025, 11, 26, 12, 0, tzinfo=UTC)


class ApiCalls:
    """API calls boto3 clients make, by operation, counted on botocore's ``before-call``
    event (once per call, whatever its retries)."""

    def __init__(self) -> None:
        self.by_operation: Counter[str] = Counter()

    def watch(self, client: Any) -> Any:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register(f"before-call.{service}", self._count)
        return client

    def _count(self, model: Any, **_: Any) -> None:
        self.by_operation[model.name] += 1

    def snapshot(self) -> Counter[str]:
        return Counter(self.by_operation)


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


def deploy_in_moto() -> None:
    """The stack's tables and topic in moto (inside ``mock_aws``), as template.yaml has them."""
    import boto3

    from jobctl_tools.local.template import table_create_kwargs

    setup = boto3.client("dynamodb")
    setup.create_table(**table_create_kwargs("JobsTable", JOBS_TABLE))
    setup.create_table(**table_create_kwargs("IdempotencyTable", IDEMPOTENCY_TABLE))
    boto3.client("sns").create_topic(Name=TOPIC_NAME)


def rule_patterns(tracking: str) -> list[Any]:
    """The template's own EventBridge patterns for ReconcileFunction with its TrackingMode
    parameter set to ``tracking`` (as the local stack matches them)."""
    from moto.events.models import EventPattern

    from jobctl_tools.local.template import event_patterns

    patterns = event_patterns(parameters={"TrackingMode": tracking})
    return [EventPattern.load(json.dumps(p)) for p in patterns]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def write_result(result: dict[str, Any], out: str | None) -> None:
    """Write a measurement's result where ``bench.run`` asked, else to stdout."""
    text = json.dumps(result, indent=2, default=str)
    if out:
        Path(out).write_text(text)
    else:
        print(text)


def measure_main(run: Callable[[], dict[str, Any]], doc: str | None) -> None:
    """The command line of a measurement module: run it, write its result (JSON)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0] if doc else None)
    parser.add_argument("out", nargs="?", help="where to write the result (JSON)")
    out = parser.parse_args().out  # before running: --help must not run the measurement
    write_result(run(), out)


# -- a deployment on the simulated clock ------------------------------------------------

# The template's jobs queue and its event source: BatchSize, BatchWindowSeconds,
# VisibilityTimeout, and the redrive policy's maxReceiveCount (MAX_RECEIVE_COUNT).
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/jobctl-jobs"
BATCH_SIZE = 10
BATCH_WINDOW = 5.0
VISIBILITY_TIMEOUT = 720.0
MAX_RECEIVES = 5
EVENT_DELAY = (0.5, 2.0)  # seconds from a state change to its EventBridge delivery
EVENT_RETRIES = 2  # Lambda's asynchronous invocation retries a failed event twice
EVENT_RETRY_SECONDS = 60.0
SWEEP_EVERY = 300.0  # the template's rate(5 minutes)


class SimulatedDeployment:
    """The stack on the simulated clock, as its event sources drive it: requests reach the
    jobs queue (``bench.fakes.FakeSQS``, where the controller's own sends land too), the
    event source invokes the submit function with batches of up to ``BATCH_SIZE`` gathered
    for up to ``BATCH_WINDOW`` seconds, one invocation at a time, and a failed record
    comes back after the visibility timeout (to the dead-letter queue after
    ``MAX_RECEIVES``); SageMaker is the simulator, rate limits on, whose state changes
    reach the reconcile function as EventBridge events ``EVENT_DELAY`` seconds later (if
    the template's rule matches them), and the sweep runs every ``SWEEP_EVERY`` seconds.

    A scenario says what SageMaker's jobs do (``job_changed``: called on every state
    change, a new job's first) and when its work is done (``finished``); ``run`` goes on
    until then and two sweeps more, or until ``horizon``."""

    def __init__(
        self,
        clock: FakeClock,
        rng: random.Random,
        tracking: str = "progress",
        **simulator: Any,
    ) -> None:
        from jobctl_tools.local.sagemaker import SimulatedSageMaker

        self.clock = clock
        self.rng = rng
        self.queue = FakeSQS(lambda: clock.elapsed)
        self.sim = SimulatedSageMaker(clock=clock, on_change=self._changed, **simulator)
        self.sns = FakeSNS(keep=True)  # the notices published
        self.patterns = rule_patterns(tracking)
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self.invocations: Counter[str] = Counter()
        self.records_handled = 0
        self.errors: list[str] = []
        self.arrivals_due = 0  # requests that have not reached the queue yet

    # -- what a scenario says ---------------------------------------------------------------

    def job_changed(self, job: Any) -> None:
        """A SageMaker job changed state (it must not call back into the simulator here)."""

    def finished(self) -> bool:
        """Whether the scenario's work is done (by default never: the run goes on to its
        horizon)."""
        return False

    def attached(self, made: Any) -> None:
        """The fakes are attached to the functions' clients ``made``: a scenario may watch
        them too."""

    # -- the run ----------------------------------------------------------------------------

    def install(self) -> Any:
        """The controller on in-process DynamoDB (its tables as template.yaml defines
        them), SNS, SQS and this simulator; returns it (``install_controller``)."""
        from jobctl_tools.local.template import table_create_kwargs

        def fakes(made: Any) -> None:
            tables: dict[str, Table | list[str]] = {
                name: Table.from_create_kwargs(table_create_kwargs(logical, name))
                for logical, name in (
                    ("JobsTable", JOBS_TABLE),
                    ("IdempotencyTable", IDEMPOTENCY_TABLE),
                )
            }
            FakeDynamoDB(tables).attach(made.dynamodb)
            self.sns.attach(made.sns)
            self.sim.attach(made.sagemaker)
            self.queue.attach(made.sqs)
            self.attached(made)

        built, _ = install_controller(self.clock, fakes)
        return built

    def at(self, seconds: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._due, (seconds, next(self._order), action))

    def arrive(self, seconds: float, body: str) -> None:
        """A request reaches the jobs queue at ``seconds``."""
        self.arrivals_due += 1
        self.at(seconds, functools.partial(self._send, body))

    def _send(self, body: str) -> None:
        self.arrivals_due -= 1
        self.queue.send(body)

    def run(self, horizon: float) -> None:
        self.at(SWEEP_EVERY, self.sweep)
        finished_at = None
        while self._due:
            if not self.finished():
                finished_at = None
            elif finished_at is None:
                finished_at = self.clock.elapsed  # then two more sweeps, and stop
            due, batch = self._due[0][0], self._batch_at()
            end = horizon if finished_at is None else finished_at + 2 * SWEEP_EVERY
            if min(due, batch) > end:
                break
            if batch <= due:
                self.clock.set(batch)
                self.submit(self.queue.receive(BATCH_SIZE))
            else:
                _, _, action = heapq.heappop(self._due)
                self.clock.set(due)
                action()

    def _batch_at(self) -> float:
        """When the event source invokes the function next: when a batch is full, or the
        batch window has passed since its first message became visible."""
        visible = self.queue.visible()
        if not visible:
            return math.inf
        ready = visible[0] + BATCH_WINDOW
        if len(visible) >= BATCH_SIZE:
            ready = min(ready, visible[BATCH_SIZE - 1])
        return ready

    def _changed(self, job: Any) -> None:
        """The simulator's state change (it must not be called back from here)."""
        now = self.clock.elapsed
        self.job_changed(job)
        self.at(now + self.rng.uniform(*EVENT_DELAY), functools.partial(self.deliver, job.name))

    # -- the functions ----------------------------------------------------------------------

    def submit(self, batch: list[Message]) -> None:
        from jobctl.handlers import submit
        from jobctl_tools.local.lambda_events import LambdaContext, sqs_event

        received_at = self.clock.elapsed
        event = sqs_event(
            [m.body for m in batch],
            receive_count=[m.receive_count for m in batch],
            message_ids=[m.message_id for m in batch],
        )
        self.invocations["submit"] += 1
        self.records_handled += len(batch)
        try:
            answer = submit.handler(event, LambdaContext("SubmitFunction", 120))
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        except Exception as exc:  # noqa: BLE001 - as Lambda: every record comes back
            self.errors.append(f"submit: {exc!r}")
            failed = {m.message_id for m in batch}
        for message in batch:
            if message.message_id not in failed:
                self.queue.delete(message)
        again = [m for m in batch if m.message_id in failed]
        self.queue.fail(again, received_at, VISIBILITY_TIMEOUT, MAX_RECEIVES)

    def deliver(self, name: str, attempt: int = 0) -> None:
        event = self.sim.training_event(name)
        if any(pattern.matches_event(event) for pattern in self.patterns):
            self._reconcile(event, attempt, functools.partial(self.deliver, name, attempt + 1))

    def sweep(self) -> None:
        from jobctl_tools.local.lambda_events import scheduled_event

        self._reconcile(scheduled_event(self.clock.now()), EVENT_RETRIES, lambda: None)
        self.at(self.clock.elapsed + SWEEP_EVERY, self.sweep)

    def _reconcile(self, event: dict[str, Any], attempt: int, again: Callable[[], None]) -> None:
        from jobctl.handlers import reconcile
        from jobctl_tools.local.lambda_events import LambdaContext

        kind = "sweep" if event.get("source") == "aws.events" else "event"
        self.invocations[f"reconcile_{kind}"] += 1
        try:
            reconcile.handler(event, LambdaContext("ReconcileFunction", 300))
        except Exception as exc:  # noqa: BLE001 - as Lambda: retried a minute later
            self.errors.append(f"reconcile ({kind}): {exc!r}")
            if attempt < EVENT_RETRIES:
                self.at(self.clock.elapsed + EVENT_RETRY_SECONDS, again)


def simulated_seconds(at: str | datetime | None) -> float | None:
    """A ledger or simulator time (ISO-8601 or datetime), in seconds from ``BENCH_EPOCH``."""
    if at is None:
        return None
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return (moment - BENCH_EPOCH).total_seconds()
