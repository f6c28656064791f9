"""A simulated Service Quotas, for SageMaker's quotas: what INSTANCE_TYPE_BUDGETS=auto reads.

It answers from the same ``AccountQuotas`` the simulated SageMaker enforces, so a quota
granted with ``SimulatedSageMaker.set_quota`` is the value listed here, and is the limit
CreateTrainingJob is refused beyond. It is as unkind as the real service:

- ListServiceQuotas lists only the quotas that have an applied value (its model's doc
  string: "If the applied quota value is not available for a quota, the quota is not
  retrieved"): here, the ones granted a value other than AWS's default. The defaults
  come only from ListAWSDefaultServiceQuotas, so a reader needs both.
- GetServiceQuota likewise answers only for a quota with an applied value, and
  NoSuchResourceException otherwise; GetAWSDefaultServiceQuota answers for any.
- Lists come a page at a time (``MaxResults`` at most 100; ``DEFAULT_MAX_RESULTS`` when
  not given), continued with an opaque ``NextToken`` that only the same listing accepts.
- Requests are rate limited per account, as documented (``RATE_LIMITS``), and answered
  with ``TooManyRequestsException: Rate exceeded``.
- Only the ``sagemaker`` service code is known; any other is NoSuchResourceException
  with the service's message for an unknown service.

Quota ARNs are ``arn:aws:servicequotas:<region>:<account>:sagemaker/<code>`` for an
applied value and ``arn:aws:servicequotas:<region>::sagemaker/<code>`` (no account) for
a default, as the service shows them.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.model import ServiceModel

from jobctl.logic.spec_validation import ModelValidator
from jobctl_tools.local import json_api
from jobctl_tools.local.json_api import ServiceError
from jobctl_tools.local.rate_limits import AccountRateLimits, RateLimit
from jobctl_tools.local.sagemaker import ACCOUNT, REGION
from jobctl_tools.local.sagemaker_quotas import (
    QUOTAS,
    SERVICE_CODE,
    SERVICE_NAME,
    AccountQuotas,
    Quota,
)

# "Service quotas for Service Quotas" (Service Quotas User Guide, API request rates):
# requests per second, plus the additional requests one burst may send; not adjustable.
RATE_LIMITS: dict[str, RateLimit] = {
    "ListServiceQuotas": RateLimit(10, 20),
    "ListAWSDefaultServiceQuotas": RateLimit(10, 20),
    "GetServiceQuota": RateLimit(5, 10),
    "GetAWSDefaultServiceQuota": RateLimit(5, 10),
}
DEFAULT_RATE_LIMIT = RateLimit(5, 10)  # assumed: the documented rate of the other calls
# The service documents none ("a value appropriate to the operation"): assumed.
DEFAULT_MAX_RESULTS = 100

NO_SUCH_SERVICE = "The request failed because the specified service does not exist."


def no_such_quota(code: str, service: str) -> str:
    return (
        f"The request failed because the specified quota {code} does not exist for "
        f"service {service}."
    )


class Clock(Protocol):
    def now(self) -> datetime: ...


class _WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedServiceQuotas:
    """Service Quotas for one account's SageMaker quotas (``quotas``, the simulated
    SageMaker's ``quotas``). ``rate_limits=None`` turns the account's rate limits off."""

    def __init__(
        self,
        quotas: AccountQuotas,
        clock: Clock | None = None,
        rate_limits: dict[str, RateLimit] | None = RATE_LIMITS,
    ) -> None:
        self.quotas = quotas
        self.clock = clock or _WallClock()
        self._limits = AccountRateLimits(rate_limits, DEFAULT_RATE_LIMIT)
        self.calls: Counter[str] = Counter()
        self.throttled = self._limits.throttled
        self._lock = threading.Lock()
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "ListServiceQuotas": self._list_applied,
            "ListAWSDefaultServiceQuotas": self._list_defaults,
            "GetServiceQuota": self._get_applied,
            "GetAWSDefaultServiceQuota": self._get_default,
        }

    @property
    def service_model(self) -> ServiceModel:
        return json_api.service_model("service-quotas")

    def attach(self, client: Any) -> Any:
        """Answer this boto3 Service Quotas client's calls in-process."""
        return json_api.attach(self, client)

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Answer one call; raises ServiceError as Service Quotas would answer an error."""
        with self._lock:
            self.calls[operation] += 1
            if not self._limits.allow(operation, self.clock.now()):
                raise ServiceError("TooManyRequestsException", "Rate exceeded")
            handler = self._handlers.get(operation)
            if handler is None:
                raise ServiceError("UnknownOperationException", f"{operation} is not simulated")
            _check_input(self.service_model, operation, params)
            if params["ServiceCode"] != SERVICE_CODE:
                raise ServiceError("NoSuchResourceException", NO_SUCH_SERVICE)
            return handler(params)

    # -- the operations -------------------------------------------------------------------

    def _list_applied(self, params: dict[str, Any]) -> dict[str, Any]:
        applied = self.quotas.applied()
        if params.get("QuotaAppliedAtLevel") == "RESOURCE":
            applied = []  # SageMaker's instance quotas apply to the account
        if "QuotaCode" in params:
            applied = [(q, v) for q, v in applied if q.code == params["QuotaCode"]]
        in_order = sorted(applied, key=lambda pair: _ORDER[pair[0].code])
        rows = [self._applied(quota, value) for quota, value in in_order]
        return _page("ListServiceQuotas", rows, params)

    def _list_defaults(self, params: dict[str, Any]) -> dict[str, Any]:
        return _page("ListAWSDefaultServiceQuotas", [_default(q) for q in QUOTAS], params)

    def _get_applied(self, params: dict[str, Any]) -> dict[str, Any]:
        code = params["QuotaCode"]
        for quota, value in self.quotas.applied():
            if quota.code == code:
                return {"Quota": self._applied(quota, value)}
        raise ServiceError("NoSuchResourceException", no_such_quota(code, SERVICE_CODE))

    def _get_default(self, params: dict[str, Any]) -> dict[str, Any]:
        quota = _BY_CODE.get(params["QuotaCode"])
        if quota is None:
            message = no_such_quota(params["QuotaCode"], SERVICE_CODE)
            raise ServiceError("NoSuchResourceException", message)
        return {"Quota": _default(quota)}

    def _applied(self, quota: Quota, value: float) -> dict[str, Any]:
        return {
            **_described(quota, f"arn:aws:servicequotas:{REGION}:{ACCOUNT}:"),
            "Value": value,
            "QuotaAppliedAtLevel": "ACCOUNT",
        }


_BY_CODE: dict[str, Quota] = {quota.code: quota for quota in QUOTAS}
_ORDER: dict[str, int] = {quota.code: index for index, quota in enumerate(QUOTAS)}


def _described(quota: Quota, arn_prefix: str) -> dict[str, Any]:
    return {
        "ServiceCode": SERVICE_CODE,
        "ServiceName": SERVICE_NAME,
        "QuotaArn": f"{arn_prefix}{SERVICE_CODE}/{quota.code}",
        "QuotaCode": quota.code,
        "QuotaName": quota.name,
        "Unit": "None",
        "Adjustable": quota.adjustable,
        "GlobalQuota": quota.global_quota,
    }


def _default(quota: Quota) -> dict[str, Any]:
    return {**_described(quota, f"arn:aws:servicequotas:{REGION}::"), "Value": quota.default}


def _check_input(model: ServiceModel, operation: str, params: dict[str, Any]) -> None:
    """What the service refuses of a request botocore would not have sent (one sent over
    HTTP by another client): IllegalArgumentException, naming the parameters, not values."""
    shape = model.operation_model(operation).input_shape
    assert shape is not None  # noqa: S101 - every simulated operation takes input
    report = ModelValidator().validate(params, shape)
    if report.has_errors():
        names = sorted({str(error[1]) for error in report._errors})
        raise ServiceError("IllegalArgumentException", f"Invalid parameters: {', '.join(names)}")


def _page(operation: str, rows: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """One page of ``rows`` (in a stable order), from where ``NextToken`` left off: after
    the last quota code it returned, so a grant between pages shifts nothing."""
    size = params.get("MaxResults", DEFAULT_MAX_RESULTS)
    start = 0
    after = _read_token(operation, params.get("NextToken"))
    if after is not None:
        start = next(
            (i for i, row in enumerate(rows) if _ORDER[row["QuotaCode"]] > _ORDER[after]),
            len(rows),
        )
    page = rows[start : start + size]
    answer: dict[str, Any] = {"Quotas": page}
    if start + size < len(rows):
        answer["NextToken"] = _token(operation, page[-1]["QuotaCode"])
    return answer


def _token(operation: str, last_code: str) -> str:
    return base64.b64encode(json.dumps([operation, last_code]).encode()).decode()


def _read_token(operation: str, token: str | None) -> str | None:
    if token is None:
        return None
    try:
        listed, last_code = json.loads(base64.b64decode(token, validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ServiceError("InvalidPaginationTokenException", "Invalid pagination token") from exc
    if listed != operation or last_code not in _ORDER:
        raise ServiceError("InvalidPaginationTokenException", "Invalid pagination token")
    return str(last_code)
