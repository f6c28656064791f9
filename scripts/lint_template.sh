#!/usr/bin/env bash
# Lint template.yaml offline; exits non-zero on any finding (error or warning).
#
#  1. cfn-lint on template.yaml, with the serverless rules (awslabs/serverless-rules).
#     cfn-lint checks AWS::Serverless::* resources against SAM's own schema, without
#     applying the transform; the serverless rules are written for this SAM form.
#  2. cfn-lint on the template after the SAM transform (scripts/translate_template.py),
#     so the generated functions, roles, event source mappings and rules are checked
#     too. The serverless rules are left out here: on generated resources they repeat
#     step 1, and misread the SQS event source mapping (whose failures go to the
#     queue's redrive policy, not to an OnFailure destination).
#
# Needs the tools of requirements/cfn-lint.txt, e.g.
#   PATH="$PWD/.venv-cfn/bin:$PATH" bash scripts/lint_template.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

translated="$(mktemp --suffix=.json)"
trap 'rm -f "$translated"' EXIT

cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml
python scripts/translate_template.py template.yaml "$translated"
cfn-lint -- "$translated"
echo "cfn-lint: template.yaml and its SAM translation are clean"
