"""moto's TransactWriteItems at the cost of the items it names.

To roll a cancelled transaction back, moto deep-copies every table the transaction
writes to, before it starts: its time and memory grow with the tables' whole history
(375 ms a transaction at 2,000 records; the 1,000-request soak ran out of time at 40
minutes, in 12 GB). The real service's cost follows the items named. ``install`` keeps
moto's own transaction code and changes only its rollback: the tables are not copied,
and the items the transaction names are put back as they were. The local stack and the
benchmarks' in-process DynamoDB use it; moto's DynamoDB must still get one request at a
time (``stack.SerialDynamoDB``).
"""

from __future__ import annotations

from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_Before = list[tuple[str, dict[str, Any], dict[str, Any] | None]]


def install(backend_class: type[DynamoDBBackend] = DynamoDBBackend) -> None:
    """Give ``backend_class`` (moto's, or a subclass) this rollback."""
    if getattr(backend_class.transact_write_items, "rolls_back_named_items", False):
        return
    copying = backend_class.transact_write_items

    def transact_write_items(backend: DynamoDBBackend, transact_items: Any) -> None:
        before = _named_items(backend, transact_items)
        if before is None:  # malformed: moto's own checks answer it, as they would
            return copying(backend, transact_items)
        Table.__deepcopy__ = _not_copied  # type: ignore[attr-defined]
        try:
            return copying(backend, transact_items)
        except Exception:
            _put_back(backend, before)
            raise
        finally:
            del Table.__deepcopy__  # type: ignore[attr-defined]

    transact_write_items.rolls_back_named_items = True  # type: ignore[attr-defined]
    backend_class.transact_write_items = transact_write_items  # type: ignore[assignment]


def _not_copied(table: Table, memo: dict[int, Any]) -> Table:
    return table


def _named_items(backend: DynamoDBBackend, transact_items: Any) -> _Before | None:
    """Each item the transaction names, as it is now (None: absent)."""
    before: _Before = []
    try:
        for entry in transact_items:
            ((kind, operation),) = entry.items()
            table = backend.get_table(operation["TableName"])
            if kind == "Put":
                names = [table.hash_key_attr, table.range_key_attr]
                key = {name: operation["Item"][name] for name in names if name}
            else:
                key = dict(operation["Key"])
            item = backend.get_item(table.name, key)
            before.append((table.name, key, item.to_json()["Attributes"] if item else None))
    except Exception:  # noqa: BLE001 - any malformed request is moto's to refuse
        return None
    return before


def _put_back(backend: DynamoDBBackend, before: _Before) -> None:
    for table_name, key, attributes in reversed(before):
        if attributes is None:
            backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, attributes)
