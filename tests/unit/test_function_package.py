"""What ships to Lambda (template.yaml's CodeUri, src/) is the controller alone: none of
the tools (CLI, local stack, simulated SageMaker) and none of their dependencies, and no
AWS X-Ray SDK."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.support.template import ROOT, load_template

CODE = ROOT / "src"
# What the tools need and the functions must never import.
NOT_IN_LAMBDA = {
    "jobctl_tools",
    "jobctl_cli",
    "click",
    "rich",
    "moto",
    "yaml",
    "werkzeug",
    "aws_xray_sdk",
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_the_functions_code_uri_is_the_controller_package() -> None:
    template = load_template()
    assert template["Globals"]["Function"]["CodeUri"] == "src/"
    shipped = {
        entry.name
        for entry in CODE.iterdir()
        if not entry.name.endswith(".egg-info") and entry.name != "__pycache__"
    }
    assert shipped == {"jobctl", "requirements.txt"}


def test_no_controller_module_imports_a_tool_or_its_dependencies() -> None:
    offenders = {
        str(path.relative_to(CODE)): imported_modules(path) & NOT_IN_LAMBDA
        for path in (CODE / "jobctl").rglob("*.py")
    }
    assert {path: found for path, found in offenders.items() if found} == {}


def test_the_handlers_load_nothing_beyond_the_controller_and_its_runtime() -> None:
    script = (
        "import sys, jobctl.handlers.submit, jobctl.handlers.reconcile\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({sorted(NOT_IN_LAMBDA)!r})))"
    )
    loaded = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(CODE), "AWS_DEFAULT_REGION": "us-east-1", "PATH": ""},
    )
    assert loaded.stdout.strip() == "[]", loaded.stderr
