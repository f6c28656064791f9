"""In-process stand-ins that answer boto3 clients on botocore's ``before-call`` event: moto's
DynamoDB and an SNS topic.

``InProcessDynamoDB`` is moto's DynamoDB called without HTTP or moto's response serializer,
with two changes for speed at the benchmarks' scale: a transaction rolls back only the
items it names (``jobctl_tools.local.transactions``, as in the local stack: moto copies
each table it touches), and a projection of top-level attributes takes them as they are.
README, Benchmarks, has the figures.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from moto.core.exceptions import JsonRESTError
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.responses import DynamoHandler

from jobctl_tools.local import transactions

ACCOUNT, REGION = "123456789012", "us-east-1"


def _answer(body: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
    body["ResponseMetadata"] = {"HTTPStatusCode": status, "RequestId": "in-process"}
    return AWSResponse("https://in-process.bench", status, HTTPHeaders(), None), body


class _Backend(DynamoDBBackend):
    """moto's DynamoDB, its transactions rolled back item by item (installed below)."""


transactions.install(_Backend)


class _Handler(DynamoHandler):
    def __init__(self, backend: DynamoDBBackend, request: dict[str, Any]) -> None:
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
