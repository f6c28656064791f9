"""`jobctl list` filters by status (through status-index), type and time, in any mix."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner

from jobctl_cli.cli import main
from tests.support.environment import JOBS_TABLE, TOPIC_ARN
from tests.support.requests import request_body
from tests.support.stack import Stack


def listed(*options: str) -> list[str]:
    resources = ["--queue-url", "unused", "--table", JOBS_TABLE, "--topic-arn", TOPIC_ARN]
    result = CliRunner().invoke(main, [*resources, "list", "--json", *options])
    assert result.exit_code == 0, result.output
    return sorted(record["job_name"] for record in json.loads(result.output))


@pytest.fixture
def jobs(stack: Stack) -> Stack:
    stack.submit(request_body(), request_body("automl.json"), request_body("invalid.json"))
    return stack


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ((), ["demo-autopilot-churn", "demo-invalid-request", "demo-xgboost-churn"]),
        (("--status", "InProgress"), ["demo-autopilot-churn", "demo-xgboost-churn"]),
        (("--status", "InProgress", "--type", "AutoMLJob"), ["demo-autopilot-churn"]),
        (("--status", "inprogress"), ["demo-autopilot-churn", "demo-xgboost-churn"]),
        (("--type", "TrainingJob"), ["demo-invalid-request", "demo-xgboost-churn"]),
        (("--status", "Rejected", "--since", "2000-01-01T00:00:00Z"), ["demo-invalid-request"]),
        (("--since", "2999-01-01T00:00:00Z"), []),
        (("--status", "InProgress", "--since", "2999-01-01T00:00:00Z"), []),
    ],
)
def test_list_filters_combine(jobs: Any, options: tuple[str, ...], expected: list[str]) -> None:
    assert listed(*options) == expected


def test_list_leaves_out_a_damaged_record_and_says_so(jobs: Any) -> None:
    import boto3

    boto3.client("dynamodb").update_item(
        TableName=JOBS_TABLE,
        Key={"job_name": {"S": "demo-xgboost-churn"}, "job_type": {"S": "TrainingJob"}},
        UpdateExpression="REMOVE #status",
        ExpressionAttributeNames={"#status": "status"},
    )
    resources = ["--queue-url", "unused", "--table", JOBS_TABLE, "--topic-arn", TOPIC_ARN]
    result = CliRunner().invoke(main, [*resources, "list", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(r["job_name"] for r in json.loads(result.stdout)) == [
        "demo-autopilot-churn",
        "demo-invalid-request",
    ]
    assert "TrainingJob/demo-xgboost-churn" in result.stderr


def test_get_json_is_the_one_record_as_an_object_and_asks_for_a_type_when_two_share_a_name(
    stack: Stack,
) -> None:
    automl = request_body("automl.json") | {"job_name": "demo-xgboost-churn"}
    stack.submit(request_body())
    resources = ["--queue-url", "unused", "--table", JOBS_TABLE, "--topic-arn", TOPIC_ARN]
    one = CliRunner().invoke(main, [*resources, "get", "demo-xgboost-churn", "--json"])
    assert json.loads(one.output)["job_type"] == "TrainingJob"
    stack.submit(automl)
    two = CliRunner().invoke(main, [*resources, "get", "demo-xgboost-churn", "--json"])
    assert two.exit_code == 1
    assert "2 jobs are named demo-xgboost-churn (" in two.output
    assert "give --type" in two.output
