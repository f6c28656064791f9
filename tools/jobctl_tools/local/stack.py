"""The embedded local stack: jobctl on one machine, without AWS or Docker.

- moto server on 127.0.0.1 plays SQS, DynamoDB, SNS and CloudFormation. The stack's
  queues, tables and topic are deployed *from template.yaml* through moto's
  CloudFormation, so template and local stack cannot drift.
- The simulated SageMaker, and a simulated Service Quotas listing the quotas it
  enforces, are served over HTTP on their own protocol.
- boto3's own endpoint settings (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_SAGEMAKER``,
  ``AWS_ENDPOINT_URL_SERVICE_QUOTAS``) point the unchanged handlers at them all, so
  ``INSTANCE_TYPE_BUDGETS=auto`` reads the simulated account's quotas.
- The functions run in this process on the one runtime
  (``jobctl_tools.local.runtime.Deployment``), its event sources on threads: the jobs
  queue's event source, SageMaker's state-change events matched against the template's
  own EventBridge patterns (AutoML jobs get none, as in AWS), and the schedule.
- The simulator and the functions share one clock, which may run faster than the wall
  clock (``speed``): a soak of a thousand jobs at SageMaker's 1 create a second takes
  minutes, not a quarter of an hour, and still meets every rate limit. moto's SQS keeps
  that clock too.
- The stack cannot outlive moto's state: when a loop meets a missing queue or a refused
  connection and moto confirms it (its jobs queue is gone, or it refuses connections),
  the stack says so in one line (``failure``) and stops its loops instead of retrying
  forever; ``errors`` keeps only the latest of what the loops met.
- One stack per state directory: ``start`` takes its lock (``local.lock``, holding the
  pid; the kernel drops it when the process dies, so a stale file is taken over).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shlex
import sys
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, EndpointConnectionError
from moto.cloudformation.parsing import get_model_map
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from jobctl.adapters.aws import clients
from jobctl.config import Settings
from jobctl_cli.client import JobctlClient, Resources, UserError
from jobctl_tools.local import transactions
from jobctl_tools.local.api_server import ApiServer
from jobctl_tools.local.chaos import Chaos
from jobctl_tools.local.clocks import ScaledClock
from jobctl_tools.local.runtime import Deployment, ErrorLog
from jobctl_tools.local.sagemaker import ACCOUNT, REGION, SimulatedSageMaker
from jobctl_tools.local.sagemaker_quotas import BY_NAME as QUOTAS_BY_NAME
from jobctl_tools.local.sagemaker_quotas import training_quota_name
from jobctl_tools.local.service_quotas import SimulatedServiceQuotas
from jobctl_tools.local.template import (
    function_events,
    load_template,
    resolve_conditions,
)

STACK_NAME = "jobctl"
LOCAL_ROLE = f"arn:aws:iam::{ACCOUNT}:role/jobctl-local-sagemaker"
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "jobctl-local",
    "AWS_SECRET_ACCESS_KEY": "jobctl-local",
    "AWS_DEFAULT_REGION": REGION,
}
# Error codes that may mean moto has lost its state: the stack then asks moto itself.
_MISSING_RESOURCE_CODES = frozenset(
    {
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "ResourceNotFoundException",
        "NotFound",
    }
)
_QUEUE_MISSING_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


LOCK_FILE = "local.lock"


class StateDirInUse(UserError):
    """Another local stack runs on this state directory."""


class StateDirLock:
    """A state directory's lock: an exclusive ``flock`` on ``local.lock`` for as long as
    the stack runs, the file holding the owner's pid. The kernel releases the lock when
    its process dies, so a file left by a dead stack is simply taken over."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> StateDirLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise StateDirInUse(
                    f"{self.path.parent} is in use by another `jobctl local up` (pid {owner}): "
                    "stop it first, or give another --state-dir"
                ) from None
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)  # its owner removed the file as we locked it: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # closing the last descriptor releases the flock
        self._fd = None


def env_script(environ: dict[str, str], scripts: Path | None = None) -> str:
    """env.sh: the stack's endpoints and credentials, and the directory of this
    interpreter's scripts (where ``jobctl`` is installed) first on PATH."""
    directory = scripts or Path(sys.executable).parent
    lines = [f"export {name}={shlex.quote(value)}" for name, value in environ.items()]
    lines.append(f"export JOBCTL_STACK={shlex.quote(STACK_NAME)}")
    lines.append(f'export PATH={shlex.quote(str(directory))}:"$PATH"')
    return "\n".join(lines) + "\n"


def silence_empty_metrics_warning() -> None:
    """Powertools warns "No application metrics to publish" after an invocation that
    emitted none (a rejection, a quiet sweep): in Lambda a log line, here noise on the
    user's terminal (the demo, ``local up``, the soak)."""
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)


@dataclass
class LocalStackOptions:
    state_dir: Path
    # Simulated SageMaker: seconds of simulated time between a job's status changes.
    step_seconds: float = 2.0
    # The sweep's schedule in simulated seconds (the template's is minutes).
    sweep_seconds: float = 10.0
    # Wall seconds before a failed message is delivered again (the template's is minutes).
    visibility_timeout: int = 5
    log_level: str = "WARNING"
    parameters: dict[str, str] = field(default_factory=dict)
    # The share of state-change events lost on the way (the sweep must find them).
    drop_event_ratio: float = 0.0
    # Simulated seconds per wall second, for the simulator and the functions alike.
    speed: float = 1.0
    # Finished jobs of other teams the simulated account already holds.
    history: int = 0
    # Training quotas granted to the simulated account, beyond its defaults (instance
    # type: instances), on-demand and spot (``parse_quotas`` reads ``TYPE=N``).
    quotas: dict[str, int] = field(default_factory=dict)
    spot_quotas: dict[str, int] = field(default_factory=dict)
    # The chaos soak's faults in the controller's own calls (local.chaos): None, none.
    chaos: Chaos | None = None


class SerialDynamoDB:
    """A WSGI app that hands moto one DynamoDB request at a time, and the others as they
    come: moto's DynamoDB is not thread-safe (TransactWriteItems deep-copies tables that
    concurrent requests change, and answers a 500 "dictionary changed size during
    iteration"), where the real service applies each request atomically."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))  # the whole answer, under the lock


class MotoServer(ThreadedMotoServer):
    """moto's threaded server, with its DynamoDB requests one at a time (SerialDynamoDB)."""

    def _server_entry(self) -> None:  # moto's own, with the app wrapped
        app = SerialDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


def parse_parameters(given: Sequence[str]) -> dict[str, str]:
    """``NAME=VALUE`` template parameters (``jobctl local up --parameter``); a name the
    template does not declare is a UserError naming it and the ones it does."""
    declared = load_template().get("Parameters", {})
    parameters: dict[str, str] = {}
    for entry in given:
        name, separator, value = entry.partition("=")
        if not separator or name.strip() not in declared:
            known = ", ".join(sorted(declared))
            raise UserError(f"--parameter {entry}: give NAME=VALUE, NAME one of {known}")
        parameters[name.strip()] = value.strip()
    return parameters


def parse_quotas(grants: Sequence[str]) -> dict[str, int]:
    """``TYPE=N`` grants (``jobctl local up --quota``) as instance type: instances; an
    instance type SageMaker does not train on, or a count that is not a whole number of
    instances, is a UserError naming the grant."""
    granted: dict[str, int] = {}
    for grant in grants:
        instance_type, _, count = grant.partition("=")
        instance_type = instance_type.strip()
        if training_quota_name(instance_type) not in QUOTAS_BY_NAME:
            raise UserError(f"--quota {grant}: {instance_type!r} is no SageMaker training type")
        if not count.strip().isdigit():
            raise UserError(f"--quota {grant}: give TYPE=N, N a whole number of instances")
        granted[instance_type] = int(count)
    return granted


class LocalStack:
    def __init__(self, options: LocalStackOptions) -> None:
        self.options = options
        self.clock = ScaledClock(options.speed)
        step = timedelta(seconds=options.step_seconds)
        self.sagemaker = SimulatedSageMaker(clock=self.clock, step=step, stopping=step)
        for spot, granted in ((False, options.quotas), (True, options.spot_quotas)):
            for instance_type, instances in granted.items():
                self.sagemaker.set_quota(instance_type, instances, spot=spot)
        parameters = {"DefaultRoleArn": LOCAL_ROLE, **options.parameters}
        self.deployment = Deployment(
            self.clock,
            self.sagemaker,
            parameters=parameters,
            drop_event_ratio=options.drop_event_ratio,
            # A failed record shows again after ``visibility_timeout`` wall seconds.
            retry_visibility=options.visibility_timeout * options.speed,
        )
        self.deployment.on_fault = self._on_fault
        self._moto = MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.service_quotas = SimulatedServiceQuotas(self.sagemaker.quotas, clock=self.clock)
        self._sagemaker_server = ApiServer(self.sagemaker)
        self._service_quotas_server = ApiServer(self.service_quotas)
        self.outputs: dict[str, str] = {}
        self.environ: dict[str, str] = {}
        # Why the stack cannot go on (one line), once it knows: moto lost its state.
        self.failure: str | None = None
        self._failed = threading.Event()
        self._failure_lock = threading.Lock()
        self._lock = StateDirLock(options.state_dir)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalStack:
        self._lock.acquire()  # StateDirInUse, before anything starts
        try:
            return self._start()
        except BaseException:
            self._lock.release()
            raise

    def _start(self) -> LocalStack:
        silence_empty_metrics_warning()
        self._quiet_logs()
        transactions.install()  # moto's rollback copies whole tables: the soak's time
        self._moto.start()
        self._sagemaker_server.start()
        self._service_quotas_server.start()
        host, port = self._moto.get_host_and_port()
        self.environ = {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ENDPOINT_URL_SAGEMAKER": self._sagemaker_server.url,
            "AWS_ENDPOINT_URL_SERVICE_QUOTAS": self._service_quotas_server.url,
        }
        os.environ.update(self.environ)
        parameters = {"DefaultRoleArn": LOCAL_ROLE, **self.options.parameters}
        self.outputs = self._deploy(parameters)
        os.environ.update(self._function_environment(parameters))
        # The local runtime's submit invocations share one process, so one pacer: it may
        # spend the whole create rate (in Lambda each container spends its part).
        os.environ["SUBMIT_MAX_CONCURRENCY"] = "1"
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        # The functions run in this process, on the simulator's time: their controller is
        # built here, once (two invocations must share one pacer), from the settings the
        # template gives them.
        settings = Settings.from_environ(os.environ)
        made = clients(service_quotas=settings.instance_quotas_auto)
        if self.options.chaos is not None:
            self.options.chaos.attach(made)
        self.deployment.use_queue(self._jobs_queue_url())
        self.controller = self.deployment.install(settings, made)
        if self.options.history:
            self.sagemaker.seed_history(self.options.history)
        self._write_state()
        # Two pollers, as Lambda's SQS event source runs SubmitFunction twice at once
        # (SubmitMaxConcurrency's least): one batch's gaps overlap the other's creates.
        self.deployment.start(sweep_seconds=self.options.sweep_seconds)
        return self

    def stop(self) -> None:
        self.deployment.close()
        self._sagemaker_server.stop()
        self._service_quotas_server.stop()
        self._moto.stop()
        self._lock.release()

    @property
    def errors(self) -> ErrorLog:
        return self.deployment.errors

    @property
    def events_sent(self) -> int:
        sent: int = self.deployment.events_sent
        return sent

    @property
    def events_dropped(self) -> int:
        dropped: int = self.deployment.events_dropped
        return dropped

    def wait_for_failure(self, timeout: float) -> str | None:
        """Wait up to ``timeout`` seconds; the one-line failure, if the stack has failed."""
        self._failed.wait(timeout)
        return self.failure

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def client(self) -> JobctlClient:
        """A jobctl client for this stack, as a user's second terminal would have."""
        session = boto3.session.Session()
        endpoint = self.environ["AWS_ENDPOINT_URL"]
        return JobctlClient(Resources.resolve(STACK_NAME, session, endpoint), session, endpoint)

    def sweep_now(self) -> Any:
        return self.deployment.sweep()

    # -- deployment from template.yaml ----------------------------------------------------

    def _deploy(self, parameters: dict[str, str]) -> dict[str, str]:
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(
            StackName=STACK_NAME,
            TemplateBody=json.dumps(deployable_template(load_template())),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        )
        stack = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise RuntimeError(f"local deployment failed: {stack.get('StackStatusReason')}")
        resources = cloudformation.describe_stack_resources(StackName=STACK_NAME)["StackResources"]
        self._physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
        self._parameters = {
            **{k: str(v.get("Default", "")) for k, v in load_template()["Parameters"].items()},
            **parameters,
            "AWS::StackId": stack["StackId"],
            "AWS::StackName": STACK_NAME,
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
        }
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def _resolve(self, value: Any) -> Any:
        """Resolve the intrinsics the functions' settings use (Ref, GetAtt Arn, Select,
        Split)."""
        if isinstance(value, dict) and "Fn::Select" in value:
            index, items = value["Fn::Select"]
            return self._resolve(items)[int(index)]
        if isinstance(value, dict) and "Fn::Split" in value:
            separator, text = value["Fn::Split"]
            return str(self._resolve(text)).split(separator)
        if isinstance(value, dict) and "Ref" in value:
            name = value["Ref"]
            return self._physical.get(name, self._parameters.get(name))
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            physical = self._physical[logical_id]
            if attribute == "Arn" and physical.startswith("http"):  # a queue URL
                return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{physical.rsplit('/', 1)[-1]}"
            return physical
        return value

    def _function_environment(self, parameters: dict[str, str]) -> dict[str, str]:
        template = load_template()
        variables = dict(
            template.get("Globals", {})
            .get("Function", {})
            .get("Environment", {})
            .get("Variables", {})
        )
        for logical_id in ("SubmitFunction", "ReconcileFunction"):
            function = template["Resources"][logical_id]["Properties"]
            variables.update(function.get("Environment", {}).get("Variables", {}))
        decided = resolve_conditions(variables, self._parameters)  # Fn::If, as deployed
        resolved = {name: self._resolve(value) for name, value in decided.items()}
        return {name: str(value) for name, value in resolved.items() if value is not None}

    def _quiet_logs(self) -> None:
        from jobctl.observability import logger

        logger.setLevel(self.options.log_level)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto server's request log

    def _write_state(self) -> None:
        self.options.state_dir.mkdir(parents=True, exist_ok=True)
        state = {"stack": STACK_NAME, "outputs": self.outputs, "environ": self.environ}
        (self.options.state_dir / "stack.json").write_text(json.dumps(state, indent=2))
        (self.options.state_dir / "env.sh").write_text(env_script(self.environ))

    # -- faults: what the stack records, and when it gives up -----------------------------

    def _on_fault(self, exc: BaseException) -> None:
        if self.failure is None and _may_mean_moto_is_gone(exc):
            failure = self._moto_gone()
            if failure is not None:
                self._fail(failure)

    def _fail(self, failure: str) -> None:
        with self._failure_lock:
            if self.failure is not None:
                return
            self.failure = failure
        self._failed.set()
        self.deployment.stop_soon()  # nothing the loops do can succeed any more

    def _moto_gone(self) -> str | None:
        """Ask moto itself whether it still holds the stack: why not, in one line, or None."""
        endpoint = self.environ["AWS_ENDPOINT_URL"]
        again = (
            "the local stack cannot recover: start `jobctl local up` again "
            "(and source its env.sh anew)"
        )
        sqs: Any = boto3.client(
            "sqs",
            endpoint_url=endpoint,
            config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1}),
        )
        queue_url = self._jobs_queue_url()
        try:
            sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        except ClientError as exc:
            if _error_code(exc) not in _QUEUE_MISSING_CODES:
                return None
            queue_name = queue_url.rsplit("/", 1)[-1]
            return (
                f"moto ({endpoint}) lost its state (restarted or reset?): the jobs queue "
                f"{queue_name} is gone; {again}"
            )
        except EndpointConnectionError:
            return f"moto ({endpoint}) refused the connection (it stopped); {again}"
        except Exception:  # noqa: BLE001 - moto slow or odd, not gone: keep going
            return None
        return None

    def _jobs_queue_url(self) -> str:
        source = next(
            e["Properties"]
            for e in function_events("SubmitFunction").values()
            if e["Type"] == "SQS"
        )
        return str(self._physical[source["Queue"]["Fn::GetAtt"][0]])


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _may_mean_moto_is_gone(exc: BaseException) -> bool:
    """A missing queue, table or topic, or a refused connection, anywhere in the chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, EndpointConnectionError | ConnectionRefusedError):
            return True
        if isinstance(current, ClientError) and _error_code(current) in _MISSING_RESOURCE_CODES:
            return True
        current = current.__cause__ or current.__context__
    return False


def deployable_template(template: dict[str, Any]) -> dict[str, Any]:
    """The part of the template moto's CloudFormation can deploy: every resource of a type
    it models (queues, tables, topic, key), none of the functions, and the outputs that
    refer only to those."""
    # The dashboard plots the functions' metrics, which moto does not deploy or keep.
    supported = set(get_model_map()) - {"AWS::CloudWatch::Dashboard"}
    resources = {
        logical_id: body
        for logical_id, body in template["Resources"].items()
        if body["Type"] in supported
    }
    known = (
        set(resources)
        | set(template.get("Parameters", {}))
        | {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName"}
    )
    outputs = {
        key: body
        for key, body in template.get("Outputs", {}).items()
        if _references(body["Value"]) <= known
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": template.get("Parameters", {}),
        "Conditions": template.get("Conditions", {}),
        "Resources": resources,
        "Outputs": outputs,
    }


def _references(value: Any) -> set[str]:
    if isinstance(value, dict):
        if "Ref" in value:
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return {target[0] if isinstance(target, list) else target.split(".")[0]}
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            return {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", text)}
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()
