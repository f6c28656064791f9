"""template.yaml keeps CONTRACT §2 and §4, and its rules match SageMaker's events only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from moto.events.models import EventPattern

from tests.support.template import event_patterns, load_event, load_template, resource

CONTRACT_VARIABLES = {
    "JOBS_TABLE",
    "IDEMPOTENCY_TABLE",
    "NOTICES_TOPIC_ARN",
    "DEFAULT_ROLE_ARN",
    "ALLOWED_ROLE_ARNS",
    "MAX_RECEIVE_COUNT",
}


def statements(logical_id: str) -> list[dict[str, Any]]:
    found = []
    for policy in resource(logical_id)["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            found.extend(policy["Statement"])
    return found


def function_variables(logical_id: str) -> dict[str, Any]:
    template = load_template()
    shared = template["Globals"]["Function"]["Environment"]["Variables"]
    own = resource(logical_id)["Properties"].get("Environment", {}).get("Variables", {})
    return {**shared, **own}


@pytest.mark.parametrize(
    ("logical_id", "handler"),
    [
        ("SubmitFunction", "jobctl.handlers.submit.handler"),
        ("ReconcileFunction", "jobctl.handlers.reconcile.handler"),
    ],
)
def test_functions_use_the_contracts_handlers_and_code_location(
    logical_id: str, handler: str
) -> None:
    function = resource(logical_id)
    assert function["Type"] == "AWS::Serverless::Function"
    assert function["Properties"]["Handler"] == handler
    assert load_template()["Globals"]["Function"]["CodeUri"] == "src/"
    assert load_template()["Globals"]["Function"]["Runtime"] == "python3.12"


@pytest.mark.parametrize("logical_id", ["SubmitFunction", "ReconcileFunction"])
def test_both_functions_get_every_contract_setting(logical_id: str) -> None:
    assert set(function_variables(logical_id)) >= CONTRACT_VARIABLES


def test_submit_reads_the_jobs_queue_in_batches_with_partial_failures() -> None:
    (source,) = resource("SubmitFunction")["Properties"]["Events"].values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["Properties"]["ScalingConfig"]["MaximumConcurrency"] == {
        "Ref": "SubmitMaxConcurrency"
    }


def test_the_dead_letter_redrive_count_is_the_one_the_function_is_told() -> None:
    redrive = resource("JobsQueue")["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    assert function_variables("SubmitFunction")["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}


def test_the_queue_hides_a_message_six_times_longer_than_submit_may_run() -> None:
    timeout = resource("SubmitFunction")["Properties"]["Timeout"]
    assert resource("JobsQueue")["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_the_ledger_has_the_contracts_key_and_status_index() -> None:
    table = resource("JobsTable")["Properties"]
    assert table["KeySchema"] == [
        {"AttributeName": "job_name", "KeyType": "HASH"},
        {"AttributeName": "job_type", "KeyType": "RANGE"},
    ]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert indexes["status-index"]["KeySchema"] == [
        {"AttributeName": "status", "KeyType": "HASH"},
        {"AttributeName": "updated_at", "KeyType": "RANGE"},
    ]
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_the_idempotency_table_expires_records() -> None:
    table = resource("IdempotencyTable")["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


@pytest.mark.parametrize(
    "sample",
    [
        "training-state-change-inprogress.json",
        "training-state-change-completed.json",
        "training-state-change-failed.json",
    ],
)
def test_the_rules_match_sagemaker_training_state_changes(sample: str) -> None:
    event = load_event(sample)
    assert any(EventPattern.load(json.dumps(p)).matches_event(event) for p in event_patterns())


@pytest.mark.parametrize(
    ("source", "detail_type"),
    [
        ("aws.sagemaker", "SageMaker Endpoint State Change"),
        ("aws.sagemaker", "SageMaker Processing Job State Change"),
        ("aws.sagemaker", "SageMaker HyperParameter Tuning Job State Change"),
        ("aws.ec2", "EC2 Instance State-change Notification"),
        ("my.app", "SageMaker Training Job State Change"),
    ],
)
def test_the_rules_match_no_foreign_event(source: str, detail_type: str) -> None:
    event = load_event("training-state-change-completed.json") | {
        "source": source,
        "detail-type": detail_type,
    }
    assert not any(EventPattern.load(json.dumps(p)).matches_event(event) for p in event_patterns())


def test_the_sweep_runs_on_a_classic_schedule() -> None:
    events = resource("ReconcileFunction")["Properties"]["Events"]
    schedules = [e for e in events.values() if e["Type"] == "Schedule"]
    assert [s["Properties"]["Schedule"] for s in schedules] == [{"Ref": "SweepSchedule"}]
    assert load_template()["Parameters"]["SweepSchedule"]["Default"] == "rate(5 minutes)"


@pytest.mark.parametrize("logical_id", ["SubmitFunction", "ReconcileFunction"])
def test_no_statement_grants_every_action(logical_id: str) -> None:
    for statement in statements(logical_id):
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert "*" not in actions
        assert not any(action.endswith(":*") for action in actions)


@pytest.mark.parametrize("logical_id", ["SubmitFunction", "ReconcileFunction"])
def test_only_list_actions_use_a_wildcard_resource(logical_id: str) -> None:
    for statement in statements(logical_id):
        if statement["Resource"] == "*":
            assert all(action.startswith("sagemaker:List") for action in statement["Action"])


def test_roles_are_passed_only_to_sagemaker_and_only_the_allowed_ones() -> None:
    pass_role = [s for s in statements("SubmitFunction") if s["Action"] == "iam:PassRole"]
    assert len(pass_role) == 1
    assert pass_role[0]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }
    assert "DefaultRoleArn" in json.dumps(pass_role[0]["Resource"])
    assert "AllowedRoleArns" in json.dumps(pass_role[0]["Resource"])
    assert not any("iam:PassRole" in json.dumps(s) for s in statements("ReconcileFunction"))


def test_data_is_encrypted_at_rest() -> None:
    for queue in ("JobsQueue", "JobsDeadLetterQueue", "ReconcileEventsDeadLetterQueue"):
        assert resource(queue)["Properties"]["SqsManagedSseEnabled"] is True
    for table in ("JobsTable", "IdempotencyTable"):
        assert resource(table)["Properties"]["SSESpecification"]["SSEEnabled"] is True
    assert resource("NoticesTopic")["Properties"]["KmsMasterKeyId"] == {"Ref": "NoticesKey"}


def test_outputs_name_what_users_need() -> None:
    outputs = load_template()["Outputs"]
    assert {"JobsQueueUrl", "DeadLetterQueueUrl", "NoticesTopicArn", "JobsTableName"} <= set(
        outputs
    )
