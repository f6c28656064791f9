"""What `jobctl local up` leaves a user: one stack per state directory, an env.sh that
puts the CLI on PATH, and no Powertools noise on the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from jobctl_tools.local.stack import (
    LOCK_FILE,
    StateDirInUse,
    StateDirLock,
    env_script,
    silence_empty_metrics_warning,
)

HOLD_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"{os.getpid()}\\n".encode())
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_state_dir_another_process_holds_is_refused_naming_its_pid(tmp_path: Path) -> None:
    holder = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / LOCK_FILE)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StateDirInUse) as refused:
            StateDirLock(tmp_path).acquire()
        assert str(refused.value) == (
            f"{tmp_path} is in use by another `jobctl local up` (pid {holder.pid}): "
            "stop it first, or give another --state-dir"
        )
    finally:
        holder.kill()
        holder.wait()


def test_a_second_stack_in_this_process_is_refused_too(tmp_path: Path) -> None:
    first = StateDirLock(tmp_path).acquire()
    try:
        with pytest.raises(StateDirInUse, match=f"pid {os.getpid()}"):
            StateDirLock(tmp_path).acquire()
    finally:
        first.release()


def test_a_lock_file_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    # A lock file as a stack killed with SIGKILL leaves it: its pid, and no lock held.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    (tmp_path / LOCK_FILE).write_text(dead.stdout)
    lock = StateDirLock(tmp_path).acquire()
    try:
        assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_a_released_state_dir_is_free_again_and_its_lock_file_gone(tmp_path: Path) -> None:
    StateDirLock(tmp_path).acquire().release()
    assert not (tmp_path / LOCK_FILE).exists()
    StateDirLock(tmp_path).acquire().release()


def sourced(script: str, tmp_path: Path, *variables: str) -> list[str]:
    (tmp_path / "env.sh").write_text(script)
    shown = " ".join(f'"${name}"' for name in variables)
    done = subprocess.run(  # noqa: S603 - bash, a fixed script
        ["/bin/bash", "-c", f'source "$0" && printf "%s\\n" {shown}', str(tmp_path / "env.sh")],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return done.stdout.splitlines()


def test_env_sh_puts_this_interpreters_scripts_first_on_path(tmp_path: Path) -> None:
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:40123"}
    path, endpoint, stack = sourced(
        env_script(environ), tmp_path, "PATH", "AWS_ENDPOINT_URL", "JOBCTL_STACK"
    )
    assert path.split(":") == [str(Path(sys.executable).parent), "/usr/bin", "/bin"]
    assert endpoint == "http://127.0.0.1:40123"
    assert stack == "jobctl"


def test_env_sh_quotes_what_it_exports(tmp_path: Path) -> None:
    scripts = tmp_path / "a venv" / "bin"
    (path, value) = sourced(
        env_script({"ODD": "it's $HOME; `x`"}, scripts), tmp_path, "PATH", "ODD"
    )
    assert path.split(":")[0] == str(scripts)
    assert value == "it's $HOME; `x`"


def test_powertools_empty_metrics_warning_is_silenced() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_empty_metrics_warning()
        warnings.warn(
            "No application metrics to publish. The cold-start metric may be published",
            UserWarning,
            stacklevel=1,
        )
        warnings.warn("another warning", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["another warning"]
