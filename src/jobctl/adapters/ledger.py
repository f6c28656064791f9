"""The job ledger in DynamoDB (docs/contract.md §4): every write is conditional on the
version read."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from jobctl.adapters.errors import describe, error_code, translated
from jobctl.adapters.waiting_room import WaitingRoomCounts
from jobctl.errors import ConcurrentUpdate, UnreadableRecord, WaitingRoomFull
from jobctl.logic.scheduling import WaitingLimits, queue_rank
from jobctl.models.jobs import InFlight, JobRecord, Phase, Waiting, utc_iso
from jobctl.models.requests import DEFAULT_SHARE, MIN_PRIORITY
from jobctl.observability import report_unreadable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

PENDING_NOTICES_INDEX = "unnotified-index"
STATUS_INDEX = "status-index"
IN_FLIGHT_INDEX = "in-flight-index"
QUEUE_INDEX = "queue-index"
# Before queue-index, one partition held the whole waiting room; the sweep moves any job
# still there (README, "Upgrading").
LEGACY_WAITING_INDEX = "waiting-index"
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
    an index holds exactly the records whose attribute is present. The waiting room is
    a queue per share (its partition), in the order of ``queue_rank``."""
    waiting = record.waiting
    return {
        "waiting": None,
        "queue": (record.share or DEFAULT_SHARE) if waiting else None,
        "queue_rank": queue_rank(record.priority or MIN_PRIORITY, record.created_at, record.key)
        if waiting
        else None,
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
        room: WaitingRoomCounts | None = None,
        limits: WaitingLimits | None = None,
    ) -> None:
        self._client = client
        self._table = table_name
        self._on_unreadable = on_unreadable
        self._room = room
        self._limits = limits

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
        self._put(stored, "attribute_not_exists(job_name)", {}, self._room_change(None, stored))
        return stored

    def update(self, record: JobRecord, read: JobRecord) -> JobRecord:
        stored = record.model_copy(update={"version": read.version + 1})
        condition = {":read": {"N": str(read.version)}}
        self._put(stored, "version = :read", condition, self._room_change(read, stored))
        return stored

    def _room_change(self, read: JobRecord | None, written: JobRecord) -> dict[str, Any] | None:
        """The waiting room's count change a write makes: a job joining (a new request is
        held to the room's bounds; a retry of one accepted earlier is not) or leaving."""
        was = read is not None and read.waiting
        if self._room is None or was == written.waiting:
            return None
        share = (written.share if written.waiting or read is None else read.share) or DEFAULT_SHARE
        if not written.waiting:
            return self._room.leave(share, written.updated_at)
        limits = self._limits if written.attempt == 1 else None
        return self._room.enter(share, written.updated_at, limits)

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

    def waiting_shares(self) -> dict[str, int]:
        """How many jobs wait in each share's queue (0: empty, not forgotten yet)."""
        if self._room is None:
            return {}
        return self._room.counts()[1]

    def forget_share(self, share: str) -> None:
        if self._room is not None:
            self._room.forget(share)

    def queue_page(
        self, share: str, limit: int, after: str | None = None
    ) -> tuple[list[Waiting], str | None]:
        """The first ``limit`` jobs of the share's queue (after the rank ``after``), in
        its order, and the rank to go on from (None: the queue has no more)."""
        condition = "#queue = :share"
        values: dict[str, Any] = {":share": {"S": share}}
        if after is not None:
            condition += " AND queue_rank > :after"
            values[":after"] = {"S": after}
        try:
            answer = self._client.query(
                TableName=self._table,
                IndexName=QUEUE_INDEX,
                KeyConditionExpression=condition,
                ExpressionAttributeNames={"#queue": "queue"},
                ExpressionAttributeValues=values,
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc) from exc
        items = answer.get("Items", [])
        more = answer.get("LastEvaluatedKey")
        last = str(more["queue_rank"]["S"]) if more and "queue_rank" in more else None
        return list(_readable(Waiting, items, self._on_unreadable)), last

    def waiting(self) -> list[Waiting]:
        """Every waiting job, in no order (``jobctl queue --all`` and the tests): a scan
        of queue-index, which holds what waits, never the history."""
        items = self._query("scan", IndexName=QUEUE_INDEX)
        return list(_readable(Waiting, items, self._on_unreadable))

    def queue_lengths(self) -> Counter[str]:
        """How many jobs each share's queue holds, counted from queue-index's keys (what
        the waiting room's counts should say)."""
        items = self._query(
            "scan",
            IndexName=QUEUE_INDEX,
            ProjectionExpression="#queue",
            ExpressionAttributeNames={"#queue": "queue"},
        )
        return Counter(item["queue"]["S"] for item in items)

    def recount_waiting_room(self, now: str, quiet_since: str) -> int:
        """Count each share's queue again and correct the waiting room's counts that
        differ (README, "A job's lifecycle")."""
        if self._room is None:
            return 0
        return self._room.recount(self.queue_lengths(), now, quiet_since)

    def requeue_legacy(self) -> int:
        """Move jobs still waiting in the one partition of the waiting room as it was
        before queue-index (README, "Upgrading") into their shares' queues, counted."""
        items = self._query(
            IndexName=LEGACY_WAITING_INDEX,
            KeyConditionExpression="waiting = :waiting",
            ExpressionAttributeValues={":waiting": {"S": "1"}},
            ProjectionExpression="job_name, job_type",
        )
        keys = [(item["job_name"]["S"], item["job_type"]["S"]) for item in items]
        moved = 0
        for record in self.get_many(keys).values():
            if not record.waiting or self._room is None:
                continue
            stored = record.model_copy(update={"version": record.version + 1})
            condition = {":read": {"N": str(record.version)}}
            entering = self._room.enter(record.share or DEFAULT_SHARE, record.updated_at, None)
            try:
                self._put(stored, "version = :read", condition, entering)
            except ConcurrentUpdate:
                continue
            moved += 1
        return moved

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

    def _query(
        self, operation: Literal["query", "scan"] = "query", **params: Any
    ) -> list[dict[str, Any]]:
        """Every item a Query (or Scan) of the table or one of its indexes answers, all
        pages."""
        try:
            pages = self._client.get_paginator(operation).paginate(TableName=self._table, **params)
            return [item for page in pages for item in page["Items"]]
        except (ClientError, BotoCoreError) as exc:
            raise _failure(exc) from exc

    def _put(
        self,
        record: JobRecord,
        condition: str,
        values: dict[str, Any],
        room_change: dict[str, Any] | None = None,
    ) -> None:
        """Write the record if ``condition`` holds, with the waiting room's count change
        in the same transaction when it joins or leaves."""
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": item_of(record),
            "ConditionExpression": condition,
        }
        if values:
            put["ExpressionAttributeValues"] = values
        try:
            if room_change is None:
                self._client.put_item(**put)
            else:
                items = [{"Put": put}, room_change]
                self._client.transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise self._why_cancelled(exc, record) from exc
            raise _failure(exc) from exc
        except BotoCoreError as exc:
            raise _failure(exc) from exc

    def _why_cancelled(self, exc: ClientError, record: JobRecord) -> Exception:
        reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
        if reasons[:1] == ["ConditionalCheckFailed"]:
            return ConcurrentUpdate(describe(exc))
        if reasons[1:2] == ["ConditionalCheckFailed"] and self._room and self._limits:
            return WaitingRoomFull(self._room.full(record.share or DEFAULT_SHARE, self._limits))
        return translated(exc, "DynamoDB")


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
