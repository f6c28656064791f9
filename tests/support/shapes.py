"""Whether a simulated service's answer fits botocore's model of the real one."""

from __future__ import annotations

from typing import Any

from jobctl.logic.spec_validation import ModelValidator
from jobctl_tools.local.json_api import service_model


def output_problems(service: str, operation: str, answer: dict[str, Any]) -> str:
    """botocore's report of how ``answer`` breaks the operation's output shape (members it
    does not know, wrong types, over a maximum or off a pattern); empty if it fits."""
    shape = service_model(service).operation_model(operation).output_shape
    assert shape is not None
    answer = {key: value for key, value in answer.items() if key != "ResponseMetadata"}
    report = ModelValidator().validate(answer, shape)
    return report.generate_report() if report.has_errors() else ""
