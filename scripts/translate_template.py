"""Write template.yaml as plain CloudFormation (the SAM transform applied), offline.

cfn-lint 1.x no longer applies the SAM transform itself, so errors inside
AWS::Serverless::* properties show up only in this translated form.
Usage: python scripts/translate_template.py [template.yaml] OUTPUT.json
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from cfnlint.decode import decode
from samtranslator.translator.transform import transform


class OfflinePolicyLoader:
    """The template names no AWS managed policies, so none need looking up over the network."""

    def load(self) -> dict[str, str]:
        return {}


def _as_packaged(template: dict[str, Any]) -> None:
    """Point local CodeUri values at S3, as `sam package` would (the translator requires it)."""
    packaged = "s3://jobctl-artifacts/jobctl.zip"
    function_globals = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = packaged
    for resource in template["Resources"].values():
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in resource.get(
            "Properties", {}
        ):
            resource["Properties"]["CodeUri"] = packaged


def main(argv: list[str]) -> int:
    source = Path(argv[0] if len(argv) > 1 else "template.yaml")
    target = Path(argv[-1])
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template, problems = decode(str(source))
    if problems or template is None:
        print(f"cannot read {source}: {problems}", file=sys.stderr)
        return 1
    _as_packaged(template)
    translated: dict[str, Any] = transform(template, {}, OfflinePolicyLoader())
    target.write_text(json.dumps(translated, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
