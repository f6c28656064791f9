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

Where the time goes is the standard library's to say:
``python -m cProfile -s cumulative -m bench.overhead | head -60``.
"""

from __future__ import annotations

import functools
import gc
import itertools
import os
import statistics
import sys
import time
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


def run() -> dict[str, Any]:
    started = time.perf_counter()
    rig = Rig()
    with quiet():
        submit = {f"batch_{b}": measure_submit(rig, b, n) for b, n in SUBMIT_INVOCATIONS.items()}
        fresh, duplicate = measure_events(rig, EVENT_JOBS)
        sweep = measure_sweeps(SWEEP_AUTOML_JOBS)
        scaling = quiet_sweep_scaling()
    return {
        "method": "CPU time per record inside the handler, in-process fakes' time removed; "
        "batch 10 = invocation time / 10",
        "python": sys.version.split()[0],
        "submit": submit,
        "reconcile": {"batch_1": fresh, "batch_1_duplicate": duplicate, "batch_10_sweep": sweep},
        "sweep_scaling": scaling,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    measure_main(run, __doc__)
