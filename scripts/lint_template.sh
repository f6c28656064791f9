#!/usr/bin/env bash
# cfn-lint on template.yaml, and on its SAM-translated form (cfn-lint 1.x skips what is
# inside AWS::Serverless::* resources). Run with .venv-cfn's tools on PATH (make lint-template).
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
translated="$(mktemp --suffix=.json)"
trap 'rm -f "$translated"' EXIT
cfn-lint template.yaml
python scripts/translate_template.py template.yaml "$translated"
cfn-lint "$translated"
echo "cfn-lint: template.yaml and its SAM translation are clean"
