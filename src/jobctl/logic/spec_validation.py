"""Check a request's ``spec`` against botocore's own SageMaker service model.

botocore's ``ParamValidator`` checks required members, unknown members, types and
minimums. This subclass adds the rest of the model's constraints (maximum lengths,
counts and values, and string patterns) and reports every problem by field path and
rule only: botocore's own messages echo values, and values may be secrets.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import botocore.session
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidator, ValidationErrors


@cache
def sagemaker_operation(name: str) -> OperationModel:
    """The operation's model from botocore's bundled data (loaded once per container)."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model(name)


@cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    # A few model patterns use Java-only classes such as \p{L}; those are left to
    # SageMaker itself rather than approximated here.
    try:
        return re.compile(pattern)
    except re.error:
        return None


class ModelValidator(ParamValidator):
    """botocore's validator, plus the model's max and pattern constraints."""

    VALIDATED_METADATA_ATTRS = ParamValidator.VALIDATED_METADATA_ATTRS | {"max", "pattern"}

    def _validate_string(
        self, param: Any, shape: Shape, errors: ValidationErrors, name: str
    ) -> None:
        super()._validate_string(param, shape, errors, name)  # type: ignore[misc]  # untyped in botocore
        if not isinstance(param, str):
            return
        self._check_max(len(param), shape, errors, name, "too long")
        pattern = shape.metadata.get("pattern")
        compiled = _compiled(pattern) if pattern else None
        if compiled is not None and not compiled.fullmatch(param):
            errors.report(name, "pattern mismatch", pattern=pattern)

    def _validate_list(self, param: Any, shape: Shape, errors: ValidationErrors, name: str) -> None:
        super()._validate_list(param, shape, errors, name)  # type: ignore[misc]  # untyped in botocore
        if isinstance(param, list):
            self._check_max(len(param), shape, errors, name, "too many")

    def _validate_map(self, param: Any, shape: Shape, errors: ValidationErrors, name: str) -> None:
        super()._validate_map(param, shape, errors, name)  # type: ignore[misc]  # untyped in botocore
        if isinstance(param, dict):
            self._check_max(len(param), shape, errors, name, "too many")

    def _validate_integer(
        self, param: Any, shape: Shape, errors: ValidationErrors, name: str
    ) -> None:
        super()._validate_integer(param, shape, errors, name)  # type: ignore[misc]  # untyped in botocore
        if isinstance(param, int):
            self._check_max(param, shape, errors, name, "too large")

    _validate_long = _validate_integer

    def _validate_double(
        self, param: Any, shape: Shape, errors: ValidationErrors, name: str
    ) -> None:
        super()._validate_double(param, shape, errors, name)  # type: ignore[misc]  # untyped in botocore
        if isinstance(param, int | float):
            self._check_max(param, shape, errors, name, "too large")

    _validate_float = _validate_double

    @staticmethod
    def _check_max(
        value: float, shape: Shape, errors: ValidationErrors, name: str, kind: str
    ) -> None:
        maximum = shape.metadata.get("max")
        if maximum is not None and value > maximum:
            errors.report(name, kind, maximum=maximum)


def _field(prefix: str, name: str) -> str:
    # botocore paths start with "." (".Environment.KEY"); map keys read "Map (key: K)".
    return f"{prefix}{name.lstrip('.')}".rstrip(".")


def _describe(error: tuple[str, str, dict[str, Any]], prefix: str) -> str:
    kind, name, extra = error
    field = _field(prefix, name)
    match kind:
        case "missing required field":
            return (
                f"{_field(prefix, name + '.' + extra['required_name'])}: required parameter missing"
            )
        case "unknown field":
            return f"{_field(prefix, name + '.' + extra['unknown_param'])}: unknown parameter"
        case "invalid type" | "invalid type for document":
            expected = ", ".join(
                t.replace("<class '", "").rstrip("'>") for t in extra["valid_types"]
            )
            return f"{field}: wrong type (expected {expected})"
        case "invalid length":
            return f"{field}: shorter than the minimum length {extra['min_allowed']}"
        case "invalid range":
            return f"{field}: below the minimum {extra['min_allowed']}"
        case "too long":
            return f"{field}: longer than the maximum length {extra['maximum']}"
        case "too many":
            return f"{field}: more than {extra['maximum']} entries"
        case "too large":
            return f"{field}: above the maximum {extra['maximum']}"
        case "pattern mismatch":
            return f"{field}: does not match the pattern {extra['pattern']}"
        case _:
            return f"{field}: {kind}"


def spec_problems(operation: str, params: dict[str, Any], prefix: str = "spec.") -> list[str]:
    """Every way ``params`` break the operation's input model, one line each, no values."""
    shape = sagemaker_operation(operation).input_shape
    assert shape is not None  # noqa: S101 - both create operations take input
    report = ModelValidator().validate(params, shape)
    # ValidationErrors keeps its structured (kind, path, details) entries in _errors;
    # its public report would format them with the values in.
    return [_describe(error, prefix) for error in report._errors]
