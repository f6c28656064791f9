"""What the simulated AWS services share: they speak JSON 1.1 (SageMaker, Service Quotas),
answer errors as a code, a message and an HTTP status, and serve a real boto3 client
in-process (``attach``) or over HTTP (``api_server``).

Requests are decoded with botocore's own parser for the operation's input shape, so a
client takes its real code path either way.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol

import botocore.session
from botocore import parsers
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.model import OperationModel, ServiceModel


class ServiceError(Exception):
    """An error answer, as an AWS service gives it: a code, a message and an HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class SimulatedService(Protocol):
    """A simulated AWS service: botocore's model of it, and its answers."""

    @property
    def service_model(self) -> ServiceModel: ...

    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Answer one call; raises ServiceError as the service would answer an error."""
        ...


@cache
def service_model(name: str) -> ServiceModel:
    """botocore's model of a service (``sagemaker``, ``service-quotas``), loaded once."""
    return botocore.session.get_session().get_service_model(name)


def decode_request(model: OperationModel, body: bytes | None) -> dict[str, Any]:
    """A JSON 1.1 request body as API parameters (timestamps as datetimes), using botocore's
    own parser on the operation's input shape."""
    shape = model.input_shape
    if shape is None:
        return {}
    request: dict[str, Any] = parsers.create_parser("json").parse(
        {"body": body or b"{}", "headers": {}, "status_code": 200}, shape
    )
    request.pop("ResponseMetadata", None)
    return request


def attach(service: SimulatedService, client: Any) -> Any:
    """Answer this boto3 client's calls in-process: botocore builds and checks each request
    as usual, and ``service`` answers it instead of the network."""

    def answer(
        model: OperationModel, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]]:
        request = decode_request(model, params["body"])
        try:
            parsed, status = service.handle(model.name, request), 200
        except ServiceError as exc:
            parsed = {"Error": {"Code": exc.code, "Message": exc.message}}
            status = exc.status
        parsed["ResponseMetadata"] = {"HTTPStatusCode": status, "RequestId": "simulated"}
        endpoint = f"https://{service.service_model.endpoint_prefix}.simulated"
        return AWSResponse(endpoint, status, HTTPHeaders(), None), parsed

    event = f"before-call.{service.service_model.service_id.hyphenize()}"
    client.meta.events.register(event, answer)
    return client
