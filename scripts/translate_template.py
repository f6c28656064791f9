"""Write template.yaml as plain CloudFormation (the SAM transform applied), offline.

The SAM translator runs locally: AWS_DEFAULT_REGION only names the partition, and no
AWS call is made (see OfflinePolicyLoader).

Usage: python scripts/translate_template.py [TEMPLATE] OUTPUT.json   (TEMPLATE: template.yaml)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from cfnlint.decode import decode
from samtranslator.translator.transform import transform

# Where `sam package` would have uploaded the code; the translator accepts only S3 code.
PACKAGED_CODE = "s3://jobctl-artifacts-example/jobctl.zip"


class OfflinePolicyLoader:
    """Managed-policy names → ARNs, without asking IAM.

    The translator looks a short managed-policy name (``Policies: [AmazonS3ReadOnlyAccess]``)
    up in the list it ships with first, and calls this loader only for a name that list
    lacks; the loader `sam` uses would then list the account's policies through IAM.
    jobctl's template names none (SAM policy templates and inline statements only), so
    this one answers from nothing: an unknown name stays as written and cfn-lint reports
    it as an invalid ARN.
    """

    def load(self) -> dict[str, str]:
        return {}


def as_packaged(template: dict[str, Any]) -> dict[str, Any]:
    """Point local CodeUri values at S3, as `sam package` would."""
    function_globals = template.get("Globals", {}).get("Function", {})
    if "CodeUri" in function_globals:
        function_globals["CodeUri"] = PACKAGED_CODE
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and "CodeUri" in properties:
            properties["CodeUri"] = PACKAGED_CODE
    return template


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    source = Path(argv[0] if len(argv) == 2 else "template.yaml")
    target = Path(argv[-1])
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template, problems = decode(str(source))
    if problems or template is None:
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1
    translated: dict[str, Any] = transform(as_packaged(template), {}, OfflinePolicyLoader())
    target.write_text(json.dumps(translated, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
