"""A small soak through the local stack: faults, duplicates and lost events lose nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_a_small_soak_ends_every_request_once_with_one_notice() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "jobctl_tools.local.soak", "--requests", "80", "--timeout", "120"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "soak passed" in finished.stdout
