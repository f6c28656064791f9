"""The deployment off AWS: template.yaml's functions in this process, fed as AWS feeds them,
on one clock. Tests, the local stack, the soak and the benchmarks all drive ``Deployment``.

- The functions: the handlers the template names, with a Lambda context and their
  timeouts, as many invocations at once as they have warm containers.
- The jobs queue's event source: batches of up to ``BatchSize`` gathered for up to
  ``BatchWindowSeconds``; a record the function reports failed (every record, if the
  invocation fails) shows again after the queue's visibility timeout, and goes to the
  dead-letter queue after ``MaxReceiveCount`` receives (moto's SQS does both).
- EventBridge: the simulated SageMaker's training state changes, each delivered twice a
  second or two after the change, as SageMaker does (AutoML jobs get none), matched
  against the template's own rule patterns; a failed asynchronous invocation is retried
  twice, a minute apart, as Lambda does.
- The schedule: the sweep every ``SweepSchedule``.

Time is one clock. With a ``ManualClock`` (tests, benchmarks) ``run`` does what is due in
order and moves the clock to it, so a simulated day takes seconds; with a ``ScaledClock``
(the local stack) ``start`` runs the event sources on threads that wait on it. moto's SQS
keeps the same clock (``sqs_keeps``), so visibility timeouts pass in the simulator's time.

From a test, inside moto's ``mock_aws``::

    deployment = Deployment(ManualClock(), SimulatedSageMaker(clock=...)).deploy()
    deployment.install(Settings.from_environ(os.environ), clients())
    deployment.send(json.dumps(request))
    deployment.run(until=3600, done=lambda: not deployment.queue_depth())
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import importlib
import itertools
import json
import random
import re
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, overload

import boto3

from jobctl import handlers
from jobctl.bootstrap import Controller, bootstrap
from jobctl.config import Settings
from jobctl_tools.local.clocks import ManualClock, ScaledClock
from jobctl_tools.local.lambda_events import (
    LambdaContext,
    scheduled_event,
    sqs_event,
    sqs_event_from,
)
from jobctl_tools.local.sagemaker import ACCOUNT, REGION, SimulatedJob, SimulatedSageMaker
from jobctl_tools.local.template import (
    event_patterns,
    function_events,
    load_template,
    resource,
    table_create_kwargs,
)

Clock = ManualClock | ScaledClock

# Warm containers per function: as many submit invocations at once as the event source
# runs (SubmitMaxConcurrency's least), one reconcile at a time.
CONTAINERS = {"SubmitFunction": 2}
EVENT_DELAY = (0.5, 2.0)  # seconds from a state change to its EventBridge delivery
DELIVERIES = 2  # SageMaker delivers each state change more than once
ASYNC_RETRIES = 2  # Lambda retries a failed asynchronous invocation twice
ASYNC_RETRY_SECONDS = 60.0
ERRORS_KEPT = 100
DEFAULT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobctl-sagemaker-execution"


class Functions:
    """The template's functions, run in this process: a few warm containers each.

    The functions run side by side, as in Lambda, so a submit batch pacing its creates
    never waits for reconciles. Their invocations share Powertools' logger and metrics
    objects, so a log line may carry another invocation's context keys: a local-only
    blemish.
    """

    def __init__(self) -> None:
        self._locks: dict[str, threading.Semaphore] = {}
        self._handlers: dict[str, tuple[Callable[[dict[str, Any], Any], Any], int]] = {}
        self._loading = threading.Lock()
        self.invocations: Counter[str] = Counter()
        # Pins every invocation's time left (``LambdaContext.remaining_ms``), if set.
        self.remaining_ms: int | None = None

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        handler, timeout = self._function(logical_id)
        context = LambdaContext(logical_id, timeout, remaining_ms=self.remaining_ms)
        self.invocations[logical_id] += 1
        with self._locks[logical_id]:
            try:
                return handler(event, context)
            finally:
                # With POWERTOOLS_METRICS_DISABLED, Powertools skips the flush but keeps the
                # metric set, and prints it once a metric reaches 100 values: drop it here.
                from jobctl.observability import metrics

                metrics.clear_metrics()

    def _function(self, logical_id: str) -> tuple[Callable[[dict[str, Any], Any], Any], int]:
        """The handler the template names for the function, and its timeout."""
        with self._loading:
            if logical_id not in self._handlers:
                properties = resource(logical_id)["Properties"]
                module_name, _, attribute = properties["Handler"].rpartition(".")
                handler = getattr(importlib.import_module(module_name), attribute)
                self._handlers[logical_id] = (handler, int(properties.get("Timeout", 60)))
                self._locks[logical_id] = threading.Semaphore(CONTAINERS.get(logical_id, 1))
        return self._handlers[logical_id]


class ErrorLog(Sequence[str]):
    """The runtime's errors, oldest first: the latest ``keep`` of them, and how many came
    before (``dropped``). A deployment that keeps failing cannot grow it without bound."""

    def __init__(self, keep: int = ERRORS_KEPT) -> None:
        self._kept: deque[str] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self.dropped = 0

    def append(self, error: str) -> None:
        with self._lock:
            if len(self._kept) == self._kept.maxlen:
                self.dropped += 1
            self._kept.append(error)

    @property
    def total(self) -> int:
        """Every error recorded, kept or not."""
        return self.dropped + len(self._kept)

    def __len__(self) -> int:
        return len(self._kept)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        with self._lock:
            return list(self._kept)[index]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._kept))

    def __repr__(self) -> str:
        kept = repr(list(self))
        return f"{kept} (and {self.dropped} earlier, not kept)" if self.dropped else kept


@dataclass(frozen=True)
class EventSource:
    """The jobs queue's SQS event source, as the template configures it."""

    batch_size: int
    window_seconds: float
    visibility_seconds: float
    max_receives: int

    @classmethod
    def from_template(cls, parameters: dict[str, str]) -> EventSource:
        source = next(e for e in function_events("SubmitFunction").values() if e["Type"] == "SQS")
        queue = resource("JobsQueue")["Properties"]
        return cls(
            batch_size=int(_value(source["Properties"]["BatchSize"], parameters)),
            window_seconds=float(
                _value(source["Properties"]["MaximumBatchingWindowInSeconds"], parameters)
            ),
            visibility_seconds=float(queue["VisibilityTimeout"]),
            max_receives=int(_value(queue["RedrivePolicy"]["maxReceiveCount"], parameters)),
        )


def template_parameters(given: dict[str, str] | None = None) -> dict[str, str]:
    """The template's parameter values: its defaults, overridden by ``given``."""
    declared = load_template().get("Parameters", {})
    return {name: str(spec.get("Default", "")) for name, spec in declared.items()} | (given or {})


def _value(value: Any, parameters: dict[str, str]) -> Any:
    return parameters[value["Ref"]] if isinstance(value, dict) and "Ref" in value else value


def rate_seconds(expression: str) -> float:
    """``rate(5 minutes)`` in seconds (EventBridge's rate expressions)."""
    found = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)", expression)
    if found is None:
        raise ValueError(f"not a rate expression: {expression!r}")
    unit = {"minute": 60, "hour": 3600, "day": 86400}[found[2].rstrip("s")]
    return int(found[1]) * unit


@contextlib.contextmanager
def sqs_keeps(clock: Clock) -> Iterator[None]:
    """moto's SQS on ``clock``: message delays, visibility timeouts and retention pass in
    the deployment's time, not the wall clock's (moto reads the time through these two)."""
    import moto.sqs.models

    sqs: Any = moto.sqs.models
    saved = sqs.unix_time, sqs.unix_time_millis

    def unix_time(dt: datetime | None = None) -> float:
        return float(saved[0](dt)) if dt is not None else clock.now().timestamp()

    sqs.unix_time = unix_time
    sqs.unix_time_millis = lambda dt=None: unix_time(dt) * 1000.0
    try:
        yield
    finally:
        sqs.unix_time, sqs.unix_time_millis = saved


@dataclass(frozen=True)
class Names:
    """The physical names of the deployment's resources (the functions' settings)."""

    jobs_table: str = "jobctl-jobs"
    idempotency_table: str = "jobctl-idempotency"
    topic: str = "jobctl-notices"
    jobs_queue: str = "jobctl-jobs"

    def environment(self, **changes: str) -> dict[str, str]:
        """What the functions see in Lambda (the template's Globals) for a deployment of
        these names in the simulated account, minus X-Ray (there is no daemon to send traces
        to), with ``changes``."""
        return {
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "JOBS_TABLE": self.jobs_table,
            "IDEMPOTENCY_TABLE": self.idempotency_table,
            "NOTICES_TOPIC_ARN": f"arn:aws:sns:{REGION}:{ACCOUNT}:{self.topic}",
            "DEFAULT_ROLE_ARN": DEFAULT_ROLE,
            "ALLOWED_ROLE_ARNS": "",
            "MAX_RECEIVE_COUNT": "5",
            "DEPLOYMENT_ID": "5e0c4b1a-jobctl-local",
            "POWERTOOLS_SERVICE_NAME": "jobctl",
            "POWERTOOLS_METRICS_NAMESPACE": "jobctl",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": "jobctl-local",
        } | changes


class Deployment:
    """The template's functions and event sources on one clock (see the module's text).

    ``install`` builds the functions' controller on given settings and clients (it may be
    rebuilt, as a template parameter change would); the functions can be invoked
    directly (``submit``, ``reconcile``, ``sweep``) or fed by the event sources: a
    request ``send`` to the jobs queue, a simulated SageMaker's state changes.
    """

    def __init__(
        self,
        clock: Clock,
        sagemaker: SimulatedSageMaker,
        *,
        parameters: dict[str, str] | None = None,
        drop_event_ratio: float = 0.0,
        retry_visibility: float | None = None,
        seed: int = 7,
    ) -> None:
        self.clock = clock
        self.sagemaker = sagemaker
        sagemaker.on_change = self._changed
        self.parameters = template_parameters(parameters)
        self.source = EventSource.from_template(self.parameters)
        self.sweep_every = rate_seconds(self.parameters["SweepSchedule"])
        self._patterns = _patterns(self.parameters)
        self.functions = Functions()
        self.controller: Controller | None = None
        self.clients: Any = None
        # What the event sources did: invocations by kind (submit, reconcile_event,
        # reconcile_sweep), records handed to SubmitFunction, messages sent to the queue.
        self.invocations: Counter[str] = Counter()
        self.records_handled = 0
        self.messages_sent = 0
        self.deliveries: Counter[str] = Counter()  # EventBridge deliveries, by event id
        self.delivering: str | None = None  # the id of the event being delivered
        self.queue_url: str | None = None
        self.dead_letter_queue_url: str | None = None
        self.errors = ErrorLog()
        self.events_sent = 0
        self.events_dropped = 0
        self.drop_event_ratio = drop_event_ratio
        # Seconds before a failed record shows again: the queue's visibility timeout
        # (as in Lambda) unless given (the local stack retries sooner).
        self.retry_visibility = retry_visibility
        # Told of every fault the runtime meets (the local stack asks whether moto is gone).
        self.on_fault: Callable[[BaseException], None] | None = None
        self._random = random.Random(seed)  # noqa: S311 - simulation, not security
        self._due: list[tuple[datetime, int, Callable[[], object]]] = []
        self._order = itertools.count()
        self._changed_due = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._on_threads = False
        self._sweeping = False
        # Called on every job's state change, before its events are sent (a scenario
        # watching the simulator: it must not call back into the simulator).
        self.watchers: list[Callable[[SimulatedJob], None]] = []
        # Called after every scheduled sweep (a benchmark probing what the next one costs).
        self.sweep_watchers: list[Callable[[], None]] = []
        self._time: contextlib.ExitStack | None = None

    # -- the deployment -----------------------------------------------------------------

    def deploy(self, names: Names | None = None, queue: bool = True) -> Deployment:
        """The template's tables, topic and (``queue``) jobs queue with its dead-letter
        queue, in moto's ``mock_aws``, under ``names``. (The local stack deploys the whole
        template through moto's CloudFormation, and names its queue with ``use_queue``.)"""
        names = names or Names()
        dynamodb = boto3.client("dynamodb")
        for logical_id, table in (
            ("JobsTable", names.jobs_table),
            ("IdempotencyTable", names.idempotency_table),
        ):
            dynamodb.create_table(**table_create_kwargs(logical_id, table))
        boto3.client("sns").create_topic(Name=names.topic)
        if not queue:
            return self
        sqs = boto3.client("sqs")
        dead = sqs.create_queue(QueueName=f"{names.jobs_queue}-dlq")["QueueUrl"]
        dead_arn = sqs.get_queue_attributes(QueueUrl=dead, AttributeNames=["QueueArn"])
        redrive = {
            "deadLetterTargetArn": dead_arn["Attributes"]["QueueArn"],
            "maxReceiveCount": self.source.max_receives,
        }
        jobs = sqs.create_queue(
            QueueName=names.jobs_queue,
            Attributes={
                "VisibilityTimeout": str(int(self.source.visibility_seconds)),
                "RedrivePolicy": json.dumps(redrive),
            },
        )["QueueUrl"]
        return self.use_queue(jobs, dead)

    def use_queue(self, queue_url: str, dead_letter_queue_url: str | None = None) -> Deployment:
        """The jobs queue the event source reads (and its dead-letter queue)."""
        self.queue_url, self.dead_letter_queue_url = queue_url, dead_letter_queue_url
        # One client and one ARN lookup for the queue's life: poll() is the hot path.
        self._sqs: Any = boto3.client("sqs")
        arn = self._sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self._queue_arn = str(arn["Attributes"]["QueueArn"])
        if self._time is None:
            self._time = contextlib.ExitStack()
            self._time.enter_context(sqs_keeps(self.clock))
        return self

    def install(self, settings: Settings, made: Any) -> Controller:
        """The functions' controller, built on ``settings`` and the clients ``made``, on the
        deployment's clock; the functions run on it from now on."""
        self.controller = bootstrap(settings, made, self.clock)
        self.clients = made
        handlers.use(self.controller)
        if not self._on_threads:  # the controller's own sends wake the event source up
            made.sqs.meta.events.register("provide-client-params.sqs.SendMessage", self._sent)
        return self.controller

    def close(self) -> None:
        """Stop the threads (if started), give moto's SQS its clock back, unhook the functions."""
        self.stop()
        if self._time is not None:
            self._time.close()
            self._time = None
        handlers.use(None)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- the functions, invoked directly --------------------------------------------------

    def submit(
        self,
        bodies: Sequence[Any],
        receive_count: int | list[int] = 1,
        message_ids: list[str] | None = None,
    ) -> dict[str, Any]:
        """SubmitFunction with an SQS event carrying ``bodies`` (dicts sent as JSON)."""
        event = sqs_event(bodies, receive_count=receive_count, message_ids=message_ids)
        self.invocations["submit"] += 1
        return dict(self.functions.invoke("SubmitFunction", event))

    def reconcile(self, event: dict[str, Any]) -> dict[str, Any]:
        """ReconcileFunction with ``event``."""
        self.invocations[
            "reconcile_sweep" if event.get("source") == "aws.events" else "reconcile_event"
        ] += 1
        return dict(self.functions.invoke("ReconcileFunction", event))

    def sweep(self) -> dict[str, Any]:
        """ReconcileFunction as its schedule invokes it, now."""
        return self.reconcile(scheduled_event(self.clock.now()))

    # -- the event sources ----------------------------------------------------------------

    def send(self, body: str, at: float | None = None) -> None:
        """A request reaches the jobs queue, now or ``at`` seconds from now."""
        if at is not None and at > 0:
            self.at(at, functools.partial(self.send, body))
            return
        self._sqs.send_message(QueueUrl=self._queue(), MessageBody=body)
        self._sent({})

    def queue_depth(self) -> int:
        """Messages in the jobs queue, visible, delayed or being worked on."""
        attributes = self._sqs.get_queue_attributes(QueueUrl=self._queue(), AttributeNames=["All"])[
            "Attributes"
        ]
        return sum(
            int(attributes[name])
            for name in (
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            )
        )

    def dead_letters(self) -> list[str]:
        """The bodies in the jobs queue's dead-letter queue (read, not removed)."""
        if self.dead_letter_queue_url is None:
            return []
        answer = self._sqs.receive_message(
            QueueUrl=self.dead_letter_queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0
        )
        return [m["Body"] for m in answer.get("Messages", [])]

    def poll(self, wait_seconds: int = 0) -> int:
        """The event source's one batch: receive, invoke SubmitFunction, delete what it
        handled; what failed shows again after the visibility timeout. Returns the
        number of records handed over."""
        sqs = self._sqs
        messages = sqs.receive_message(
            QueueUrl=self._queue(),
            MaxNumberOfMessages=min(self.source.batch_size, 10),
            WaitTimeSeconds=wait_seconds,
            # Hidden while the function works on them. Its time left counts on the wall
            # clock (Lambda's context), so on a faster clock the queue's visibility
            # timeout is kept in wall seconds: a slow batch never shows again mid-work.
            VisibilityTimeout=int(self.source.visibility_seconds * self._speed()),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = sqs_event_from(messages, self._queue_arn)
        self.invocations["submit"] += 1
        self.records_handled += len(messages)
        try:
            answer = self.functions.invoke("SubmitFunction", event)
            failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        except Exception as exc:  # noqa: BLE001 - as Lambda: every record comes back
            self._fault(f"SubmitFunction: {exc!r}", exc)
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=self._queue(),
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        retried = [m for m in messages if m["MessageId"] in failed]
        if retried and self.retry_visibility is not None:
            sqs.change_message_visibility_batch(
                QueueUrl=self._queue(),
                Entries=[
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": int(self.retry_visibility),
                    }
                    for i, m in enumerate(retried)
                ],
            )
        if not self._on_threads:
            if retried:  # they show again after the visibility timeout
                shown = self.retry_visibility or self.source.visibility_seconds
                self._poll_in(shown + self.source.window_seconds)
            if len(messages) == self.source.batch_size:
                self._poll_in(0.0)  # a full batch: more may wait
        return len(messages)

    def route(self, event: dict[str, Any], attempt: int = 0) -> None:
        """An EventBridge event: ReconcileFunction gets it if the template's rule matches
        (retried later if it fails)."""
        if not self.matches(event):
            return
        self.deliveries[event["id"]] += attempt == 0
        self.delivering = event["id"]
        try:
            self.reconcile(event)
        except Exception as exc:  # noqa: BLE001 - as Lambda: retried a minute later
            self._fault(f"ReconcileFunction attempt {attempt + 1}: {exc!r}", exc)
            if attempt < ASYNC_RETRIES:
                self.at(ASYNC_RETRY_SECONDS, functools.partial(self.route, event, attempt + 1))
        finally:
            self.delivering = None

    def matches(self, event: dict[str, Any]) -> bool:
        """Whether one of the template's rules for ReconcileFunction matches ``event``."""
        return any(pattern.matches_event(event) for pattern in self._patterns)

    def _changed(self, job: SimulatedJob) -> None:
        # Called by the simulator, under its lock: take the event as it is at this change.
        for watcher in self.watchers:
            watcher(job)
        if job.job_type != "TrainingJob":
            return  # SageMaker sends no AutoML state-change events
        self.events_sent += 1
        if self._random.random() < self.drop_event_ratio:
            self.events_dropped += 1
            return
        event = self.sagemaker.training_event(job.name)
        for _ in range(DELIVERIES):
            self.at(self._random.uniform(*EVENT_DELAY), functools.partial(self.route, event))

    def _sent(self, params: dict[str, Any], **_: Any) -> None:
        self.messages_sent += 1
        self._poll_in(float(params.get("DelaySeconds", 0)) + self.source.window_seconds)

    def _poll_in(self, seconds: float) -> None:
        if not self._on_threads:
            self.at(seconds, self._poll_once)

    def _poll_once(self) -> None:
        self.poll()

    def _fault(self, error: str, exc: BaseException) -> None:
        self.errors.append(error)
        if self.on_fault is not None:
            self.on_fault(exc)

    def _speed(self) -> float:
        return self.clock.speed if isinstance(self.clock, ScaledClock) else 1.0

    def _queue(self) -> str:
        if self.queue_url is None:
            raise RuntimeError("the deployment has no jobs queue: deploy() or use_queue() first")
        return self.queue_url

    # -- time -------------------------------------------------------------------------------

    def at(self, seconds: float, action: Callable[[], object]) -> None:
        """Do ``action`` ``seconds`` from now, on the deployment's clock."""
        due = self.clock.now() + timedelta(seconds=max(0.0, seconds))
        with self._changed_due:
            heapq.heappush(self._due, (due, next(self._order), action))
            self._changed_due.notify()

    def run(self, until: float, done: Callable[[], bool] | None = None) -> None:
        """On a ManualClock: do what is due, in order, moving the clock to each, for
        ``until`` seconds (the clock then stands at their end), or, once ``done()`` holds,
        for two sweeps more (the clock then stands at the last thing done). The sweep
        runs on its schedule throughout."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("run() moves a ManualClock; a wall clock runs with start()")
        end = self.clock.now() + timedelta(seconds=until)
        timed = done is None  # else it stops at the last thing done
        self._schedule_sweep()
        while self._due:
            if done is not None and done():
                end = min(end, self.clock.now() + timedelta(seconds=2 * self.sweep_every))
                done = None
            due, _, action = self._due[0]
            if due > end:
                break
            heapq.heappop(self._due)
            self.clock.set(due)
            action()
        if timed:
            self.clock.set(end)

    def _schedule_sweep(self) -> None:
        if self._sweeping:
            return
        self._sweeping = True

        def sweep() -> None:
            self._scheduled_sweep()
            self.at(self.sweep_every, sweep)

        self.at(self.sweep_every, sweep)

    def _scheduled_sweep(self) -> None:
        try:
            self.sweep()
        except Exception as exc:  # noqa: BLE001 - as Lambda: the next one runs on time
            self._fault(f"ReconcileFunction (schedule): {exc!r}", exc)
        for watcher in self.sweep_watchers:
            watcher()

    # -- on a wall clock: threads ---------------------------------------------------------

    def start(self, pollers: int = CONTAINERS["SubmitFunction"], sweep_seconds: float = 0) -> None:
        """On a ScaledClock: the event sources on threads (``pollers`` of the jobs queue, as
        many as SubmitFunction's containers), the schedule every ``sweep_seconds`` (else
        the template's), the simulator's jobs moving with the clock."""
        self._on_threads = True
        if sweep_seconds:
            self.sweep_every = sweep_seconds
        # The schedule keeps its own time, however far behind the events run (EventBridge
        # Scheduler fires on time): sweeps never wait behind a backlog of events.
        self._spawn(self._run_schedule)
        self._spawn(self._run_due)
        self._spawn(self._move_sagemaker)
        for _ in range(pollers):
            self._spawn(functools.partial(self.poll, 1), "poll")

    def stop_soon(self) -> None:
        """Tell the threads to stop (from one of them: ``stop`` waits for them)."""
        self._stopping.set()

    def stop(self) -> None:
        self._stopping.set()
        with self._changed_due:
            self._changed_due.notify_all()
        for thread in self._threads:
            thread.join(timeout=25)
        self._threads.clear()

    def _spawn(self, target: Callable[[], Any], name: str | None = None) -> None:
        name = name or getattr(target, "__name__", "loop")

        def loop() -> None:
            while not self._stopping.is_set():
                try:
                    target()
                except Exception as exc:  # noqa: BLE001 - keep the runtime up, report the fault
                    self._fault(f"{name}: {exc!r}", exc)
                    self._stopping.wait(1)

        thread = threading.Thread(target=loop, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _run_due(self) -> None:
        """Wait for the next thing due on the clock, and do it."""
        with self._changed_due:
            if not self._due:
                self._changed_due.wait(0.5)
                return
            due = self._due[0][0]
            wait = (due - self.clock.now()).total_seconds()
            if wait > 0:
                self._changed_due.wait(min(0.5, wait / self._speed()))
                return
            _, _, action = heapq.heappop(self._due)
        action()

    def _run_schedule(self) -> None:
        if not self._stopping.wait(self.sweep_every / self._speed()):
            self._scheduled_sweep()

    def _move_sagemaker(self) -> None:
        self.sagemaker.advance()
        self._stopping.wait(0.2)


def _patterns(parameters: dict[str, str]) -> list[Any]:
    from moto.events.models import EventPattern

    return [EventPattern.load(json.dumps(p)) for p in event_patterns(parameters=parameters)]
