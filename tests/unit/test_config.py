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
