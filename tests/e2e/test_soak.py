"""A small soak through the local stack: faults, duplicates, lost events and budgets that make
most requests wait lose nothing, and never run more than the budgets allow."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_a_small_soak_ends_every_request_once_with_one_notice() -> None:
    small = ["--requests", "80", "--history", "2000", "--speed", "40", "--timeout", "240"]
    finished = subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "jobctl_tools.local.soak", *small],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "soak passed" in finished.stdout
