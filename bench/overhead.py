"""Handler overhead per record, with every AWS call answered by in-process fakes.

SageMaker is the simulator (``SimulatedSageMaker.attach``), DynamoDB and SNS are the
dict-backed fakes of ``bench.fakes``; all answer on botocore's ``before-call`` event, so
the handlers run unchanged, botocore validates and serializes every request, and nothing
goes over a network. Time spent inside the fakes is measured and taken out: the figures
are the handlers' own CPU time (Powertools, pydantic, botocore's request side, jobctl),
amortized per record, in microseconds.

- submit, batch 1 and 10: SQS events of 1 or 10 new training-job requests.
- reconcile, batch 1: one state-change event with a change the ledger does not hold
  (Describe, ledger write; the last one of each job also claims and publishes its notice).
- reconcile duplicate: the same event delivered again (no Describe).
- reconcile, batch 10: a scheduled sweep that finds 10 changed AutoML jobs (as every
  5 minutes in steady state), in a fresh ledger holding ``SWEEP_AUTOML_JOBS`` jobs in
  flight: it reads the in-flight index, lists newest first down to the oldest job in
  flight (two pages) and records the 10 changes from the List summaries (none of them
  settles here, so nothing is described).
- quiet sweep scaling: a sweep that finds nothing changed, with 100 and then 1,000 jobs
  in flight: what each job in flight adds to every sweep (its List pages included: one
  per 100 jobs in flight).

The simulator keeps SageMaker's account-wide rate limits on, and the controller paces
its calls on the simulated clock (the controller's: sleeping moves it, at no wall time).

Then the same paths run once more under cProfile, and the hot spots are reported.
"""

from __future__ import annotations

import cProfile
import functools
import gc
import itertools
import os
import pstats
import statistics
import sys
import sysconfig
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from bench.harness import (
    BENCH_EPOCH,
    job_request,
    lambda_environment,
    measure_main,
    percentile,
    quiet,
    template_tables,
)
from jobctl_tools.local.clocks import ManualClock
from jobctl_tools.local.lambda_events import LambdaContext, scheduled_event, sqs_event

WARMUP = 20
SUBMIT_INVOCATIONS = {1: 400, 10: 100}
EVENT_JOBS = 100  # x 5 state changes each
SWEEP_AUTOML_JOBS = 200  # x 5 steps each, 10 per sweep
SWEEP_BATCH = 10
TOP = 10
SCALING_SIZES = (100, 1000)
MAX_RUNTIME = 7 * 86_400
RIG_QUOTAS = {"ml.m5.xlarge": 10_000}


class Rig:
    """The handlers with their clients answered in-process, on a simulated clock."""

    def __init__(self) -> None:
        lambda_environment()
        from bench.fakes import FakeSNS, FakeTime
        from jobctl import handlers
        from jobctl.adapters.aws import clients
        from jobctl.bootstrap import bootstrap
        from jobctl.config import Settings
        from jobctl_tools.local.sagemaker import SimulatedSageMaker

        self.clock = ManualClock(BENCH_EPOCH)
        # The rig's jobs never finish: its account was granted more instances than the
        # rig ever starts, so no create is refused for its quota.
        self.sim = SimulatedSageMaker(clock=self.clock, training_quotas=RIG_QUOTAS)
        made = clients()
        self.sim.attach(made.sagemaker)
        template_tables().attach(made.dynamodb)
        self.sns = FakeSNS()
        self.sns.attach(made.sns)
        self.fake_time = FakeTime()
        for client in (made.sagemaker, made.dynamodb, made.sns):
            self.fake_time.watch(client)
        # The functions run on the simulated clock: their pacing costs no wall time.
        handlers.use(bootstrap(Settings.from_environ(os.environ), made, self.clock))
        self.names = itertools.count()

    @staticmethod
    def settle() -> None:
        gc.collect()
        gc.freeze()

    def tick(self, seconds: float = 1) -> None:
        self.clock.set(self.clock.elapsed + seconds)

    def timed(self, call: Callable[[], Any]) -> tuple[float, float]:
        """(wall seconds, seconds of it inside the fakes). The garbage collector stays on,
        but what exists before the call is frozen out of it (``settle``), so collecting
        the benchmark's own long-lived objects is not billed to the handler."""
        self.fake_time.total = 0.0
        started = time.perf_counter()
        call()
        return time.perf_counter() - started, self.fake_time.total

    def new_names(self, prefix: str, count: int) -> list[str]:
        return [f"{prefix}-{next(self.names):05d}" for _ in range(count)]

    def submit_event(self, job_type: str, names: list[str]) -> dict[str, Any]:
        # Simulated time runs for hours here: keep the jobs short of their maximum runtime.
        bodies = [job_request(job_type, name, max_runtime=MAX_RUNTIME) for name in names]
        return sqs_event(bodies)

    def submit(self, event: dict[str, Any]) -> None:
        from jobctl.handlers import submit

        answer = submit.handler(event, LambdaContext("SubmitFunction", 120))
        if answer.get("batchItemFailures"):
            raise RuntimeError(f"submit failed: {answer}")

    def reconcile(self, event: dict[str, Any]) -> Any:
        from jobctl.handlers import reconcile

        return reconcile.handler(event, LambdaContext("ReconcileFunction", 300))

    def step(self, job_type: str, name: str) -> None:
        job = self.sim.jobs[(job_type, name)]
        status, secondary = job.plan.pop(0)
        self.sim.set_state(job_type, name, status, secondary)


def _summary(samples: list[float], gross: list[float]) -> dict[str, Any]:
    return {
        "records": len(samples),
        "p50_us": round(percentile(samples, 0.5) * 1e6),
        "p99_us": round(percentile(samples, 0.99) * 1e6),
        "mean_us": round(sum(samples) / len(samples) * 1e6),
        "p50_us_with_fakes": round(percentile(gross, 0.5) * 1e6),
    }


def measure_submit(rig: Rig, batch: int, invocations: int) -> dict[str, Any]:
    net, gross = [], []
    rig.settle()
    for index in range(WARMUP + invocations):
        event = rig.submit_event("TrainingJob", rig.new_names(f"ovh-sub{batch}", batch))
        rig.tick()
        wall, fake = rig.timed(functools.partial(rig.submit, event))
        if index >= WARMUP:
            net.append((wall - fake) / batch)
            gross.append(wall / batch)
    return _summary(net, gross)


def measure_events(rig: Rig, jobs: int) -> tuple[dict[str, Any], dict[str, Any]]:
    names = rig.new_names("ovh-evt", jobs)
    for start in range(0, jobs, 10):
        rig.submit(rig.submit_event("TrainingJob", names[start : start + 10]))
    fresh: tuple[list[float], list[float]] = ([], [])
    repeat: tuple[list[float], list[float]] = ([], [])
    seen = 0
    rig.settle()
    for name in names:
        while True:
            event = rig.sim.training_event(name)
            for samples in (fresh, repeat):
                wall, fake = rig.timed(functools.partial(rig.reconcile, event))
                if seen >= WARMUP:
                    samples[0].append(wall - fake)
                    samples[1].append(wall)
            seen += 1
            if not rig.sim.jobs[("TrainingJob", name)].plan:
                break
            rig.tick(60)
            rig.step("TrainingJob", name)
    return _summary(*fresh), _summary(*repeat)


def measure_sweeps(jobs: int) -> dict[str, Any]:
    rig = Rig()  # a fresh ledger: only these jobs are in flight
    names = rig.new_names("ovh-swp", jobs)
    for start in range(0, jobs, 10):
        rig.submit(rig.submit_event("AutoMLJob", names[start : start + 10]))
    rig.tick(3600)
    rig.reconcile(scheduled_event(rig.clock.now()))  # records every Starting
    moves = [name for _ in range(5) for name in names]  # each job one step per round
    net, gross, described = [], [], []
    rig.settle()
    for index, start in enumerate(range(0, len(moves), SWEEP_BATCH)):
        rig.tick(300)
        for name in moves[start : start + SWEEP_BATCH]:
            rig.step("AutoMLJob", name)
        answers: list[Any] = []
        sweep = functools.partial(rig.reconcile, scheduled_event(rig.clock.now()))
        wall, fake = rig.timed(functools.partial(_append_result, answers, sweep))
        described.append(answers[0]["sweep"]["described"])
        if index >= WARMUP // 4:
            net.append((wall - fake) / SWEEP_BATCH)
            gross.append(wall / SWEEP_BATCH)
    result = _summary(net, gross)
    result["described_per_sweep"] = round(sum(described) / len(described), 2)
    result["in_flight_jobs"] = jobs
    return result


def _append_result(answers: list[Any], call: Callable[[], Any]) -> None:
    answers.append(call())


def quiet_sweep_scaling() -> dict[str, Any]:
    rig = Rig()
    milliseconds: dict[int, float] = {}
    for size in SCALING_SIZES:
        names = rig.new_names("ovh-scale", size - len(rig.sim.jobs))
        for start in range(0, len(names), 10):
            rig.submit(rig.submit_event("TrainingJob", names[start : start + 10]))
        for _ in range(2):  # record every new job, then one sweep more
            rig.tick(3600)
            rig.reconcile(scheduled_event(rig.clock.now()))
        samples = []
        rig.settle()
        for _ in range(7):
            rig.tick(300)
            wall, fake = rig.timed(lambda: rig.reconcile(scheduled_event(rig.clock.now())))
            samples.append(wall - fake)
        milliseconds[size] = statistics.median(samples) * 1000
    low, high = SCALING_SIZES
    return {
        "quiet_sweep_ms_by_jobs_in_flight": {
            str(size): round(ms, 2) for size, ms in milliseconds.items()
        },
        "us_per_job_in_flight": round(
            (milliseconds[high] - milliseconds[low]) / (high - low) * 1000, 1
        ),
    }


# -- profiling -------------------------------------------------------------------------------

_STDLIB = sysconfig.get_paths()["stdlib"]
_PACKAGES = {
    "aws_lambda_powertools": "powertools",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "botocore": "botocore",
    "boto3": "boto3",
    "jmespath": "jmespath",
    "dateutil": "dateutil",
}


def component(filename: str) -> str:
    if "/bench/" in filename or "/jobctl/local/" in filename:
        return "fakes (bench, simulator)"
    if "/jobctl/" in filename:
        return "jobctl"
    if "site-packages/" in filename:
        package = filename.split("site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
        return _PACKAGES.get(package, package)
    if filename.startswith(_STDLIB):
        module = filename[len(_STDLIB) :].strip("/").split("/", 1)[0].removesuffix(".py")
        return f"stdlib {module}"
    return "builtins (C)"


def _where(filename: str, line: int, function: str) -> str:
    for marker in ("site-packages/", "/src/", "/bench/", _STDLIB + "/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line} {function}" if filename != "~" else function


# Named places worth watching: (label, [(file, function, only when called from (file,
# function) or None)]); their cumulative time per record is reported.
ENTRY_POINTS: list[tuple[str, list[tuple[str, str, tuple[str, str] | None]]]] = [
    (
        "botocore parameter validation of every client call",
        [("botocore/validate.py", "validate", ("botocore/validate.py", "serialize_to_request"))],
    ),
    (
        "jobctl spec validation (create_params -> spec_problems)",
        [
            (
                "jobctl/logic/spec_validation.py",
                "spec_problems",
                ("jobctl/logic/requests.py", "create_params"),
            )
        ],
    ),
    ("botocore request serialization", [("botocore/serialize.py", "serialize_to_request", None)]),
    (
        "ledger records to/from DynamoDB JSON",
        [
            ("jobctl/adapters/ledger.py", "item_of", None),
            ("jobctl/adapters/ledger.py", "record_from_item", None),
        ],
    ),
    (
        "Powertools idempotency: deepcopy of the payload",
        [("idempotency/base.py", "__init__", None)],
    ),
    (
        "Powertools idempotency: its two DynamoDB writes",
        [
            ("idempotency/persistence/base.py", "save_inprogress", None),
            ("idempotency/persistence/base.py", "save_success", None),
        ],
    ),
    ("stdlib logging (Powertools Logger)", [("logging/__init__.py", "handle", None)]),
]


def _entry_point(
    stats: dict[Any, Any], parts: list[tuple[str, str, tuple[str, str] | None]]
) -> float:
    seconds = 0.0
    for (filename, _, function), (_, _, _, cumulative, callers) in stats.items():
        for file_part, name, caller in parts:
            if function != name or not filename.endswith(file_part):
                continue
            if caller is None:
                seconds += cumulative
            else:
                seconds += sum(
                    timing[3]
                    for (caller_file, _, caller_function), timing in callers.items()
                    if caller_file.endswith(caller[0]) and caller_function == caller[1]
                )
    return seconds


def hot_spots(profile: cProfile.Profile, records: int) -> dict[str, Any]:
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    by_component: Counter[str] = Counter()
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.items():
        part = component(filename)
        by_component[part] += own
        rows.append((own, cumulative, calls, part, _where(filename, line, function)))
    fakes = by_component.pop("fakes (bench, simulator)", 0.0)
    total = sum(by_component.values())

    def row(own: float, cumulative: float, calls: int, part: str, where: str) -> dict[str, Any]:
        return {
            "where": where,
            "component": part,
            "own_us_per_record": round(own / records * 1e6, 1),
            "cumulative_us_per_record": round(cumulative / records * 1e6, 1),
            "calls_per_record": round(calls / records, 1),
            "own_share": round(own / total, 3),
        }

    own_rows = [r for r in rows if r[3] != "fakes (bench, simulator)"]
    jobctl_rows = [r for r in rows if r[3] == "jobctl" and "handlers/" not in r[4]]
    entry_points = {
        label: {
            "cumulative_us_per_record": round(_entry_point(stats, parts) / records * 1e6, 1),
            "share": round(_entry_point(stats, parts) / total, 3),
        }
        for label, parts in ENTRY_POINTS
        if _entry_point(stats, parts) > 0
    }
    return {
        "profiled_records": records,
        "entry_points": dict(sorted(entry_points.items(), key=lambda item: -item[1]["share"])),
        "own_time_share_by_component": {
            name: round(seconds / total, 3) for name, seconds in by_component.most_common(12)
        },
        "fakes_share_of_profile": round(fakes / (total + fakes), 3),
        "top_own_time": [row(*r) for r in sorted(own_rows, reverse=True)[:TOP]],
        "top_jobctl_cumulative": [
            row(*r) for r in sorted(jobctl_rows, key=lambda r: r[1], reverse=True)[:TOP]
        ],
    }


def profile_paths(rig: Rig) -> dict[str, Any]:
    submit_profile = cProfile.Profile()
    events = [rig.submit_event("TrainingJob", rig.new_names("prof-sub", 10)) for _ in range(30)]
    submit_profile.enable()
    for event in events:
        rig.submit(event)
    submit_profile.disable()

    reconcile_profile = cProfile.Profile()
    names = rig.new_names("prof-evt", 40)
    for start in range(0, len(names), 10):
        rig.submit(rig.submit_event("TrainingJob", names[start : start + 10]))
    delivered = 0
    reconcile_profile.enable()
    for name in names:
        while True:
            event = rig.sim.training_event(name)
            rig.reconcile(event)
            rig.reconcile(event)
            delivered += 2
            if not rig.sim.jobs[("TrainingJob", name)].plan:
                break
            rig.tick(60)
            rig.step("TrainingJob", name)
    reconcile_profile.disable()
    return {
        "submit": hot_spots(submit_profile, 300),
        "reconcile_events": hot_spots(reconcile_profile, delivered),
    }


def run() -> dict[str, Any]:
    started = time.perf_counter()
    rig = Rig()
    with quiet():
        submit = {f"batch_{b}": measure_submit(rig, b, n) for b, n in SUBMIT_INVOCATIONS.items()}
        fresh, duplicate = measure_events(rig, EVENT_JOBS)
        profiles = profile_paths(rig)
        sweep = measure_sweeps(SWEEP_AUTOML_JOBS)
        scaling = quiet_sweep_scaling()
    return {
        "method": "CPU time per record inside the handler, in-process fakes' time removed; "
        "batch 10 = invocation time / 10",
        "python": sys.version.split()[0],
        "submit": submit,
        "reconcile": {"batch_1": fresh, "batch_1_duplicate": duplicate, "batch_10_sweep": sweep},
        "sweep_scaling": scaling,
        "profile": profiles,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    measure_main(run, __doc__)
