"""The deployment the tests run against: its names and ARNs, and the functions' environment
(what template.yaml's Globals and parameters give them in Lambda)."""

from __future__ import annotations

from jobctl_tools.local.runtime import DEFAULT_ROLE as DEFAULT_ROLE
from jobctl_tools.local.runtime import Names
from jobctl_tools.local.sagemaker import ACCOUNT as ACCOUNT

OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/team-b-sagemaker"
NAMES = Names()
JOBS_TABLE, IDEMPOTENCY_TABLE, TOPIC_NAME = NAMES.jobs_table, NAMES.idempotency_table, NAMES.topic
MAX_RECEIVE_COUNT = 3
DEPLOYMENT_ID = "5e0c4b1a-jobctl-test"
FUNCTION_NAME = "jobctl-test"

ENVIRONMENT = NAMES.environment(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    DEPLOYMENT_ID=DEPLOYMENT_ID,
    ALLOWED_ROLE_ARNS=OTHER_ROLE,
    MAX_RECEIVE_COUNT=str(MAX_RECEIVE_COUNT),
    AWS_LAMBDA_FUNCTION_NAME=FUNCTION_NAME,
)
TOPIC_ARN = ENVIRONMENT["NOTICES_TOPIC_ARN"]
