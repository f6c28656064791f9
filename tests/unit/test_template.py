"""template.yaml keeps docs/contract.md §2, §4 and §7: handlers, triggers, settings, the
ledger, least privilege.

Read from the file itself (tests/support/template.py); no AWS, no network.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from botocore.session import get_session
from botocore.validate import validate_parameters

from tests.support.template import (
    ROOT,
    TEMPLATE,
    event_patterns,
    function_events,
    load_event,
    load_template,
    resource,
    rule_matches,
    table_create_kwargs,
)

FUNCTIONS = ("SubmitFunction", "ReconcileFunction")
CONTRACT_VARIABLES = {
    "JOBS_TABLE": {"Ref": "JobsTable"},
    "IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
    "NOTICES_TOPIC_ARN": {"Ref": "NoticesTopic"},
    "DEFAULT_ROLE_ARN": {"Ref": "DefaultRoleArn"},
    "ALLOWED_ROLE_ARNS": {"Ref": "AllowedRoleArns"},
    "MAX_RECEIVE_COUNT": {"Ref": "MaxReceiveCount"},
}
STATE_CHANGE_SAMPLES = [
    "training-state-change-inprogress.json",
    "training-state-change-completed.json",
    "training-state-change-failed.json",
]
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobctl-sagemaker-execution"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/team-b/sagemaker"
THIRD_ROLE = f"arn:aws:iam::{ACCOUNT}:role/c"
# ListTrainingJobs and ListAutoMLJobs support no resource-level permissions.
LIST_CALLS = {"sagemaker:ListTrainingJobs", "sagemaker:ListAutoMLJobs"}
# Service Quotas' List actions support no resource-level permissions either.
QUOTA_CALLS = {"servicequotas:ListServiceQuotas", "servicequotas:ListAWSDefaultServiceQuotas"}


# -- helpers ---------------------------------------------------------------------------------


def function_property(logical_id: str, name: str) -> Any:
    """A function property, its own value over the one in Globals."""
    own = resource(logical_id)["Properties"]
    return own[name] if name in own else load_template()["Globals"]["Function"][name]


def function_variables(logical_id: str) -> dict[str, Any]:
    shared = load_template()["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    own = resource(logical_id)["Properties"].get("Environment", {}).get("Variables", {})
    return {**shared, **own}


def statements(logical_id: str) -> list[dict[str, Any]]:
    """The inline IAM statements of a function, a conditional one whatever its condition
    (SAM policy templates are checked apart)."""
    found: list[dict[str, Any]] = []
    for policy in resource(logical_id)["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Statement" in policy:
            for statement in policy["Statement"]:
                branches = statement.get("Fn::If", [None, statement])[1:]
                found.extend(b for b in branches if isinstance(b, dict) and "Effect" in b)
    return found


def policy_templates(logical_id: str) -> list[tuple[str, Any]]:
    """The SAM policy templates of a function, as (name, parameters)."""
    return [
        next(iter(policy.items()))
        for policy in resource(logical_id)["Properties"].get("Policies", [])
        if isinstance(policy, dict) and "Statement" not in policy
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def evaluate(value: Any, parameters: dict[str, str]) -> Any:
    """Resolve the intrinsics the IAM statements use (Ref, Sub, Split, If, Equals, Not) for
    the given parameter values, as CloudFormation would."""
    if isinstance(value, list):
        return [evaluate(item, parameters) for item in value]
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((name, argument),) = value.items()
    conditions = load_template().get("Conditions", {})
    if name == "Ref":
        return parameters[argument]
    if name == "Fn::Sub":
        return re.sub(r"\$\{([^}]+)\}", lambda m: parameters[m.group(1)], argument)
    if name == "Fn::Split":
        separator, text = argument
        return evaluate(text, parameters).split(separator)
    if name == "Fn::Equals":
        left, right = evaluate(argument, parameters)
        return left == right
    if name == "Fn::Not":
        return not evaluate(argument[0], parameters)
    if name == "Fn::If":
        condition, when_true, when_false = argument
        chosen = when_true if evaluate(conditions[condition], parameters) else when_false
        return evaluate(chosen, parameters)
    return value


def matches_any_rule(event: dict[str, Any]) -> bool:
    return any(rule_matches(pattern, event) for pattern in event_patterns())


def foreign_event(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "5a0c8c3e-2b1d-4f6e-9a7b-0c1d2e3f4a5b",
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": "2025-11-26T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


# -- docs/contract.md §2: deployment units -------------------------------------------------


@pytest.mark.parametrize(
    ("logical_id", "handler"),
    [
        ("SubmitFunction", "jobctl.handlers.submit.handler"),
        ("ReconcileFunction", "jobctl.handlers.reconcile.handler"),
    ],
)
def test_each_function_runs_its_contract_handler_from_src(logical_id: str, handler: str) -> None:
    assert resource(logical_id)["Type"] == "AWS::Serverless::Function"
    assert resource(logical_id)["Properties"]["Handler"] == handler
    assert function_property(logical_id, "CodeUri") == "src/"
    assert function_property(logical_id, "Runtime") == "python3.12"
    assert function_property(logical_id, "Tracing") == "Active"


def test_submit_is_triggered_by_the_jobs_queue_only() -> None:
    (source,) = function_events("SubmitFunction").values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::GetAtt": ["JobsQueue", "Arn"]}
    assert source["Properties"]["BatchSize"] == {"Ref": "BatchSize"}
    assert source["Properties"]["MaximumBatchingWindowInSeconds"] == {"Ref": "BatchWindowSeconds"}


def test_submit_reports_partial_batch_failures() -> None:
    (source,) = function_events("SubmitFunction").values()
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_submit_concurrency_is_capped_within_sqs_limits() -> None:
    (source,) = function_events("SubmitFunction").values()
    assert source["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "SubmitMaxConcurrency"}
    }
    parameter = load_template()["Parameters"]["SubmitMaxConcurrency"]
    assert parameter["MinValue"] == 2  # the least SQS accepts
    assert parameter["Default"] >= parameter["MinValue"]


def test_reconcile_is_triggered_by_sagemaker_state_changes_and_a_schedule() -> None:
    kinds = sorted(event["Type"] for event in function_events("ReconcileFunction").values())
    assert kinds == ["EventBridgeRule", "Schedule"]
    (pattern,) = event_patterns()
    assert pattern["source"] == ["aws.sagemaker"]


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_both_functions_get_every_contract_setting(logical_id: str) -> None:
    variables = function_variables(logical_id)
    for name, value in CONTRACT_VARIABLES.items():
        assert variables.get(name) == value, name
    assert variables["POWERTOOLS_SERVICE_NAME"] == "jobctl"
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


# -- the queue, its redrive and the function's give-up count ---------------------------------


def test_the_redrive_count_is_the_parameter_the_functions_are_told() -> None:
    redrive = resource("JobsQueue")["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["JobsDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == {"Ref": "MaxReceiveCount"}
    for logical_id in FUNCTIONS:
        assert function_variables(logical_id)["MAX_RECEIVE_COUNT"] == {"Ref": "MaxReceiveCount"}
    # One delivery to try, at least one more to give up on (SubmitFailed) before the DLQ.
    assert load_template()["Parameters"]["MaxReceiveCount"]["MinValue"] >= 2


def test_a_received_message_stays_hidden_six_times_longer_than_submit_may_run() -> None:
    timeout = resource("SubmitFunction")["Properties"]["Timeout"]
    assert resource("JobsQueue")["Properties"]["VisibilityTimeout"] >= 6 * timeout


def test_the_dead_letter_queue_keeps_messages_longer_than_the_jobs_queue() -> None:
    kept = resource("JobsQueue")["Properties"]["MessageRetentionPeriod"]
    dead_kept = resource("JobsDeadLetterQueue")["Properties"]["MessageRetentionPeriod"]
    assert dead_kept == 14 * 24 * 3600
    assert dead_kept > kept


# -- docs/contract.md §4: the ledger -------------------------------------------------------


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
    assert indexes["status-index"]["Projection"] == {"ProjectionType": "ALL"}
    assert table["BillingMode"] == "PAY_PER_REQUEST"


def test_unsent_notices_have_a_sparse_index_so_the_sweep_needs_no_scan() -> None:
    table = resource("JobsTable")["Properties"]
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    assert indexes["unnotified-index"]["KeySchema"] == [
        {"AttributeName": "notice_pending", "KeyType": "HASH"},
        {"AttributeName": "updated_at", "KeyType": "RANGE"},
    ]


def test_every_key_attribute_is_defined_and_every_definition_is_a_key() -> None:
    table = resource("JobsTable")["Properties"]
    schemas = [table["KeySchema"]] + [
        index["KeySchema"] for index in table["GlobalSecondaryIndexes"]
    ]
    keys = {element["AttributeName"] for schema in schemas for element in schema}
    defined = {d["AttributeName"]: d["AttributeType"] for d in table["AttributeDefinitions"]}
    assert set(defined) == keys
    assert set(defined.values()) == {"S"}


def test_the_ledger_survives_stack_deletion_and_replacement() -> None:
    ledger = resource("JobsTable")
    assert ledger["DeletionPolicy"] == "Retain"
    assert ledger["UpdateReplacePolicy"] == "Retain"
    assert ledger["Properties"]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }


def test_the_idempotency_table_expires_its_records() -> None:
    table = resource("IdempotencyTable")["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


@pytest.mark.parametrize("logical_id", ["JobsTable", "IdempotencyTable"])
def test_tests_can_build_each_table_from_the_template(logical_id: str) -> None:
    kwargs = table_create_kwargs(logical_id, "jobctl-test")
    dynamodb = get_session().get_service_model("dynamodb")
    shape = dynamodb.operation_model("CreateTable").input_shape
    assert shape is not None
    validate_parameters(kwargs, shape)
    assert kwargs["KeySchema"] == resource(logical_id)["Properties"]["KeySchema"]


# -- EventBridge -----------------------------------------------------------------------------


@pytest.mark.parametrize("sample", STATE_CHANGE_SAMPLES)
def test_every_rule_matches_each_training_state_change(sample: str) -> None:
    event = load_event(sample)
    for pattern in event_patterns():
        assert rule_matches(pattern, event), pattern


@pytest.mark.parametrize(
    "event",
    [
        foreign_event(
            "aws.sagemaker",
            "SageMaker Endpoint State Change",
            {"EndpointName": "churn", "EndpointStatus": "IN_SERVICE"},
        ),
        foreign_event(
            "aws.sagemaker",
            "SageMaker Processing Job State Change",
            {"ProcessingJobName": "prep", "ProcessingJobStatus": "Completed"},
        ),
        foreign_event(
            "aws.sagemaker",
            "SageMaker HyperParameter Tuning Job State Change",
            {"HyperParameterTuningJobName": "hpo", "HyperParameterTuningJobStatus": "Completed"},
        ),
        foreign_event(
            "aws.ec2",
            "EC2 Instance State-change Notification",
            {"instance-id": "i-0123456789abcdef0", "state": "stopped"},
        ),
        # A custom source may copy SageMaker's detail-type, but not its source.
        foreign_event(
            "com.example.jobs",
            "SageMaker Training Job State Change",
            load_event("training-state-change-completed.json")["detail"],
        ),
        load_event("scheduled-sweep.json"),
    ],
    ids=["endpoint", "processing-job", "tuning-job", "ec2", "custom-source", "schedule"],
)
def test_no_rule_matches_a_foreign_event(event: dict[str, Any]) -> None:
    assert not matches_any_rule(event)


def test_state_change_deliveries_are_retried_then_kept() -> None:
    (rule,) = [
        e
        for e in function_events("ReconcileFunction").values()
        if "Pattern" in e.get("Properties", {})
    ]
    assert rule["Properties"]["RetryPolicy"] == {
        "MaximumRetryAttempts": 8,
        "MaximumEventAgeInSeconds": 3600,
    }
    assert rule["Properties"]["DeadLetterConfig"] == {
        "Arn": {"Fn::GetAtt": ["ReconcileEventsDeadLetterQueue", "Arn"]}
    }


def test_a_failing_reconcile_is_retried_twice_then_kept() -> None:
    invoke = resource("ReconcileFunction")["Properties"]["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] == 2
    assert invoke["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["ReconcileEventsDeadLetterQueue", "Arn"]},
    }


def test_the_sweep_is_a_classic_schedule_rule() -> None:
    (sweep,) = [
        e for e in function_events("ReconcileFunction").values() if e["Type"].startswith("Schedule")
    ]
    # "Schedule" (an EventBridge rule) delivers source aws.events / "Scheduled Event";
    # "ScheduleV2" (EventBridge Scheduler) would deliver a different payload.
    assert sweep["Type"] == "Schedule"
    assert sweep["Properties"]["Schedule"] == {"Ref": "SweepSchedule"}
    assert load_template()["Parameters"]["SweepSchedule"]["Default"] == "rate(5 minutes)"
    sample = load_event("scheduled-sweep.json")
    assert (sample["source"], sample["detail-type"]) == ("aws.events", "Scheduled Event")


# -- least privilege ---------------------------------------------------------------------------


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_no_statement_grants_every_action(logical_id: str) -> None:
    for statement in statements(logical_id):
        for action in as_list(statement["Action"]):
            assert action != "*"
            assert not action.endswith(":*"), action


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_only_list_calls_have_a_wildcard_resource(logical_id: str) -> None:
    for statement in statements(logical_id):
        if "*" in as_list(statement["Resource"]):
            assert set(as_list(statement["Action"])) in (LIST_CALLS, QUOTA_CALLS)


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_sagemaker_job_calls_are_scoped_to_job_arns(logical_id: str) -> None:
    pseudo = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": ACCOUNT}
    for statement in statements(logical_id):
        actions = set(as_list(statement["Action"]))
        if not any(a.startswith("sagemaker:") for a in actions) or actions <= LIST_CALLS:
            continue
        assert not actions & LIST_CALLS, "list calls need a statement of their own"
        assert set(as_list(evaluate(statement["Resource"], pseudo))) <= {
            f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:automl-job/*",
            f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:training-job/*",
        }


def test_submit_may_create_stop_and_tag_jobs() -> None:
    actions = {a for s in statements("SubmitFunction") for a in as_list(s["Action"])}
    assert {
        "sagemaker:CreateTrainingJob",
        "sagemaker:CreateAutoMLJob",
        "sagemaker:DescribeTrainingJob",
        "sagemaker:DescribeAutoMLJob",
        "sagemaker:StopTrainingJob",
        "sagemaker:StopAutoMLJob",
        "sagemaker:AddTags",
        "sagemaker:ListTags",
    } <= actions


def test_reconcile_reads_jobs_and_may_stop_only_training_jobs() -> None:
    actions = {a for s in statements("ReconcileFunction") for a in as_list(s["Action"])}
    sagemaker = {a for a in actions if a.startswith("sagemaker:")}
    assert sagemaker == {
        "sagemaker:DescribeTrainingJob",
        "sagemaker:DescribeAutoMLJob",
        "sagemaker:ListTags",
        "sagemaker:ListTrainingJobs",
        "sagemaker:ListAutoMLJobs",
        "sagemaker:StopTrainingJob",  # a preempted job (CONTRACT §10)
    }
    assert "iam:PassRole" not in actions


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_iam_pass_role_is_always_limited_to_sagemaker(logical_id: str) -> None:
    for statement in statements(logical_id):
        if "iam:PassRole" in as_list(statement["Action"]):
            assert statement["Condition"] == {
                "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
            }


@pytest.mark.parametrize(
    ("allowed", "passable"),
    [
        ("", [ROLE]),
        (OTHER_ROLE, [ROLE, OTHER_ROLE]),
        (f"{OTHER_ROLE},{THIRD_ROLE}", [ROLE, OTHER_ROLE, THIRD_ROLE]),
    ],
    ids=["no-allowed-roles", "one-allowed-role", "two-allowed-roles"],
)
def test_submit_may_pass_exactly_the_default_and_allowed_roles(
    allowed: str, passable: list[str]
) -> None:
    (pass_role,) = [
        s for s in statements("SubmitFunction") if "iam:PassRole" in as_list(s["Action"])
    ]
    assert as_list(pass_role["Action"]) == ["iam:PassRole"]
    resources = evaluate(
        pass_role["Resource"], {"DefaultRoleArn": ROLE, "AllowedRoleArns": allowed}
    )
    assert resources == passable


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        (ROLE, True),
        (OTHER_ROLE, True),
        (f"arn:aws-us-gov:iam::{ACCOUNT}:role/x", True),
        (f"arn:aws:iam::{ACCOUNT}:user/alice", False),
        (f"{ROLE}, {OTHER_ROLE}", False),
        ("jobctl-sagemaker-execution", False),
    ],
)
def test_role_parameters_accept_role_arns_only(value: str, accepted: bool) -> None:
    parameters = load_template()["Parameters"]
    # CloudFormation matches AllowedPattern against the whole value.
    assert bool(re.fullmatch(parameters["DefaultRoleArn"]["AllowedPattern"], value)) is accepted
    assert bool(re.fullmatch(parameters["AllowedRoleArns"]["AllowedPattern"], value)) is accepted


def test_allowed_roles_may_be_empty_or_a_comma_separated_list() -> None:
    pattern = load_template()["Parameters"]["AllowedRoleArns"]["AllowedPattern"]
    assert re.fullmatch(pattern, "")
    assert re.fullmatch(pattern, f"{ROLE},{OTHER_ROLE}")
    assert not re.fullmatch(pattern, f"{ROLE},")
    assert "Default" not in load_template()["Parameters"]["DefaultRoleArn"]


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_both_functions_may_use_the_ledger_idempotency_store_and_topic(logical_id: str) -> None:
    templates = policy_templates(logical_id)
    assert ("DynamoDBCrudPolicy", {"TableName": {"Ref": "JobsTable"}}) in templates
    assert ("DynamoDBCrudPolicy", {"TableName": {"Ref": "IdempotencyTable"}}) in templates
    assert (
        "SNSPublishMessagePolicy",
        {"TopicName": {"Fn::GetAtt": ["NoticesTopic", "TopicName"]}},
    ) in templates
    (kms,) = [
        s for s in statements(logical_id) if any(a.startswith("kms:") for a in as_list(s["Action"]))
    ]
    assert set(kms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert kms["Resource"] == {"Fn::GetAtt": ["NoticesKey", "Arn"]}


# -- encryption and transport ------------------------------------------------------------------


def test_queues_and_tables_are_encrypted_at_rest() -> None:
    for queue in ("JobsQueue", "JobsDeadLetterQueue", "ReconcileEventsDeadLetterQueue"):
        assert resource(queue)["Properties"]["SqsManagedSseEnabled"] is True
    for table in ("JobsTable", "IdempotencyTable"):
        assert resource(table)["Properties"]["SSESpecification"] == {"SSEEnabled": True}


def test_notices_are_encrypted_with_a_rotated_key_sns_may_use() -> None:
    assert resource("NoticesTopic")["Properties"]["KmsMasterKeyId"] == {"Ref": "NoticesKey"}
    key = resource("NoticesKey")["Properties"]
    assert key["EnableKeyRotation"] is True
    (sns,) = [
        s
        for s in key["KeyPolicy"]["Statement"]
        if s["Principal"] == {"Service": "sns.amazonaws.com"}
    ]
    assert set(sns["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def _denies_plain_transport(statement: dict[str, Any]) -> bool:
    # A statement made only under a condition is an Fn::If, with no Effect of its own.
    return statement.get("Effect") == "Deny" and statement.get("Condition") == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def test_queues_refuse_requests_without_tls() -> None:
    policies = [
        r for r in load_template()["Resources"].values() if r["Type"] == "AWS::SQS::QueuePolicy"
    ]
    protected = set()
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if _denies_plain_transport(statement):
                protected |= {r["Fn::GetAtt"][0] for r in as_list(statement["Resource"])}
    assert {"JobsQueue", "JobsDeadLetterQueue", "ReconcileEventsDeadLetterQueue"} <= protected


def test_the_topic_refuses_publish_and_subscribe_without_tls() -> None:
    policy = resource("NoticesTopicPolicy")["Properties"]
    assert policy["Topics"] == [{"Ref": "NoticesTopic"}]
    (deny,) = [s for s in policy["PolicyDocument"]["Statement"] if _denies_plain_transport(s)]
    assert {"sns:Publish", "sns:Subscribe"} <= set(as_list(deny["Action"]))


# -- outputs and lint hygiene ------------------------------------------------------------------


def test_outputs_name_what_users_and_operators_need() -> None:
    assert set(load_template()["Outputs"]) >= {
        "JobsQueueUrl",
        "JobsQueueArn",
        "DeadLetterQueueUrl",
        "NoticesTopicArn",
        "JobsTableName",
        "IdempotencyTableName",
        "SubmitFunctionName",
        "ReconcileFunctionName",
    }


def test_every_lint_suppression_gives_its_reason() -> None:
    lines = TEMPLATE.read_text(encoding="utf-8").splitlines()
    suppressed = 0
    for number, line in enumerate(lines):
        if line.strip() != "ignore_checks:":
            continue
        index = number + 1
        while index < len(lines) and lines[index].lstrip().startswith(("-", "#")):
            entry = lines[index].strip()
            if entry.startswith("-"):
                suppressed += 1
                reason_inline = "#" in entry
                reason_above = lines[index - 1].strip().startswith("#")
                assert reason_inline or reason_above, f"line {index + 1}: {entry}"
            index += 1
    assert suppressed > 0


def test_every_checkov_skip_gives_its_reason() -> None:
    skips = [
        skip
        for body in load_template()["Resources"].values()
        for skip in body.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for skip in skips:
        assert re.fullmatch(r"CKV_AWS_\d+", skip["id"])
        assert len(skip.get("comment", "")) > 20, skip["id"]


def alarm_on(namespace: str, metric: str, dimension: str = "") -> dict[str, Any]:
    """The one alarm on this metric (whose dimensions mention ``dimension``)."""
    alarm: dict[str, Any]
    (alarm,) = [
        body["Properties"]
        for body in load_template()["Resources"].values()
        if body["Type"] == "AWS::CloudWatch::Alarm"
        and body["Properties"]["Namespace"] == namespace
        and body["Properties"]["MetricName"] == metric
        and dimension in json.dumps(body["Properties"]["Dimensions"])
    ]
    return alarm


def test_an_alarm_fires_when_a_request_reaches_the_dead_letter_queue() -> None:
    alarm = alarm_on("AWS/SQS", "ApproximateNumberOfMessagesVisible", '"JobsDeadLetterQueue"')
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_an_alarm_fires_when_the_reconciler_keeps_failing() -> None:
    alarm = alarm_on("AWS/Lambda", "Errors")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ReconcileFunction"}}]


def test_an_alarm_watches_the_stuck_jobs_metric_the_sweep_emits() -> None:
    from jobctl.observability import NAMESPACE, SERVICE

    alarm = alarm_on(NAMESPACE, "JobsStuck")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": SERVICE}]
    assert 'count("JobsStuck"' in (ROOT / "src/jobctl/logic/reconciliation.py").read_text()


@pytest.mark.parametrize(
    ("sample", "matched"),
    [
        ("training-state-change-inprogress.json", False),
        ("training-state-change-completed.json", True),
        ("training-state-change-failed.json", True),
    ],
)
def test_terminal_only_tracking_matches_outcomes_alone(sample: str, matched: bool) -> None:
    patterns = event_patterns(parameters={"TrackingMode": "terminal"})
    event = load_event(sample)
    assert any(rule_matches(p, event) for p in patterns) is matched
    assert "TRACKING_MODE" in function_variables("ReconcileFunction")


def test_an_alarm_fires_when_a_sweep_step_keeps_failing() -> None:
    # A failing step no longer fails the sweep (each step is isolated): the metric tells.
    alarm = alarm_on("jobctl", "SweepStepsFailed")
    assert (alarm["EvaluationPeriods"], alarm["Threshold"]) == (3, 0)
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "jobctl"}]
