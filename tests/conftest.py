"""Shared fixtures: environment, Lambda context, the stack in moto, one fake SageMaker."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from jobctl import handlers
from jobctl.adapters.aws import Clients, clients
from jobctl.bootstrap import Controller, bootstrap
from jobctl.config import Settings, get_settings
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.sagemaker import SimulatedSageMaker
from tests.support.template import load_event, table_create_kwargs

ACCOUNT = "123456789012"
DEFAULT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobctl-sagemaker-execution"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/team-b-sagemaker"
JOBS_TABLE = "jobctl-jobs"
IDEMPOTENCY_TABLE = "jobctl-idempotency"
TOPIC_NAME = "jobctl-notices"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:{TOPIC_NAME}"
MAX_RECEIVE_COUNT = 3
DEPLOYMENT_ID = "5e0c4b1a-jobctl-test"

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "JOBS_TABLE": JOBS_TABLE,
    "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
    "NOTICES_TOPIC_ARN": TOPIC_ARN,
    "DEFAULT_ROLE_ARN": DEFAULT_ROLE,
    "DEPLOYMENT_ID": DEPLOYMENT_ID,
    "ALLOWED_ROLE_ARNS": OTHER_ROLE,
    "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "jobctl",
    "POWERTOOLS_METRICS_NAMESPACE": "jobctl",
    "AWS_LAMBDA_FUNCTION_NAME": "jobctl-test",
}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    handlers.use(None)
    get_settings.cache_clear()


@dataclass
class LambdaContext:
    function_name: str = "jobctl-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:jobctl-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Crash(BaseException):
    """The function's process dies here (a timeout or an out-of-memory kill): nothing in
    the handler gets to clean up, exactly as in Lambda."""


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()


@dataclass
class Logs:
    """What the controller's Powertools logger writes (JSON lines). Its handler holds the
    stream it was made with, so pytest's capsys never sees these lines."""

    stream: io.StringIO

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]


@pytest.fixture
def logs() -> Iterator[Logs]:
    stream = io.StringIO()
    handlers = [
        handler
        for handler in logging.getLogger("jobctl").handlers
        if isinstance(handler, logging.StreamHandler)
    ]
    previous = [handler.setStream(stream) for handler in handlers]
    try:
        yield Logs(stream)
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            if old is not None:
                handler.setStream(old)


def sqs_event(
    *bodies: Any, receive_count: int = 1, message_ids: list[str] | None = None
) -> dict[str, Any]:
    """An SQS → Lambda event carrying ``bodies`` (dicts are sent as JSON, strings as given)."""
    template = load_event("sqs-training-request.json")["Records"][0]
    records = []
    for index, body in enumerate(bodies):
        record = json.loads(json.dumps(template))
        record["messageId"] = message_ids[index] if message_ids else str(uuid.uuid4())
        record["body"] = body if isinstance(body, str) else json.dumps(body)
        record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        records.append(record)
    return {"Records": records}


def request_body(name: str = "training.json", **changes: Any) -> dict[str, Any]:
    """A sample request from events/requests/, with top-level fields changed or removed (None)."""
    body = load_event(f"requests/{name}")
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


@dataclass
class Stack:
    """The deployed stack in moto, with the simulated SageMaker, driven through the handlers.

    The handlers run on a controller built for the test (``bootstrap`` with the test's
    settings, clients and clock); ``reconfigure`` rebuilds it with settings changed, as
    a template parameter would."""

    sagemaker: SimulatedSageMaker
    context: LambdaContext
    _notice_queue: str
    clock: ManualClock
    clients: Clients
    _received: list[dict[str, Any]] = field(default_factory=list)
    settings: Settings = field(init=False)
    controller: Controller = field(init=False)

    def __post_init__(self) -> None:
        self.reconfigure()

    def reconfigure(self, **changes: str) -> Controller:
        self.settings = Settings.from_environ({**ENVIRONMENT, **changes})
        self.controller = bootstrap(self.settings, self.clients, self.clock)
        handlers.use(self.controller)
        return self.controller

    def submit(
        self, *bodies: Any, receive_count: int = 1, message_ids: list[str] | None = None
    ) -> dict[str, Any]:
        from jobctl.handlers import submit

        event = sqs_event(*bodies, receive_count=receive_count, message_ids=message_ids)
        return dict(submit.handler(event, self.context))

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        from jobctl.handlers import reconcile

        return reconcile.handler(event, self.context)

    def sweep(self) -> dict[str, Any]:
        return self.deliver(load_event("scheduled-sweep.json"))

    def job(self, job_name: str, job_type: str = "TrainingJob") -> dict[str, Any] | None:
        record = self.controller.reconciler.ledger.get(job_name, job_type)
        return record.model_dump() if record else None

    def ledger_items(self) -> list[dict[str, Any]]:
        pages = self.clients.dynamodb.get_paginator("scan").paginate(TableName=JOBS_TABLE)
        return [item for page in pages for item in page["Items"]]

    def notices(self) -> list[dict[str, Any]]:
        """Every notice published so far: the message, plus its attributes under "_attributes"."""
        sqs = boto3.client("sqs")
        while True:
            batch = sqs.receive_message(QueueUrl=self._notice_queue, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return list(self._received)
            for message in messages:
                envelope = json.loads(message["Body"])
                notice = json.loads(envelope["Message"])
                notice["_attributes"] = {
                    k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()
                }
                self._received.append(notice)
                sqs.delete_message(
                    QueueUrl=self._notice_queue, ReceiptHandle=message["ReceiptHandle"]
                )

    def notices_for(self, job_name: str) -> list[dict[str, Any]]:
        return [n for n in self.notices() if n["job_name"] == job_name]

    def fail_dynamodb(
        self, operation: str, table: str, error: BaseException | str, times: int = 1
    ) -> None:
        """Make the next ``times`` ``operation`` calls on ``table`` fail (a ClientError with
        the code given as a string), as they would once botocore's retries are spent."""
        remaining = [times]

        def intercept(params: dict[str, Any], **_: Any) -> None:
            if remaining[0] and params.get("TableName") == table:
                remaining[0] -= 1
                if isinstance(error, str):
                    answer = {"Error": {"Code": error, "Message": "simulated"}}
                    raise ClientError(answer, operation)  # type: ignore[arg-type]
                raise error

        self.clients.dynamodb.meta.events.register(
            f"provide-client-params.dynamodb.{operation}", intercept
        )


@pytest.fixture
def clock() -> ManualClock:
    """The one clock of the simulated SageMaker and of the functions beside it: it moves
    only when a test moves it or the code sleeps on it (pacing costs no wall time)."""
    return ManualClock()


@pytest.fixture
def sagemaker(clock: ManualClock) -> SimulatedSageMaker:
    """The simulated SageMaker, as strict as the real one: rate limits on."""
    return SimulatedSageMaker(clock=clock)


@pytest.fixture
def stack(
    sagemaker: SimulatedSageMaker, lambda_context: LambdaContext, clock: ManualClock
) -> Iterator[Stack]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(**table_create_kwargs("JobsTable", JOBS_TABLE))
        dynamodb.create_table(**table_create_kwargs("IdempotencyTable", IDEMPOTENCY_TABLE))
        sns = boto3.client("sns")
        sqs = boto3.client("sqs")
        topic_arn = sns.create_topic(Name=TOPIC_NAME)["TopicArn"]
        queue_url = sqs.create_queue(QueueName="notice-subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        made = clients()
        sagemaker.attach(made.sagemaker)
        yield Stack(
            sagemaker=sagemaker,
            context=lambda_context,
            _notice_queue=queue_url,
            clock=clock,
            clients=made,
        )
