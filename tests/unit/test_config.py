"""Settings are read once from the environment, and a missing one is named at cold start."""

from __future__ import annotations

import pytest

from jobctl.config import Settings, SettingsError
from tests.support.environment import ENVIRONMENT


def test_a_missing_required_setting_is_named() -> None:
    environ = {k: v for k, v in ENVIRONMENT.items() if k != "JOBS_TABLE"}
    with pytest.raises(SettingsError, match="JOBS_TABLE"):
        Settings.from_environ(environ)


def test_the_default_role_is_always_permitted_and_the_allow_list_is_split_on_commas() -> None:
    settings = Settings.from_environ(
        ENVIRONMENT | {"ALLOWED_ROLE_ARNS": " arn:aws:iam::1:role/a ,arn:aws:iam::1:role/b,"}
    )
    assert settings.permitted_role_arns == {
        "arn:aws:iam::1:role/a",
        "arn:aws:iam::1:role/b",
        ENVIRONMENT["DEFAULT_ROLE_ARN"],
    }


def test_an_empty_allow_list_permits_only_the_default_role() -> None:
    settings = Settings.from_environ(ENVIRONMENT | {"ALLOWED_ROLE_ARNS": ""})
    assert settings.permitted_role_arns == {ENVIRONMENT["DEFAULT_ROLE_ARN"]}


def test_a_malformed_number_is_named() -> None:
    with pytest.raises(SettingsError, match="MAX_RECEIVE_COUNT"):
        Settings.from_environ(ENVIRONMENT | {"MAX_RECEIVE_COUNT": "five"})


QUEUE = {"JOBS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"}


def test_budgets_weights_and_limits_are_read_as_name_value_lists() -> None:
    settings = Settings.from_environ(
        ENVIRONMENT
        | QUEUE
        | {
            "INSTANCE_TYPE_BUDGETS": "ml.p4d.24xlarge=8, ml.g5.xlarge=16",
            "SHARE_WEIGHTS": "research=1,prod=2.5",
            "SHARE_LIMITS": "research=10",
        }
    )
    assert settings.instance_type_budgets == {"ml.p4d.24xlarge": 8, "ml.g5.xlarge": 16}
    assert settings.share_weights == {"research": 1.0, "prod": 2.5}
    assert settings.share_limits == {"research": 10}
    assert settings.schedules
    assert not settings.instance_quotas_auto


@pytest.mark.parametrize(
    ("value", "auto", "explicit"),
    [("auto", True, {}), ("auto,ml.p4d.24xlarge=4", True, {"ml.p4d.24xlarge": 4}), ("", False, {})],
)
def test_auto_budgets_read_the_quotas_and_named_types_lower_them(
    value: str, auto: bool, explicit: dict[str, int]
) -> None:
    settings = Settings.from_environ(ENVIRONMENT | QUEUE | {"INSTANCE_TYPE_BUDGETS": value})
    assert (settings.instance_quotas_auto, settings.instance_type_budgets) == (auto, explicit)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("INSTANCE_TYPE_BUDGETS", "ml.p4d.24xlarge=eight", "expected name=count"),
        ("SHARE_WEIGHTS", "research=0", "research: must be more than 0"),
        ("SHARE_WEIGHTS", "research=inf", "expected name=weight"),
        ("SHARE_LIMITS", "re search=1", "is not a share name"),
        ("SHARE_LIMITS", "research", "expected name=count"),
    ],
)
def test_a_malformed_scheduling_setting_is_named(name: str, value: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=name) as failure:
        Settings.from_environ(ENVIRONMENT | QUEUE | {name: value})
    assert problem in str(failure.value)


def test_a_budget_without_a_queue_to_wake_jobs_on_is_named() -> None:
    environ = {k: v for k, v in ENVIRONMENT.items() if k != "JOBS_QUEUE_URL"}
    with pytest.raises(SettingsError, match="JOBS_QUEUE_URL"):
        Settings.from_environ(environ | {"SHARE_LIMITS": "research=1"})
