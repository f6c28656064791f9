"""Lock src/requirements.txt (what `sam build` installs) from pyproject.toml's dependencies.

`make requirements` runs this with pip-tools' own virtualenv (.venv-piptools, Python 3.12,
the Lambda runtime's): pip-compile resolves pyproject.toml's ``[project] dependencies``
against pip's configured index and writes every package pinned (``==``) with the hashes of
its files, so `sam build` installs exactly these files (pip turns on hash-checking mode for
a requirements file with hashes). Pins already in the lock are kept; ``--upgrade`` moves
every package to its newest version within the ranges.

The lock's header records the dependencies it was compiled from, exactly as pyproject.toml
gave them (pip-compile keeps only the names), so a test can tell, offline, that the two
still agree.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "src" / "requirements.txt"
# The Lambda runtime (template.yaml: Runtime python3.12, Architectures x86_64).
LAMBDA_PYTHON = (3, 12)
LAMBDA_PLATFORM = ("Linux", "x86_64")
COMPILED_FROM = "# Compiled from pyproject.toml's [project] dependencies:"
TARGET = "# for the Lambda runtime: Python 3.12, Linux x86_64."
# How pip-compile names pyproject.toml's own dependencies in its "# via" annotations.
VIA_PYPROJECT = "jobctl (pyproject.toml)"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


@dataclass
class Pin:
    """One package of the lock: ``name==version``, its hashes, and what required it."""

    name: str
    version: str
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def dependencies() -> list[str]:
    """pyproject.toml's ``[project] dependencies``, as written there."""
    listed: list[str] = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return listed


def compiled_from(lock: str) -> list[str]:
    """The dependencies a lock's header says it was compiled from."""
    lines = lock.splitlines()
    if COMPILED_FROM not in lines:
        return []
    found = []
    for line in lines[lines.index(COMPILED_FROM) + 1 :]:
        if not line.startswith("#    "):
            break
        found.append(line.removeprefix("#    ").strip())
    return found


def pins(lock: str) -> dict[str, Pin]:
    """The lock's packages by canonical name, read from pip-compile's output: an entry is
    ``name==version`` at the start of a line, then its ``--hash`` options and ``# via``
    annotation, indented."""
    found: dict[str, Pin] = {}
    current: Pin | None = None
    in_via = False
    for line in lock.splitlines():
        pin = _PIN.match(line)
        if pin:
            current = found[canonical(pin[1])] = Pin(pin[1], pin[2])
            in_via = False
        elif current is None or not line.startswith(" "):
            current, in_via = None, False
            continue
        comment = line.strip().removeprefix("#").strip() if line.strip().startswith("#") else ""
        if comment.startswith("via"):
            in_via = True
            if comment.removeprefix("via").strip():
                current.via.append(comment.removeprefix("via").strip())
        elif in_via and comment:
            current.via.append(comment)
        current.hashes.extend(_HASH.findall(line))
    return found


def disagreements(lock: str, listed: list[str]) -> list[str]:
    """How the lock and pyproject.toml's dependencies disagree: nothing, if the lock was
    compiled from exactly these dependencies and pins each within its range."""
    from packaging.requirements import Requirement  # pip-tools' and pytest's dependency

    def key(text: str) -> tuple[str, tuple[str, ...], str, str]:
        requirement = Requirement(text)
        return (
            canonical(requirement.name),
            tuple(sorted(requirement.extras)),
            str(requirement.specifier),
            str(requirement.marker or ""),
        )

    problems = []
    source = compiled_from(lock)
    if not source:
        problems.append("the lock does not say what it was compiled from")
    wanted, compiled = {key(d): d for d in listed}, {key(d): d for d in source}
    problems += [f"pyproject.toml has {d}, the lock was not compiled from it"
                 for k, d in wanted.items() if k not in compiled]  # fmt: skip
    problems += [f"the lock was compiled from {d}, pyproject.toml no longer has it"
                 for k, d in compiled.items() if k not in wanted]  # fmt: skip
    locked = pins(lock)
    for dependency in listed:
        requirement = Requirement(dependency)
        pin = locked.get(canonical(requirement.name))
        if pin is None:
            problems.append(f"{dependency} is not pinned in the lock")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{dependency}: the lock pins {pin.version}, outside the range")
    direct = {name for name, pin in locked.items() if VIA_PYPROJECT in pin.via}
    if direct != {key(d)[0] for d in listed}:
        problems.append(f"the lock's packages via {VIA_PYPROJECT} are {sorted(direct)}")
    return problems


def with_source(lock: str, listed: list[str]) -> str:
    """The lock with a header block naming what it was compiled from, and for what."""
    block = [COMPILED_FROM, *(f"#    {dependency}" for dependency in listed), TARGET, "#"]
    lines = lock.splitlines()
    # After pip-compile's own header (the comment lines it starts with).
    end = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return "\n".join([*lines[:end], *block, *lines[end:]]) + "\n"


def compile_lock(upgrade: bool) -> int:
    command = [
        sys.executable, "-m", "piptools", "compile",
        "--quiet",
        "--generate-hashes",
        "--allow-unsafe",  # pin everything, pip and setuptools included, should they appear
        "--strip-extras",  # a flat set of pins: an extra's packages are pinned by name
        "--no-emit-index-url",  # this machine's index settings are not the lock's business
        "--no-emit-trusted-host",
        "--no-emit-find-links",
        "--output-file", str(LOCK.relative_to(ROOT)),
        *(["--upgrade"] if upgrade else []),
        str(PYPROJECT.relative_to(ROOT)),
    ]  # fmt: skip
    # What the lock's header says to run instead of pip-compile's own command line.
    environ = {**os.environ, "CUSTOM_COMPILE_COMMAND": "make requirements"}
    compiled = subprocess.run(command, cwd=ROOT, env=environ, check=False)  # noqa: S603
    return compiled.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upgrade", action="store_true", help="newest versions in the ranges")
    args = parser.parse_args()
    if sys.version_info[:2] != LAMBDA_PYTHON:
        print(
            f"gen_requirements: needs Python {'.'.join(map(str, LAMBDA_PYTHON))} (the Lambda "
            f"runtime), not {platform.python_version()}: run it with `make requirements`",
            file=sys.stderr,
        )
        return 1
    if (platform.system(), platform.machine()) != LAMBDA_PLATFORM:
        print(
            f"gen_requirements: warning: resolving on {platform.system()} "
            f"{platform.machine()}, not Linux x86_64: check the lock for platform markers",
            file=sys.stderr,
        )
    if compile_lock(args.upgrade) != 0:
        print(
            "gen_requirements: pip-compile failed: src/requirements.txt unchanged", file=sys.stderr
        )
        return 1
    LOCK.write_text(with_source(LOCK.read_text(), dependencies()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
