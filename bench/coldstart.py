"""Cold start: importing each handler in a fresh interpreter, next to importing boto3 alone,
then its first invocation; and the deployment package that ``sam build`` makes.

Each import runs in a new interpreter with Lambda's environment (``LAMBDA_TASK_ROOT`` set,
so Powertools' Tracer is active as with the template's ``Tracing: Active``), timed inside
the interpreter around the import statement; the runs of the three modules are
interleaved and the median of ``RUNS`` is reported. ``python -X importtime`` names the
costliest imports. The first invocation (clients built, service models loaded, settings
read) runs in a fresh interpreter too, its AWS calls answered by ``bench.fakes``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.harness import ENVIRONMENT, ROOT, measure_main

RUNS = 10
FIRST_CALL_RUNS = 5
MODULES = {
    "boto3": "boto3",
    "submit": "jobctl.handlers.submit",
    "reconcile": "jobctl.handlers.reconcile",
}
SAM = ROOT / ".venv-sam" / "bin" / "sam"
SAM_TIMEOUT = 300

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


def top_imports(module: str, top: int = 5) -> dict[str, Any]:
    """The costliest imports by their own time, and the costliest packages as a whole."""
    runs = [_python(f"import {module}", "-X", "importtime").stderr for _ in range(3)]
    own: dict[str, list[int]] = {}
    packages: dict[str, list[int]] = {}
    for stderr in runs:
        for line in stderr.splitlines():
            if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
                continue
            self_us, cumulative_us, name = line[len("import time:") :].split("|")
            own.setdefault(name.strip(), []).append(int(self_us))
            if "." not in name.strip() and name.strip() != module:
                packages.setdefault(name.strip(), []).append(int(cumulative_us))

    def ranked(table: dict[str, list[int]]) -> list[dict[str, Any]]:
        medians = {name: statistics.median(values) for name, values in table.items()}
        best = sorted(medians.items(), key=lambda item: -item[1])[:top]
        return [{"module": name, "ms": round(us / 1000, 1)} for name, us in best]

    return {"by_own_time": ranked(own), "packages_by_cumulative_time": ranked(packages)}


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

    from bench.fakes import FakeSNS
    from bench.harness import BENCH_EPOCH, DEFAULT_ROLE, JOBS_TABLE, job_request, template_tables
    from jobctl import bootstrap, handlers
    from jobctl.adapters import aws
    from jobctl_tools.local.clocks import ManualClock
    from jobctl_tools.local.lambda_events import LambdaContext, sqs_event
    from jobctl_tools.local.sagemaker import SimulatedJob, SimulatedSageMaker, planned_path

    if not _RIG:
        # One simulated clock for the simulator and the functions: the second create waits
        # for its turn under the create rate on it, at no wall time. The handler still
        # builds its own controller on its first invocation (that cost is measured); the
        # fakes attach to the clients it makes.
        clock = ManualClock(BENCH_EPOCH)
        sim = SimulatedSageMaker(clock=clock)
        dynamodb = template_tables()
        sns = FakeSNS()

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
    name = f"cold-{function}-{'b' if again else 'a'}"
    if function == "submit":
        return sqs_event([job_request("TrainingJob", name)]), LambdaContext("SubmitFunction", 120)
    # Reconcile: a job the ledger holds as just submitted, whose Starting event arrives.
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
    return sim.training_event(name), LambdaContext("ReconcileFunction", 120)


def package_size() -> dict[str, Any]:
    """What ``sam build`` makes of each function; "not measured" when it cannot run."""
    if not SAM.exists():
        return {"measured": False, "reason": f"{SAM.relative_to(ROOT)} not found (make build)"}
    build = Path(tempfile.mkdtemp(prefix="jobctl-bench-sam-"))
    env = {**os.environ, "PYENV_VERSION": "3.12.1", "SAM_CLI_TELEMETRY": "0"}
    started = time.perf_counter()
    try:
        done = subprocess.run(  # noqa: S603 - the project's own SAM CLI
            [str(SAM), "build", "--build-dir", str(build / "build")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=SAM_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            return {"measured": False, "reason": f"sam build failed: {tail[0][:200]}"}
        functions = {}
        for function in sorted((build / "build").iterdir()):
            if function.is_dir():
                functions[function.name] = _sizes(function, build / f"{function.name}.zip")
        return {
            "measured": True,
            "build_seconds": round(time.perf_counter() - started, 1),
            "functions": functions,
        }
    except (OSError, subprocess.SubprocessError) as exc:
        return {"measured": False, "reason": f"sam build could not run: {exc}"}
    finally:
        shutil.rmtree(build, ignore_errors=True)


def _sizes(directory: Path, archive: Path) -> dict[str, Any]:
    files = [p for p in directory.rglob("*") if p.is_file()]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in files:
            bundle.write(path, path.relative_to(directory))
    by_entry: dict[str, int] = {}
    for path in files:
        top = path.relative_to(directory).parts[0].split("-")[0].removesuffix(".py")
        by_entry[top] = by_entry.get(top, 0) + path.stat().st_size
    largest = sorted(by_entry.items(), key=lambda item: -item[1])[:6]
    return {
        "unzipped_mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
        "zipped_mb": round(archive.stat().st_size / 1e6, 1),
        "largest_unzipped_mb": {name: round(size / 1e6, 1) for name, size in largest},
        # Only the controller ships: no tool package, no X-Ray SDK.
        "holds": sorted(
            name for name in ("jobctl", "jobctl_tools", "aws_xray_sdk") if name in by_entry
        ),
    }


def run() -> dict[str, Any]:
    started = time.perf_counter()
    result: dict[str, Any] = {"environment": "Lambda-like: LAMBDA_TASK_ROOT set (no X-Ray SDK)"}
    result.update(import_times())
    result["top_imports"] = {name: top_imports(MODULES[name]) for name in ("submit", "reconcile")}
    result["first_invocation"] = first_calls()
    result["package"] = package_size()
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result


if __name__ == "__main__":
    measure_main(run, __doc__)
