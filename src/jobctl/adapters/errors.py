"""Translate botocore failures into the controller's errors: the one place that reads codes."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from jobctl.errors import RetryableError

TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "ResourceLimitExceeded",
        "LimitExceededException",
        "InternalFailure",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "TransactionInProgressException",
        "KMSThrottlingException",
    }
)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def is_transient(exc: Exception) -> bool:
    """Throttling, capacity, 5xx and network trouble: worth trying again later."""
    if isinstance(exc, ConnectionError | HTTPClientError):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return error_code(exc) in TRANSIENT_CODES or int(status) >= 500
    return isinstance(exc, BotoCoreError) and "timeout" in type(exc).__name__.lower()


def translated(exc: Exception, service: str) -> Exception:
    """The controller's error for a failed AWS call: RetryableError when trying again may
    work, a plain error (a bug, a permission, a misconfiguration) otherwise."""
    if is_transient(exc):
        return RetryableError(f"{service}: {describe(exc)}")
    return RuntimeError(f"{service} call failed: {describe(exc)}")


def describe(exc: Exception) -> str:
    """A short description of an AWS failure. Validation messages may echo request values:
    callers that handle those scrub them (``observability.scrub``)."""
    if isinstance(exc, ClientError):
        return f"{error_code(exc)}: {error_message(exc)}"
    return type(exc).__name__


def put_if_absent(client: Any, table: str, item: dict[str, Any]) -> None:
    """Write ``item`` unless an item of its key exists (then leave that one as it is)."""
    try:
        client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(id)")
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise translated(exc, "DynamoDB") from exc
    except BotoCoreError as exc:
        raise translated(exc, "DynamoDB") from exc
