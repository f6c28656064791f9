"""In-process DynamoDB and SNS that answer boto3 clients on botocore's ``before-call`` event.

They exist so handler overhead can be measured without moto's server-side work (moto's
DynamoDB spends ~10 ms serializing each answer, which would swamp the handlers' own
cost). botocore still validates and serializes every request, as it does in Lambda;
network, SigV4 signing and response parsing are what these fakes leave out. The fakes
read the call's parameters as given (``before-parameter-build``) and answer on
``before-call`` with an already-parsed response.

The DynamoDB fake holds items in dicts and evaluates DynamoDB's expressions
(``bench.expressions``: conditions, updates, key conditions, filters, projections) in
GetItem, BatchGetItem, PutItem, UpdateItem, DeleteItem, TransactWriteItems (all or
nothing, with cancellation reasons) and Query, on tables and on their global secondary
indexes (sparse, projected as the table defines them). Reads are always consistent. It is
enough for the paths the benchmarks drive, not a general DynamoDB: no Scan, no size
limits, no capacity.
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from bench.expressions import (
    ExpressionError,
    Scope,
    condition_holds,
    holds,
    parse_condition,
    parse_projection,
    project,
    sort_key,
    updated,
)


def _answer(body: dict[str, Any], status: int = 200) -> tuple[AWSResponse, dict[str, Any]]:
    body["ResponseMetadata"] = {"HTTPStatusCode": status, "RequestId": "bench-fake"}
    return AWSResponse("https://fake.bench", status, HTTPHeaders(), None), body


def _error(code: str, message: str, **extra: Any) -> tuple[AWSResponse, dict[str, Any]]:
    return _answer({"Error": {"Code": code, "Message": message}, **extra}, 400)


@dataclass(frozen=True)
class Index:
    keys: tuple[str, ...]  # partition key, and sort key if any
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    keys: tuple[str, ...]
    indexes: dict[str, Index] = field(default_factory=dict)

    @classmethod
    def from_create_kwargs(cls, kwargs: dict[str, Any]) -> Table:
        """A table as boto3's ``create_table`` arguments describe it."""

        def keys(schema: list[dict[str, str]]) -> tuple[str, ...]:
            return tuple(k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"]))

        indexes = {
            index["IndexName"]: Index(
                keys(index["KeySchema"]),
                index["Projection"]["ProjectionType"],
                tuple(index["Projection"].get("NonKeyAttributes", ())),
            )
            for index in kwargs.get("GlobalSecondaryIndexes", [])
        }
        return cls(keys(kwargs["KeySchema"]), indexes)


def _conditional_failure(old: dict[str, Any] | None, request: dict[str, Any]) -> Any:
    extra = (
        {"Item": old}
        if old and request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
        else {}
    )
    return _error("ConditionalCheckFailedException", "The conditional request failed", **extra)


class FakeDynamoDB:
    """Tables of items in their wire form, keyed by their key attributes' values."""

    def __init__(self, tables: dict[str, Table | list[str]]) -> None:
        """``tables``: table name → its definition (or just its key attribute names)."""
        self.schemas = {
            name: table if isinstance(table, Table) else Table(tuple(table))
            for name, table in tables.items()
        }
        self.tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {
            name: {} for name in tables
        }
        self._request: dict[str, Any] = {}

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build.dynamodb", self._read)
        client.meta.events.register("before-call.dynamodb", self._call)
        return client

    def _read(self, params: dict[str, Any], **_: Any) -> None:
        self._request = params

    def _call(self, model: Any, **_: Any) -> Any:
        operation = getattr(self, f"_op_{model.name}", None)
        if operation is None:
            raise NotImplementedError(f"fake DynamoDB: {model.name}")
        try:
            return operation(self._request)
        except ExpressionError as exc:
            return _error("ValidationException", str(exc))

    def _key(self, table: str, item: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(sort_key(item[name]) for name in self.schemas[table].keys)

    @staticmethod
    def _scope(request: dict[str, Any]) -> Scope:
        return Scope(
            request.get("ExpressionAttributeNames"), request.get("ExpressionAttributeValues")
        )

    # -- operations ------------------------------------------------------------------------

    def _op_GetItem(self, request: dict[str, Any]) -> Any:
        table = request["TableName"]
        item = self.tables[table].get(self._key(table, request["Key"]))
        if item is None:
            return _answer({})
        projection = request.get("ProjectionExpression")
        if projection:
            item = project(item, parse_projection(projection), self._scope(request))
        return _answer({"Item": dict(item)})

    def _op_BatchGetItem(self, request: dict[str, Any]) -> Any:
        responses = {}
        for table, wanted in request["RequestItems"].items():
            rows = self.tables[table]
            found = (rows.get(self._key(table, key)) for key in wanted["Keys"])
            responses[table] = [dict(item) for item in found if item]
        return _answer({"Responses": responses, "UnprocessedKeys": {}})

    def _op_PutItem(self, request: dict[str, Any]) -> Any:
        problem = self._put(request)
        return problem or _answer({})

    def _put(self, request: dict[str, Any]) -> Any:
        table, item = request["TableName"], request["Item"]
        key = self._key(table, item)
        old = self.tables[table].get(key)
        if not condition_holds(request.get("ConditionExpression"), old, self._scope(request)):
            return _conditional_failure(old, request)
        self.tables[table][key] = copy.deepcopy(item)
        return None

    def _op_UpdateItem(self, request: dict[str, Any]) -> Any:
        table = request["TableName"]
        old = self.tables[table].get(self._key(table, request["Key"]))
        problem = self._update(request)
        if problem:
            return problem
        new = self.tables[table][self._key(table, request["Key"])]
        returned = {"ALL_NEW": new, "ALL_OLD": old}.get(request.get("ReturnValues", "NONE"))
        return _answer({"Attributes": dict(returned)} if returned else {})

    def _update(self, request: dict[str, Any]) -> Any:
        table = request["TableName"]
        key = self._key(table, request["Key"])
        old = self.tables[table].get(key)
        scope = self._scope(request)
        if not condition_holds(request.get("ConditionExpression"), old, scope):
            return _conditional_failure(old, request)
        start = old if old is not None else copy.deepcopy(request["Key"])
        self.tables[table][key] = updated(request["UpdateExpression"], start, scope)
        return None

    def _op_DeleteItem(self, request: dict[str, Any]) -> Any:
        problem = self._delete(request)
        return problem or _answer({})

    def _delete(self, request: dict[str, Any]) -> Any:
        table = request["TableName"]
        key = self._key(table, request["Key"])
        old = self.tables[table].get(key)
        if not condition_holds(request.get("ConditionExpression"), old, self._scope(request)):
            return _conditional_failure(old, request)
        self.tables[table].pop(key, None)
        return None

    def _check(self, request: dict[str, Any]) -> Any:
        table = request["TableName"]
        old = self.tables[table].get(self._key(table, request["Key"]))
        if not condition_holds(request["ConditionExpression"], old, self._scope(request)):
            return _conditional_failure(old, request)
        return None

    def _op_TransactWriteItems(self, request: dict[str, Any]) -> Any:
        """All or nothing: every condition is checked before anything is written."""
        actions = {"Put": self._put, "Update": self._update, "Delete": self._delete}
        saved = {name: dict(rows) for name, rows in self.tables.items()}
        reasons, failed = [], False
        for entry in request["TransactItems"]:
            (kind, part), *_ = entry.items()
            problem = self._check(part) if kind == "ConditionCheck" else actions[kind](part)
            failed = failed or problem is not None
            reasons.append(
                {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
                if problem is not None
                else {"Code": "None"}
            )
        if failed:
            self.tables = saved
            return _error(
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{', '.join(r['Code'] for r in reasons)}]",
                CancellationReasons=reasons,
            )
        return _answer({})

    def _op_Query(self, request: dict[str, Any]) -> Any:
        table = self.schemas[request["TableName"]]
        scope = self._scope(request)
        index = table.indexes.get(request.get("IndexName", ""))
        keys = index.keys if index else table.keys
        key_condition = parse_condition(request["KeyConditionExpression"])
        filtered = request.get("FilterExpression")
        items = [
            item
            for item in self.tables[request["TableName"]].values()
            if all(name in item for name in keys)  # an index holds only items with its keys
            and holds(key_condition, item, scope)
            and (filtered is None or holds(parse_condition(filtered), item, scope))
        ]
        if len(keys) > 1:
            items.sort(
                key=lambda item: sort_key(item[keys[1]]),
                reverse=not request.get("ScanIndexForward", True),
            )
        start = request.get("ExclusiveStartKey")
        if start:
            marker = [name for name in (*table.keys, *keys) if name in start]
            after = next(
                (i for i, item in enumerate(items) if all(item[n] == start[n] for n in marker)),
                None,
            )
            items = items[after + 1 :] if after is not None else items
        answer: dict[str, Any] = {}
        limit = request.get("Limit")
        if limit is not None and len(items) > limit:
            items = items[:limit]
            answer["LastEvaluatedKey"] = {
                name: items[-1][name] for name in dict.fromkeys((*table.keys, *keys))
            }
        if index and index.projection != "ALL":
            kept = {*table.keys, *index.keys, *index.include}
            items = [{k: v for k, v in item.items() if k in kept} for item in items]
        projection = request.get("ProjectionExpression")
        if projection:
            items = [project(item, parse_projection(projection), scope) for item in items]
        answer.update(Items=[dict(item) for item in items], Count=len(items))
        answer["ScannedCount"] = len(items)
        return _answer(answer)


class FakeSNS:
    """A topic that answers ``Publish``; with ``keep``, it also keeps each ``Message`` as
    sent (a notice's JSON) in ``messages`` (off where handler overhead is measured: reading
    the parameters is a handler more on every call)."""

    def __init__(self, keep: bool = False) -> None:
        self.published = 0
        self.keep = keep
        self.messages: list[str] = []
        self._request: dict[str, Any] = {}

    def attach(self, client: Any) -> Any:
        if self.keep:
            client.meta.events.register("before-parameter-build.sns.Publish", self._read)
        client.meta.events.register("before-call.sns.Publish", self._publish)
        return client

    def _read(self, params: dict[str, Any], **_: Any) -> None:
        self._request = params

    def _publish(self, **_: Any) -> Any:
        self.published += 1
        if self.keep:
            self.messages.append(self._request.get("Message", ""))
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
