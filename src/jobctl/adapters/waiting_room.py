"""The waiting room's counts (docs/contract.md §8): one item beside the budgets, holding
how many jobs wait in all (``total``) and per share (``shares``).

The ledger changes them in the same transaction as the record that joins or leaves the
waiting room, so they never drift from the records. A join checks the bounds
(``MAX_WAITING_JOBS``, ``MAX_WAITING_SHARES``) in its condition, so two joins racing for
the last place never both get it. The shares counted are also where a pass finds the
waiting jobs: it reads the heads of those shares' queues, never the whole room.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from jobctl.adapters.errors import error_code, put_if_absent, translated
from jobctl.logic.scheduling import WaitingLimits

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ROOM_KEY: Final = {"id": {"S": "jobctl#waiting-room"}}


class WaitingRoomCounts:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._exists = False

    def enter(self, share: str, limits: WaitingLimits | None) -> dict[str, Any]:
        """The transaction item of a job joining the share's queue (within ``limits``)."""
        self._ensure()
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": ROOM_KEY,
            "UpdateExpression": (
                "SET #total = if_not_exists(#total, :zero) + :one, "
                "shares.#share = if_not_exists(shares.#share, :zero) + :one"
            ),
            "ExpressionAttributeNames": {"#total": "total", "#share": share},
            "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"}},
        }
        if limits is not None:
            update["ConditionExpression"] = (
                "(attribute_not_exists(#total) OR #total < :jobs) AND "
                "(attribute_exists(shares.#share) OR size(shares) < :shares)"
            )
            update["ExpressionAttributeValues"].update(
                {":jobs": {"N": str(limits.jobs)}, ":shares": {"N": str(limits.shares)}}
            )
        return {"Update": update}

    def leave(self, share: str) -> dict[str, Any]:
        """The transaction item of a job leaving the share's queue."""
        self._ensure()
        return {
            "Update": {
                "TableName": self._table,
                "Key": ROOM_KEY,
                "UpdateExpression": (
                    "SET #total = if_not_exists(#total, :one) - :one, "
                    "shares.#share = if_not_exists(shares.#share, :one) - :one"
                ),
                "ExpressionAttributeNames": {"#total": "total", "#share": share},
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }
        }

    def counts(self) -> tuple[int, dict[str, int]]:
        """How many jobs wait, in all and per share (shares left empty included, as 0)."""
        try:
            answer = self._client.get_item(TableName=self._table, Key=ROOM_KEY, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise translated(exc, "DynamoDB") from exc
        item = answer.get("Item") or {}
        shares = item.get("shares", {}).get("M", {})
        per_share = {share: int(value.get("N", "0")) for share, value in shares.items()}
        return int(item.get("total", {}).get("N", "0")), per_share

    def forget(self, share: str) -> None:
        """Drop an empty share from the counts (it counts against MAX_WAITING_SHARES)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=ROOM_KEY,
                UpdateExpression="REMOVE shares.#share",
                ConditionExpression="shares.#share <= :zero",
                ExpressionAttributeNames={"#share": share},
                ExpressionAttributeValues={":zero": {"N": "0"}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # a job joined: keep
                raise translated(exc, "DynamoDB") from exc
        except BotoCoreError as exc:
            raise translated(exc, "DynamoDB") from exc

    def full(self, share: str, limits: WaitingLimits) -> str:
        """Which bound a join was refused by, in words that name it."""
        total, shares = self.counts()
        return limits.refusal(total, shares, share) or "the waiting room is full"

    def _ensure(self) -> None:
        """Create the item with its empty map (an update cannot create the map it writes
        into)."""
        if not self._exists:
            item = {**ROOM_KEY, "total": {"N": "0"}, "shares": {"M": {}}}
            put_if_absent(self._client, self._table, item)
            self._exists = True
