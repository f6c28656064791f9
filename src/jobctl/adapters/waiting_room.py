"""The waiting room's counts (docs/contract.md §8): one item beside the budgets, holding
how many jobs wait in all (``total``) and per share (``shares``), and when a job last
joined or left each share's queue (``changed:<share>``).

The ledger changes them in the same transaction as the record that joins or leaves the
waiting room, so the controller never makes them drift from the records (a record
deleted or an item changed by hand can: the sweep counts the shares' queues again,
``recount``). A join checks the bounds (``MAX_WAITING_JOBS``, ``MAX_WAITING_SHARES``) in
its condition, so two joins racing for the last place never both get it. The shares
counted are also where a pass finds the waiting jobs: it reads the heads of those shares'
queues, never the whole room.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from jobctl.adapters.errors import error_code, put_if_absent, translated
from jobctl.errors import UnreadableWaitingRoom
from jobctl.logic.scheduling import WaitingLimits

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

ROOM_KEY: Final = {"id": {"S": "jobctl#waiting-room"}}
CHANGED: Final = "changed:"  # + a share: when a job last joined or left its queue


class WaitingRoomCounts:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._exists = False

    def enter(self, share: str, at: str, limits: WaitingLimits | None) -> dict[str, Any]:
        """The transaction item of a job joining the share's queue at ``at`` (within
        ``limits``)."""
        self._ensure()
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": ROOM_KEY,
            "UpdateExpression": (
                "SET #total = if_not_exists(#total, :zero) + :one, "
                "shares.#share = if_not_exists(shares.#share, :zero) + :one, #changed = :at"
            ),
            "ExpressionAttributeNames": _names(share),
            "ExpressionAttributeValues": {
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                ":at": {"S": at},
            },
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

    def leave(self, share: str, at: str) -> dict[str, Any]:
        """The transaction item of a job leaving the share's queue at ``at``."""
        self._ensure()
        return {
            "Update": {
                "TableName": self._table,
                "Key": ROOM_KEY,
                "UpdateExpression": (
                    "SET #total = if_not_exists(#total, :one) - :one, "
                    "shares.#share = if_not_exists(shares.#share, :one) - :one, #changed = :at"
                ),
                "ExpressionAttributeNames": _names(share),
                "ExpressionAttributeValues": {":one": {"N": "1"}, ":at": {"S": at}},
            }
        }

    def counts(self) -> tuple[int, dict[str, int]]:
        """How many jobs wait, in all and per share (shares left empty included, as 0).
        Raises UnreadableWaitingRoom if the item is damaged."""
        room = self._read()
        return room.total, room.shares

    def recount(self, counted: Mapping[str, int], now: str, quiet_since: str) -> int:
        """Correct the counts to ``counted`` (each share's jobs in its queue, from the
        index) where they differ, for the shares no job joined or left since
        ``quiet_since`` (the index may not show those yet); write a damaged item anew.
        Each correction is conditional on what it read, so a join or leave meanwhile wins
        and the next sweep looks again. Returns how many counts were corrected."""
        try:
            room = self._read()
        except UnreadableWaitingRoom:
            item: dict[str, Any] = {**ROOM_KEY, "total": {"N": str(sum(counted.values()))}}
            item["shares"] = {"M": {share: {"N": str(n)} for share, n in counted.items()}}
            item.update({CHANGED + share: {"S": now} for share in counted})  # trust it later
            self._write(Item=item)  # what a damaged item said cannot be kept
            return 1
        corrected = 0
        for share in sorted(room.shares.keys() | counted.keys()):
            found, jobs = room.shares.get(share), counted.get(share, 0)
            if found == jobs or (found is None and not jobs):
                continue
            if room.changed.get(share, "") >= quiet_since:
                continue
            corrected += self._correct(share, found, jobs, room.changed.get(share))
        if corrected == 0 and room.total != sum(room.shares.values()):  # the total alone
            corrected += self._write(
                Key=ROOM_KEY,
                UpdateExpression="SET #total = :sum",
                ConditionExpression="#total = :read",
                ExpressionAttributeNames={"#total": "total"},
                ExpressionAttributeValues={
                    ":sum": {"N": str(sum(room.shares.values()))},
                    ":read": {"N": str(room.total)},
                },
            )
        return corrected

    def _correct(self, share: str, found: int | None, jobs: int, changed: str | None) -> int:
        """Set one share's count to ``jobs`` (and the total with it), if it still reads
        ``found`` and nothing joined or left since ``changed``."""
        values: dict[str, Any] = {
            ":jobs": {"N": str(jobs)},
            ":delta": {"N": str(jobs - (found or 0))},
        }
        condition = ["attribute_not_exists(shares.#share)"]
        if found is not None:
            condition = ["shares.#share = :found"]
            values[":found"] = {"N": str(found)}
        if changed is None:
            condition.append("attribute_not_exists(#changed)")
        else:
            condition.append("#changed = :changed")
            values[":changed"] = {"S": changed}
        return self._write(
            Key=ROOM_KEY,
            UpdateExpression="SET shares.#share = :jobs, #total = #total + :delta",
            ConditionExpression=" AND ".join(condition),
            ExpressionAttributeNames=_names(share),
            ExpressionAttributeValues=values,
        )

    def _write(self, **request: Any) -> int:
        """One write to the item: 1 if made, 0 if its condition no longer held."""
        try:
            if "Item" in request:
                self._client.put_item(TableName=self._table, **request)
            else:
                self._client.update_item(TableName=self._table, **request)
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return 0
            raise translated(exc, "DynamoDB") from exc
        except BotoCoreError as exc:
            raise translated(exc, "DynamoDB") from exc
        return 1

    def _read(self) -> _Room:
        try:
            answer = self._client.get_item(TableName=self._table, Key=ROOM_KEY, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise translated(exc, "DynamoDB") from exc
        item = answer.get("Item")
        if item is None:
            return _Room(0, {}, {})
        try:
            return _Room(
                int(item["total"]["N"]),
                {share: int(value["N"]) for share, value in item["shares"]["M"].items()},
                {
                    name.removeprefix(CHANGED): value["S"]
                    for name, value in item.items()
                    if name.startswith(CHANGED)
                },
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            raise UnreadableWaitingRoom(ROOM_KEY["id"]["S"]) from None

    def forget(self, share: str) -> None:
        """Drop an empty share from the counts (it counts against MAX_WAITING_SHARES)."""
        self._write(  # its condition fails if a job joined meanwhile: the share stays
            Key=ROOM_KEY,
            UpdateExpression="REMOVE shares.#share, #changed",
            ConditionExpression="shares.#share <= :zero",
            ExpressionAttributeNames={"#share": share, "#changed": CHANGED + share},
            ExpressionAttributeValues={":zero": {"N": "0"}},
        )

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


@dataclass(frozen=True)
class _Room:
    total: int
    shares: dict[str, int]
    changed: dict[str, str]


def _names(share: str) -> dict[str, str]:
    return {"#total": "total", "#share": share, "#changed": CHANGED + share}
