"""Print src/requirements.txt (what `sam build` installs) from pyproject.toml's dependencies."""

from __future__ import annotations

import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requirements() -> str:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    header = "# Generated from pyproject.toml by `make requirements`: do not edit.\n"
    return header + "".join(f"{dependency}\n" for dependency in dependencies)


if __name__ == "__main__":
    print(requirements(), end="")
