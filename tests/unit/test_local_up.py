"""`jobctl local up`'s options and exit, and what the local stack keeps of its errors,
without starting the stack."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from click.testing import CliRunner

from jobctl_cli import cli
from jobctl_cli.client import UserError
from jobctl_tools.local import stack as local_stack
from jobctl_tools.local.runtime import ERRORS_KEPT, ErrorLog
from jobctl_tools.local.stack import LocalStackOptions

FAILURE = "moto (http://127.0.0.1:1) lost its state (restarted or reset?): ..."


class FakeStack:
    """Stands in for LocalStack: records its options and fails at once."""

    options: LocalStackOptions | None = None
    stopped = False

    def __init__(self, options: LocalStackOptions) -> None:
        FakeStack.options = options

    def start(self) -> FakeStack:
        return self

    failure: str | None = FAILURE

    def stop(self) -> None:
        FakeStack.stopped = True


@pytest.fixture
def fake_stack(monkeypatch: pytest.MonkeyPatch) -> type[FakeStack]:
    FakeStack.options, FakeStack.stopped = None, False
    monkeypatch.setattr(local_stack, "LocalStack", FakeStack)
    return FakeStack


def up(tmp_path: Path, *args: str) -> Any:
    return CliRunner().invoke(cli.main, ["local", "up", "--state-dir", str(tmp_path), *args])


@pytest.mark.parametrize(
    ("given", "expected"),
    [((), "WARNING"), (("--log-level", "DEBUG"), "DEBUG"), (("--log-level", "ERROR"), "ERROR")],
)
def test_local_up_passes_its_log_level_to_the_stack(
    fake_stack: type[FakeStack], tmp_path: Path, given: tuple[str, ...], expected: str
) -> None:
    up(tmp_path, *given)
    assert fake_stack.options is not None
    assert fake_stack.options.log_level == expected


def test_local_up_refuses_a_log_level_it_does_not_know(
    fake_stack: type[FakeStack], tmp_path: Path
) -> None:
    result = up(tmp_path, "--log-level", "TRACE")
    assert result.exit_code == 2
    assert "'TRACE' is not one of 'DEBUG', 'INFO', 'WARNING', 'ERROR'" in result.output
    assert fake_stack.options is None


def test_local_up_exits_non_zero_with_the_stack_failure_in_one_line(
    fake_stack: type[FakeStack], tmp_path: Path
) -> None:
    result = up(tmp_path)
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == f"Error: {FAILURE}"
    assert result.output.count(FAILURE) == 1
    assert fake_stack.stopped


def test_the_error_log_keeps_the_latest_errors_and_counts_the_rest() -> None:
    errors = ErrorLog()
    for n in range(ERRORS_KEPT + 150):
        errors.append(f"error {n}")

    assert len(errors) == ERRORS_KEPT == 100
    assert errors.dropped == 150
    assert errors.total == 250
    assert errors[0] == "error 150"
    assert errors[-1] == "error 249"
    assert list(errors)[:2] == errors[:2] == ["error 150", "error 151"]
    assert repr(errors).endswith("(and 150 earlier, not kept)")


def test_a_short_error_log_reads_as_a_list() -> None:
    errors = ErrorLog()
    assert not errors
    errors.append("SubmitFunction: boom")
    assert errors
    assert repr(errors) == "['SubmitFunction: boom']"
    assert errors.dropped == 0


def _chained(cause: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("DynamoDB call failed") from cause
    except RuntimeError as exc:
        return exc


@pytest.mark.parametrize(
    "error",
    [
        ClientError(
            {"Error": {"Code": "AWS.SimpleQueueService.NonExistentQueue", "Message": "gone"}},
            "ReceiveMessage",
        ),
        _chained(ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "GetItem")),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1/"),
        _chained(ConnectionRefusedError()),
    ],
    ids=["queue gone", "table gone (chained)", "connection refused", "refused (chained)"],
)
def test_errors_that_may_mean_moto_lost_its_state_are_checked_with_moto(
    error: BaseException,
) -> None:
    assert local_stack._may_mean_moto_is_gone(error)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("a bug in a handler"),
        ClientError({"Error": {"Code": "ThrottlingException"}}, "ListTrainingJobs"),
        ClientError({"Error": {"Code": "ResourceNotFound"}}, "DescribeTrainingJob"),
    ],
    ids=["a bug", "throttled", "SageMaker job not found"],
)
def test_other_errors_are_only_recorded(error: BaseException) -> None:
    assert not local_stack._may_mean_moto_is_gone(error)


def test_quota_grants_read_as_instance_type_and_instances() -> None:
    grants = ["ml.p4d.24xlarge=8", "ml.g5.xlarge=2", "ml.p4d.24xlarge=16"]
    assert local_stack.parse_quotas(grants) == {"ml.p4d.24xlarge": 16, "ml.g5.xlarge": 2}


@pytest.mark.parametrize(
    ("grant", "says"),
    [
        ("ml.p4d.24xlarg=8", "'ml.p4d.24xlarg' is no SageMaker training type"),
        ("ml.t2.medium=1", "'ml.t2.medium' is no SageMaker training type"),
        ("ml.p4d.24xlarge", "give TYPE=N"),
        ("ml.p4d.24xlarge=-1", "give TYPE=N"),
        ("ml.p4d.24xlarge=2.5", "give TYPE=N"),
    ],
)
def test_a_quota_grant_that_is_not_type_equals_instances_is_one_clear_error(
    grant: str, says: str
) -> None:
    with pytest.raises(UserError, match=f"--quota {re.escape(grant)}: .*{re.escape(says)}"):
        local_stack.parse_quotas([grant])


def test_local_up_grants_quotas_and_sets_template_parameters(
    fake_stack: type[FakeStack], tmp_path: Path
) -> None:
    up(
        tmp_path,
        *("--quota", "ml.p4d.24xlarge=8", "--quota", "ml.g5.xlarge=2"),
        *("--parameter", "InstanceTypeBudgets=ml.p4d.24xlarge=4", "--parameter", "ShareLimits="),
    )
    assert fake_stack.options is not None
    assert fake_stack.options.quotas == {"ml.p4d.24xlarge": 8, "ml.g5.xlarge": 2}
    assert fake_stack.options.parameters == {
        "InstanceTypeBudgets": "ml.p4d.24xlarge=4",
        "ShareLimits": "",
    }


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        (("--quota", "ml.p4d.24xlarge=many"), "give TYPE=N"),
        (("--quota", "m5.large=2"), "is no SageMaker training type"),
        (("--parameter", "NoSuchParameter=1"), "NAME one of"),
        (("--parameter", "ShareLimits"), "give NAME=VALUE"),
    ],
)
def test_local_up_refuses_a_bad_quota_or_parameter_naming_it(
    fake_stack: type[FakeStack], tmp_path: Path, given: tuple[str, ...], problem: str
) -> None:
    result = up(tmp_path, *given)
    assert result.exit_code != 0
    assert problem in result.output
    assert fake_stack.options is None  # nothing started


class SignalledWhileStarting(FakeStack):
    """A stack that gets Ctrl-C while it starts (the user pressed it at once)."""

    failure = None

    def start(self) -> FakeStack:
        os.kill(os.getpid(), signal.SIGINT)
        return self


def test_ctrl_c_while_the_stack_starts_stops_it_once_started(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    FakeStack.stopped = False
    monkeypatch.setattr(local_stack, "LocalStack", SignalledWhileStarting)
    handler = signal.getsignal(signal.SIGINT)
    result = up(tmp_path)
    assert result.exit_code == 0, result.output
    assert "stopping" in result.output
    assert FakeStack.stopped
    assert signal.getsignal(signal.SIGINT) is handler  # the caller's handler is back
