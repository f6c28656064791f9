"""`make audit` (scripts/audit.py) never says it audited what it did not: an unreachable
vulnerability database is one warning line and exit 0; otherwise pip-audit runs strictly."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from scripts import audit


class _PyPI(BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, bytes]] = {  # noqa: RUF012 - fixed test answers
        "/pypi/boto3/1.44.8/json": (200, json.dumps({"info": {}, "vulnerabilities": []}).encode()),
        "/pypi/boto3/json": (200, json.dumps({"info": {}}).encode()),
        "/pypi/html/1/json": (200, b"<html>a proxy's login page</html>"),
    }

    def do_GET(self) -> None:
        status, body = self.answers.get(self.path, (404, b"Not Found"))
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pypi() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _PyPI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_release_answer_with_vulnerability_data_is_readable(pypi: str) -> None:
    assert audit.unreadable(f"{pypi}/pypi/boto3/1.44.8/json") is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/pypi/boto3/1.0/json", "answered HTTP 404"),
        ("/pypi/boto3/json", "answered without vulnerability data"),
        ("/pypi/html/1/json", "did not answer JSON"),
    ],
    ids=["release not served", "no vulnerability data", "not JSON"],
)
def test_answers_without_release_vulnerability_data_are_unreadable(
    pypi: str, path: str, reason: str
) -> None:
    problem = audit.unreadable(f"{pypi}{path}")
    assert problem is not None
    assert reason in problem


def test_a_refused_connection_is_unreadable() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    problem = audit.unreadable(f"http://127.0.0.1:{port}/pypi/boto3/1.44.8/json")
    assert problem is not None
    assert "refused" in problem.lower()


@pytest.fixture
def pip_audit(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """pip-audit's runs, answered with exit status 1 (as when it finds a vulnerability)."""
    runs: list[list[str]] = []

    def run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        runs.append(command)
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(subprocess, "run", run)  # audit calls subprocess.run
    monkeypatch.setattr(audit, "control", lambda: "https://pypi.org/pypi/pip-audit/2.10.1/json")
    return runs


def test_audit_warns_in_one_line_and_passes_when_the_database_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], pip_audit: list[Any]
) -> None:
    monkeypatch.setattr(audit, "unreadable", lambda url: f"{url} answered HTTP 404 Not Found")

    assert audit.main() == 0

    assert pip_audit == []  # nothing pretends to have audited
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("make audit: WARNING: NOT AUDITED: ")
    assert "src/requirements.txt was not checked for known vulnerabilities" in line


def test_audit_runs_pip_audit_strictly_on_the_hashed_lock_when_the_database_answers(
    monkeypatch: pytest.MonkeyPatch, pip_audit: list[list[str]]
) -> None:
    monkeypatch.setattr(audit, "unreadable", lambda url: None)

    assert audit.main() == 1  # pip-audit's own verdict

    (command,) = pip_audit
    assert command[1:3] == ["-m", "pip_audit"]
    for option in ("--require-hashes", "--disable-pip", "--strict"):
        assert option in command
    assert command[command.index("--requirement") + 1] == "src/requirements.txt"
    assert command[command.index("--vulnerability-service") + 1] == "pypi"


def test_one_release_missing_from_pypi_is_audited_not_excused(
    monkeypatch: pytest.MonkeyPatch, pip_audit: list[list[str]]
) -> None:
    monkeypatch.setattr(
        audit, "unreadable", lambda url: None if "pip-audit" in url else f"{url}: HTTP 404"
    )

    assert audit.main() == 1  # pip-audit --strict fails on the package it cannot audit
    assert len(pip_audit) == 1
