"""Shared fixtures: environment, Lambda context, the stack in moto, one fake SageMaker.

What they hand out lives in tests/support/ (the names and the functions' environment in
``environment``, ``Stack`` in ``stack``, ``Logs`` in ``logs``, sample requests in
``requests``) and in ``jobctl_tools.local.lambda_events`` (the Lambda context and events)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

import moto.sqs.models
import pytest
from moto import mock_aws

from jobctl import handlers
from jobctl.config import get_settings
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.lambda_events import LambdaContext
from jobctl_tools.local.sagemaker import SimulatedSageMaker
from tests.support.environment import ENVIRONMENT, FUNCTION_NAME
from tests.support.logs import Logs, captured_logs
from tests.support.stack import Stack, deploy

MOTO_SQS_TIME = moto.sqs.models.unix_time  # type: ignore[attr-defined]
# The producer's tests need the SageMaker Python SDK: they run in its own virtualenv
# (make sdk-test), and this suite leaves them out where it is not installed.
collect_ignore = [] if importlib.util.find_spec("sagemaker") else ["sdk"]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SAGEMAKER",
        "AWS_ENDPOINT_URL_SERVICE_QUOTAS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    handlers.use(None)
    get_settings.cache_clear()
    # A deployment left open would keep moto's SQS on its clock for every later test.
    assert moto.sqs.models.unix_time is MOTO_SQS_TIME, "a Deployment was left open"  # type: ignore[attr-defined]


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext(function_name=FUNCTION_NAME, remaining_ms=60_000)


@pytest.fixture
def logs() -> Iterator[Logs]:
    with captured_logs() as captured:
        yield captured


@pytest.fixture
def clock() -> ManualClock:
    """The one clock of the simulated SageMaker and of the functions beside it: it moves
    only when a test moves it or the code sleeps on it (pacing costs no wall time)."""
    return ManualClock()


@pytest.fixture
def sagemaker(clock: ManualClock) -> SimulatedSageMaker:
    """The simulated SageMaker, as strict as the real one: rate limits on."""
    return SimulatedSageMaker(clock=clock)


@pytest.fixture
def stack(sagemaker: SimulatedSageMaker, clock: ManualClock) -> Iterator[Stack]:
    with mock_aws():
        deployed = deploy(sagemaker, clock)
        yield deployed
        deployed.deployment.close()
