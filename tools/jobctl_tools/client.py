"""What users do with a deployed jobctl (CONTRACT §1): enqueue requests, read the ledger,
follow notices. The CLI is a thin layer over this."""

from __future__ import annotations

import json
import threading
import tomllib
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError
from botocore.exceptions import ClientError as BotoClientError

from jobctl.adapters.ledger import record_from_item
from jobctl.errors import InvalidRequest, UnreadableRecord
from jobctl.logic.requests import create_params
from jobctl.models.jobs import JobRecord
from jobctl.models.requests import JobRequest, parse_request

OUTPUT_KEYS = {
    "queue_url": "JobsQueueUrl",
    "table": "JobsTableName",
    "topic_arn": "NoticesTopicArn",
    "dlq_url": "DeadLetterQueueUrl",
}
OPTIONAL_OUTPUTS = {"dlq_url"}
# How long a listed dead letter stays hidden from other readers while we look at it.
_DLQ_LOOK_SECONDS = 30
STATUS_INDEX = "status-index"
# Stands in for DEFAULT_ROLE_ARN when checking a request before sending it: the role
# allow-list is the controller's to enforce.
_ANY_ROLE = "arn:aws:iam::000000000000:role/checked-by-the-controller"
_ANY_DEPLOYMENT = "checked-by-the-controller"


class UserError(RuntimeError):
    """A problem to report to the user in one line."""


def default_stack_name(config: Path = Path("samconfig.toml")) -> str:
    """The stack name `sam deploy` uses here (samconfig.toml), else "jobctl"."""
    try:
        settings = tomllib.loads(config.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return "jobctl"
    name = settings.get("default", {}).get("global", {}).get("parameters", {}).get("stack_name")
    return str(name) if name else "jobctl"


@dataclass(frozen=True)
class Resources:
    queue_url: str
    table: str
    topic_arn: str
    dlq_url: str | None = None

    @classmethod
    def resolve(
        cls,
        stack: str,
        session: boto3.session.Session,
        endpoint_url: str | None,
        **given: str | None,
    ) -> Resources:
        """Explicit values win; the rest come from the CloudFormation stack's Outputs."""
        values = {key: value for key, value in given.items() if value}
        missing = [key for key in OUTPUT_KEYS if key not in values]
        if any(key not in OPTIONAL_OUTPUTS for key in missing):
            cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
            try:
                stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
            except (BotoClientError, BotoCoreError) as exc:
                raise UserError(
                    f"cannot read stack {stack!r} ({exc}); pass --stack, or --queue-url, "
                    "--table and --topic-arn"
                ) from exc
            outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
            for key in missing:
                if OUTPUT_KEYS[key] in outputs:
                    values[key] = outputs[OUTPUT_KEYS[key]]
                elif key not in OPTIONAL_OUTPUTS:
                    raise UserError(f"stack {stack!r} has no output {OUTPUT_KEYS[key]}")
        return cls(**values)


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    sent_at: str
    job_type: str | None
    job_name: str | None
    request_id: str | None

    @classmethod
    def of(cls, message: dict[str, Any]) -> DeadLetter:
        try:
            body = json.loads(message["Body"])
        except ValueError:
            body = None
        fields = body if isinstance(body, dict) else {}
        sent = int(message.get("Attributes", {}).get("SentTimestamp", "0")) / 1000
        return cls(
            message_id=message["MessageId"],
            sent_at=datetime.fromtimestamp(sent, UTC).isoformat(timespec="seconds"),
            job_type=_text(fields.get("job_type")),
            job_name=_text(fields.get("job_name")),
            request_id=_text(fields.get("request_id")),
        )


class NoticeCollector:
    """Gathers notices in the background (for the demo and the soak)."""

    def __init__(self, client: JobctlClient) -> None:
        self.received: list[dict[str, Any]] = []
        self._client = client
        self._listening = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)

    def start(self) -> NoticeCollector:
        self._thread.start()
        if not self._listening.wait(10):
            raise UserError("could not subscribe to the notices topic")
        return self

    def stop(self) -> list[dict[str, Any]]:
        self._done.set()
        self._thread.join(timeout=10)
        return self.received

    def _collect(self) -> None:
        with self._client.notices() as stream:
            self._listening.set()
            for notice in stream:
                if notice:
                    self.received.append(notice)
                if self._done.is_set():
                    return


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_requests(text: str) -> list[dict[str, Any]]:
    """One request, a JSON list of them, or JSON Lines."""
    stripped = text.strip()
    if not stripped:
        raise UserError("no request given")
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UserError(
                f"not JSON, a JSON list or JSON Lines: line {exc.lineno}: {exc.msg}"
            ) from exc
    requests = data if isinstance(data, list) else [data]
    if not all(isinstance(r, dict) for r in requests):
        raise UserError("each request must be a JSON object")
    return requests


def check_request(body: dict[str, Any]) -> JobRequest:
    """The controller's own checks, run before sending; raises InvalidRequest."""
    request = parse_request(json.dumps(body))
    if request.action == "submit":
        role = (request.spec or {}).get("RoleArn", _ANY_ROLE)
        create_params(request, _ANY_ROLE, frozenset({role, _ANY_ROLE}), _ANY_DEPLOYMENT)
    return request


class JobctlClient:
    def __init__(
        self, resources: Resources, session: boto3.session.Session, endpoint_url: str | None
    ) -> None:
        self.resources = resources
        self._session = session
        self._endpoint = endpoint_url
        self._sqs: Any = session.client("sqs", endpoint_url=endpoint_url)
        # Ledger records that could not be read (damaged by hand): their keys only.
        self.unreadable: list[tuple[str, str]] = []
        self._dynamodb: Any = session.client("dynamodb", endpoint_url=endpoint_url)

    def send(self, bodies: list[dict[str, Any]], check: bool = True) -> list[JobRequest | None]:
        """Check every request, then enqueue them all; nothing is sent if one is invalid.

        With ``check=False`` invalid requests are sent too (the controller rejects them);
        their entry in the answer is None.
        """
        checked: list[JobRequest | None] = []
        for index, body in enumerate(bodies, start=1):
            try:
                checked.append(check_request(body))
            except InvalidRequest as exc:
                if check:
                    raise UserError(f"request {index}: {exc}") from exc
                checked.append(None)
        for body in bodies:
            self._sqs.send_message(QueueUrl=self.resources.queue_url, MessageBody=json.dumps(body))
        return checked

    def get(self, job_name: str, job_type: str | None = None) -> list[JobRecord]:
        """The job's records (one per job type, unless ``job_type`` is given)."""
        condition = "job_name = :name" + (" AND job_type = :type" if job_type else "")
        values = {":name": {"S": job_name}, **({":type": {"S": job_type}} if job_type else {})}
        return self._query(KeyConditionExpression=condition, ExpressionAttributeValues=values)

    def find(
        self, status: str | None = None, job_type: str | None = None, since: str | None = None
    ) -> list[JobRecord]:
        """Jobs by status (through status-index, never a scan), type and last update."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}

        def compare(attribute: str, operator: str, value: str) -> str:
            # Each clause declares the names and values it uses, and only those.
            names[f"#{attribute}"] = attribute
            values[f":{attribute}"] = {"S": value}
            return f"#{attribute} {operator} :{attribute}"

        kwargs: dict[str, Any] = {}
        filters = []
        if status:
            key = [compare("status", "=", status)]
            if since:
                key.append(compare("updated_at", ">=", since))
            kwargs = {"IndexName": STATUS_INDEX, "KeyConditionExpression": " AND ".join(key)}
        elif since:
            filters.append(compare("updated_at", ">=", since))
        if job_type:
            filters.append(compare("job_type", "=", job_type))
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)
        if names:
            kwargs["ExpressionAttributeNames"] = names
            kwargs["ExpressionAttributeValues"] = values
        records = self._query(**kwargs) if status else self._scan(**kwargs)
        return sorted(records, key=lambda r: r.updated_at, reverse=True)

    def _query(self, **kwargs: Any) -> list[JobRecord]:
        pages = self._dynamodb.get_paginator("query").paginate(
            TableName=self.resources.table, **kwargs
        )
        return self._records(item for page in pages for item in page["Items"])

    def _scan(self, **kwargs: Any) -> list[JobRecord]:
        pages = self._dynamodb.get_paginator("scan").paginate(
            TableName=self.resources.table, **kwargs
        )
        return self._records(item for page in pages for item in page["Items"])

    def _records(self, items: Iterable[dict[str, Any]]) -> list[JobRecord]:
        """The records that parse; the keys of the others are kept in ``unreadable``."""
        records = []
        for item in items:
            try:
                records.append(record_from_item(item))
            except UnreadableRecord as unreadable:
                self.unreadable.append(unreadable.key)
        return records

    def dead_letters(self) -> list[DeadLetter]:
        """The requests in the dead-letter queue (they stay there)."""
        messages = self._take_dead_letters()
        self._release(messages)
        return [DeadLetter.of(message) for message in messages]

    def redrive(self, message_ids: set[str] | None = None) -> list[DeadLetter]:
        """Send dead letters (all, or those named) back to the jobs queue.

        SQS's own StartMessageMoveTask moves a whole queue at once; this replays chosen
        requests, one at a time, sending each before deleting it, so a crash leaves a copy
        at worst — and replays are idempotent (the request keeps its request_id).
        """
        messages = self._take_dead_letters()
        chosen = [m for m in messages if message_ids is None or m["MessageId"] in message_ids]
        self._release([m for m in messages if m not in chosen])
        for message in chosen:
            self._sqs.send_message(QueueUrl=self.resources.queue_url, MessageBody=message["Body"])
            self._sqs.delete_message(QueueUrl=self._dlq_url, ReceiptHandle=message["ReceiptHandle"])
        return [DeadLetter.of(message) for message in chosen]

    @property
    def _dlq_url(self) -> str:
        if not self.resources.dlq_url:
            raise UserError("no dead-letter queue known: pass --dlq-url or use a stack")
        return self.resources.dlq_url

    def _take_dead_letters(self) -> list[dict[str, Any]]:
        messages: dict[str, dict[str, Any]] = {}
        while True:
            batch = self._sqs.receive_message(
                QueueUrl=self._dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=_DLQ_LOOK_SECONDS,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return list(messages.values())
            messages.update({m["MessageId"]: m for m in batch})

    def _release(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ]
            self._sqs.change_message_visibility_batch(QueueUrl=self._dlq_url, Entries=entries)

    @contextmanager
    def notices(self) -> Iterator[Iterator[dict[str, Any]]]:
        """A temporary queue subscribed to the topic, removed with its subscription on exit."""
        sns: Any = self._session.client("sns", endpoint_url=self._endpoint)
        name = f"jobctl-notices-{uuid.uuid4().hex[:8]}"
        queue_url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        subscription = None
        try:
            queue_arn = self._sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": queue_arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": self.resources.topic_arn}},
                    }
                ],
            }
            self._sqs.set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)}
            )
            subscription = sns.subscribe(
                TopicArn=self.resources.topic_arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
            yield self._receive(queue_url)
        finally:
            if subscription:
                sns.unsubscribe(SubscriptionArn=subscription)
            self._sqs.delete_queue(QueueUrl=queue_url)

    def _receive(self, queue_url: str) -> Iterator[dict[str, Any]]:
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                yield {}  # a heartbeat, so callers can stop on a timeout
            for message in messages:
                envelope = json.loads(message["Body"])
                yield json.loads(envelope["Message"])
                self._sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
