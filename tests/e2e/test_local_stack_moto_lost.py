"""The local stack cannot outlive moto's state: when moto is reset, restarted or stopped,
`jobctl local up` says so in one line and exits non-zero instead of retrying forever."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from jobctl_tools.local.stack import LocalStack, LocalStackOptions
from tests.support.local_stack import local_stack_in_process

pytestmark = pytest.mark.e2e


def _wait_for_state(state: Path, process: subprocess.Popen[str]) -> dict[str, str]:
    deadline = time.monotonic() + 60
    while not (state / "stack.json").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.communicate()[0]
            pytest.fail(f"local stack did not start: {output}")
        time.sleep(0.1)
    environ: dict[str, str] = json.loads((state / "stack.json").read_text())["environ"]
    return environ


def _reset_moto(endpoint: str) -> None:
    """What a restarted moto server looks like from outside: every resource is gone."""
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310
    with urllib.request.urlopen(reset, timeout=10) as answer:  # noqa: S310 - local moto
        assert answer.status == 200


def test_local_up_exits_with_one_line_when_moto_loses_its_state(tmp_path: Path) -> None:
    process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "jobctl_cli.cli", "local", "up", "--state-dir", str(tmp_path),
         "--step-seconds", "0.2", "--sweep-seconds", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        environ = _wait_for_state(tmp_path, process)
        _reset_moto(environ["AWS_ENDPOINT_URL"])
        stdout, stderr = process.communicate(timeout=30)
    finally:
        process.kill()

    assert process.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) == 1, stderr  # the one line, and nothing else on stderr
    (line,) = stderr.splitlines()
    assert line.startswith(f"Error: moto ({environ['AWS_ENDPOINT_URL']}) lost its state")
    assert "start `jobctl local up` again" in line
    assert "lost its state" not in stdout


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    """The local stack in this process. What it sets for the process (environment, the
    handlers' controller, log level, and moto's backends, which every moto in a process
    shares) is put back."""
    with local_stack_in_process(LocalStackOptions(state_dir=tmp_path, sweep_seconds=1)) as local:
        yield local


def test_the_local_stack_fails_in_one_line_when_moto_refuses_connections(
    stack: LocalStack,
) -> None:
    moto: Any = stack._moto
    server = moto._server
    moto.stop()
    server.server_close()  # as a killed moto: connections are refused, not left waiting

    failure = stack.wait_for_failure(20)

    assert failure is not None, f"no failure detected; errors: {stack.errors!r}"
    assert failure.startswith(f"moto ({stack.environ['AWS_ENDPOINT_URL']}) refused the connection")
    assert "start `jobctl local up` again" in failure
    assert "\n" not in failure
    assert len(stack.errors) <= 100


def test_a_missing_table_while_moto_still_holds_the_queue_does_not_stop_the_stack(
    stack: LocalStack,
) -> None:
    missing = ClientError(
        {"Error": {"Code": "ResourceNotFoundException", "Message": "Requested resource not found"}},
        "GetItem",
    )
    try:
        raise RuntimeError("DynamoDB call failed") from missing
    except RuntimeError as exc:
        stack.deployment._fault(f"ReconcileFunction attempt 1: {exc!r}", exc)

    assert stack.wait_for_failure(0.5) is None
    assert stack.errors[-1].startswith("ReconcileFunction attempt 1: RuntimeError")
