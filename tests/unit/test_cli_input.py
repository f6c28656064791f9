"""The CLI checks what it is given before it calls AWS: statuses, times, job names, the
local stack's options, the roles a request names, dead-letter ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from jobctl.errors import InvalidRequest
from jobctl.models.jobs import STATUSES
from jobctl_cli import cli
from jobctl_cli.client import (
    UserError,
    check_request,
    parse_time,
    resolve_message_ids,
    split_arns,
    update_request,
    with_scheduling,
)
from jobctl_tools.local import stack as local_stack
from tests.support.template import load_event

# Resources given explicitly: no CloudFormation call, and nothing here reaches AWS.
RESOURCES = ["--queue-url", "http://127.0.0.1:1/q", "--table", "t", "--topic-arn", "arn:t"]
NOW = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
DEFAULT_ROLE = "arn:aws:iam::123456789012:role/jobctl-default"
TEAM_ROLE = "arn:aws:iam::123456789012:role/team-a"
OTHER_ROLE = "arn:aws:iam::123456789012:role/someone-else"


def jobctl(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli.main, [*RESOURCES, *args], input=stdin)


# -- --status ------------------------------------------------------------------------------


def test_the_statuses_list_offers_exactly_the_ledgers_statuses() -> None:
    assert set(cli.STATUSES) == set(STATUSES)


def test_list_refuses_a_status_the_ledger_never_holds() -> None:
    result = jobctl("list", "--status", "Complete")
    assert result.exit_code == 2
    assert "'Complete' is not one of" in result.output
    assert "'Completed'" in result.output


# -- --since -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "moment"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("7d", NOW - timedelta(days=7)),
        ("1w", NOW - timedelta(weeks=1)),
        ("1h30m", NOW - timedelta(hours=1, minutes=30)),
        ("2026-12-01T15:00:00Z", datetime(2026, 12, 1, 15, tzinfo=UTC)),
        ("2026-12-01T17:00:00+02:00", datetime(2026, 12, 1, 15, tzinfo=UTC)),
        ("2026-12-01T15:00:00.250Z", datetime(2026, 12, 1, 15, 0, 0, 250_000, tzinfo=UTC)),
        ("2026-12-01", datetime(2026, 12, 1, tzinfo=UTC)),
        ("2026-12-01T15:00", datetime(2026, 12, 1, 15, tzinfo=UTC)),
    ],
)
def test_a_time_is_iso_8601_or_an_age(given: str, moment: datetime) -> None:
    assert parse_time(given, now=NOW) == moment


@pytest.mark.parametrize("given", ["yesterday", "2h ago", "-2h", "", "2026-13-01", "h"])
def test_anything_else_is_not_a_time(given: str) -> None:
    with pytest.raises(UserError, match="is not a time"):
        parse_time(given, now=NOW)


def test_list_refuses_a_since_that_is_not_a_time() -> None:
    result = jobctl("list", "--since", "yesterday")
    assert result.exit_code == 2
    assert "Invalid value for '--since': 'yesterday' is not a time" in result.output


# -- job names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [("get", ""), ("watch", ""), ("watch", "a-job", " "), ("stop", "")]
)
def test_an_empty_job_name_is_one_line_of_error_not_dynamodbs(args: tuple[str, ...]) -> None:
    result = jobctl(*args)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Error: a job name cannot be empty: give the name `jobctl list` shows"
    ]


# -- priorities and shares (docs/contract.md §8) --------------------------------------------


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("update", "a-job", "--priority", "10000"), "'10000': Input should be less than or equal"),
        (("update", "a-job", "--priority", "-1"), "'-1': Input should be greater than or equal"),
        (("update", "a-job", "--priority", "high"), "'high' is not a valid integer"),
        (("update", "a-job", "--priority", "5.0"), "'5.0' is not a valid integer"),
        (("update", "a-job"), "Missing option '--priority'"),
        (("submit", "--priority", "10000", "-"), "Input should be less than or equal to 9999"),
        (("submit", "--share", "a b", "-"), "'a b': String should match pattern"),
        (("submit", "--share", "x" * 65, "-"), "String should match pattern"),
        (("queue", "--share", "a/b"), "'a/b': String should match pattern"),
        (("queue", "--job-type", "Training"), "'Training' is not one of"),
    ],
)
def test_a_priority_or_share_the_controller_would_reject_is_refused_before_aws(
    args: tuple[str, ...], said: str
) -> None:
    # RESOURCES name nothing reachable: a call to AWS would fail otherwise, not exit 2.
    result = jobctl(*args, stdin=json.dumps(training()))
    assert result.exit_code == 2, result.output
    assert said in result.output


def test_submit_sets_priority_and_share_on_its_submit_requests_only() -> None:
    stop = {"job_type": "TrainingJob", "action": "stop", "job_name": "old"}
    changed = with_scheduling([training(), stop], priority=40, share="research")
    assert (changed[0]["priority"], changed[0]["share"]) == (40, "research")
    assert changed[1] == stop
    assert with_scheduling([training()]) == [training()]


def test_submit_keeps_a_request_that_names_the_same_priority() -> None:
    body = {**training(), "priority": 40}
    assert with_scheduling([body], priority=40) == [body]


@pytest.mark.parametrize(
    ("field", "given", "option"),
    [("priority", 3, {"priority": 40}), ("share", "prod", {"share": "research"})],
)
def test_submit_refuses_an_option_that_contradicts_a_request(
    field: str, given: Any, option: dict[str, Any]
) -> None:
    with pytest.raises(UserError, match=f"request 2 names {field} .*: give one of them"):
        with_scheduling([training(), {**training(), field: given}], **option)


def test_each_update_has_a_request_id_of_its_own_and_passes_the_controllers_checks() -> None:
    first, second = (update_request("llm-sweep-17", "TrainingJob", 100) for _ in range(2))
    assert first["request_id"] != second["request_id"]
    request = check_request(first)
    assert (request.action, request.name, request.priority) == ("update", "llm-sweep-17", 100)
    assert request.rid == first["request_id"]


# -- jobctl local up -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--step-seconds", "-1"),
        ("--step-seconds", "0"),
        ("--sweep-seconds", "-1"),
        ("--speed", "0"),
        ("--visibility-timeout", "-1"),
        ("--history", "-5"),
    ],
)
def test_local_up_refuses_a_negative_or_zero_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, option: str, value: str
) -> None:
    started: list[Any] = []
    monkeypatch.setattr(local_stack, "LocalStack", lambda options: started.append(options))
    result = CliRunner().invoke(
        cli.main, ["local", "up", "--state-dir", str(tmp_path), option, value]
    )
    assert result.exit_code == 2
    assert f"Invalid value for '{option}'" in result.output
    assert started == []


# -- the roles a request names -------------------------------------------------------------


def training(role: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = load_event("requests/training.json")
    if role:
        body["spec"]["RoleArn"] = role
    return body


def test_a_role_outside_the_allow_list_fails_the_local_check() -> None:
    with pytest.raises(InvalidRequest, match=r"spec\.RoleArn: not an allowed role"):
        check_request(training(OTHER_ROLE), DEFAULT_ROLE, frozenset({TEAM_ROLE}))


@pytest.mark.parametrize("role", [None, DEFAULT_ROLE, TEAM_ROLE])
def test_the_default_role_and_the_allowed_ones_pass(role: str | None) -> None:
    checked = check_request(training(role), DEFAULT_ROLE, frozenset({TEAM_ROLE}))
    assert (checked.spec or {}).get("RoleArn") == role


def test_any_role_passes_when_the_allow_list_is_not_known() -> None:
    for checked in (
        check_request(training(OTHER_ROLE)),
        check_request(training(OTHER_ROLE), DEFAULT_ROLE, None),
    ):
        assert (checked.spec or {})["RoleArn"] == OTHER_ROLE


def test_the_allow_list_is_read_as_the_controller_reads_it() -> None:
    assert split_arns(f" {TEAM_ROLE}, {OTHER_ROLE},,") == frozenset({TEAM_ROLE, OTHER_ROLE})
    assert split_arns("") == frozenset()


def test_submit_refuses_a_role_the_given_allow_list_does_not_hold() -> None:
    result = jobctl(
        "--default-role-arn",
        DEFAULT_ROLE,
        "--allowed-role-arns",
        TEAM_ROLE,
        "submit",
        "-",
        stdin=json.dumps(training(OTHER_ROLE)),
    )
    assert result.exit_code == 1
    assert "request 1: spec.RoleArn: not an allowed role" in result.output
    assert "Traceback" not in result.output


# -- dead-letter ids -----------------------------------------------------------------------

IDS = [
    "3f2a9c1e-7b4d-4e8a-9c21-5d6e7f801234",
    "3f2a9c1e-0000-4e8a-9c21-5d6e7f805678",
    "8b1d0f2c-1111-4e8a-9c21-5d6e7f809999",
]


@pytest.mark.parametrize(
    ("given", "chosen"),
    [
        ([IDS[0]], {IDS[0]}),
        (["8b1d"], {IDS[2]}),
        (["3f2a9c1e-7"], {IDS[0]}),
        (["8b", "3f2a9c1e-0"], {IDS[1], IDS[2]}),
    ],
)
def test_a_dead_letter_is_named_by_its_id_or_a_unique_prefix(
    given: list[str], chosen: set[str]
) -> None:
    assert resolve_message_ids(given, IDS) == chosen


def test_a_prefix_two_dead_letters_share_is_refused_naming_both() -> None:
    with pytest.raises(UserError, match="'3f2a' is the start of 2 dead letters' ids") as refused:
        resolve_message_ids(["3f2a"], IDS)
    assert IDS[0] in str(refused.value)
    assert IDS[1] in str(refused.value)


def test_an_id_not_in_the_queue_is_refused() -> None:
    with pytest.raises(UserError, match="not in the dead-letter queue: ffff"):
        resolve_message_ids(["8b1d", "ffff"], IDS)


def test_version_prints_the_installed_release_without_reading_any_stack() -> None:
    from importlib.metadata import version

    result = jobctl("--version")
    assert result.exit_code == 0
    assert result.output == f"jobctl, version {version('jobctl')}\n"


def test_notices_says_it_timed_out_and_fails_when_fewer_than_count_arrived(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Quiet:
        """A notice stream on which nothing arrives (each empty poll yields None)."""

        def notices(self) -> Any:
            from contextlib import nullcontext

            return nullcontext(iter([None, None]))

    monkeypatch.setattr(cli, "_client", lambda ctx: Quiet())
    waited = jobctl("notices", "--timeout", "0.000001")
    assert waited.exit_code == 0
    assert "timed out after 1e-06 s: 0 notices received" in waited.output
    counted = jobctl("notices", "--timeout", "0.000001", "--count", "1")
    assert counted.exit_code == 1


def test_a_stopped_local_stack_is_named_as_such() -> None:
    result = CliRunner().invoke(cli.main, ["--endpoint-url", "http://127.0.0.1:9", "list"])
    assert result.exit_code == 1
    assert "nothing answers at http://127.0.0.1:9: the local stack is not running" in result.output


def test_a_bad_job_name_and_a_bad_spec_are_reported_together() -> None:
    body = training(TEAM_ROLE) | {"job_name": "not a name!"}
    body["spec"] = body["spec"] | {"NoSuchMember": 1}
    with pytest.raises(InvalidRequest) as caught:
        check_request(body, DEFAULT_ROLE, frozenset({TEAM_ROLE}))
    fields = [problem.split(":")[0] for problem in caught.value.problems]
    assert "job_name" in fields
    assert "spec.NoSuchMember" in fields
