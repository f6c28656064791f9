"""The local stack's TransactWriteItems (jobctl_tools.local.transactions): moto's own,
rolled back by putting back the items it names instead of copying whole tables."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from jobctl_tools.local import transactions


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(
        DynamoDBBackend, "transact_write_items", DynamoDBBackend.transact_write_items
    )
    transactions.install()  # undone by monkeypatch when the test ends
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.put_item(TableName="t", Item={"id": {"S": "a"}, "x": {"N": "1"}})
        yield client


def items(client: Any) -> dict[str, Any]:
    return {item["id"]["S"]: item for item in client.scan(TableName="t")["Items"]}


def change_a_and_add_b(*, then: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "Update": {
                "TableName": "t",
                "Key": {"id": {"S": "a"}},
                "UpdateExpression": "SET x = :two",
                "ExpressionAttributeValues": {":two": {"N": "2"}},
            }
        },
        {"Put": {"TableName": "t", "Item": {"id": {"S": "b"}}}},
        then,
    ]


def test_a_cancelled_transaction_leaves_every_item_it_named_as_it_was(table: Any) -> None:
    absent = {
        "ConditionCheck": {
            "TableName": "t",
            "Key": {"id": {"S": "c"}},
            "ConditionExpression": "attribute_exists(id)",
        }
    }
    with pytest.raises(ClientError, match="TransactionCanceled"):
        table.transact_write_items(TransactItems=change_a_and_add_b(then=absent))
    assert items(table) == {"a": {"id": {"S": "a"}, "x": {"N": "1"}}}


def test_a_transaction_naming_one_item_twice_is_refused_and_changes_nothing(table: Any) -> None:
    again = {"Delete": {"TableName": "t", "Key": {"id": {"S": "a"}}}}
    with pytest.raises(ClientError, match="ValidationException"):
        table.transact_write_items(TransactItems=change_a_and_add_b(then=again))
    assert items(table) == {"a": {"id": {"S": "a"}, "x": {"N": "1"}}}


def test_a_transaction_that_goes_through_writes_every_item(table: Any) -> None:
    check = {
        "ConditionCheck": {
            "TableName": "t",
            "Key": {"id": {"S": "c"}},
            "ConditionExpression": "attribute_not_exists(id)",
        }
    }
    table.transact_write_items(TransactItems=change_a_and_add_b(then=check))
    assert items(table) == {"a": {"id": {"S": "a"}, "x": {"N": "2"}}, "b": {"id": {"S": "b"}}}
