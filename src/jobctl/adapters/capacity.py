"""The budgets' room in DynamoDB (docs/contract.md §8): one item per budget, beside the
idempotency records.

An item holds ``used`` (jobs or instances taken) and ``holders``, a map from each job
holding room to what it took and its share. An admission is one transaction over every
budget the job needs *and* its ledger record: ``used`` grows only while it stays within
the limit and the job is not in already, and the record is written only if nobody wrote
it since it was read — so two admissions never take the same slot, and a job never holds
half of what it needs. Freeing is idempotent per budget (only a holder can leave).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import TypeAdapter, ValidationError

from jobctl.adapters.errors import describe, error_code, translated
from jobctl.adapters.ledger import item_of
from jobctl.errors import ConcurrentUpdate, NoRoom, RetryableError, StaleHold, UnreadableBudget
from jobctl.logic.ports import BudgetItem
from jobctl.logic.scheduling import Budgets, Usage
from jobctl.models.jobs import JobRecord

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Not "jobctl#budget#": those items held a set of jobs, before budgets counted instances
# (README, "Upgrading").
_PREFIX = "jobctl#capacity#"
_BUDGETS_ID = "jobctl#budgets"
_BUDGETS_KEY = {"id": {"S": _BUDGETS_ID}}
_BATCH_GET_LIMIT = 100
_deserializer = TypeDeserializer()
_recorded = TypeAdapter(Budgets)


def _key(budget_key: str) -> dict[str, Any]:
    return {"id": {"S": _PREFIX + budget_key}}


class DynamoDBCapacity:
    def __init__(self, client: DynamoDBClient, table_name: str, jobs_table: str) -> None:
        self._client = client
        self._table = table_name
        self._jobs_table = jobs_table
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

    def usage(self, keys: Iterable[str]) -> dict[str, Usage]:
        """Each budget's room taken, in all and per share. Raises UnreadableBudget (naming
        the first) if an item is damaged."""
        return {key: _usage_of(key, item) for key, item in self._items(keys).items()}

    def holders(self, keys: Iterable[str]) -> dict[str, dict[str, int]]:
        return {
            key: {holder: int(entry["units"]) for holder, entry in item.get("holders", {}).items()}
            for key, item in self._items(keys).items()
        }

    def read(self, keys: Iterable[str]) -> dict[str, BudgetItem | None]:
        return {key: _item_of(item) for key, item in self._items(keys).items()}

    def rebuild(self, key: str, holders: dict[str, tuple[int, str]], read_used: int | None) -> None:
        entries = {
            holder: {"M": {"units": {"N": str(units)}, "share": {"S": share}}}
            for holder, (units, share) in holders.items()
        }
        item = {
            **_key(key),
            "used": {"N": str(sum(units for units, _ in holders.values()))},
            "holders": {"M": entries},
        }
        guard: dict[str, Any] = {}
        if read_used is not None:  # a damaged item is replaced whatever it holds
            guard = {
                "ConditionExpression": "used = :read",
                "ExpressionAttributeValues": {":read": {"N": str(read_used)}},
            }
        try:
            self._client.put_item(TableName=self._table, Item=item, **guard)
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
        share: str,
        needs: Mapping[str, int],
        limits: Mapping[str, int],
        record: JobRecord,
    ) -> JobRecord:
        self._ensure(needs)
        entry = {"M": {"units": {"N": "0"}, "share": {"S": share}}}
        updates: list[dict[str, Any]] = []
        for key, units in needs.items():
            entry["M"]["units"] = {"N": str(units)}
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
                            ":units": {"N": str(units)},
                            ":entry": {"M": dict(entry["M"])},
                            ":limit": {"N": str(limits[key])},
                            ":room": {"N": str(limits[key] - units)},
                        },
                    }
                }
            )
        written = record.model_copy(update={"version": record.version + 1})
        updates.append(
            {
                "Put": {
                    "TableName": self._jobs_table,
                    "Item": item_of(written),
                    "ConditionExpression": "version = :read",
                    "ExpressionAttributeValues": {":read": {"N": str(record.version)}},
                }
            }
        )
        try:
            self._client.transact_write_items(TransactItems=updates)  # type: ignore[arg-type]
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise translated(exc, "DynamoDB") from exc
            raise self._why_cancelled(exc, holder, list(needs)) from exc
        except BotoCoreError as exc:
            raise translated(exc, "DynamoDB") from exc
        return written

    def release(self, holder: str, holds: Mapping[str, int]) -> None:
        for key, units in holds.items():
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(key),
                    UpdateExpression="SET used = used - :units REMOVE holders.#holder",
                    ConditionExpression="attribute_exists(holders.#holder)",
                    ExpressionAttributeNames={"#holder": holder},
                    ExpressionAttributeValues={":units": {"N": str(units)}},
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":  # not in: fine
                    raise translated(exc, "DynamoDB") from exc
            except BotoCoreError as exc:
                raise translated(exc, "DynamoDB") from exc

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
            if key in self._existing:
                continue
            try:
                self._client.put_item(
                    TableName=self._table,
                    Item={**_key(key), "used": {"N": "0"}, "holders": {"M": {}}},
                    ConditionExpression="attribute_not_exists(id)",
                )
            except ClientError as exc:
                if error_code(exc) != "ConditionalCheckFailedException":
                    raise translated(exc, "DynamoDB") from exc
            except BotoCoreError as exc:
                raise translated(exc, "DynamoDB") from exc
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


def _item_of(item: Mapping[str, Any]) -> BudgetItem | None:
    try:
        holders = {
            str(holder): (int(entry["units"]), str(entry.get("share", "")))
            for holder, entry in item.get("holders", {}).items()
        }
        return BudgetItem(used=int(item.get("used", 0)), holders=holders)
    except (TypeError, ValueError, AttributeError, KeyError):
        return None


def _usage_of(key: str, item: Mapping[str, Any]) -> Usage:
    try:
        return Usage(used=int(item.get("used", 0)), by_share=_by_share(item.get("holders", {})))
    except (TypeError, ValueError, AttributeError):
        raise UnreadableBudget(_PREFIX + key, key) from None


def _by_share(holders: Mapping[str, Any]) -> dict[str, int]:
    shares: dict[str, int] = {}
    for entry in holders.values():
        share = str(entry.get("share", ""))
        shares[share] = shares.get(share, 0) + int(entry.get("units", 0))
    return shares
