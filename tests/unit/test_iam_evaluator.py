"""The policy evaluator the IAM tests rely on (tests/support/iam.py) follows IAM's rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.iam import Decision, Request, Unsupported, arn_like, decide

ROLE = "arn:aws:iam::123456789012:role/app"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:jobs"


def allow(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": QUEUE, **extra}


def deny(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": "*", **extra}


def test_an_explicit_deny_wins_over_any_allow() -> None:
    request = Request("sqs:SendMessage", QUEUE, ROLE)
    assert decide(request, [allow()]) is Decision.ALLOW
    assert decide(request, [allow()], [deny()]) is Decision.EXPLICIT_DENY


def test_nothing_allowed_is_implicitly_denied() -> None:
    request = Request("sqs:ReceiveMessage", QUEUE, ROLE)
    assert decide(request, [allow()]) is Decision.IMPLICIT_DENY


def test_actions_match_case_insensitively_with_wildcards() -> None:
    statement = allow(Action="SQS:Send*")
    assert decide(Request("sqs:SendMessageBatch", QUEUE, ROLE), [statement]) is Decision.ALLOW
    assert decide(Request("sqs:ReceiveMessage", QUEUE, ROLE), [statement]) is Decision.IMPLICIT_DENY


def test_arn_wildcards_stay_within_their_segment() -> None:
    assert arn_like("arn:aws:iam::123456789012:role/a/b", "arn:aws:iam::123456789012:role/*")
    assert not arn_like("arn:aws:iam::123456789012:role/a", "arn:aws:iam::*")
    assert not arn_like("arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:user/*")


@pytest.mark.parametrize(
    ("operator", "present", "missing"),
    [
        ("StringEquals", True, False),
        ("StringNotEquals", False, True),
        ("StringEqualsIfExists", True, True),
        ("ArnLike", True, False),
        ("ArnNotLike", False, True),
    ],
)
def test_a_missing_key_fails_positive_operators_and_satisfies_negated_ones(
    operator: str, present: bool, missing: bool
) -> None:
    value = ROLE if operator.startswith("Arn") else "x"
    statement = allow(Condition={operator: {"aws:PrincipalArn": value}})
    with_key = Request("sqs:SendMessage", QUEUE, ROLE, context={"aws:PrincipalArn": value})
    without_key = Request("sqs:SendMessage", QUEUE, service="sns.amazonaws.com")
    assert (decide(with_key, [statement]) is Decision.ALLOW) is present
    resource_statement = {**statement, "Principal": "*"}
    assert (decide(without_key, resource=[resource_statement]) is Decision.ALLOW) is missing


def test_every_condition_of_a_statement_must_hold() -> None:
    statement = allow(
        Condition={
            "StringEquals": {"aws:RequestTag/team": "a", "aws:RequestTag/env": "prod"},
            "Bool": {"aws:SecureTransport": "true"},
        }
    )
    both = {"aws:RequestTag/team": "a", "aws:RequestTag/env": "prod"}
    assert decide(Request("sqs:SendMessage", QUEUE, ROLE, context=both), [statement]) is (
        Decision.ALLOW
    )
    one = {"aws:RequestTag/team": "a"}
    assert decide(Request("sqs:SendMessage", QUEUE, ROLE, context=one), [statement]) is (
        Decision.IMPLICIT_DENY
    )


def test_condition_key_names_are_case_insensitive_but_values_are_not() -> None:
    statement = allow(Condition={"StringEquals": {"AWS:RequestTag/team": "a"}})
    lower = Request("sqs:SendMessage", QUEUE, ROLE, context={"aws:requesttag/team": "a"})
    upper = Request("sqs:SendMessage", QUEUE, ROLE, context={"aws:requesttag/team": "A"})
    assert decide(lower, [statement]) is Decision.ALLOW
    assert decide(upper, [statement]) is Decision.IMPLICIT_DENY


def test_a_resource_policy_statement_needs_its_principal() -> None:
    statement = {**allow(), "Principal": {"Service": "sns.amazonaws.com"}}
    assert decide(
        Request("sqs:SendMessage", QUEUE, service="sns.amazonaws.com"), resource=[statement]
    ) is (Decision.ALLOW)
    assert decide(Request("sqs:SendMessage", QUEUE, ROLE), resource=[statement]) is (
        Decision.IMPLICIT_DENY
    )


@pytest.mark.parametrize(
    "statement",
    [
        allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "a"}}),
        allow(Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
        allow(NotAction="sqs:DeleteQueue"),
    ],
    ids=["for-any-value", "numeric", "not-action"],
)
def test_policy_language_it_does_not_implement_is_refused_not_guessed(
    statement: dict[str, Any],
) -> None:
    with pytest.raises(Unsupported):
        decide(Request("sqs:SendMessage", QUEUE, ROLE), [statement])
