"""What Lambda hands a function: its context object, and the events its triggers build.

The one copy the tests, the benchmarks and the local stack's runtime share:

- ``LambdaContext``: the parts of Lambda's context object the handlers and Powertools
  read, its time left counting down from the function's timeout.
- ``sqs_record``/``sqs_event_from``: messages as SQS's ReceiveMessage returns them, made
  into the event Lambda's SQS event source invokes the function with; ``sqs_event``
  does the same for message bodies (``sqs_message`` makes each a ReceiveMessage message
  first, with its receive count and message id).
- ``scheduled_event``: EventBridge's "Scheduled Event", as a schedule rule sends it.

The standard library only: the benchmarks import this next to a cold start they measure.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobctl-JobsQueue-local"
SWEEP_RULE_ARN = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/jobctl-sweep"
SENDER_ID = "AROAEXAMPLEPRODUCER:jobctl-producer"

# The system attributes Lambda's SQS event source passes on, when the message has them.
_PASSED_ON = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
)


@dataclass
class LambdaContext:
    """The parts of Lambda's context object the handlers and Powertools use.

    The time left counts down from ``timeout_seconds`` since the context was made, as in
    Lambda. Setting ``remaining_ms`` pins it instead, whatever the wall clock says (a
    test gives an invocation little time left, so what it leaves behind expires soon)."""

    function_name: str = "jobctl"
    timeout_seconds: float = 60
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int | None = None
    _started: float = field(default_factory=time.monotonic, repr=False)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        if self.remaining_ms is not None:
            return self.remaining_ms
        left = self.timeout_seconds - (time.monotonic() - self._started)
        return max(0, int(left * 1000))


def sqs_message(
    body: object,
    *,
    message_id: str | None = None,
    receive_count: int = 1,
    sent_ms: int | None = None,
) -> dict[str, Any]:
    """One message as ReceiveMessage returns it (with ``AttributeNames=["All"]``), on its
    ``receive_count``-th receive. ``body`` is sent as given if it is a string, as JSON
    otherwise."""
    text = body if isinstance(body, str) else json.dumps(body)
    sent = str(sent_ms if sent_ms is not None else int(time.time() * 1000))
    return {
        "MessageId": message_id or str(uuid.uuid4()),
        "ReceiptHandle": f"local-receipt-{uuid.uuid4()}",
        "MD5OfBody": _md5(text),
        "Body": text,
        "Attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": sent,
            "SenderId": SENDER_ID,
            "ApproximateFirstReceiveTimestamp": sent,
        },
    }


def sqs_record(message: Mapping[str, Any], queue_arn: str = QUEUE_ARN) -> dict[str, Any]:
    """A ReceiveMessage message (boto3's shape: ``MessageId``, ``ReceiptHandle``, ``Body``,
    ``Attributes``, ``MessageAttributes``, ``MD5OfBody``) as Lambda's SQS event source
    hands it to the function: camel-cased, its system attributes as strings (a receive
    count of 1 and the time now if ReceiveMessage was not asked for them), its message
    attributes in Lambda's shape."""
    attributes: Mapping[str, str] = message.get("Attributes", {})
    now = str(int(time.time() * 1000))
    passed_on = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": now,
        "SenderId": ACCOUNT,
        "ApproximateFirstReceiveTimestamp": now,
    } | {name: attributes[name] for name in _PASSED_ON if name in attributes}
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": passed_on,
        "messageAttributes": {
            name: _lambda_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody") or _md5(message["Body"]),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": queue_arn.split(":")[3],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def sqs_event_from(
    messages: Iterable[Mapping[str, Any]], queue_arn: str = QUEUE_ARN
) -> dict[str, Any]:
    """The SQS → Lambda event for one batch of ReceiveMessage messages."""
    return {"Records": [sqs_record(message, queue_arn) for message in messages]}


def sqs_event(
    bodies: Iterable[object],
    *,
    receive_count: int | Sequence[int] = 1,
    message_ids: Sequence[str] | None = None,
    queue_arn: str = QUEUE_ARN,
) -> dict[str, Any]:
    """The SQS → Lambda event carrying ``bodies`` (strings as given, anything else as
    JSON): each on its ``receive_count``-th receive (one count for all, or one each),
    under ``message_ids`` (fresh ones if None)."""
    bodies = list(bodies)
    counts = (
        [receive_count] * len(bodies) if isinstance(receive_count, int) else list(receive_count)
    )
    ids: list[str | None] = list(message_ids) if message_ids is not None else [None] * len(bodies)
    if not len(counts) == len(ids) == len(bodies):
        raise ValueError(
            f"{len(bodies)} bodies, {len(counts)} receive counts, {len(ids)} message ids"
        )
    messages = [
        sqs_message(body, message_id=message_id, receive_count=count)
        for body, count, message_id in zip(bodies, counts, ids, strict=True)
    ]
    return sqs_event_from(messages, queue_arn)


def scheduled_event(
    moment: datetime | None = None, *, rule_arn: str = SWEEP_RULE_ARN
) -> dict[str, Any]:
    """The event a schedule rule (``rule_arn``) sends at ``moment`` (now if None)."""
    at = (moment or datetime.now(UTC)).astimezone(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [rule_arn],
        "detail": {},
    }


def _lambda_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    """A message attribute as ReceiveMessage returns it, in the event's shape."""
    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [_base64(v) for v in value.get("BinaryListValues", [])],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = _base64(value["BinaryValue"])
    return attribute


def _base64(value: bytes | str) -> str:
    return value if isinstance(value, str) else base64.b64encode(value).decode("ascii")


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
