"""Cold start: importing each handler in a fresh interpreter, next to importing boto3 alone,
then its first invocation.

Each import runs in a new interpreter with Lambda's environment (``LAMBDA_TASK_ROOT`` set,
so Powertools' Tracer is active as with the template's ``Tracing: Active``), timed inside
the interpreter around the import statement; the runs of the three modules are
interleaved and the median of ``RUNS`` is reported (``python -X importtime -c "import
jobctl.handlers.submit"`` names the costliest imports). The first invocation (clients
built, service models loaded, settings read) runs in a fresh interpreter too, its AWS calls
answered by ``bench.fakes``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.harness import ENVIRONMENT, ROOT, measure_main

RUNS = 10
FIRST_CALL_RUNS = 5
MODULES = {
    "boto3": "boto3",
    "submit": "jobctl.handlers.submit",
    "reconcile": "jobctl.handlers.reconcile",
}

_IMPORT = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def lambda_like_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    env.update(ENVIRONMENT)
    env.pop("POWERTOOLS_TRACE_DISABLED")  # Tracing: Active, as in the template
    env.update(LAMBDA_TASK_ROOT=str(ROOT / "src"), PYTHONDONTWRITEBYTECODE="1")
    return env


def _python(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter running our own code
        [sys.executable, *flags, "-c", code],
        env=lambda_like_environment(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )


def import_times() -> dict[str, Any]:
    seconds: dict[str, list[float]] = {name: [] for name in MODULES}
    process: dict[str, list[float]] = {name: [] for name in MODULES}
    for _ in range(RUNS):
        for name, module in MODULES.items():
            started = time.perf_counter()
            answer = _python(_IMPORT.format(module=module))
            process[name].append(time.perf_counter() - started)
            seconds[name].append(float(answer.stdout.strip()))
    median = {name: statistics.median(values) for name, values in seconds.items()}
    return {
        "runs": RUNS,
        "import_ms": {name: round(value * 1000, 1) for name, value in median.items()},
        "process_ms": {
            name: round(statistics.median(values) * 1000, 1) for name, values in process.items()
        },
        "import_ratio_vs_boto3": {
            name: round(median[name] / median["boto3"], 2) for name in ("submit", "reconcile")
        },
    }


_FIRST_CALL = """
import time
t0 = time.perf_counter()
import jobctl.handlers.{function} as handler
t1 = time.perf_counter()
from bench.coldstart import first_call_rig
event, context = first_call_rig("{function}")
t2 = time.perf_counter()
handler.handler(event, context)
t3 = time.perf_counter()
event, context = first_call_rig("{function}", again=True)
t4 = time.perf_counter()
handler.handler(event, context)
t5 = time.perf_counter()
print(t1 - t0, t3 - t2, t5 - t4)
"""


def first_calls() -> dict[str, Any]:
    result = {}
    for function in ("submit", "reconcile"):
        runs = []
        for _ in range(FIRST_CALL_RUNS):
            answer = _python(_FIRST_CALL.format(function=function))
            runs.append([float(x) for x in answer.stdout.split()[-3:]])
        imports, first, second = (statistics.median(column) for column in zip(*runs, strict=True))
        result[function] = {
            "import_ms": round(imports * 1000, 1),
            "first_invocation_ms": round(first * 1000, 1),
            "warm_invocation_ms": round(second * 1000, 1),
        }
    return result


_RIG: dict[str, Any] = {}


def first_call_rig(function: str, again: bool = False) -> tuple[dict[str, Any], Any]:
    """The event for a handler's first (or second) invocation, with fakes answering the
    calls of the clients it has not built yet (they attach as each client is built)."""
    from bench.harness import job_request
    from jobctl_tools.local.lambda_events import LambdaContext, sqs_event

    if not _RIG:
        _install_rig()
    name = f"cold-{function}-{'b' if again else 'a'}"
    if function == "submit":
        return sqs_event([job_request("TrainingJob", name)]), LambdaContext("SubmitFunction", 120)
    return _submitted_job_event(name), LambdaContext("ReconcileFunction", 120)


def _install_rig() -> None:
    """One simulated clock for the simulator and the functions: the second create waits for
    its turn under the create rate on it, at no wall time. The handler still builds its own
    controller on its first invocation (that cost is measured); the fakes attach to the
    clients it makes."""
    from bench.fakes import FakeSNS
    from bench.harness import BENCH_EPOCH, template_tables
    from jobctl import bootstrap, handlers
    from jobctl.adapters import aws
    from jobctl_tools.local.clocks import ManualClock
    from jobctl_tools.local.sagemaker import SimulatedSageMaker

    clock = ManualClock(BENCH_EPOCH)
    sim, dynamodb, sns = SimulatedSageMaker(clock=clock), template_tables(), FakeSNS()

    def clients(service_quotas: bool = False) -> aws.Clients:
        made = aws.clients(service_quotas=service_quotas)
        sim.attach(made.sagemaker)
        dynamodb.attach(made.dynamodb)
        sns.attach(made.sns)
        return made

    def on_the_simulated_clock(settings: Any, made: aws.Clients) -> bootstrap.Controller:
        return bootstrap.bootstrap(settings, made, clock)

    # What the handlers' controller() builds with, replaced for this interpreter.
    setattr(handlers, "clients", clients)  # noqa: B010
    setattr(handlers, "bootstrap", on_the_simulated_clock)  # noqa: B010
    _RIG.update(sim=sim, dynamodb=dynamodb)


def _submitted_job_event(name: str) -> dict[str, Any]:
    """A job the ledger holds as just submitted, and its Starting event."""
    from bench.harness import BENCH_EPOCH, JOBS_TABLE, job_request
    from jobctl_tools.local.runtime import DEFAULT_ROLE
    from jobctl_tools.local.sagemaker import SimulatedJob, planned_path

    sim, dynamodb = _RIG["sim"], _RIG["dynamodb"]
    request = job_request("TrainingJob", name)["spec"]
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
    sim.jobs[("TrainingJob", name)] = SimulatedJob(
        job_type="TrainingJob",
        name=name,
        arn=arn,
        request={"TrainingJobName": name, "RoleArn": DEFAULT_ROLE, **request},
        created=BENCH_EPOCH,
        modified=BENCH_EPOCH,
        plan=planned_path("TrainingJob", "Completed"),
    )
    at = {"S": "2025-11-26T12:00:00.000Z"}
    item = {
        "job_name": {"S": name},
        "job_type": {"S": "TrainingJob"},
        "status": {"S": "InProgress"},
        "job_arn": {"S": arn},
        "request_id": {"S": f"req-{name}"},
        "created_at": at,
        "updated_at": at,
        "history": {"L": [{"M": {"status": {"S": "InProgress"}, "at": at}}]},
        "version": {"N": "2"},
    }
    dynamodb.call("PutItem", {"TableName": JOBS_TABLE, "Item": item})
    event: dict[str, Any] = sim.training_event(name)
    return event


def run() -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"environment": "Lambda-like: LAMBDA_TASK_ROOT set (no X-Ray SDK)"}
    result.update(import_times())
    result["first_invocation"] = first_calls()
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result


if __name__ == "__main__":
    measure_main(run, __doc__)
