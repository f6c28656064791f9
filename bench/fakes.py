"""In-process DynamoDB and SNS that answer boto3 clients on botocore's ``before-call`` event.

They exist so handler overhead can be measured without moto's server-side work (moto's
DynamoDB spends ~10 ms serializing each answer, which would swamp the handlers' own
cost). botocore still validates and serializes every request, as it does in Lambda;
network, SigV4 signing and response parsing are what these fakes leave out. The fakes
read the call's parameters as given (``before-parameter-build``) and answer on
``before-call`` with an already-parsed response.

The DynamoDB fake holds items in dicts and evaluates the condition expressions jobctl
and Powertools use (``attribute_(not_)exists``, ``=``, ``<``, joined by AND/OR with
parentheses); ``SET`` and ``REMOVE`` update expressions (one action each); equality key
conditions on tables and indexes.
It is enough for the paths the benchmarks drive, not a general DynamoDB.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

_CLAUSE = re.compile(r"^(attribute_not_exists|attribute_exists)\((\S+)\)$|^(\S+)\s*(=|<)\s*(:\w+)$")


def _answer(body: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
    body["ResponseMetadata"] = {"HTTPStatusCode": status, "RequestId": "bench-fake"}
    return AWSResponse("https://fake.bench", status, HTTPHeaders(), None), body


def _error(code: str, message: str, **extra: Any) -> tuple[AWSResponse, dict[str, Any]]:
    return _answer({"Error": {"Code": code, "Message": message}, **extra}, 400)


def _scalar(value: dict[str, Any]) -> Any:
    if "N" in value:
        return float(value["N"])
    return next(iter(value.values()))


class FakeDynamoDB:
    def __init__(self, key_schemas: dict[str, list[str]]) -> None:
        """``key_schemas``: table name → its key attribute names."""
        self.key_schemas = key_schemas
        self.tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {
            name: {} for name in key_schemas
        }
        self._request: dict[str, Any] = {}

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build.dynamodb", self._read)
        client.meta.events.register("before-call.dynamodb", self._call)
        return client

    def _read(self, params: dict[str, Any], **_: Any) -> None:
        self._request = params

    def _call(self, model: Any, **_: Any) -> Any:
        return getattr(self, f"_op_{model.name}")(self._request)

    def _key(self, table: str, item: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(_scalar(item[name]) for name in self.key_schemas[table])

    # -- operations ------------------------------------------------------------------------

    def _op_GetItem(self, request: dict[str, Any]) -> Any:
        item = self.tables[request["TableName"]].get(
            self._key(request["TableName"], request["Key"])
        )
        return _answer({"Item": dict(item)} if item else {})

    def _op_BatchGetItem(self, request: dict[str, Any]) -> Any:
        responses = {}
        for table, wanted in request["RequestItems"].items():
            rows = self.tables[table]
            found = (rows.get(self._key(table, key)) for key in wanted["Keys"])
            responses[table] = [dict(item) for item in found if item]
        return _answer({"Responses": responses, "UnprocessedKeys": {}})

    def _op_PutItem(self, request: dict[str, Any]) -> Any:
        table, item = request["TableName"], request["Item"]
        key = self._key(table, item)
        old = self.tables[table].get(key)
        if not _holds(request.get("ConditionExpression"), old, request):
            extra = (
                {"Item": old}
                if old and request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                else {}
            )
            return _error(
                "ConditionalCheckFailedException", "The conditional request failed", **extra
            )
        self.tables[table][key] = dict(item)
        return _answer({})

    def _op_UpdateItem(self, request: dict[str, Any]) -> Any:
        table = request["TableName"]
        key = self._key(table, request["Key"])
        old = self.tables[table].get(key)
        if not _holds(request.get("ConditionExpression"), old, request):
            return _error("ConditionalCheckFailedException", "The conditional request failed")
        item = dict(old or request["Key"])
        names = request.get("ExpressionAttributeNames", {})
        values = request.get("ExpressionAttributeValues", {})
        expression = request["UpdateExpression"].strip()
        action, _, clauses = expression.partition(" ")
        if action.upper() == "SET":
            for assignment in clauses.split(","):
                name, value = (part.strip() for part in assignment.split("="))
                item[names.get(name, name)] = values[value]
        elif action.upper() == "REMOVE":
            for name in (part.strip() for part in clauses.split(",")):
                item.pop(names.get(name, name), None)
        else:
            raise NotImplementedError(f"fake UpdateItem: {expression}")
        self.tables[table][key] = item
        return _answer({})

    def _op_DeleteItem(self, request: dict[str, Any]) -> Any:
        self.tables[request["TableName"]].pop(self._key(request["TableName"], request["Key"]), None)
        return _answer({})

    def _op_Query(self, request: dict[str, Any]) -> Any:
        names = request.get("ExpressionAttributeNames", {})
        values = request["ExpressionAttributeValues"]
        wanted = {}
        for clause in request["KeyConditionExpression"].split(" AND "):
            name, value = (part.strip() for part in clause.split("="))
            wanted[names.get(name, name)] = values[value]
        items = [
            item
            for item in self.tables[request["TableName"]].values()
            if all(item.get(name) == value for name, value in wanted.items())
        ]
        projection = request.get("ProjectionExpression")
        if projection:
            keep = [names.get(p.strip(), p.strip()) for p in projection.split(",")]
            items = [{k: item[k] for k in keep if k in item} for item in items]
        return _answer({"Items": items, "Count": len(items), "ScannedCount": len(items)})


def _holds(condition: str | None, item: dict[str, Any] | None, request: dict[str, Any]) -> bool:
    if not condition:
        return True
    names = request.get("ExpressionAttributeNames", {})
    values = request.get("ExpressionAttributeValues", {})
    return _any(condition, item or {}, names, values)


def _split(text: str, word: str) -> list[str]:
    """Split on `` word `` outside parentheses."""
    parts, depth, start, token = [], 0, 0, f" {word} "
    index = 0
    while index < len(text):
        char = text[index]
        depth += char == "("
        depth -= char == ")"
        if depth == 0 and text.startswith(token, index):
            parts.append(text[start:index])
            index += len(token)
            start = index
            continue
        index += 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _any(text: str, item: dict[str, Any], names: dict[str, str], values: dict[str, Any]) -> bool:
    return any(_all(part, item, names, values) for part in _split(text, "OR"))


def _all(text: str, item: dict[str, Any], names: dict[str, str], values: dict[str, Any]) -> bool:
    for part in _split(text, "AND"):
        if part.startswith("(") and part.endswith(")"):
            if not _any(part[1:-1], item, names, values):
                return False
            continue
        match = _CLAUSE.match(part)
        if match is None:
            raise NotImplementedError(f"fake condition: {part}")
        function, argument, attribute, operator, value = match.groups()
        if function:
            present = names.get(argument, argument) in item
            if present != (function == "attribute_exists"):
                return False
            continue
        current = item.get(names.get(attribute, attribute))
        if current is None:
            return False
        left, right = _scalar(current), _scalar(values[value])
        if not (left == right if operator == "=" else left < right):
            return False
    return True


class FakeSNS:
    def __init__(self) -> None:
        self.published = 0

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call.sns.Publish", self._publish)
        return client

    def _publish(self, **_: Any) -> Any:
        self.published += 1
        return _answer({"MessageId": str(uuid.uuid4())})


class FakeTime:
    """Time spent answering inside fakes: from the first ``before-call`` handler to
    ``after-call``, so it can be told apart from the handlers' own time."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def watch(self, client: Any) -> Any:
        service = client.meta.service_model.service_id.hyphenize()
        client.meta.events.register_first(f"before-call.{service}", self._start)
        client.meta.events.register_last(f"after-call.{service}", self._stop)
        return client

    def _start(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def _stop(self, **_: Any) -> None:
        self.total += time.perf_counter() - self._started
