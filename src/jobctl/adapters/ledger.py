"""The job ledger in DynamoDB (docs/contract.md §4): every write is conditional on the
version read."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from jobctl.adapters.errors import describe, error_code, translated
from jobctl.errors import ConcurrentUpdate, UnreadableRecord
from jobctl.models.jobs import InFlight, JobRecord, Phase, Waiting, utc_iso
from jobctl.observability import report_unreadable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PENDING_NOTICES_INDEX = "unnotified-index"
STATUS_INDEX = "status-index"
IN_FLIGHT_INDEX = "in-flight-index"
WAITING_INDEX = "waiting-index"
REPAIR_INDEX = "repair-index"
_BATCH_GET_LIMIT = 100
Model = TypeVar("Model", bound=BaseModel)
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def item_of(record: JobRecord) -> dict[str, Any]:
    plain = json.loads(record.model_dump_json(), parse_float=Decimal)
    plain.update(index_flags(record))
    # Unset attributes are left out (a sparse index key must be absent, never NULL);
    # inside lists and maps, null stays null (history entries keep every field).
    return {key: _serializer.serialize(value) for key, value in plain.items() if value is not None}


def index_flags(record: JobRecord) -> dict[str, str | None]:
    """The sparse indexes' keys, derived from the record's phase (never set by hand):
    an index holds exactly the records whose attribute is present."""
    return {
        "waiting": "1" if record.waiting else None,
        "notice_pending": "1" if record.notice_pending else None,
        "in_flight": record.in_flight,
        "repair": record.repair,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | set):
        return [_plain(v) for v in value]
    return value


def _plain_item(item: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(_deserializer.deserialize(value)) for key, value in item.items()}


def _parsed(model: type[Model], item: dict[str, Any]) -> Model:
    """The item as ``model``, or UnreadableRecord naming its key only: pydantic's and
    boto3's messages quote the values, and a record may hold a job's Environment."""
    try:
        return model.model_validate(_plain_item(item))
    except (ValidationError, TypeError, ValueError, KeyError):
        pass
    names = item.get("job_name", {}), item.get("job_type", {})
    raise UnreadableRecord(*(str(name.get("S", "?")) for name in names))


def record_from_item(item: dict[str, Any]) -> JobRecord:
    return _parsed(JobRecord, item)


def waiting_from_item(item: dict[str, Any]) -> Waiting:
    """A waiting-index item; UnreadableRecord naming its key if it does not parse."""
    return _parsed(Waiting, item)


def _readable(
    model: type[Model],
    items: Iterable[dict[str, Any]],
    on_unreadable: Callable[[UnreadableRecord], None] = report_unreadable,
) -> Iterator[Model]:
    """The items that parse; one that does not is reported (by default logged by its key
    and counted) and skipped, so it never stops the sweep or delays other jobs
    (docs/contract.md §6)."""
    for item in items:
        try:
            yield _parsed(model, item)
        except UnreadableRecord as unreadable:
            on_unreadable(unreadable)


def _key(job_name: str, job_type: str) -> dict[str, Any]:
    return {"job_name": {"S": job_name}, "job_type": {"S": job_type}}


def _failure(exc: Exception) -> Exception:
    if isinstance(exc, ClientError) and error_code(exc) == "ConditionalCheckFailedException":
        return ConcurrentUpdate(describe(exc))
    return translated(exc, "DynamoDB")


class DynamoDBLedger:
    """The ledger: what the controller reads and writes, and what ``jobctl`` reads
    (``named``, ``by_status``, ``every``). A record that cannot be read goes to
    ``on_unreadable`` (the controller logs and counts it; the CLI lists its key)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        on_unreadable: Callable[[UnreadableRecord], None] = report_unreadable,
    ) -> None:
        self._client = client
        self._table = table_name
        self._on_unreadable = on_unreadable

    def get(self, job_name: str, job_type: str) -> JobRecord | None:
        try:
            answer = self._client.get_item(
                TableName=self._table, Key=_key(job_name, job_type), ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc) from exc
        item = answer.get("Item")
        return record_from_item(item) if item else None

    def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], JobRecord]:
        wanted = [_key(*key) for key in dict.fromkeys(keys)]
        found: dict[tuple[str, str], JobRecord] = {}
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": wanted[start : start + _BATCH_GET_LIMIT],
                    "ConsistentRead": True,
                }
            }
            while request:
                try:
                    answer = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise _failure(exc) from exc
                responses = answer.get("Responses", {}).get(self._table, [])
                for record in _readable(JobRecord, responses, self._on_unreadable):
                    found[record.key] = record
                request = answer.get("UnprocessedKeys") or {}
        return found

    def insert(self, record: JobRecord) -> JobRecord:
        stored = record.model_copy(update={"version": 1})
        self._put(stored, "attribute_not_exists(job_name)", {})
        return stored

    def update(self, record: JobRecord) -> JobRecord:
        stored = record.model_copy(update={"version": record.version + 1})
        self._put(stored, "version = :read", {":read": {"N": str(record.version)}})
        return stored

    def pending_notices(self) -> Iterator[JobRecord]:
        items = self._query(
            IndexName=PENDING_NOTICES_INDEX,
            KeyConditionExpression="notice_pending = :pending",
            ExpressionAttributeValues={":pending": {"S": "1"}},
            ProjectionExpression="job_name, job_type",
        )
        keys = [(item["job_name"]["S"], item["job_type"]["S"]) for item in items]
        # The index is eventually consistent: act on the table's current record.
        for record in self.get_many(keys).values():
            if record.notice_pending:
                yield record

    def in_flight(self, job_type: str) -> list[InFlight]:
        """Through the sparse in-flight-index: its cost follows what is in flight."""
        items = self._query(
            IndexName=IN_FLIGHT_INDEX,
            KeyConditionExpression="in_flight = :type",
            ExpressionAttributeValues={":type": {"S": job_type}},
        )
        return list(_readable(InFlight, items, self._on_unreadable))

    def waiting(self) -> list[Waiting]:
        """Through the sparse waiting-index: only waiting jobs carry ``waiting``."""
        items = self._query(
            IndexName=WAITING_INDEX,
            KeyConditionExpression="waiting = :waiting",
            ExpressionAttributeValues={":waiting": {"S": "1"}},
        )
        return list(_readable(Waiting, items, self._on_unreadable))

    def in_repair(self, phase: Phase, before: str | None = None) -> list[JobRecord]:
        """The records in ``phase`` (one the sweep repairs) last written before ``before``
        (any time, if None), through the sparse repair-index: its cost follows how many
        jobs are in that phase, never the history."""
        condition, values = "#repair = :phase", {":phase": {"S": phase.value}}
        if before is not None:
            condition += " AND updated_at < :before"
            values[":before"] = {"S": before}
        items = self._query(
            IndexName=REPAIR_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeNames={"#repair": "repair"},
            ExpressionAttributeValues=values,
        )
        keys = [(item["job_name"]["S"], item["job_type"]["S"]) for item in items]
        # The index is eventually consistent: act on the table's current record.
        return [r for r in self.get_many(keys).values() if r.phase == phase]

    # -- what jobctl reads -------------------------------------------------------------------

    def named(self, job_name: str, job_type: str | None = None) -> list[JobRecord]:
        """The records of this job name (one per job type), or of one type."""
        condition = "job_name = :name" + (" AND job_type = :type" if job_type else "")
        values = {":name": {"S": job_name}, **({":type": {"S": job_type}} if job_type else {})}
        items = self._query(KeyConditionExpression=condition, ExpressionAttributeValues=values)
        return list(_readable(JobRecord, items, self._on_unreadable))

    def by_status(
        self, status: str, since: str | None = None, job_type: str | None = None
    ) -> list[JobRecord]:
        """The records in ``status`` (updated at or after ``since``), through status-index."""
        key = ["#status = :status"]
        values: dict[str, Any] = {":status": {"S": status}}
        if since:
            key.append("updated_at >= :since")
            values[":since"] = {"S": since}
        params: dict[str, Any] = {"ExpressionAttributeNames": {"#status": "status"}}
        if job_type:
            params["FilterExpression"] = "job_type = :type"
            values[":type"] = {"S": job_type}
        items = self._query(
            IndexName=STATUS_INDEX,
            KeyConditionExpression=" AND ".join(key),
            ExpressionAttributeValues=values,
            **params,
        )
        return list(_readable(JobRecord, items, self._on_unreadable))

    def every(self, since: str | None = None, job_type: str | None = None) -> list[JobRecord]:
        """Every record (updated at or after ``since``): a scan, for a person's question."""
        filters, values = [], {}
        if since:
            filters.append("updated_at >= :since")
            values[":since"] = {"S": since}
        if job_type:
            filters.append("job_type = :type")
            values[":type"] = {"S": job_type}
        params: dict[str, Any] = {}
        if filters:
            params = {
                "FilterExpression": " AND ".join(filters),
                "ExpressionAttributeValues": values,
            }
        try:
            pages = self._client.get_paginator("scan").paginate(TableName=self._table, **params)
            items = [item for page in pages for item in page["Items"]]
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc) from exc
        return list(_readable(JobRecord, items, self._on_unreadable))

    def _query(self, **params: Any) -> list[dict[str, Any]]:
        """Every item a Query of the table (or one of its indexes) answers, all pages."""
        try:
            pages = self._client.get_paginator("query").paginate(TableName=self._table, **params)
            return [item for page in pages for item in page["Items"]]
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc) from exc

    def _put(self, record: JobRecord, condition: str, values: dict[str, Any]) -> None:
        extra: dict[str, Any] = {"ExpressionAttributeValues": values} if values else {}
        try:
            self._client.put_item(
                TableName=self._table, Item=item_of(record), ConditionExpression=condition, **extra
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc) from exc


class DynamoDBSweepState:
    """What one sweep leaves the next, in one item beside the idempotency records (the
    ledger holds only jobs): the lease of the sweep running now, and the cursors of
    unfinished scans."""

    KEY: Final = {"id": {"S": "jobctl#sweep"}}

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def acquire_lease(self, owner: str, now: datetime, until: datetime) -> bool:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self.KEY,
                UpdateExpression="SET lease_owner = :owner, lease_until = :until",
                ConditionExpression=(
                    "attribute_not_exists(lease_until) OR lease_until < :now "
                    "OR lease_owner = :owner"
                ),
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": {"S": utc_iso(until)},
                    ":now": {"S": utc_iso(now)},
                },
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _failure(exc) from exc
        except BotoCoreError as exc:
            raise _failure(exc) from exc
        return True

    def release_lease(self, owner: str) -> None:
        try:
            self._client.update_item(
                TableName=self._table,
                Key=self.KEY,
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # it lapsed: not ours
                raise _failure(exc) from exc
        except BotoCoreError as exc:
            raise _failure(exc) from exc

    def cursor(self, job_type: str) -> str | None:
        try:
            answer = self._client.get_item(TableName=self._table, Key=self.KEY, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc) from exc
        value = answer.get("Item", {}).get(f"cursor_{job_type}", {}).get("S")
        return str(value) if value else None

    def save_cursor(self, job_type: str, token: str | None) -> None:
        attribute = {"#cursor": f"cursor_{job_type}"}
        if token is None:
            change: dict[str, Any] = {"UpdateExpression": "REMOVE #cursor"}
        else:
            change = {
                "UpdateExpression": "SET #cursor = :token",
                "ExpressionAttributeValues": {":token": {"S": token}},
            }
        try:
            self._client.update_item(
                TableName=self._table, Key=self.KEY, ExpressionAttributeNames=attribute, **change
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc) from exc
