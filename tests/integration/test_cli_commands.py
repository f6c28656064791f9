"""The CLI against the stack in moto, as a new user meets it: times and statuses it is
given, jobs that do not exist or have settled, dead letters named by a prefix, the roles
a stack allows, and output that keeps names whole and reasons as written."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import boto3
import pytest
from click.testing import CliRunner, Result

from jobctl_cli.cli import main
from tests.support.requests import request_body
from tests.support.stack import Stack

STRANGER_ROLE = "arn:aws:iam::123456789012:role/not-allowed"


@dataclass
class Queues:
    jobs: str
    dlq: str

    def messages(self, url: str) -> list[dict[str, Any]]:
        sqs = boto3.client("sqs")
        found: list[dict[str, Any]] = []
        while batch := sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0
        ).get("Messages", []):
            found.extend(dict(message) for message in batch)
            if len(found) > 50:
                break
        return list({m["MessageId"]: m for m in found}.values())

    def bodies(self, url: str) -> list[dict[str, Any]]:
        return [json.loads(m["Body"]) for m in self.messages(url)]


@pytest.fixture
def queues(stack: Stack) -> Queues:
    sqs = boto3.client("sqs")
    return Queues(
        jobs=sqs.create_queue(QueueName="jobctl-jobs")["QueueUrl"],
        dlq=sqs.create_queue(QueueName="jobctl-dlq")["QueueUrl"],
    )


@pytest.fixture
def jobctl(stack: Stack, queues: Queues) -> Any:
    resources = [
        *("--queue-url", queues.jobs, "--dlq-url", queues.dlq),
        *("--table", stack.settings.jobs_table, "--topic-arn", stack.settings.notices_topic_arn),
    ]

    def run(*args: str, stdin: str | None = None, columns: int | None = None) -> Result:
        env = {"COLUMNS": str(columns)} if columns else {}
        return CliRunner().invoke(main, [*resources, *args], input=stdin, env=env)

    return run


def names(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return sorted(record["job_name"] for record in json.loads(result.output))


# -- list --since, --status ----------------------------------------------------------------


@pytest.fixture
def two_hours_apart(stack: Stack) -> datetime:
    """demo-xgboost-churn updated now, demo-autopilot-churn an hour and a half later."""
    stack.submit(request_body())
    first: datetime = stack.clock.now()
    stack.clock.advance(90 * 60)
    stack.submit(request_body("automl.json"))
    return first


def test_since_takes_an_age_instead_of_comparing_it_as_text(
    two_hours_apart: datetime, jobctl: Any
) -> None:
    both = ["demo-autopilot-churn", "demo-xgboost-churn"]
    assert names(jobctl("list", "--since", "2h", "--json")) == both
    assert names(jobctl("list", "--status", "InProgress", "--since", "7d", "--json")) == both


def test_since_compares_times_with_an_offset_as_utc(two_hours_apart: datetime, jobctl: Any) -> None:
    between = (two_hours_apart + timedelta(minutes=45)).astimezone(timezone(timedelta(hours=2)))
    given = between.isoformat(timespec="seconds")  # e.g. 2026-12-01T18:45:00+02:00
    assert names(jobctl("list", "--since", given, "--json")) == ["demo-autopilot-churn"]
    assert names(jobctl("list", "--status", "InProgress", "--since", given, "--json")) == [
        "demo-autopilot-churn"
    ]


def test_since_takes_a_date_alone(two_hours_apart: datetime, jobctl: Any) -> None:
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    assert names(jobctl("list", "--since", tomorrow, "--json")) == []


# -- watch ---------------------------------------------------------------------------------


def test_watch_of_a_job_that_does_not_exist_fails_instead_of_waiting(
    stack: Stack, jobctl: Any
) -> None:
    result = jobctl("watch", "no-such-job", "--interval", "0.05", "--appear-timeout", "0.2")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: no job named no-such-job in the ledger after 0.2 s "
        "(check the name with `jobctl list`)"
    )


def test_watch_names_the_one_job_missing_among_settled_ones(stack: Stack, jobctl: Any) -> None:
    stack.submit(request_body("invalid.json"))
    result = jobctl(
        "watch", "demo-invalid-request", "typo-job", "--interval", "0.05", "--appear-timeout", "0"
    )
    assert result.exit_code == 1
    assert "no job named typo-job in the ledger" in result.output


def test_watch_of_settled_jobs_ends_at_once_and_keeps_their_names(
    stack: Stack, jobctl: Any
) -> None:
    stack.submit(request_body("invalid.json"), request_body("invalid.json", job_name="li-b"))
    result = jobctl("watch", "demo-invalid-request", "li-b", "--interval", "0.05", columns=80)
    assert result.exit_code == 1  # Rejected is not Completed
    assert "demo-invalid-request" in result.output
    assert "li-b " in result.output
    assert "…" not in result.output


# -- stop ----------------------------------------------------------------------------------


def test_stop_of_a_settled_job_says_so_and_sends_nothing(
    stack: Stack, queues: Queues, jobctl: Any
) -> None:
    stack.submit(request_body("invalid.json"))
    result = jobctl("stop", "demo-invalid-request")
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())  # at any width
    assert "has already settled (Rejected): nothing to stop, no request sent" in said
    assert queues.bodies(queues.jobs) == []


def test_stop_of_a_name_the_ledger_does_not_hold_fails_locally(
    stack: Stack, queues: Queues, jobctl: Any
) -> None:
    result = jobctl("stop", "no-such-job")
    assert result.exit_code == 1
    assert "Error: no job named no-such-job in the ledger: nothing to stop" in result.output
    assert queues.bodies(queues.jobs) == []


def test_stop_with_no_check_sends_for_a_name_the_ledger_does_not_hold(
    stack: Stack, queues: Queues, jobctl: Any
) -> None:
    assert jobctl("stop", "no-such-job", "--no-check").exit_code == 1  # which type?
    result = jobctl("stop", "no-such-job", "--no-check", "--type", "TrainingJob")
    assert result.exit_code == 0, result.output
    assert queues.bodies(queues.jobs) == [
        {"job_type": "TrainingJob", "action": "stop", "job_name": "no-such-job"}
    ]


def test_stop_of_a_running_job_is_sent(stack: Stack, queues: Queues, jobctl: Any) -> None:
    stack.submit(request_body())
    result = jobctl("stop", "demo-xgboost-churn")
    assert result.exit_code == 0, result.output
    assert "stop requested for TrainingJob demo-xgboost-churn" in result.output
    assert queues.bodies(queues.jobs) == [
        {"job_type": "TrainingJob", "action": "stop", "job_name": "demo-xgboost-churn"}
    ]


# -- output: names whole, reasons as written -----------------------------------------------


@pytest.mark.parametrize("columns", [80, 120])
def test_list_keeps_names_types_and_statuses_whole(stack: Stack, jobctl: Any, columns: int) -> None:
    stack.submit(request_body(), request_body("automl.json"), request_body("invalid.json"))
    result = jobctl("list", columns=columns)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= columns
    for name in ("demo-xgboost-churn", "demo-autopilot-churn", "demo-invalid-request"):
        assert name in result.output
    for word in ("TrainingJob", "AutoMLJob", "InProgress", "Rejected"):
        assert word in result.output
    assert "…" not in result.output


def test_get_and_list_print_a_rejection_reason_with_its_brackets(stack: Stack, jobctl: Any) -> None:
    stack.submit(request_body("invalid.json"))
    record = json.loads(jobctl("get", "demo-invalid-request", "--json").output)
    reason = record["failure_reason"]
    assert "[a-zA-Z_]" in reason  # the pattern the environment key breaks

    shown = jobctl("get", "demo-invalid-request", columns=400)
    assert shown.exit_code == 0, shown.output
    assert reason in shown.output
    listed = jobctl("list", columns=400)
    assert reason in " ".join(listed.output.replace("│", " ").split())


# -- dlq -----------------------------------------------------------------------------------


@pytest.fixture
def dead_letters(queues: Queues) -> list[str]:
    sqs = boto3.client("sqs")
    return [
        sqs.send_message(QueueUrl=queues.dlq, MessageBody=json.dumps(body))["MessageId"]
        for body in (request_body(job_name="dead-1"), request_body(job_name="dead-2"))
    ]


@pytest.mark.parametrize("columns", [80, 120])
def test_dlq_list_shows_full_message_ids(
    dead_letters: list[str], jobctl: Any, columns: int
) -> None:
    result = jobctl("dlq", "list", columns=columns)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= columns
    for message_id in dead_letters:
        assert message_id in result.output
    assert "…" not in result.output


def test_dlq_redrive_takes_a_unique_prefix_of_a_message_id(
    dead_letters: list[str], queues: Queues, jobctl: Any
) -> None:
    first, second = dead_letters
    prefix = next(first[:n] for n in range(4, len(first)) if not second.startswith(first[:n]))
    result = jobctl("dlq", "redrive", prefix)
    assert result.exit_code == 0, result.output
    assert f"redriven {first}" in result.output
    assert [b["job_name"] for b in queues.bodies(queues.jobs)] == ["dead-1"]
    assert [m["MessageId"] for m in queues.messages(queues.dlq)] == [second]


def test_dlq_redrive_of_an_unknown_id_moves_nothing(
    dead_letters: list[str], queues: Queues, jobctl: Any
) -> None:
    result = jobctl("dlq", "redrive", dead_letters[0], "not-a-message-id")
    assert result.exit_code == 1
    assert "not in the dead-letter queue: not-a-message-id (nothing redriven)" in result.output
    assert queues.bodies(queues.jobs) == []
    assert sorted(m["MessageId"] for m in queues.messages(queues.dlq)) == sorted(dead_letters)


# -- submit: the roles the stack allows ----------------------------------------------------


@pytest.fixture
def roles(stack: Stack) -> tuple[str, str]:
    """The controller's DEFAULT_ROLE_ARN and (one) ALLOWED_ROLE_ARNS."""
    (allowed,) = stack.settings.allowed_role_arns
    return stack.settings.default_role_arn, allowed


@pytest.fixture
def deployed(stack: Stack, queues: Queues, roles: tuple[str, str]) -> str:
    """A CloudFormation stack whose Outputs name the resources and whose Parameters are
    the functions' DEFAULT_ROLE_ARN and ALLOWED_ROLE_ARNS, as template.yaml's are."""
    template = {
        "Parameters": {
            "DefaultRoleArn": {"Type": "String"},
            "AllowedRoleArns": {"Type": "String", "Default": ""},
            "Queue": {"Type": "String"},
        },
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {
            "JobsQueueUrl": {"Value": {"Ref": "Queue"}},
            "JobsTableName": {"Value": stack.settings.jobs_table},
            "NoticesTopicArn": {"Value": stack.settings.notices_topic_arn},
        },
    }
    boto3.client("cloudformation").create_stack(
        StackName="jobctl-roles",
        TemplateBody=json.dumps(template),
        Parameters=[
            {"ParameterKey": "DefaultRoleArn", "ParameterValue": roles[0]},
            {"ParameterKey": "AllowedRoleArns", "ParameterValue": roles[1]},
            {"ParameterKey": "Queue", "ParameterValue": queues.jobs},
        ],
    )
    return "jobctl-roles"


def with_role(role: str) -> str:
    body = request_body()
    body["spec"]["RoleArn"] = role
    return json.dumps(body)


def test_submit_refuses_a_role_outside_the_stacks_allow_list(deployed: str, queues: Queues) -> None:
    result = CliRunner().invoke(
        main, ["--stack", deployed, "submit", "-"], input=with_role(STRANGER_ROLE)
    )
    assert result.exit_code == 1
    assert "request 1: spec.RoleArn: not an allowed role" in result.output
    assert queues.bodies(queues.jobs) == []


@pytest.mark.parametrize("which", ["default", "allowed"])
def test_submit_sends_a_role_the_stack_allows(
    deployed: str, queues: Queues, roles: tuple[str, str], which: str
) -> None:
    role = roles[0] if which == "default" else roles[1]
    result = CliRunner().invoke(main, ["--stack", deployed, "submit", "-"], input=with_role(role))
    assert result.exit_code == 0, result.output
    assert "note:" not in result.output
    assert [b["spec"]["RoleArn"] for b in queues.bodies(queues.jobs)] == [role]


def test_submit_says_the_controller_checks_a_role_when_the_allow_list_is_unknown(
    queues: Queues, jobctl: Any
) -> None:
    result = jobctl("submit", "-", stdin=with_role(STRANGER_ROLE))
    assert result.exit_code == 0, result.output
    assert "note: request 1 names a RoleArn: the controller checks it" in result.stderr
    assert len(queues.bodies(queues.jobs)) == 1


def test_dlq_list_lists_dead_letters_sqs_will_no_longer_let_it_release(
    dead_letters: list[str], jobctl: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import ClientError

    def refused(*_: Any, **__: Any) -> None:
        limit = "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"
        error = {"Error": {"Code": "InvalidParameterValue", "Message": limit}}
        raise ClientError(error, "ChangeMessageVisibilityBatch")  # type: ignore[arg-type]

    sqs, made = boto3.client("sqs"), cast(Any, boto3.session.Session.client)

    def client(self: Any, name: str, **options: Any) -> Any:
        return sqs if name == "sqs" else made(self, name, **options)

    monkeypatch.setattr(boto3.session.Session, "client", client)
    monkeypatch.setattr(sqs, "change_message_visibility_batch", refused)
    result = jobctl("dlq", "list", "--json")
    assert result.exit_code == 0, result.output
    assert {letter["message_id"] for letter in json.loads(result.output)} == set(dead_letters)


def test_a_request_sent_despite_the_checks_says_where_its_rejection_will_be(
    stack: Stack, jobctl: Any, queues: Queues
) -> None:
    nameless = {k: v for k, v in request_body("invalid.json").items() if k != "job_name"}
    result = jobctl("submit", "--no-check", "-", stdin=json.dumps(nameless), columns=200)
    assert result.exit_code == 0, result.output
    (message,) = queues.messages(queues.jobs)
    where = f"jobctl get rejected-{message['MessageId']}"
    assert where in " ".join(result.output.split())
    stack.submit(message["Body"], message_ids=[message["MessageId"]])
    found = jobctl("get", f"rejected-{message['MessageId']}", "--json")
    assert json.loads(found.output)["status"] == "Rejected"
