"""Request rules (docs/contract.md §3, §7): parsing, names, spec against botocore's model, roles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobctl.errors import InvalidRequest
from jobctl.logic.requests import (
    DEPLOYMENT_TAG_KEY,
    OWNER_TAG_KEY,
    REQUEST_TAG_KEY,
    create_params,
    is_ours,
    request_tag,
)
from jobctl.models.kinds import JobType
from jobctl.models.requests import UnreadableRequest, derive_job_name, parse_request
from tests.support.environment import DEFAULT_ROLE, DEPLOYMENT_ID, OTHER_ROLE
from tests.support.requests import request_body

PERMITTED = frozenset({DEFAULT_ROLE, OTHER_ROLE})
SECRET = "s3cr3t-value-that-must-not-leak"


def params_for(body: dict[str, Any]) -> dict[str, Any]:
    return create_params(parse_request(json.dumps(body)), DEFAULT_ROLE, PERMITTED, DEPLOYMENT_ID)


def problems_for(body: dict[str, Any]) -> list[str]:
    with pytest.raises(InvalidRequest) as caught:
        params_for(body)
    return caught.value.problems


def unreadable(body: str) -> UnreadableRequest:
    with pytest.raises(UnreadableRequest) as caught:
        parse_request(body)
    return caught.value


def test_a_valid_training_request_becomes_create_training_job_params_with_environment() -> None:
    body = request_body()
    params = params_for(body)
    assert params["TrainingJobName"] == body["job_name"]
    assert params["Environment"] == body["spec"]["Environment"]
    assert params["RoleArn"] == DEFAULT_ROLE
    assert {"Key": OWNER_TAG_KEY, "Value": "jobctl"} in params["Tags"]
    assert {"Key": DEPLOYMENT_TAG_KEY, "Value": DEPLOYMENT_ID} in params["Tags"]
    assert {"Key": REQUEST_TAG_KEY, "Value": request_tag(body["request_id"])} in params["Tags"]


def test_a_job_is_ours_only_with_this_deployments_tag_and_this_requests_tag() -> None:
    tags = {t["Key"]: t["Value"] for t in params_for(request_body())["Tags"]}
    assert is_ours(tags, DEPLOYMENT_ID, "demo-train-1")
    assert not is_ours(tags, "another-stack", "demo-train-1")
    assert not is_ours(tags, DEPLOYMENT_ID, "another-request")
    assert not is_ours({OWNER_TAG_KEY: "jobctl"}, DEPLOYMENT_ID, "demo-train-1")


def test_the_request_tag_fits_a_tag_value_whatever_the_request_id_holds() -> None:
    tag = request_tag("weird id: #1 ✓ " + "x" * 120)
    assert len(tag) == 32
    assert tag.isalnum()


def test_an_automl_request_becomes_create_auto_ml_job_v1_params() -> None:
    params = params_for(request_body("automl.json"))
    assert params["AutoMLJobName"] == "demo-autopilot-churn"
    assert "AutoMLProblemTypeConfig" not in params  # that is the V2 API


def test_request_id_defaults_to_job_name() -> None:
    request = parse_request(json.dumps(request_body(request_id=None)))
    assert request.request_id == request.job_name


def test_a_missing_name_is_derived_deterministically_from_request_id() -> None:
    body = request_body(job_name=None, request_id="nightly/churn 2026-11-26")
    first, again = parse_request(json.dumps(body)), parse_request(json.dumps(body))
    assert first.job_name == again.job_name
    assert first.name.startswith("nightly-churn-2026-11-26-")
    assert not first.name_given


@pytest.mark.parametrize("request_id", ["x" * 128, "ünïcödé only", "---", "a"])
@pytest.mark.parametrize(("job_type", "limit"), [("TrainingJob", 63), ("AutoMLJob", 32)])
def test_derived_names_always_satisfy_sagemaker_name_rules(
    request_id: str, job_type: JobType, limit: int
) -> None:
    name = derive_job_name(job_type, request_id)
    assert len(name) <= limit
    assert parse_request(json.dumps({"job_type": job_type, "job_name": name, "spec": {}}))


def test_neither_job_name_nor_request_id_is_rejected() -> None:
    bad = unreadable(json.dumps(request_body(job_name=None, request_id=None)))
    assert bad.problems == ["job_name or request_id: one of the two is required"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"job_type": "ProcessingJob"}, "job_type: Input should be 'TrainingJob' or 'AutoMLJob'"),
        ({"job_name": "bad_name!"}, "job_name: String should match pattern"),
        ({"job_name": "a" * 64}, "job_name: at most 63 characters"),
        ({"request_id": "r" * 129}, "request_id: String should have at most 128 characters"),
        ({"action": "restart"}, "action: Input should be 'submit', 'stop' or 'update'"),
        ({"priority": 10_000}, "priority: Input should be less than or equal to 9999"),
        ({"priority": -1}, "priority: Input should be greater than or equal to 0"),
        ({"priority": "5"}, "priority: Input should be a valid integer"),
        ({"priority": 5.0}, "priority: Input should be a valid integer"),
        ({"priority": True}, "priority: Input should be a valid integer"),
        ({"share": "a b"}, "share: String should match pattern"),
        ({"share": "x" * 65}, "share: String should match pattern"),
        ({"share": 7}, "share: Input should be a valid string"),
        ({"retry_policy": {}}, "retry_policy: unknown field"),
        ({"spec": None}, "spec: required when action is submit"),
        ({"spec": ["not", "an", "object"]}, "spec: Input should be a valid dictionary"),
    ],
)
def test_envelope_problems_are_named(changes: dict[str, Any], expected: str) -> None:
    body = {**request_body(), **changes}
    body = {k: v for k, v in body.items() if v is not None}
    assert any(p.startswith(expected) for p in unreadable(json.dumps(body)).problems)


def test_automl_names_are_limited_to_32_characters() -> None:
    body = request_body("automl.json", job_name="a" * 33)
    assert (
        "job_name: at most 32 characters for job_type AutoMLJob"
        in unreadable(json.dumps(body)).problems
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{not json", "body: not valid JSON"),
        ("[1, 2]", "body: must be a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "body: JSON nested too deeply"),
        ('{"n": 1' + "0" * 5000 + "}", "body: not valid JSON"),
    ],
)
def test_unreadable_bodies_are_named(body: str, expected: str) -> None:
    assert unreadable(body).problems[0].startswith(expected)


def test_an_invalid_request_keeps_its_usable_identity_for_the_ledger_key() -> None:
    bad = unreadable(json.dumps({**request_body(), "action": "explode"}))
    assert (bad.job_type, bad.job_name, bad.request_id) == (
        "TrainingJob",
        "demo-xgboost-churn",
        "demo-train-1",
    )


def test_every_spec_problem_is_named_at_once() -> None:
    problems = problems_for(request_body("invalid.json"))
    assert "spec.OutputDataConfig: required parameter missing" in problems
    assert "spec.InstanceType: unknown parameter" in problems
    assert any(p.startswith("spec.Environment (key: 1-BAD-KEY): does not match") for p in problems)


def spec_with(**changes: Any) -> dict[str, Any]:
    body = request_body()
    body["spec"] = {**body["spec"], **changes}
    return body


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"Environment": {f"K{i}": "v" for i in range(101)}},
            "spec.Environment: more than 100 entries",
        ),
        (
            {"Environment": {"TOKEN": SECRET * 20}},
            "spec.Environment.TOKEN: longer than the maximum length 512",
        ),
        (
            {"HyperParameters": {f"h{i}": "1" for i in range(101)}},
            "spec.HyperParameters: more than 100 entries",
        ),
        (
            {"HyperParameters": {"depth": 5}},
            "spec.HyperParameters.depth: wrong type (expected str)",
        ),
        (
            {
                "ResourceConfig": {
                    "InstanceType": "ml.m5.xlarge",
                    "InstanceCount": "1",
                    "VolumeSizeInGB": 10,
                }
            },
            "spec.ResourceConfig.InstanceCount: wrong type (expected int)",
        ),
        (
            {"StoppingCondition": {"MaxRuntimeInSeconds": 0}},
            "spec.StoppingCondition.MaxRuntimeInSeconds: below the minimum 1",
        ),
        ({"Tags": [{"Key": "team", "Value": "x"}] * 50}, "spec.Tags: at most 46 tags"),
        (
            {"TrainingJobName": "sneaky"},
            "spec.TrainingJobName: not allowed, give the name as job_name",
        ),
        (
            {"Tags": [{"Key": "jobctl:managed-by", "Value": "jobctl"}]},
            "spec.Tags: keys starting with jobctl: are reserved",
        ),
    ],
)
def test_spec_constraints_from_the_service_model_are_enforced(
    changes: dict[str, Any], expected: str
) -> None:
    assert any(problem.startswith(expected) for problem in problems_for(spec_with(**changes)))


def test_problems_never_echo_secret_values() -> None:
    problems = problems_for(
        spec_with(Environment={"TOKEN": SECRET * 20, "1BAD": SECRET}, HyperParameters={"k": 5})
    )
    assert problems
    assert SECRET not in " ".join(problems)


def test_a_role_outside_the_allow_list_is_rejected_naming_the_roles_allowed() -> None:
    rogue = "arn:aws:iam::123456789012:role/admin"
    (problem,) = [p for p in problems_for(spec_with(RoleArn=rogue)) if "RoleArn" in p]
    allowed = [DEFAULT_ROLE, *sorted(PERMITTED - {DEFAULT_ROLE})]
    assert problem == f"spec.RoleArn: not an allowed role; allowed: {', '.join(allowed)}"


def test_an_allowed_role_may_be_named() -> None:
    assert params_for(spec_with(RoleArn=OTHER_ROLE))["RoleArn"] == OTHER_ROLE


def test_stop_needs_only_type_and_name() -> None:
    request = parse_request(json.dumps(request_body("stop.json")))
    assert (request.action, request.request_id) == ("stop", "demo-xgboost-churn")


def test_a_request_may_bring_as_many_tags_as_the_contract_says_and_no_more() -> None:
    # Fault 9 of issue 16: the contract promised 47 while jobctl's own four left room for 46.
    def tags(n: int) -> list[dict[str, str]]:
        return [{"Key": f"team-{i}", "Value": "x"} for i in range(n)]

    allowed = params_for(request_body(spec={**request_body()["spec"], "Tags": tags(46)}))
    assert len(allowed["Tags"]) == 50
    problems = problems_for(request_body(spec={**request_body()["spec"], "Tags": tags(47)}))
    assert problems == [
        "spec.Tags: at most 46 tags (SageMaker allows 50 a job, and jobctl adds 4 of its own)"
    ]


@pytest.mark.parametrize("action", ["submit", "stop"])
def test_a_job_name_shaped_like_a_retrys_name_is_rejected(action: str) -> None:
    # Fault 7 of issue 16: a queue writer could take a job's next try's name.
    body = {**request_body(), "job_name": "victim-try2-1eea8f", "action": action}
    if action == "stop":
        body.pop("spec")
    problems = unreadable(json.dumps(body)).problems
    assert any(p.startswith("job_name: may not end like a retry's name") for p in problems)
    parse_request(json.dumps({**request_body(), "job_name": "victim-try2-model"}))  # not a try's
