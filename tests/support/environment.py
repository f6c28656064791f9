"""The deployment the tests run against: its names and ARNs, and the functions' environment
(what template.yaml's Globals and parameters give them in Lambda)."""

from __future__ import annotations

ACCOUNT = "123456789012"
DEFAULT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobctl-sagemaker-execution"
OTHER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/team-b-sagemaker"
JOBS_TABLE = "jobctl-jobs"
IDEMPOTENCY_TABLE = "jobctl-idempotency"
TOPIC_NAME = "jobctl-notices"
TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:{TOPIC_NAME}"
MAX_RECEIVE_COUNT = 3
DEPLOYMENT_ID = "5e0c4b1a-jobctl-test"
FUNCTION_NAME = "jobctl-test"

ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "JOBS_TABLE": JOBS_TABLE,
    "IDEMPOTENCY_TABLE": IDEMPOTENCY_TABLE,
    "NOTICES_TOPIC_ARN": TOPIC_ARN,
    "DEFAULT_ROLE_ARN": DEFAULT_ROLE,
    "DEPLOYMENT_ID": DEPLOYMENT_ID,
    "ALLOWED_ROLE_ARNS": OTHER_ROLE,
    "MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "jobctl",
    "POWERTOOLS_METRICS_NAMESPACE": "jobctl",
    "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
}
