"""bench.fakes' in-process DynamoDB (moto's, called without HTTP): the expressions,
transactions and indexes the benchmarks' controllers rely on behave as DynamoDB's do, with
its own transactions and projections in place of moto's."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from bench.fakes import InProcessDynamoDB
from botocore.exceptions import ClientError

from jobctl_tools.local.template import table_create_kwargs

TABLE = "budgets"


@pytest.fixture
def dynamodb() -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    tables = InProcessDynamoDB()
    tables.call(
        "CreateTable",
        {
            "TableName": TABLE,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    return tables.attach(client)


def test_an_update_adds_to_a_counter_and_a_nested_map_under_its_condition(dynamodb: Any) -> None:
    dynamodb.put_item(
        TableName=TABLE, Item={"id": {"S": "b"}, "used": {"N": "0"}, "holders": {"M": {}}}
    )
    admit = {
        "TableName": TABLE,
        "Key": {"id": {"S": "b"}},
        "UpdateExpression": "SET used = used + :units, holders.#holder = :entry",
        "ConditionExpression": "used <= :room AND attribute_not_exists(holders.#holder)",
        "ExpressionAttributeNames": {"#holder": "job-1"},
        "ExpressionAttributeValues": {
            ":units": {"N": "3"},
            ":room": {"N": "5"},
            ":entry": {"M": {"units": {"N": "3"}}},
        },
    }
    dynamodb.update_item(**admit)
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        dynamodb.update_item(**admit)  # the holder is in already
    dynamodb.update_item(
        TableName=TABLE,
        Key={"id": {"S": "b"}},
        UpdateExpression="SET used = used - :units REMOVE holders.#holder",
        ConditionExpression="attribute_exists(holders.#holder)",
        ExpressionAttributeNames={"#holder": "job-1"},
        ExpressionAttributeValues={":units": {"N": "3"}},
    )
    item = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "b"}})["Item"]
    assert item["used"] == {"N": "0"}
    assert item["holders"] == {"M": {}}


def test_sets_grow_and_shrink_and_are_measured(dynamodb: Any) -> None:
    def add(holder: str) -> None:
        dynamodb.update_item(
            TableName=TABLE,
            Key={"id": {"S": "s"}},
            UpdateExpression="ADD holders :me",
            ConditionExpression="attribute_not_exists(holders) OR size(holders) < :limit "
            "OR contains(holders, :holder)",
            ExpressionAttributeValues={
                ":me": {"SS": [holder]},
                ":holder": {"S": holder},
                ":limit": {"N": "2"},
            },
        )

    add("a")
    add("b")
    add("b")  # already in: the condition holds, the set does not change
    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        add("c")
    dynamodb.update_item(
        TableName=TABLE,
        Key={"id": {"S": "s"}},
        UpdateExpression="DELETE holders :me",
        ExpressionAttributeValues={":me": {"SS": ["a"]}},
    )
    item = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "s"}})["Item"]
    assert item["holders"] == {"SS": ["b"]}


def test_a_transaction_writes_all_or_nothing_and_says_which_condition_failed(
    dynamodb: Any,
) -> None:
    def put(key: str, condition: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": TABLE,
                "Item": {"id": {"S": key}},
                "ConditionExpression": condition,
            }
        }

    dynamodb.put_item(TableName=TABLE, Item={"id": {"S": "taken"}})
    with pytest.raises(ClientError) as failed:
        dynamodb.transact_write_items(
            TransactItems=[
                put("new", "attribute_not_exists(id)"),
                put("taken", "attribute_not_exists(id)"),
            ]
        )
    reasons = [r["Code"] for r in failed.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "new"}})


def test_a_sparse_index_holds_only_items_with_its_key_and_its_projection() -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    tables = InProcessDynamoDB()
    tables.call("CreateTable", table_create_kwargs("JobsTable", "jobs"))
    tables.attach(client)
    for name, waiting in (("b", "1"), ("a", "1"), ("c", None)):
        item = {
            "job_name": {"S": name},
            "job_type": {"S": "TrainingJob"},
            "created_at": {"S": f"2025-01-01T00:00:0{ord(name) - 96}Z"},
            "request_body": {"S": "kept"},
            "priority": {"N": "5"},
        }
        if waiting:
            item["waiting"] = {"S": waiting}
        client.put_item(TableName="jobs", Item=item)
    answer = client.query(
        TableName="jobs",
        IndexName="waiting-index",
        KeyConditionExpression="waiting = :waiting",
        ExpressionAttributeValues={":waiting": {"S": "1"}},
    )
    assert [i["job_name"]["S"] for i in answer["Items"]] == ["a", "b"]  # by created_at
    assert all("request_body" not in i and i["priority"] == {"N": "5"} for i in answer["Items"])
