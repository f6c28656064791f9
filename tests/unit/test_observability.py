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
        "Environment": {"A": "alpha-value", "API_KEY": "k3y"},
        "hyperparameters": {"b": 42, "learning-rate-schedule": "cosine-warmup"},
        "AlgorithmSpecification": {"ContainerArguments": ["--flag", "gamma-value"]},
        "Tags": [{"Key": "team", "Value": "not-a-secret"}],
    }
    # Short values are kept unless their key names a secret (CONTRACT §7).
    assert secret_values(spec) == ["alpha-value", "cosine-warmup", "gamma-value", "k3y"]


def test_scrub_leaves_short_values_alone() -> None:
    # "100" or "0.2" as hyperparameters must not erase every number in a message.
    secrets = secret_values({"HyperParameters": {"epochs": "100", "lr": "0.2", "level": "info"}})
    text = "exit code 100 after 0.2 s; see --lr and more information"
    assert scrub(text, secrets) == text


def test_scrub_keeps_the_meaning_of_sagemakers_reasons() -> None:
    spec = {"HyperParameters": {"lr": "--lr"}, "Environment": {"LOG": "info", "DB": "db-hostname"}}
    reason = "AlgorithmError: unknown option --lr; more information in the logs"
    assert scrub(reason, secret_values(spec)) == reason


def test_scrub_replaces_only_whole_tokens() -> None:
    secrets = secret_values({"Environment": {"DB_PASSWORD": "hunter2", "A": "s3cr3t-value"}})
    assert scrub("login hunter2 failed", secrets) == f"login {REDACTED} failed"
    assert scrub("user hunter22 and s3cr3t-values", secrets) == "user hunter22 and s3cr3t-values"
    assert scrub("got 's3cr3t-value'.", secrets) == f"got '{REDACTED}'."


def test_scrub_redacts_a_value_cut_off_at_the_end_of_a_message() -> None:
    assert scrub(f"could not parse {SECRET[:9]}", [SECRET]) == f"could not parse {REDACTED}"


def test_scrub_redacts_a_quoted_value_even_without_a_closing_quote() -> None:
    assert scrub("Value 'something-long-and-cut", []) == f"Value '{REDACTED}'"
