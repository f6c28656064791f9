"""In-process stand-ins that answer boto3 clients on botocore's ``before-call`` event: moto's
DynamoDB and an SNS topic.

``InProcessDynamoDB`` is moto's DynamoDB called without HTTP or moto's response serializer,
with two changes for speed at the benchmarks' scale: a transaction checks every condition
before it writes (moto copies each table it touches to roll back), and a projection of
top-level attributes takes them as they are. README, Benchmarks, has the figures.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import ConditionalCheckFailed, TransactionCanceledException
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.responses import DynamoHandler

ACCOUNT, REGION = "123456789012", "us-east-1"


def _answer(body: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
    body["ResponseMetadata"] = {"HTTPStatusCode": status, "RequestId": "in-process"}
    return AWSResponse("https://in-process.bench", status, HTTPHeaders(), None), body


class _Backend(DynamoDBBackend):
    def transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
        """All or nothing, as DynamoDB: every condition is checked, then every write made."""
        reasons: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
        for entry in transact_items:
            ((kind, part),) = entry.items()
            current = self.get_item(part["TableName"], self._key(kind, part))
            condition = get_filter_expression(
                part.get("ConditionExpression"),
                part.get("ExpressionAttributeNames"),
                part.get("ExpressionAttributeValues"),
            )
            if condition.expr(current):
                reasons.append((None, None, None))
                continue
            wanted = part.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
            old = current.to_json()["Attributes"] if current and wanted else None
            reasons.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, old))
        if any(code for code, _, _ in reasons):
            raise TransactionCanceledException(reasons)
        for entry in transact_items:
            ((kind, part),) = entry.items()
            table, names = part["TableName"], part.get("ExpressionAttributeNames")
            values = part.get("ExpressionAttributeValues")
            if kind == "Put":
                self.put_item(table, part["Item"])
            elif kind == "Delete":
                self.delete_item(table, part["Key"])
            elif kind == "Update":
                self.update_item(table, part["Key"], part["UpdateExpression"], names, values)

    def _key(self, kind: str, part: dict[str, Any]) -> dict[str, Any]:
        if kind != "Put":
            return dict(part["Key"])
        table = self.get_table(part["TableName"])
        keys = [table.hash_key_attr, table.range_key_attr]
        return {name: part["Item"][name] for name in keys if name is not None}


class _Handler(DynamoHandler):
    def __init__(self, backend: _Backend, request: dict[str, Any]) -> None:
        super().__init__()
        self._backend = backend
        self.current_account, self.region = ACCOUNT, REGION
        self.body, self.headers = request, {}

    @property
    def dynamodb_backend(self) -> DynamoDBBackend:
        return self._backend


class InProcessDynamoDB:
    """moto's DynamoDB, answering the clients it is attached to (see the module's text)."""

    def __init__(self) -> None:
        self.backend = _Backend(REGION, ACCOUNT)
        self._request: dict[str, Any] = {}

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build.dynamodb", self._read)
        client.meta.events.register("before-call.dynamodb", self._call)
        return client

    def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        """One DynamoDB call (``CreateTable`` too), answered as botocore parses it."""
        result = getattr(_Handler(self.backend, request), xform_name(operation))()
        return dict(result.result or {})

    def _read(self, params: dict[str, Any], **_: Any) -> None:
        self._request = params

    def _call(self, model: Any, **_: Any) -> Any:
        try:
            return _answer(self.call(model.name, self._request))
        except JsonRESTError as exc:  # moto's error, as DynamoDB's JSON protocol sends it
            details = json.loads(exc.description)
            code = details.pop("__type").rpartition("#")[2]
            message = details.pop("message", None) or details.pop("Message", "")
            return _answer({"Error": {"Code": code, "Message": message}, **details}, exc.code)


_project = Item.project


def _project_top_level(self: Item, projection_expressions: list[list[str]]) -> Item:
    if any(len(path) != 1 for path in projection_expressions):
        return _project(self, projection_expressions)
    projected = Item(self.hash_key, self.range_key, {})
    for (name,) in projection_expressions:
        if name in self.attrs:
            projected.attrs[name] = self.attrs[name]
    return projected


Item.project = _project_top_level  # type: ignore[method-assign]


class FakeSNS:
    """A topic that answers ``Publish`` (the cold-start rig's: no moto in that interpreter)."""

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call.sns.Publish", self._publish)
        return client

    def _publish(self, **_: Any) -> Any:
        return _answer({"MessageId": str(uuid.uuid4())})
