"""End to end over HTTP: `jobctl local up` in its own process, driven by the jobctl CLI
from "a second terminal" (click's test runner), as the README shows."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from jobctl_cli.cli import main
from jobctl_tools.local.sagemaker import OUTCOME_TAG
from tests.support.template import EVENTS

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class LocalUp:
    """`jobctl local up` in a child process: its state directory, pid and environment."""

    state: Path
    pid: int
    environ: dict[str, str]


@pytest.fixture(scope="module")
def local_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalUp]:
    """The local stack in a child process, shared by the module's tests."""
    state = tmp_path_factory.mktemp("local-stack")
    process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "jobctl_cli.cli", "local", "up", "--state-dir", str(state),
         "--step-seconds", "0.2", "--sweep-seconds", "1", "--visibility-timeout", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    stack_file = state / "stack.json"
    deadline = time.monotonic() + 60
    while not stack_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(
                f"local stack did not start: {process.stdout.read() if process.stdout else ''}"
            )
        time.sleep(0.1)
    environ = json.loads(stack_file.read_text())["environ"]
    yield LocalUp(state, process.pid, {**environ, "JOBCTL_STACK": "jobctl"})
    # SIGTERM, not SIGINT: a runner may start us with SIGINT ignored (`make test &`).
    process.send_signal(signal.SIGTERM)
    try:
        assert process.wait(timeout=30) == 0, "SIGTERM did not shut the local stack down cleanly"
    finally:
        process.kill()


@pytest.fixture(scope="module")
def local_stack(local_up: LocalUp) -> dict[str, str]:
    """The environment a second terminal uses."""
    return local_up.environ


@pytest.fixture
def jobctl(local_stack: dict[str, str]) -> Any:
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(main, list(args), input=stdin, env=local_stack, catch_exceptions=False)

    return run


def _status(got: Result) -> str | None:
    """The job's status, None while the ledger does not hold it yet."""
    return json.loads(got.output).get("status") if got.exit_code == 0 else None


def request(name: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EVENTS / "requests" / name).read_text())
    body.update(changes)
    return body


def with_outcome(body: dict[str, Any], outcome: str) -> dict[str, Any]:
    body["spec"]["Tags"] = [*body["spec"].get("Tags", []), {"Key": OUTCOME_TAG, "Value": outcome}]
    return body


def test_a_submitted_training_job_completes_and_watch_exits_zero(jobctl: Any) -> None:
    body = request("training.json", job_name="e2e-completes", request_id="e2e-1")
    submitted = jobctl("submit", "-", stdin=json.dumps(body))
    assert submitted.exit_code == 0, submitted.output
    assert "e2e-completes" in submitted.output

    watched = jobctl("watch", "e2e-completes", "--interval", "0.3", "--timeout", "60")
    assert watched.exit_code == 0, watched.output

    record = json.loads(jobctl("get", "e2e-completes", "--json").output)
    assert record["status"] == "Completed"
    assert record["environment"] == body["spec"]["Environment"]
    assert record["history"][-1]["secondary_status"] == "Completed"
    assert record["outputs"]["model_artifacts"].endswith("e2e-completes/output/model.tar.gz")


def test_a_failing_job_makes_watch_exit_non_zero(jobctl: Any) -> None:
    body = with_outcome(
        request("training.json", job_name="e2e-fails", request_id="e2e-2"), "Failed"
    )
    assert jobctl("submit", "-", stdin=json.dumps(body)).exit_code == 0
    watched = jobctl("watch", "e2e-fails", "--interval", "0.3", "--timeout", "60")
    assert watched.exit_code == 1
    listed = json.loads(jobctl("list", "--status", "Failed", "--json").output)
    assert "e2e-fails" in [r["job_name"] for r in listed]


def test_an_automl_job_is_tracked_by_the_sweep_and_its_warning_kept(jobctl: Any) -> None:
    body = with_outcome(
        request("automl.json", job_name="e2e-automl", request_id="e2e-3"), "ExplainabilityError"
    )
    assert jobctl("submit", "-", stdin=json.dumps(body)).exit_code == 0
    watched = jobctl(
        "watch", "e2e-automl", "--type", "AutoMLJob", "--interval", "0.3", "--timeout", "60"
    )
    assert watched.exit_code == 0, watched.output  # Completed, with a warning
    record = json.loads(jobctl("get", "e2e-automl", "--type", "AutoMLJob", "--json").output)
    assert record["secondary_status"] == "ExplainabilityError"
    assert record["warnings"] == ["ExplainabilityError: simulated explainability failure"]


def test_notices_arrive_once_each_and_the_temporary_queue_is_removed(
    jobctl: Any, local_stack: dict[str, str]
) -> None:
    import boto3

    with pytest.MonkeyPatch.context() as patch:
        for key, value in local_stack.items():
            patch.setenv(key, value)
        sqs = boto3.client("sqs")
        queues_before = set(sqs.list_queues().get("QueueUrls", []))
        listener = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jobctl_cli.cli",
                "notices",
                "--json",
                "--count",
                "1",
                "--timeout",
                "60",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert listener.stderr is not None
        assert "listening" in listener.stderr.readline()
        body = request("training.json", job_name="e2e-notice", request_id="e2e-4")
        assert jobctl("submit", "-", stdin=json.dumps(body)).exit_code == 0
        output, _ = listener.communicate(timeout=90)
        assert listener.returncode == 0
        (notice,) = [json.loads(line) for line in output.splitlines()]
        assert (notice["job_name"], notice["status"]) == ("e2e-notice", "Completed")
        assert set(sqs.list_queues().get("QueueUrls", [])) == queues_before


def test_stop_stops_a_running_job(jobctl: Any) -> None:
    body = with_outcome(
        request("training.json", job_name="e2e-stopped", request_id="e2e-5"), "Hang"
    )
    assert jobctl("submit", "-", stdin=json.dumps(body)).exit_code == 0
    deadline = time.monotonic() + 30
    while _status(jobctl("get", "e2e-stopped", "--json")) != "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert jobctl("stop", "e2e-stopped").exit_code == 0
    watched = jobctl("watch", "e2e-stopped", "--interval", "0.3", "--timeout", "60")
    assert watched.exit_code == 1  # Stopped is not success
    record = json.loads(jobctl("get", "e2e-stopped", "--json").output)
    assert record["status"] == "Stopped"


def test_an_invalid_request_is_refused_locally_with_one_clear_line(jobctl: Any) -> None:
    refused = jobctl("submit", str(EVENTS / "requests" / "invalid.json"))
    assert refused.exit_code != 0
    assert "spec.OutputDataConfig: required parameter missing" in refused.output
    assert "Traceback" not in refused.output


def test_an_invalid_request_sent_anyway_is_rejected_by_the_controller(jobctl: Any) -> None:
    body = request("invalid.json", job_name="e2e-invalid", request_id="e2e-6")
    assert jobctl("submit", "--no-check", "-", stdin=json.dumps(body)).exit_code == 0
    deadline = time.monotonic() + 30
    while True:
        found = jobctl("get", "e2e-invalid", "--json")
        if found.exit_code == 0:
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    record = json.loads(found.output)
    assert record["status"] == "Rejected"
    assert "spec.InstanceType: unknown parameter" in record["failure_reason"]


def test_an_unknown_stack_is_one_clear_error(jobctl: Any) -> None:
    result = jobctl("--stack", "no-such-stack", "list")
    assert result.exit_code != 0
    assert "cannot read stack 'no-such-stack'" in result.output
    assert "Traceback" not in result.output


def test_jobctl_is_installed_as_a_console_script() -> None:
    (script,) = entry_points(group="console_scripts", name="jobctl")
    assert script.value == "jobctl_cli.cli:main"
    shown = subprocess.run(  # noqa: S603 - the installed script, fixed arguments
        [str(Path(sys.executable).with_name("jobctl")), "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("submit", "stop", "get", "list", "watch", "notices", "local"):
        assert command in shown.stdout


def test_a_request_given_up_waits_in_the_dlq_and_a_redrive_runs_it(jobctl: Any) -> None:
    body = request("training.json", job_name="e2e-dlq", request_id="e2e-7")
    body["spec"]["Tags"] = [{"Key": "jobctl-sim:create-errors", "Value": "ResourceLimitExceeded:5"}]
    assert jobctl("submit", "-", stdin=json.dumps(body)).exit_code == 0
    deadline = time.monotonic() + 60
    while True:
        letters = json.loads(jobctl("dlq", "list", "--json").output)
        if letters:
            break
        assert time.monotonic() < deadline, "the request never reached the dead-letter queue"
        time.sleep(0.5)
    (letter,) = letters
    assert (letter["job_name"], letter["status"]) == ("e2e-dlq", "SubmitFailed")
    assert "ResourceLimitExceeded" in letter["failure_reason"]

    redriven = jobctl("dlq", "redrive", letter["message_id"])
    assert redriven.exit_code == 0, redriven.output
    watched = jobctl("watch", "e2e-dlq", "--interval", "0.3", "--timeout", "60")
    assert watched.exit_code == 0, watched.output
    assert json.loads(jobctl("dlq", "list", "--json").output) == []


# -- what a new user meets ---------------------------------------------------------------


def test_a_second_local_up_on_a_state_dir_in_use_is_refused_in_one_line(
    local_up: LocalUp, jobctl: Any
) -> None:
    local_state, local_pid = local_up.state, local_up.pid
    second = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "jobctl_cli.cli", "local", "up", "--state-dir", str(local_state)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert second.stdout == ""
    assert second.stderr.splitlines() == [
        f"Error: {local_state} is in use by another `jobctl local up` (pid {local_pid}): "
        "stop it first, or give another --state-dir"
    ]
    # The running stack keeps its state directory, and still answers.
    assert (local_state / "local.lock").read_text() == f"{local_pid}\n"
    assert jobctl("list").exit_code == 0


def test_env_sh_puts_the_jobctl_cli_on_path(local_up: LocalUp) -> None:
    shown = subprocess.run(  # noqa: S603 - bash, a fixed script
        ["/bin/bash", "-c", 'source "$0" && echo "$PATH" && command -v jobctl || true',
         str(local_up.state / "env.sh")],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    path, *found = shown.stdout.splitlines()
    scripts = Path(sys.executable).parent
    assert path.split(":")[0] == str(scripts)
    if (scripts / "jobctl").exists():
        assert found == [str(scripts / "jobctl")]


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_readmes_aws_cli_example_sends_a_request_given_the_endpoint_url(
    local_stack: dict[str, str], jobctl: Any, tmp_path: Path
) -> None:
    body = request("training.json", job_name="e2e-aws-cli", request_id="e2e-8")
    (tmp_path / "training.json").write_text(json.dumps(body))
    script = """
QUEUE=$(aws --endpoint-url "$AWS_ENDPOINT_URL" cloudformation describe-stacks --stack-name jobctl \\
  --query "Stacks[0].Outputs[?OutputKey=='JobsQueueUrl'].OutputValue" --output text)
aws --endpoint-url "$AWS_ENDPOINT_URL" sqs send-message --queue-url "$QUEUE" \\
  --message-body file://training.json
"""
    sent = subprocess.run(  # noqa: S603 - bash, a fixed script
        ["/bin/bash", "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, **local_stack, "AWS_CONFIG_FILE": "/dev/null"},
        timeout=120,
    )
    assert sent.returncode == 0, sent.stderr
    assert "MessageId" in sent.stdout
    watched = jobctl("watch", "e2e-aws-cli", "--interval", "0.3", "--timeout", "60")
    assert watched.exit_code == 0, watched.output


def test_the_demo_at_80_columns_keeps_every_name_and_shows_no_powertools_warning() -> None:
    demo = subprocess.run(
        [sys.executable, "-m", "jobctl_tools.local.demo"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "No application metrics to publish" not in demo.stdout + demo.stderr
    assert demo.stderr == ""
    lines = demo.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in (
        "demo-xgboost-churn",
        "demo-xgboost-fails",
        "demo-autopilot-churn",
        "demo-invalid-request",
    ):
        assert sum(name in line for line in lines) >= 3  # progress, the ledger, the notices
    assert "…" not in demo.stdout


def test_ctrl_c_stops_the_stack_even_when_started_with_sigint_ignored(
    tmp_path: Path,
) -> None:
    # A shell's background job (`make test &`) and some runners start children with
    # SIGINT ignored; Python then installs no KeyboardInterrupt handler of its own.
    state = tmp_path / "state"
    process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "jobctl_cli.cli", "local", "up", "--state-dir", str(state)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 60
        while not (state / "stack.json").exists():
            assert process.poll() is None, "the local stack exited before it started"
            assert time.monotonic() < deadline, "the local stack did not start in a minute"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
