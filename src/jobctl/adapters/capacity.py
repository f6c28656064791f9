"""The budgets' room in DynamoDB (docs/contract.md §8): one item per budget, beside the
idempotency records.

An item holds ``used`` (jobs or instances taken), ``holders``, a map from each job
holding room to what it took, its share, when it was admitted and when it ends at the
latest, and ``past_use``, each share's fair-share use by the jobs that have left
(``logic.fair_share``), folded in as each leaves. An admission is one transaction over every
budget the job needs *and* its ledger record: ``used`` grows only while it stays within
the limit and the job is not in already, and the record is written only if nobody wrote
it since it was read — so two admissions never take the same slot, and a job never holds
half of what it needs. Freeing is idempotent per budget (only a holder can leave).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import TypeAdapter, ValidationError

from jobctl.adapters.errors import describe, error_code, put_if_absent, translated
from jobctl.adapters.ledger import item_of
from jobctl.adapters.waiting_room import WaitingRoomCounts
from jobctl.errors import ConcurrentUpdate, NoRoom, RetryableError, StaleHold, UnreadableBudget
from jobctl.logic.fair_share import BudgetItem, Holding, past_use_after
from jobctl.logic.scheduling import Budgets
from jobctl.models.jobs import JobRecord, utc_iso
from jobctl.models.requests import DEFAULT_SHARE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Not "jobctl#budget#": those items held a set of jobs, before budgets counted instances
# (README, "Upgrading").
_PREFIX = "jobctl#capacity#"
_BUDGETS_ID = "jobctl#budgets"
_BUDGETS_KEY = {"id": {"S": _BUDGETS_ID}}
_BATCH_GET_LIMIT = 100
# Tries at folding a leaving job's use into its share's past use, racing other releases.
_FOLD_TRIES = 5
_deserializer = TypeDeserializer()
_recorded = TypeAdapter(Budgets)


def _key(budget_key: str) -> dict[str, Any]:
    return {"id": {"S": _PREFIX + budget_key}}


class DynamoDBCapacity:
    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        jobs_table: str,
        room: WaitingRoomCounts | None = None,
    ) -> None:
        self._client = client
        self._table = table_name
        self._jobs_table = jobs_table
        self._room = room
        self._existing: set[str] = set()  # budget items known to exist (never deleted)

    def record_budgets(self, budgets: Budgets) -> None:
        """Leave the budgets this deployment schedules under (quotas read, if ``auto``)
        where ``jobctl queue`` reads them."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    **_BUDGETS_KEY,
                    "budgets": {"S": json.dumps(asdict(budgets), sort_keys=True)},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise translated(exc, "DynamoDB") from exc

    def recorded_budgets(self) -> Budgets | None:
        """The budgets the controller last recorded; None if it never did. Raises
        UnreadableBudget if the item is damaged."""
        try:
            item = self._client.get_item(TableName=self._table, Key=_BUDGETS_KEY).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translated(exc, "DynamoDB") from exc
        if not item:
            return None
        try:
            return _recorded.validate_json(item["budgets"]["S"])
        except (KeyError, TypeError, ValidationError):
            raise UnreadableBudget(_BUDGETS_ID) from None

    def items(self, keys: Iterable[str]) -> dict[str, BudgetItem]:
        """Each budget as stored. Raises UnreadableBudget (naming the first) if an item is
        damaged."""
        found = {}
        for key, item in self._items(keys).items():
            parsed = _item_of(item)
            if parsed is None:
                raise UnreadableBudget(_PREFIX + key, key)
            found[key] = parsed
        return found

    def holders(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        return {
            key: {holder: holding.units for holder, holding in item.holders.items()}
            for key, item in self.read(keys).items()
            if item is not None
        }

    def read(self, keys: Iterable[str]) -> dict[str, BudgetItem | None]:
        return {key: _item_of(item) for key, item in self._items(keys).items()}

    def rebuild(self, key: str, holders: Mapping[str, Holding], read_used: int | None) -> None:
        entries = {holder: _entry(holding) for holder, holding in holders.items()}
        used = {"N": str(sum(holding.units for holding in holders.values()))}
        try:
            if read_used is None:  # a damaged item is replaced whatever it holds
                item = {**_key(key), "used": used, "holders": {"M": entries}}
                self._client.put_item(TableName=self._table, Item=item)
            else:  # keeps the shares' past use
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(key),
                    UpdateExpression="SET used = :used, holders = :holders",
                    ConditionExpression="used = :read",
                    ExpressionAttributeValues={
                        ":used": used,
                        ":holders": {"M": entries},
                        ":read": {"N": str(read_used)},
                    },
                )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise ConcurrentUpdate(f"budget {key} changed while it was checked") from exc
            raise translated(exc, "DynamoDB") from exc
        except BotoCoreError as exc:
            raise translated(exc, "DynamoDB") from exc
        self._existing.add(key)

    def admit(
        self,
        holder: str,
        holdings: Mapping[str, Holding],
        limits: Mapping[str, int],
        record: JobRecord,
    ) -> JobRecord:
        self._ensure(holdings)
        updates: list[dict[str, Any]] = []
        for key, holding in holdings.items():
            updates.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _key(key),
                        "UpdateExpression": (
                            "SET used = used + :units, holders.#holder = :entry, #limit = :limit"
                        ),
                        "ConditionExpression": (
                            "used <= :room AND attribute_not_exists(holders.#holder)"
                        ),
                        "ExpressionAttributeNames": {"#holder": holder, "#limit": "limit"},
                        "ExpressionAttributeValues": {
                            ":units": {"N": str(holding.units)},
                            ":entry": _entry(holding),
                            ":limit": {"N": str(limits[key])},
                            ":room": {"N": str(limits[key] - holding.units)},
                        },
                    }
                }
            )
        written, put = self._written(record)
        updates.append(put)
        if self._room is not None:  # it leaves the waiting room
            updates.append(self._room.leave(record.share or DEFAULT_SHARE, record.updated_at))
        try:
            self._client.transact_write_items(TransactItems=updates)  # type: ignore[arg-type]
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise translated(exc, "DynamoDB") from exc
            raise self._why_cancelled(exc, holder, list(holdings)) from exc
        except BotoCoreError as exc:
            raise translated(exc, "DynamoDB") from exc
        return written

    def mark_preempted(self, holder: str, keys: Iterable[str], record: JobRecord) -> JobRecord:
        updates: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _key(key),
                    "UpdateExpression": "SET holders.#holder.preempted = :yes",
                    "ConditionExpression": "attribute_exists(holders.#holder)",
                    "ExpressionAttributeNames": {"#holder": holder},
                    "ExpressionAttributeValues": {":yes": {"BOOL": True}},
                }
            }
            for key in keys
        ]
        written, put = self._written(record)
        updates.append(put)
        try:
            self._client.transact_write_items(TransactItems=updates)  # type: ignore[arg-type]
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                raise ConcurrentUpdate(f"{holder} changed while it was preempted") from exc
            raise translated(exc, "DynamoDB") from exc
        except BotoCoreError as exc:
            raise translated(exc, "DynamoDB") from exc
        return written

    def _written(self, record: JobRecord) -> tuple[JobRecord, dict[str, Any]]:
        """The record as a transaction writes it, if nobody wrote it since it was read."""
        written = record.model_copy(update={"version": record.version + 1})
        put = {
            "Put": {
                "TableName": self._jobs_table,
                "Item": item_of(written),
                "ConditionExpression": "version = :read",
                "ExpressionAttributeValues": {":read": {"N": str(record.version)}},
            }
        }
        return written, put

    def release(
        self,
        holder: str,
        holds: Mapping[str, int],
        at: datetime | None = None,
        half_life: float = 0,
    ) -> None:
        """Give back ``holder``'s room in each budget. With ``at`` and a half-life, what it
        used is folded into its share's past use in the same write, conditional on the
        past use read: two releases racing never lose one."""
        for key, units in holds.items():
            for _ in range(_FOLD_TRIES):
                if self._release_one(key, holder, units, at if half_life > 0 else None, half_life):
                    break

    def _release_one(
        self, key: str, holder: str, units: int, at: datetime | None, half_life: float
    ) -> bool:
        """True once the holder is out (or was not in); False if its share's past use
        changed since it was read."""
        names = {"#holder": holder}
        values: dict[str, Any] = {":units": {"N": str(units)}}
        setting, guard = "used = used - :units", "attribute_exists(holders.#holder)"
        raw = self._items([key])[key] if at is not None else {}
        item = _item_of(raw) if raw else None
        holding = item.holders.get(holder) if item is not None else None
        if item is not None and holding is not None and at is not None:
            use, when = past_use_after(item, holding, at, half_life)
            names.update({"#share": holding.share, "#at": "at"})
            values[":entry"] = {"M": {"use": {"N": f"{use:.9g}"}, "at": {"S": utc_iso(when)}}}
            if "past_use" not in raw:  # an item from before shares' past use was kept
                setting += ", past_use = :uses"
                values[":uses"] = {"M": {holding.share: values.pop(":entry")}}
                guard += " AND attribute_not_exists(past_use)"
                del names["#share"], names["#at"]
            elif holding.share in item.past_use:
                setting += ", past_use.#share = :entry"
                values[":read_at"] = {"S": utc_iso(item.past_use[holding.share][1])}
                guard += " AND past_use.#share.#at = :read_at"
            else:
                setting += ", past_use.#share = :entry"
                guard += " AND attribute_not_exists(past_use.#share)"
                del names["#at"]
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_key(key),
                UpdateExpression=f"SET {setting} REMOVE holders.#holder",
                ConditionExpression=guard,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translated(exc, "DynamoDB") from exc
            # Not in (fine: released already), or the past use changed (fold again).
            return holding is None or holder not in self.holders([key]).get(key, {})
        except BotoCoreError as exc:
            raise translated(exc, "DynamoDB") from exc
        return True

    def _why_cancelled(self, exc: ClientError, holder: str, keys: list[str]) -> Exception:
        reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
        if len(reasons) > len(keys) and reasons[len(keys)] == "ConditionalCheckFailed":
            return ConcurrentUpdate("the record changed since it was read")
        failed = [
            k for k, code in zip(keys, reasons, strict=False) if code == "ConditionalCheckFailed"
        ]
        if any(holder in self.holders([key]).get(key, {}) for key in failed):
            # The record is as it was read (waiting), yet a budget names the job: a leak.
            return StaleHold(f"{holder} is named in a budget while it waits")
        if failed or "TransactionConflict" in reasons:
            return NoRoom(f"no room left in {', '.join(failed) or 'a budget being written'}")
        return RetryableError(f"DynamoDB: {describe(exc)}")

    def _ensure(self, keys: Iterable[str]) -> None:
        """Create the items of budgets never used before, empty (an update cannot create
        the map it writes into)."""
        for key in keys:
            if key not in self._existing:
                empty = {"used": {"N": "0"}, "holders": {"M": {}}, "past_use": {"M": {}}}
                put_if_absent(self._client, self._table, {**_key(key), **empty})
                self._existing.add(key)

    def _items(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The budgets' items (plain values), strongly consistent; a missing one is empty."""
        wanted = list(dict.fromkeys(keys))
        found: dict[str, dict[str, Any]] = {key: {} for key in wanted}
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [_key(key) for key in wanted[start : start + _BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            while request:
                try:
                    answer = self._client.batch_get_item(RequestItems=request)
                except (ClientError, BotoCoreError) as exc:
                    raise translated(exc, "DynamoDB") from exc
                for item in answer.get("Responses", {}).get(self._table, []):
                    plain = {k: _deserializer.deserialize(v) for k, v in item.items()}
                    key = str(plain.pop("id")).removeprefix(_PREFIX)
                    found[key] = plain
                    self._existing.add(key)
                request = answer.get("UnprocessedKeys") or {}
        return found


def _entry(holding: Holding) -> dict[str, Any]:
    entry: dict[str, Any] = {"units": {"N": str(holding.units)}, "share": {"S": holding.share}}
    if holding.since is not None:
        entry["since"] = {"S": utc_iso(holding.since)}
    if holding.until is not None:
        entry["until"] = {"S": utc_iso(holding.until)}
    if holding.priority:
        entry["priority"] = {"N": str(holding.priority)}
    if not holding.preemptible:
        entry["preemptible"] = {"BOOL": False}
    if holding.checkpoint:
        entry["checkpoint"] = {"BOOL": True}
    if holding.preempted:
        entry["preempted"] = {"BOOL": True}
    return {"M": entry}


def _when(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) else None


def _item_of(item: Mapping[str, Any]) -> BudgetItem | None:
    """A budget's item (plain values) parsed; None if it is damaged."""
    try:
        holders = {
            str(holder): Holding(
                units=int(entry["units"]),
                share=str(entry.get("share", "")),
                since=_when(entry.get("since")),
                until=_when(entry.get("until")),
                priority=int(entry.get("priority", 0)),
                preemptible=entry.get("preemptible", True) is True,
                checkpoint=entry.get("checkpoint", False) is True,
                preempted=entry.get("preempted", False) is True,
            )
            for holder, entry in item.get("holders", {}).items()
        }
        past_use = {
            str(share): (float(entry["use"]), datetime.fromisoformat(entry["at"]))
            for share, entry in item.get("past_use", {}).items()
        }
        return BudgetItem(used=int(item.get("used", 0)), holders=holders, past_use=past_use)
    except (TypeError, ValueError, AttributeError, KeyError):
        return None
