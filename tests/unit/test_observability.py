"""Redaction and scrubbing (docs/contract.md §7) whatever shape a secret comes in."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobctl.observability import REDACTED, redact, scrub, secret_values

SECRET = "s3cr3t-token-value"


@pytest.mark.parametrize(
    "event",
    [
        {"Environment": {"TOKEN": SECRET}},
        {"environment": {"TOKEN": SECRET}},
        {"ENVIRONMENT": [SECRET]},  # a list where a map belongs
        {"HyperParameters": f"token={SECRET}"},  # a string where a map belongs
        {"hyperparameters": {"nested": {"deeper": SECRET}}},
        {"AlgorithmSpecification": {"ContainerArguments": ["--token", SECRET]}},
        {"AlgorithmSpecification": {"ContainerEntrypoint": ["sh", "-c", f"run {SECRET}"]}},
        {"detail": {"Records": [{"Environment": {"TOKEN": SECRET}}]}},
    ],
)
def test_redact_hides_secret_bearing_values_of_any_shape_and_casing(event: dict[str, Any]) -> None:
    redacted = redact(event)
    assert SECRET not in json.dumps(redacted)
    assert SECRET in json.dumps(event)  # a copy: the event itself is untouched


def test_redact_keeps_the_keys_of_a_secret_map() -> None:
    assert redact({"Environment": {"TOKEN": SECRET, "LEVEL": "info"}}) == {
        "Environment": {"TOKEN": REDACTED, "LEVEL": REDACTED}
    }


def test_secret_values_are_found_under_secret_keys_anywhere() -> None:
    spec = {
        "Environment": {"A": "alpha-value"},
        "hyperparameters": {"b": 42},
        "AlgorithmSpecification": {"ContainerArguments": ["--flag", "gamma-value"]},
        "Tags": [{"Key": "team", "Value": "not-a-secret"}],
    }
    assert secret_values(spec) == ["--flag", "42", "alpha-value", "gamma-value"]


def test_scrub_leaves_short_values_alone() -> None:
    # "100" or "0.2" as hyperparameters must not erase every number in a message.
    assert scrub("exit code 100 after 0.2 s", ["100", "0.2"]) == "exit code 100 after 0.2 s"


def test_scrub_redacts_a_value_cut_off_at_the_end_of_a_message() -> None:
    assert scrub(f"could not parse {SECRET[:9]}", [SECRET]) == f"could not parse {REDACTED}"


def test_scrub_redacts_a_quoted_value_even_without_a_closing_quote() -> None:
    assert scrub("Value 'something-long-and-cut", []) == f"Value '{REDACTED}'"
