"""What template.yaml's policies allow and deny, evaluated (tests/support/iam.py) for a
sample deployment (tests/support/deployment.py), not looked for as strings.

- The functions stop and tag only this deployment's SageMaker jobs, and create only
  jobs that carry its tag; both may describe any job.
- The optional sender, subscriber, protocol and reader lists are enforced by Deny
  statements in the resources' own policies, so they hold against IAM permissions; with
  the lists empty (the default) those statements are not made.
- SNS may use the notices key only for this account's notices topic.

No AWS, no network.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest

from jobctl.logic.requests import DEPLOYMENT_TAG_KEY, ownership_tags
from tests.support.deployment import ACCOUNT, DEPLOYMENT_ID, REGION, STACK_ID, Deployment
from tests.support.iam import Decision, Request, allowed, decide
from tests.support.template import load_template

OTHER_DEPLOYMENT = "9d8c7b6a-0000-4111-8222-333344445555"
FUNCTIONS = ("SubmitFunction", "ReconcileFunction")
JOB_KINDS = {"TrainingJob": "training-job", "AutoMLJob": "automl-job"}
STOPS = {"TrainingJob": "sagemaker:StopTrainingJob", "AutoMLJob": "sagemaker:StopAutoMLJob"}
CREATES = {
    "TrainingJob": "sagemaker:CreateTrainingJob",
    "AutoMLJob": "sagemaker:CreateAutoMLJob",
}
DESCRIBES = {
    "TrainingJob": "sagemaker:DescribeTrainingJob",
    "AutoMLJob": "sagemaker:DescribeAutoMLJob",
}
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
MALLORY = f"arn:aws:iam::{ACCOUNT}:user/mallory"
PRODUCER = f"arn:aws:iam::{ACCOUNT}:role/producers/nightly-retrain"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/jobctl-operator"


def deployment(**parameters: str) -> Deployment:
    return Deployment(
        parameters={"DefaultRoleArn": f"arn:aws:iam::{ACCOUNT}:role/sm", **parameters}
    )


def job_arn(job_type: str, name: str = "churn-1") -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{JOB_KINDS[job_type]}/{name}"


def deployment_tag(value: str | None) -> dict[str, str]:
    return {} if value is None else {f"aws:ResourceTag/{DEPLOYMENT_TAG_KEY}": value}


def request_tag(value: str | None) -> dict[str, str]:
    return {} if value is None else {f"aws:RequestTag/{DEPLOYMENT_TAG_KEY}": value}


def function_may(stack: Deployment, function: str, request: Request) -> bool:
    """Whether a function's role may make ``request`` (SageMaker has no resource policies)."""
    as_function = Request(
        request.action, request.resource, stack.role_arn(function), context=request.context
    )
    return allowed(as_function, identity=stack.role_statements(function))


def iam_allows(action: str, resource: str = "*") -> list[dict[str, Any]]:
    """An identity policy that allows ``action``: what the principals of these tests hold,
    so that only the resource policies can refuse them."""
    return [{"Effect": "Allow", "Action": action, "Resource": resource}]


# -- SageMaker: the functions reach only this deployment's jobs -----------------------------


@pytest.mark.parametrize("job_type", JOB_KINDS)
def test_submit_may_stop_a_job_tagged_with_this_deployment(job_type: str) -> None:
    stack = deployment()
    stop = Request(STOPS[job_type], job_arn(job_type), context=deployment_tag(DEPLOYMENT_ID))
    assert function_may(stack, "SubmitFunction", stop)


@pytest.mark.parametrize("job_type", JOB_KINDS)
@pytest.mark.parametrize("tag", [OTHER_DEPLOYMENT, None, ""], ids=["other", "untagged", "empty"])
def test_submit_may_not_stop_a_job_of_another_deployment_or_an_untagged_one(
    job_type: str, tag: str | None
) -> None:
    stop = Request(STOPS[job_type], job_arn(job_type), context=deployment_tag(tag))
    assert not function_may(deployment(), "SubmitFunction", stop)


@pytest.mark.parametrize("job_type", JOB_KINDS)
def test_submit_may_create_a_job_carrying_this_deployments_tag(job_type: str) -> None:
    stack = deployment()
    tags = request_tag(DEPLOYMENT_ID)
    assert function_may(
        stack, "SubmitFunction", Request(CREATES[job_type], job_arn(job_type), context=tags)
    )
    assert function_may(
        stack, "SubmitFunction", Request("sagemaker:AddTags", job_arn(job_type), context=tags)
    )


@pytest.mark.parametrize("job_type", JOB_KINDS)
@pytest.mark.parametrize("tag", [OTHER_DEPLOYMENT, None], ids=["other", "no-tag"])
def test_submit_may_not_create_or_tag_a_job_without_this_deployments_tag(
    job_type: str, tag: str | None
) -> None:
    stack = deployment()
    for action in (CREATES[job_type], "sagemaker:AddTags"):
        request = Request(action, job_arn(job_type), context=request_tag(tag))
        assert not function_may(stack, "SubmitFunction", request), action


@pytest.mark.parametrize("job_type", JOB_KINDS)
def test_submit_may_not_retag_another_deployments_job_as_its_own(job_type: str) -> None:
    retag = Request(
        "sagemaker:AddTags",
        job_arn(job_type),
        context={**request_tag(DEPLOYMENT_ID), **deployment_tag(OTHER_DEPLOYMENT)},
    )
    assert not function_may(deployment(), "SubmitFunction", retag)


def test_the_tags_jobctl_creates_jobs_with_satisfy_the_create_policy() -> None:
    """The controller's own ownership tags (src) are what the policy asks for."""
    stack = deployment()
    tags = {
        f"aws:RequestTag/{t['Key']}": t["Value"]
        for t in ownership_tags(DEPLOYMENT_ID, "r-1", "a-job")
    }
    for job_type in JOB_KINDS:
        for action in (CREATES[job_type], "sagemaker:AddTags"):
            assert function_may(
                stack, "SubmitFunction", Request(action, job_arn(job_type), context=tags)
            )


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize("tag", [DEPLOYMENT_ID, OTHER_DEPLOYMENT, None])
def test_both_functions_may_describe_any_job_and_read_its_tags(
    function: str, tag: str | None
) -> None:
    """Describe and ListTags are not tag-conditioned: a same-named job of someone else's
    must be seen to be refused."""
    stack = deployment()
    for job_type in JOB_KINDS:
        for action in (DESCRIBES[job_type], "sagemaker:ListTags"):
            request = Request(action, job_arn(job_type), context=deployment_tag(tag))
            assert function_may(stack, function, request), action


@pytest.mark.parametrize("tag", [DEPLOYMENT_ID, OTHER_DEPLOYMENT, None])
def test_reconcile_may_not_create_or_tag_any_job_and_stops_only_its_own_training_jobs(
    tag: str | None,
) -> None:
    """It stops training jobs it preempts (CONTRACT §10), only this deployment's; AutoML
    jobs are never preempted."""
    stack = deployment()
    context = {**deployment_tag(tag), **request_tag(tag)}
    for job_type in JOB_KINDS:
        for action in (CREATES[job_type], "sagemaker:AddTags"):
            request = Request(action, job_arn(job_type), context=context)
            assert not function_may(stack, "ReconcileFunction", request), action
    automl_stop = Request(STOPS["AutoMLJob"], job_arn("AutoMLJob"), context=context)
    assert not function_may(stack, "ReconcileFunction", automl_stop)
    training_stop = Request(STOPS["TrainingJob"], job_arn("TrainingJob"), context=context)
    assert function_may(stack, "ReconcileFunction", training_stop) is (tag == DEPLOYMENT_ID)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_function_may_reach_another_kind_of_sagemaker_resource(function: str) -> None:
    model = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/churn"
    for action in ("sagemaker:AddTags", "sagemaker:DescribeTrainingJob"):
        request = Request(action, model, context=request_tag(DEPLOYMENT_ID))
        assert not function_may(deployment(), function, request)


@pytest.mark.parametrize("function", FUNCTIONS)
@pytest.mark.parametrize(
    ("budgets", "reads"),
    [("auto", True), ("auto,ml.p4d.24xlarge=4", True), ("ml.p4d.24xlarge=4", False), ("", False)],
)
def test_only_automatic_budgets_may_read_the_accounts_quotas(
    function: str, budgets: str, reads: bool
) -> None:
    stack = deployment(InstanceTypeBudgets=budgets)
    for action in ("servicequotas:ListServiceQuotas", "servicequotas:ListAWSDefaultServiceQuotas"):
        assert function_may(stack, function, Request(action, "*")) is reads, action


def _condition_values(value: Any, key: str) -> list[Any]:
    """Every value the template compares condition key ``key`` with."""
    found: list[Any] = []
    if isinstance(value, dict):
        for name, item in value.items():
            if name == "Condition" and isinstance(item, dict):
                found += [block[key] for block in item.values() if key in block]
            found += _condition_values(item, key)
    elif isinstance(value, list):
        for item in value:
            found += _condition_values(item, key)
    return found


def test_the_tag_conditions_use_the_deployment_id_the_functions_are_told() -> None:
    """One expression, written the same everywhere, so the IAM conditions and the
    DEPLOYMENT_ID the code tags jobs with cannot drift apart."""
    template = load_template()
    expression = template["Globals"]["Function"]["Environment"]["Variables"]["DEPLOYMENT_ID"]
    assert expression == {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    assert deployment().resolve(expression) == DEPLOYMENT_ID == STACK_ID.split("/")[2]
    request_values = _condition_values(template, f"aws:RequestTag/{DEPLOYMENT_TAG_KEY}")
    resource_values = _condition_values(template, f"aws:ResourceTag/{DEPLOYMENT_TAG_KEY}")
    assert len(request_values) == 2  # the creates, and AddTags
    assert len(resource_values) == 3  # the stops of each function, and AddTags
    assert all(value == expression for value in request_values + resource_values)
    # The roles' path, by which the ledger's policy knows them, carries the same id.
    role_path = template["Globals"]["Function"]["RolePath"]
    assert role_path["Fn::Sub"][1] == {"DeploymentId": expression}
    ledger = template["Resources"]["JobsTable"]["Properties"]["ResourcePolicy"]["Fn::If"][1]
    (statement,) = ledger["PolicyDocument"]["Statement"]
    readers = statement["Condition"]["ArnNotLike"]["aws:PrincipalArn"]["Fn::Split"][1]
    assert readers["Fn::Sub"][1] == {"DeploymentId": expression}


# -- the jobs queue: RequestSenderArns --------------------------------------------------------


def queue_policy(stack: Deployment) -> list[dict[str, Any]]:
    return stack.policy_statements("QueuesTlsOnlyPolicy", "PolicyDocument")


def send(stack: Deployment, principal: str, **context: str) -> Request:
    return Request("sqs:SendMessage", stack.get_att("JobsQueue", "Arn"), principal, context=context)


def test_without_request_senders_iam_alone_decides_who_sends() -> None:
    stack = deployment()
    request = send(stack, MALLORY)
    assert allowed(request, iam_allows("sqs:SendMessage"), queue_policy(stack))
    assert not allowed(request, [], queue_policy(stack))  # the policy grants nothing


@pytest.mark.parametrize(
    "senders", [PRODUCER, f"{ALICE},{PRODUCER}", f"arn:aws:iam::{ACCOUNT}:role/producers/*"]
)
def test_a_named_sender_may_send_requests(senders: str) -> None:
    stack = deployment(RequestSenderArns=senders)
    assert allowed(send(stack, PRODUCER), iam_allows("sqs:SendMessage"), queue_policy(stack))


def test_a_sender_not_named_is_denied_even_with_iam_permission() -> None:
    stack = deployment(RequestSenderArns=f"{ALICE},arn:aws:iam::{ACCOUNT}:role/producers/*")
    decision = decide(send(stack, MALLORY), iam_allows("sqs:*"), queue_policy(stack))
    assert decision is Decision.EXPLICIT_DENY
    # A role is named by its own ARN, not by a look-alike prefix.
    look_alike = f"arn:aws:iam::{ACCOUNT}:role/producers-not/x"
    assert not allowed(send(stack, look_alike), iam_allows("sqs:*"), queue_policy(stack))


@pytest.mark.parametrize("function", ["SubmitFunction", "ReconcileFunction"])
def test_the_functions_may_still_send_admitted_jobs_requests_when_senders_are_named(
    function: str,
) -> None:
    stack = deployment(RequestSenderArns=ALICE)
    request = send(stack, stack.role_arn(function))
    assert allowed(request, stack.role_statements(function), queue_policy(stack))


def test_named_senders_must_still_use_tls() -> None:
    stack = deployment(RequestSenderArns=ALICE)
    plain = send(stack, ALICE, **{"aws:SecureTransport": "false"})
    assert (
        decide(plain, iam_allows("sqs:SendMessage"), queue_policy(stack)) is Decision.EXPLICIT_DENY
    )


def test_naming_senders_leaves_the_dead_letter_queues_alone() -> None:
    stack = deployment(RequestSenderArns=ALICE)
    for queue in ("JobsDeadLetterQueue", "ReconcileEventsDeadLetterQueue"):
        request = Request("sqs:SendMessage", stack.get_att(queue, "Arn"), MALLORY)
        assert allowed(request, iam_allows("sqs:SendMessage"), queue_policy(stack)), queue


# -- the notices topic: NoticeSubscriberArns, NoticeProtocols ---------------------------------


def topic_policy(stack: Deployment) -> list[dict[str, Any]]:
    return stack.policy_statements("NoticesTopicPolicy", "PolicyDocument")


def subscribe(stack: Deployment, principal: str, protocol: str) -> Request:
    return Request(
        "sns:Subscribe", stack.ref("NoticesTopic"), principal, context={"sns:Protocol": protocol}
    )


def may_subscribe(stack: Deployment, principal: str, protocol: str) -> bool:
    request = subscribe(stack, principal, protocol)
    return allowed(request, iam_allows("sns:Subscribe"), topic_policy(stack))


def test_without_subscriber_lists_iam_alone_decides_who_subscribes() -> None:
    stack = deployment()
    for protocol in ("sqs", "email", "http", "sms"):
        assert may_subscribe(stack, MALLORY, protocol)


def test_a_subscriber_not_named_is_denied_even_with_iam_permission() -> None:
    stack = deployment(NoticeSubscriberArns=f"{ALICE},{OPERATOR}")
    assert not may_subscribe(stack, MALLORY, "sqs")
    assert may_subscribe(stack, ALICE, "sqs")
    assert may_subscribe(stack, OPERATOR, "email")


def test_a_protocol_not_named_is_denied_even_to_a_named_subscriber() -> None:
    stack = deployment(NoticeSubscriberArns=ALICE, NoticeProtocols="sqs,lambda,https")
    assert may_subscribe(stack, ALICE, "sqs")
    assert may_subscribe(stack, ALICE, "https")
    for protocol in ("email", "http", "sms", "email-json"):
        assert not may_subscribe(stack, ALICE, protocol), protocol


def test_protocols_may_be_limited_without_naming_subscribers() -> None:
    stack = deployment(NoticeProtocols="sqs")
    assert may_subscribe(stack, MALLORY, "sqs")
    assert not may_subscribe(stack, MALLORY, "email")


def test_naming_subscribers_does_not_stop_the_functions_publishing() -> None:
    stack = deployment(NoticeSubscriberArns=ALICE, NoticeProtocols="sqs")
    for function in FUNCTIONS:
        publish = Request("sns:Publish", stack.ref("NoticesTopic"), stack.role_arn(function))
        assert allowed(publish, stack.role_statements(function), topic_policy(stack)), function


# -- the ledger: LedgerReaderArns -------------------------------------------------------------

READS = (
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PartiQLSelect",
)


def ledger_policy(stack: Deployment) -> list[dict[str, Any]]:
    return stack.policy_statements("JobsTable", "ResourcePolicy", "PolicyDocument")


def ledger_resources(stack: Deployment) -> list[str]:
    table = stack.get_att("JobsTable", "Arn")
    return [table, f"{table}/index/status-index", f"{table}/index/in-flight-index"]


def test_without_ledger_readers_the_table_has_no_resource_policy() -> None:
    stack = deployment()
    assert "ResourcePolicy" not in stack.resolve(stack.resource("JobsTable")["Properties"])
    query = Request("dynamodb:Query", stack.get_att("JobsTable", "Arn"), MALLORY)
    assert allowed(query, iam_allows("dynamodb:Query"), ledger_policy(stack))


@pytest.mark.parametrize("action", READS)
def test_a_reader_not_named_is_denied_every_read_of_table_and_indexes(action: str) -> None:
    stack = deployment(LedgerReaderArns=f"{ALICE},{OPERATOR}")
    for resource in ledger_resources(stack):
        request = Request(action, resource, MALLORY)
        decision = decide(request, iam_allows("dynamodb:*"), ledger_policy(stack))
        assert decision is Decision.EXPLICIT_DENY, resource


@pytest.mark.parametrize("reader", [ALICE, OPERATOR])
def test_a_named_reader_may_read_the_ledger(reader: str) -> None:
    stack = deployment(LedgerReaderArns=f"{ALICE},{OPERATOR}")
    for action in READS:
        for resource in ledger_resources(stack):
            request = Request(action, resource, reader)
            assert allowed(request, iam_allows("dynamodb:*"), ledger_policy(stack)), action


@pytest.mark.parametrize("function", FUNCTIONS)
def test_both_functions_keep_their_ledger_access_when_readers_are_named(function: str) -> None:
    stack = deployment(LedgerReaderArns=ALICE)
    role = stack.role_arn(function)
    actions = ("dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem")
    for action in actions:
        for resource in ledger_resources(stack):
            request = Request(action, resource, role)
            assert allowed(request, stack.role_statements(function), ledger_policy(stack)), action


def test_a_role_outside_this_deployments_path_is_not_taken_for_a_function() -> None:
    """The functions are exempt by their roles' path, which carries this deployment's id:
    a role of another deployment (or named alike) is not."""
    stack = deployment(LedgerReaderArns=ALICE)
    other = Deployment(
        parameters=stack.parameters, stack_id=STACK_ID.replace(DEPLOYMENT_ID, OTHER_DEPLOYMENT)
    )
    impostors = [
        other.role_arn("SubmitFunction"),
        f"arn:aws:iam::{ACCOUNT}:role/jobctl-SubmitFunctionRole-1A2B3C4D5E6F",
    ]
    for role in impostors:
        query = Request("dynamodb:Query", stack.get_att("JobsTable", "Arn"), role)
        assert not allowed(query, iam_allows("dynamodb:*"), ledger_policy(stack)), role


def test_ledger_readers_do_not_govern_writes() -> None:
    stack = deployment(LedgerReaderArns=ALICE)
    put = Request("dynamodb:PutItem", stack.get_att("JobsTable", "Arn"), OPERATOR)
    assert allowed(put, iam_allows("dynamodb:PutItem"), ledger_policy(stack))


# -- the notices key: SNS, for this topic of this account only ---------------------------------


def key_policy(stack: Deployment) -> list[dict[str, Any]]:
    return stack.policy_statements("NoticesKey", "KeyPolicy")


def sns_uses_key(stack: Deployment, action: str, **context: str) -> Request:
    return Request(
        action, stack.get_att("NoticesKey", "Arn"), service="sns.amazonaws.com", context=context
    )


@pytest.mark.parametrize("action", ["kms:GenerateDataKey", "kms:Decrypt"])
def test_sns_may_use_the_key_for_the_notices_topic_of_this_account(action: str) -> None:
    stack = deployment()
    # The topic's ARN as deployed (from its own TopicName), not the key policy's copy.
    topic = stack.ref("NoticesTopic")
    request = sns_uses_key(stack, action, **{"aws:SourceAccount": ACCOUNT, "aws:SourceArn": topic})
    assert allowed(request, resource=key_policy(stack))


@pytest.mark.parametrize(
    "context",
    [
        {
            "aws:SourceAccount": ACCOUNT,
            "aws:SourceArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:other-topic",
        },
        {
            "aws:SourceAccount": "210987654321",
            "aws:SourceArn": f"arn:aws:sns:{REGION}:210987654321:jobctl-notices",
        },
        {"aws:SourceArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:jobctl-notices"},
        {"aws:SourceAccount": ACCOUNT},
        {},
    ],
    ids=["other-topic", "other-account", "no-account", "no-topic", "neither"],
)
def test_sns_may_not_use_the_key_for_another_topic_or_account(context: dict[str, str]) -> None:
    stack = deployment()
    assert not allowed(sns_uses_key(stack, "kms:Decrypt", **context), resource=key_policy(stack))


def test_the_account_still_administers_the_key() -> None:
    stack = deployment()
    admin = Request(
        "kms:PutKeyPolicy", stack.get_att("NoticesKey", "Arn"), f"arn:aws:iam::{ACCOUNT}:role/admin"
    )
    assert allowed(admin, resource=key_policy(stack))


# -- every condition is load-bearing -----------------------------------------------------------


def _without_condition(template: dict[str, Any], sid: str) -> dict[str, Any]:
    """The template with the Condition of the statement ``sid`` removed (wherever it is)."""
    mutated = copy.deepcopy(template)
    removed = []

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("Sid") == sid and "Condition" in value:
                removed.append(value.pop("Condition"))
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(mutated)
    assert len(removed) == 1, sid
    return mutated


NAMED = {
    "RequestSenderArns": ALICE,
    "NoticeSubscriberArns": ALICE,
    "NoticeProtocols": "sqs",
    "LedgerReaderArns": ALICE,
}


def _forbidden(stack: Deployment, sid: str) -> bool:
    """Whether the request that statement ``sid`` exists to refuse gets through."""
    training = job_arn("TrainingJob")
    checks: dict[str, Callable[[], bool]] = {
        "StopOnlyThisDeploymentsJobs": lambda: function_may(
            stack,
            "SubmitFunction",
            Request(STOPS["TrainingJob"], training, context=deployment_tag(OTHER_DEPLOYMENT)),
        ),
        "StopOnlyThisDeploymentsPreemptedJobs": lambda: function_may(
            stack,
            "ReconcileFunction",
            Request(STOPS["TrainingJob"], training, context=deployment_tag(OTHER_DEPLOYMENT)),
        ),
        "CreateOnlyThisDeploymentsJobs": lambda: function_may(
            stack, "SubmitFunction", Request(CREATES["TrainingJob"], training)
        ),
        "TagOnlyAsThisDeployment": lambda: function_may(
            stack, "SubmitFunction", Request("sagemaker:AddTags", training)
        ),
        "OnlyNamedSendersSendRequests": lambda: allowed(
            send(stack, MALLORY), iam_allows("sqs:SendMessage"), queue_policy(stack)
        ),
        "OnlyNamedPrincipalsSubscribe": lambda: may_subscribe(stack, MALLORY, "sqs"),
        "OnlyNamedProtocolsSubscribe": lambda: may_subscribe(stack, ALICE, "email"),
        "OnlyNamedPrincipalsReadTheLedger": lambda: allowed(
            Request("dynamodb:Query", stack.get_att("JobsTable", "Arn"), MALLORY),
            iam_allows("dynamodb:Query"),
            ledger_policy(stack),
        ),
        "SnsUsesTheKey": lambda: allowed(
            sns_uses_key(
                stack, "kms:Decrypt", **{"aws:SourceArn": "arn:aws:sns:us-east-1:210987654321:x"}
            ),
            resource=key_policy(stack),
        ),
    }
    return checks[sid]()


@pytest.mark.parametrize(
    "sid",
    [
        "StopOnlyThisDeploymentsJobs",
        "StopOnlyThisDeploymentsPreemptedJobs",
        "CreateOnlyThisDeploymentsJobs",
        "TagOnlyAsThisDeployment",
        "OnlyNamedSendersSendRequests",
        "OnlyNamedPrincipalsSubscribe",
        "OnlyNamedProtocolsSubscribe",
        "OnlyNamedPrincipalsReadTheLedger",
        "SnsUsesTheKey",
    ],
)
def test_removing_any_condition_changes_what_its_statement_decides(sid: str) -> None:
    """Each condition removed in turn: an Allow then admits the request it exists to
    refuse, a Deny then refuses the principals it exists to admit. No condition is
    decoration, and the tests above see each one go."""
    as_written = deployment(**NAMED)
    assert not _forbidden(as_written, sid)
    mutated = Deployment(
        parameters=as_written.parameters, template=_without_condition(load_template(), sid)
    )
    if _effect_of(sid) == "Allow":
        assert _forbidden(mutated, sid)
    else:
        assert _refuses_everyone(mutated, sid)


def _effect_of(sid: str) -> str:
    found: list[str] = []

    def visit(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("Sid") == sid:
                found.append(value["Effect"])
            for item in value.values():
                visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(load_template())
    (effect,) = found
    return effect


def _refuses_everyone(stack: Deployment, sid: str) -> bool:
    """A Deny whose condition is gone refuses even the principals it should admit."""
    if sid == "OnlyNamedSendersSendRequests":
        return not allowed(send(stack, ALICE), iam_allows("sqs:SendMessage"), queue_policy(stack))
    if sid == "OnlyNamedPrincipalsSubscribe":
        return not may_subscribe(stack, ALICE, "sqs")
    if sid == "OnlyNamedProtocolsSubscribe":
        return not may_subscribe(stack, ALICE, "sqs")
    if sid == "OnlyNamedPrincipalsReadTheLedger":
        query = Request("dynamodb:Query", stack.get_att("JobsTable", "Arn"), ALICE)
        return not allowed(query, iam_allows("dynamodb:Query"), ledger_policy(stack))
    raise AssertionError(sid)


# -- the parameters ----------------------------------------------------------------------------

PRINCIPAL_LISTS = ("RequestSenderArns", "NoticeSubscriberArns", "LedgerReaderArns")


@pytest.mark.parametrize("parameter", PRINCIPAL_LISTS)
@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        (ALICE, True),
        (f"{ALICE},{PRODUCER}", True),
        (f"arn:aws:iam::{ACCOUNT}:role/producers/*", True),
        (f"arn:aws:iam::{ACCOUNT}:root", True),
        (f"arn:aws:sts::{ACCOUNT}:federated-user/bob", True),
        (f"arn:aws-us-gov:iam::{ACCOUNT}:role/x", True),
        (f"{ALICE}, {PRODUCER}", False),
        (f"{ALICE},", False),
        # IAM reports a role's ARN as aws:PrincipalArn, never a session's.
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/alice", False),
        ("arn:aws:iam::*:role/x", False),
        ("*", False),
        ("alice", False),
    ],
)
def test_principal_list_parameters_accept_principal_arns_only(
    parameter: str, value: str, accepted: bool
) -> None:
    spec = load_template()["Parameters"][parameter]
    assert spec["Default"] == ""
    assert bool(re.fullmatch(spec["AllowedPattern"], value)) is accepted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("sqs", True),
        ("sqs,lambda,https,email", True),
        ("email-json,firehose,application,sms,http", True),
        ("SQS", False),
        ("sqs, email", False),
        ("carrier-pigeon", False),
    ],
)
def test_notice_protocols_accept_sns_protocols_only(value: str, accepted: bool) -> None:
    spec = load_template()["Parameters"]["NoticeProtocols"]
    assert spec["Default"] == ""
    assert bool(re.fullmatch(spec["AllowedPattern"], value)) is accepted


@pytest.mark.parametrize(
    ("parameter", "logical_id", "sid"),
    [
        ("RequestSenderArns", "QueuesTlsOnlyPolicy", "OnlyNamedSendersSendRequests"),
        ("NoticeSubscriberArns", "NoticesTopicPolicy", "OnlyNamedPrincipalsSubscribe"),
        ("NoticeProtocols", "NoticesTopicPolicy", "OnlyNamedProtocolsSubscribe"),
    ],
)
def test_an_empty_list_leaves_its_statement_out(parameter: str, logical_id: str, sid: str) -> None:
    document = ("PolicyDocument",)
    empty = [s.get("Sid") for s in deployment().policy_statements(logical_id, *document)]
    named = [
        s.get("Sid")
        for s in deployment(**{parameter: NAMED[parameter]}).policy_statements(
            logical_id, *document
        )
    ]
    assert sid not in empty
    assert sid in named
    assert set(named) - {sid} == set(empty)
