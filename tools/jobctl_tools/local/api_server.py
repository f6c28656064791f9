"""A simulated AWS service served over HTTP on its own wire protocol, JSON 1.1.

JSON 1.1 is ``POST /`` with ``X-Amz-Target: <targetPrefix>.<Operation>``: the prefix is
the service model's (``SageMaker``, ``ServiceQuotasV20190624``). Requests are decoded with
botocore's own parser for the operation's input shape, so any boto3 client pointed here
(``AWS_ENDPOINT_URL_SAGEMAKER``, ``AWS_ENDPOINT_URL_SERVICE_QUOTAS``) takes its real code
path.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from botocore.model import OperationNotFoundError

from jobctl_tools.local.json_api import ServiceError, SimulatedService, decode_request


def _wire(value: Any) -> Any:
    """JSON 1.1 encodes timestamps as epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value


class ApiServer:
    """Serves a simulated service on 127.0.0.1 until ``stop()``."""

    def __init__(self, service: SimulatedService, port: int = 0) -> None:
        self.service = service
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        service = self.service
        model = service.service_model
        prefix = f"{model.metadata['targetPrefix']}."

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                target = self.headers.get("X-Amz-Target", "")
                operation = target.removeprefix(prefix)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    request = decode_request(model.operation_model(operation), body)
                except OperationNotFoundError:
                    self._answer(400, {"__type": "UnknownOperationException", "message": target})
                    return
                try:
                    self._answer(200, service.handle(operation, request))
                except ServiceError as exc:
                    self._answer(exc.status, {"__type": exc.code, "message": exc.message})

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(_wire(payload)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", "simulated")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: the local stack reports what matters

        return Handler
