"""Send jobs built with the SageMaker Python SDK to jobctl instead of to SageMaker.

``submit_estimator(estimator, inputs)`` runs the SDK's own ``fit(wait=False)`` with its
SageMaker client answering the create call itself: the SDK builds the very
CreateTrainingJob request ``fit()`` would send (its generated job name, hyperparameters
and defaults; a framework estimator still uploads its ``source_dir`` to S3 first, as
``fit()`` does), botocore checks it against the service model, and nothing reaches
SageMaker. The request is then checked with the controller's own rules and put on the
jobs queue; the controller creates the job when its budgets allow. ``submit_automl``
does the same for ``AutoML`` (CreateAutoMLJob).

The SDK is not a dependency: any object with ``fit()`` and a ``sagemaker_session`` whose
``sagemaker_client`` is a boto3 client works (SageMaker Python SDK v2's ``Estimator``,
its framework estimators, and ``AutoML``). SDK v3's ``ModelTrainer`` has no ``fit()``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any, NamedTuple

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from jobctl.models.requests import JobRequest
from jobctl_cli.client import JobctlClient, Resources, default_stack_name

__all__ = ["Producer"]


class _Create(NamedTuple):
    """A create call the SDK makes: the job type, the member naming the job, and the
    member and resource type of the ARN SageMaker answers with."""

    job_type: str
    name_member: str
    arn_member: str
    resource: str


_CREATES = {
    "CreateTrainingJob": _Create(
        "TrainingJob", "TrainingJobName", "TrainingJobArn", "training-job"
    ),
    "CreateAutoMLJob": _Create("AutoMLJob", "AutoMLJobName", "AutoMLJobArn", "automl-job"),
}
_hook_ids = itertools.count()


class Producer:
    """Puts job requests on a jobctl deployment's queue, checked as the controller checks
    them (``InvalidRequest`` names every problem before anything is sent)."""

    def __init__(self, client: JobctlClient) -> None:
        self._client = client

    @classmethod
    def for_stack(
        cls,
        stack: str | None = None,
        session: boto3.session.Session | None = None,
        endpoint_url: str | None = None,
        **resources: str | None,
    ) -> Producer:
        """The deployment named ``stack`` (samconfig.toml's, else "jobctl"), its queue and
        roles read from the stack; ``resources`` (``queue_url``, ``default_role_arn``, …)
        given here win."""
        session = session or boto3.session.Session()
        found = Resources.resolve(stack or default_stack_name(), session, endpoint_url, **resources)
        return cls(JobctlClient(found, session, endpoint_url))

    def submit(self, request: dict[str, Any]) -> JobRequest:
        """Send one job request (docs/contract.md §3), checked first."""
        (sent,) = self._client.send([request])
        assert sent.request is not None  # noqa: S101 - send raised if it did not pass
        return sent.request

    def submit_estimator(
        self,
        estimator: Any,
        inputs: Any = None,
        *,
        job_name: str | None = None,
        priority: int | None = None,
        share: str | None = None,
        retry: dict[str, Any] | None = None,
    ) -> JobRequest:
        """The job ``estimator.fit(inputs, job_name=job_name)`` would create, sent to
        jobctl (the SDK's generated name unless ``job_name`` is given). An ``AutoML``
        fits the same way, so ``submit_automl`` is this method: the create call the SDK
        makes says which kind of job it is."""
        fit = partial(estimator.fit, inputs, wait=False, logs=False, job_name=job_name)
        operation, spec = captured_create(_sagemaker_client(estimator), fit)
        create = _CREATES[operation]
        request: dict[str, Any] = {
            "job_type": create.job_type,
            "job_name": spec.pop(create.name_member),
        }
        request["spec"] = spec
        extras = {"priority": priority, "share": share, "retry": retry}
        request.update({key: value for key, value in extras.items() if value is not None})
        return self.submit(request)

    submit_automl = submit_estimator


def captured_create(client: Any, run: Callable[[], Any]) -> tuple[str, dict[str, Any]]:
    """Run ``run`` with ``client`` (a boto3 SageMaker client) answering its create calls
    itself, after botocore has checked them; the one create it made, and its request."""
    captured: list[tuple[str, dict[str, Any]]] = []
    with _answering_creates(client, captured):
        run()
    if len(captured) != 1:
        raise RuntimeError(f"expected the SDK to make one create call, it made {len(captured)}")
    return captured[0]


@contextmanager
def _answering_creates(client: Any, captured: list[tuple[str, dict[str, Any]]]) -> Iterator[None]:
    events = client.meta.events
    region = client.meta.region_name
    hook = f"jobctl-producer-{next(_hook_ids)}"

    def keep(params: dict[str, Any], model: Any, **_: Any) -> None:
        captured.append((model.name, dict(params)))

    def answer(model: Any, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        create = _CREATES[model.name]
        name = captured[-1][1][create.name_member]
        arn = f"arn:aws:sagemaker:{region}:000000000000:{create.resource}/{name}"
        status = {"HTTPStatusCode": 200, "RequestId": hook}
        answered = {create.arn_member: arn, "ResponseMetadata": status}
        return AWSResponse("", 200, HTTPHeaders(), None), answered

    handlers = [
        (f"before-parameter-build.sagemaker.{operation}", keep) for operation in _CREATES
    ] + [(f"before-call.sagemaker.{operation}", answer) for operation in _CREATES]
    for event, handler in handlers:
        events.register(event, handler, unique_id=f"{hook}-{event}")
    try:
        yield
    finally:
        for event, _ in handlers:
            events.unregister(event, unique_id=f"{hook}-{event}")


def _sagemaker_client(sdk_object: Any) -> Any:
    """The SDK object's SageMaker client (a default session's, as fit() would make)."""
    if getattr(sdk_object, "sagemaker_session", None) is None:
        from sagemaker.session import Session  # the SDK, only when the caller gave none

        sdk_object.sagemaker_session = Session()
    return sdk_object.sagemaker_session.sagemaker_client
