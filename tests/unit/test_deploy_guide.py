"""README "Before the first deploy": the execution role's policy documents, and the guide's
commands that need no AWS credentials, run as written."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docs" / "deploy"


def guide() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("### Before the first deploy", 1)[1].split("\n### ", 1)[0]


def test_the_execution_role_trusts_sagemaker_of_this_account_only() -> None:
    (statement,) = json.loads((DEPLOY / "sagemaker-trust-policy.json").read_text())["Statement"]
    assert statement["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "ACCOUNT_ID"


def test_the_guides_commands_that_need_no_credentials_make_valid_policies(tmp_path: Path) -> None:
    commands = [line.strip() for line in guide().splitlines() if line.strip().startswith("sed ")]
    assert len(commands) == 2
    written_to = "/tmp/"  # noqa: S108 - where the guide writes, moved to the test's directory
    script = "\n".join(command.replace(written_to, f"{tmp_path}/") for command in commands)
    shell = ["bash", "-euc", f"ACCOUNT=123456789012\n{script}"]
    subprocess.run(shell, cwd=ROOT, check=True)  # noqa: S603 - the README's own commands
    trust = json.loads((tmp_path / "trust.json").read_text())
    assert "123456789012" in json.dumps(trust)
    access = json.loads((tmp_path / "access.json").read_text())
    resources = [statement["Resource"] for statement in access["Statement"]]
    assert ["arn:aws:s3:::your-bucket", "arn:aws:s3:::your-bucket/*"] in resources


def test_every_file_the_guide_names_exists() -> None:
    for path in re.findall(r"docs/deploy/[\w.-]+", guide()):
        assert (ROOT / path).is_file(), path
