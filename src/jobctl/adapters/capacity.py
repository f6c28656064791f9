"""Concurrency budgets in DynamoDB: one item per budget, holding the set of jobs in it.

Taking slots is one transaction over every budget a job needs, so a job never holds
half of what it needs; a set (not a counter) makes taking and freeing idempotent and
lets the sweep see, and repair, slots held by jobs that are done.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from jobctl.adapters.errors import describe, error_code, translated
from jobctl.errors import RetryableError
from jobctl.logic.admission import Budget

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_PREFIX = "jobctl#budget#"


def _key(budget_key: str) -> dict[str, Any]:
    return {"id": {"S": _PREFIX + budget_key}}


class DynamoDBCapacity:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def acquire(self, holder: str, budgets: list[Budget]) -> list[Budget]:
        updates = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _key(budget.key),
                    "UpdateExpression": "ADD holders :me",
                    "ConditionExpression": (
                        "attribute_not_exists(holders) OR size(holders) < :limit "
                        "OR contains(holders, :holder)"
                    ),
                    "ExpressionAttributeValues": {
                        ":me": {"SS": [holder]},
                        ":holder": {"S": holder},
                        ":limit": {"N": str(budget.limit)},
                    },
                }
            }
            for budget in budgets
        ]
        try:
            self._client.transact_write_items(TransactItems=updates)  # type: ignore[arg-type]
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise translated(exc, "DynamoDB") from exc
            reasons: list[Any] = list(exc.response.get("CancellationReasons", []))
            full = [
                budget
                for budget, reason in zip(budgets, reasons, strict=False)
                if reason.get("Code") == "ConditionalCheckFailed"
            ]
            if not full:  # cancelled for another reason (a conflicting transaction)
                raise RetryableError(f"DynamoDB: {describe(exc)}") from exc
            return full
        except BotoCoreError as exc:
            raise translated(exc, "DynamoDB") from exc
        return []

    def release(self, holder: str, keys: Iterable[str]) -> None:
        for budget_key in keys:
            try:
                self._client.update_item(
                    TableName=self._table,
                    Key=_key(budget_key),
                    UpdateExpression="DELETE holders :me",
                    ExpressionAttributeValues={":me": {"SS": [holder]}},
                )
            except (ClientError, BotoCoreError) as exc:
                raise translated(exc, "DynamoDB") from exc

    def holders(self, keys: Iterable[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for budget_key in keys:
            try:
                item = self._client.get_item(
                    TableName=self._table, Key=_key(budget_key), ConsistentRead=True
                ).get("Item", {})
            except (ClientError, BotoCoreError) as exc:
                raise translated(exc, "DynamoDB") from exc
            found[budget_key] = set(item.get("holders", {}).get("SS", []))
        return found
