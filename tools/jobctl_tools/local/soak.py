"""`make soak`: many requests through the local stack, with faults, duplicates and lost events,
competing for budgets small enough that most of them wait (docs/contract.md §8).

Fails unless every request ends in exactly one terminal ledger state, every job has
exactly one notice, no job was created twice in SageMaker, every message left in the
dead-letter queue belongs to a job the ledger shows as SubmitFailed, SageMaker never ran
more jobs or instances at once than the budgets allow, and the budgets are all free again
once everything settled, their counts equal to what their holders take.

``--chaos`` (``make soak CHAOS=1``) also fails 5 % of the controller's own AWS calls and
kills 1 % of its invocations right after a write (``local.chaos``): the same checks must
hold, except that a request may be given up (SubmitFailed, one notice) when every one of
its deliveries failed, and a create whose invocation was killed is adopted, not repeated.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from jobctl.adapters.capacity import DynamoDBCapacity
from jobctl.config import Settings
from jobctl.logic.lifecycle import record_is_settled
from jobctl.logic.quotas import DEFAULT_MAX_PREEMPTIONS
from jobctl.logic.requests import JOB_TAG_KEY
from jobctl.logic.scheduling import OVERALL
from jobctl.models.requests import TRY_NAME_PATTERN
from jobctl_cli.client import NoticeCollector
from jobctl_tools.local.chaos import Chaos
from jobctl_tools.local.sagemaker import (
    ALGORITHM_ERROR,
    CAPACITY_ERROR,
    CHECKPOINT_TAG,
    CREATE_ERRORS_TAG,
    FAILED_TRIES_TAG,
    FAILURE_REASON_TAG,
    OUTCOME_TAG,
)
from jobctl_tools.local.stack import LocalStack, LocalStackOptions
from jobctl_tools.local.template import EVENTS

REQUESTS = EVENTS / "requests"
FAULTS = ["ResourceLimitExceeded:2", "ThrottlingException:1", "InternalFailure:1"]
# Budgets small enough that the waiting room, shares and priorities are exercised: the
# controller could otherwise create about one job per second (CreateTrainingJob's limit).
INSTANCE_TYPE = "ml.m5.xlarge"
JOBS_BUDGET, INSTANCES_BUDGET, RESEARCH_LIMIT = 12, 16, 5
# Guaranteed quotas (docs/contract.md §10), on a scarce type: a quarter of the training
# jobs run on one ml.g5.xlarge, of which there are 2 (budget scale aside), 1 guaranteed to
# prod and 1 to research; prod lends, research (and default, with no quota) borrow, and
# prod takes its room back by preemption. Half the training jobs keep checkpoints.
SCARCE_TYPE, SCARCE_BUDGET = "ml.g5.xlarge", 2


def scheduling(scale: int = 1) -> dict[str, str]:
    """The stack's budgets and shares, ``scale`` times the small soak's, with the waiting
    room bounded to the soak's shares (every request names one of them) and fair share
    remembering ten simulated minutes. moto answers a Query by reading its whole index,
    so a long soak keeps the waiting room shallower with larger budgets."""
    return {
        "ConcurrencyBudget": str(JOBS_BUDGET * scale),
        "InstanceTypeBudgets": (
            f"{INSTANCE_TYPE}={INSTANCES_BUDGET * scale},{SCARCE_TYPE}={SCARCE_BUDGET}"
        ),
        "ShareWeights": "research=2,prod=3",
        "ShareLimits": f"research={RESEARCH_LIMIT * scale}",
        "ShareHalfLifeSeconds": "600",
        "Shares": ",".join(SHARES),
        "MaxWaitingShares": str(len(SHARES)),
        "InstancePrices": f"{INSTANCE_TYPE}=0.23,{SCARCE_TYPE}=1.41",
        "ShareQuotas": f"prod:{SCARCE_TYPE}=1,research:{SCARCE_TYPE}=1",
        "ShareSharing": "prod=lend",
    }


# Requests that may be tried again (docs/contract.md §9): a capacity failure is retried, an
# algorithm error is not.
RETRY = {"attempts": 3}
SHARES = ["default", "research", "prod"]
PRIORITIES = [0, 50, 100]
PEAKS = [
    ("CreateTrainingJob", "CreateAutoMLJob"),
    ("ListTrainingJobs", "ListAutoMLJobs"),
    ("DescribeTrainingJob", "DescribeAutoMLJob"),
]


@dataclass
class Plan:
    bodies: list[dict[str, Any]] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    kind_of: list[str] = field(default_factory=list)  # each body's
    duplicates: int = 0
    sent_twice: set[str] = field(default_factory=set)  # the job names sent twice


def plan(requests: int, seed: int) -> Plan:
    """The request mix: 10 % invalid, 5 % with SageMaker faults, 5 % AutoML, some failing;
    of the training jobs, 10 % fail their first try for want of capacity and 5 % with an
    algorithm error, all asking for 3 tries."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible mix, not security
    training = json.loads((REQUESTS / "training.json").read_text())
    automl = json.loads((REQUESTS / "automl.json").read_text())
    invalid = json.loads((REQUESTS / "invalid.json").read_text())
    result = Plan()
    for index in range(requests):
        draw = rng.random()
        if draw < 0.10:
            body, kind = json.loads(json.dumps(invalid)), "invalid"
        elif draw < 0.15:
            body, kind = json.loads(json.dumps(automl)), "automl"
        else:
            body, kind = json.loads(json.dumps(training)), "training"
        body["job_name"] = f"soak-{index:05d}"
        body["request_id"] = f"soak-{seed}-{index}"
        tags = body["spec"].setdefault("Tags", []) if kind != "invalid" else []
        if kind != "invalid" and rng.random() < 0.05:
            tags.append({"Key": CREATE_ERRORS_TAG, "Value": rng.choice(FAULTS)})
            kind += "+fault"
        if kind.startswith("training"):
            draw = rng.random()
            if draw < 0.10:
                tags.append({"Key": FAILED_TRIES_TAG, "Value": "1"})
                tags.append({"Key": FAILURE_REASON_TAG, "Value": CAPACITY_ERROR})
                body["retry"], kind = RETRY, kind + "+retried"
            elif draw < 0.15:
                tags.append({"Key": OUTCOME_TAG, "Value": "Failed"})
                tags.append({"Key": FAILURE_REASON_TAG, "Value": ALGORITHM_ERROR})
                body["retry"], kind = RETRY, kind + "+failing"
        if kind.startswith("training"):
            body["spec"]["ResourceConfig"]["InstanceCount"] = rng.choice([1, 1, 2, 3])
            if rng.random() < 0.25:
                body["spec"]["ResourceConfig"].update(InstanceType=SCARCE_TYPE, InstanceCount=1)
            if rng.random() < 0.5:
                body["spec"]["CheckpointConfig"] = {"S3Uri": f"s3://soak/{body['job_name']}"}
                tags.append({"Key": CHECKPOINT_TAG, "Value": "5"})
        if kind != "invalid":
            body["share"] = rng.choice(SHARES)
            body["priority"] = rng.choice(PRIORITIES)
        result.kinds[kind] += 1
        result.kind_of.append(kind)
        result.bodies.append(body)
    return result


def run(
    requests: int,
    seed: int,
    timeout: float,
    history: int,
    speed: float,
    rate: float = 0,
    budget_scale: int = 1,
    chaos: Chaos | None = None,
) -> int:
    mix = plan(requests, seed)
    budgets = scheduling(budget_scale)
    options = stack_options(requests, history, speed, budgets, chaos)
    started = time.monotonic()
    with LocalStack(options) as stack:
        client = stack.client()
        collector = NoticeCollector(client).start()
        notices = collector.received
        send(mix, client.resources.queue_url, rate, random.Random(seed + 1))  # noqa: S311
        enqueued = time.monotonic()
        names = {body["job_name"] for body in mix.bodies}
        wait_settled(client, names, notices, timeout)
        collector.stop()
        elapsed = time.monotonic() - started
        records = client.find()
        letters = client.dead_letters()
        sagemaker = stack.sagemaker
        # Every try of a request is tagged with its job_name (a retry has a name of its own).
        ours = {
            key: job
            for key, job in sagemaker.jobs.items()
            if key[1] in names or job.tags.get(JOB_TAG_KEY) in names
        }
        report = summary(mix, stack, records, notices, ours, len(letters))
        report["seconds (enqueue took)"] = f"{elapsed:.1f} ({enqueued - started:.1f})"
        report["simulated seconds (speed)"] = f"{elapsed * speed:.0f} ({speed:g}x)"
        peak_jobs, peak = sagemaker.peaks(lambda job: (job.job_type, job.name) in ours)
        per_type = dict(pair.split("=") for pair in budgets["InstanceTypeBudgets"].split(","))
        report["budgets (peak in SageMaker)"] = (
            f"{budgets['ConcurrencyBudget']} jobs ({peak_jobs}), "
            + ", ".join(f"{t}={n} ({peak[t]})" for t, n in per_type.items())
        )
        preempted = [r.preemptions for r in records]
        report["preemptions (most of one job)"] = f"{sum(preempted)} ({max(preempted, default=0)})"
        if chaos is not None:
            report["chaos"] = chaos.report()
        failures = check(mix, records, notices, ours, sagemaker.error_answers, letters, chaos)
        if max(preempted, default=0) > DEFAULT_MAX_PREEMPTIONS:
            failures.append(f"a job was preempted {max(preempted)} times")
        failures += check_budgets(budgets, peak_jobs, peak, *budget_items())
    print_report(report, failures)
    return 1 if failures else 0


def wait_settled(client: Any, names: set[str], notices: list[Any], timeout: float) -> None:
    """Until every request settled and was announced, or ``timeout`` wall seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        settled = [r for r in client.find() if r.job_name in names and record_is_settled(r)]
        if len(settled) >= len(names) and len(notices) >= len(names):
            break
        time.sleep(1)
    time.sleep(2)  # let any duplicate notice arrive before counting


def stack_options(
    requests: int, history: int, speed: float, budgets: dict[str, str], chaos: Chaos | None
) -> LocalStackOptions:
    return LocalStackOptions(
        state_dir=Path(tempfile.mkdtemp(prefix="jobctl-soak-")),
        step_seconds=1.0,
        sweep_seconds=20.0,
        # Under chaos, an invocation killed after Powertools marked its request in progress
        # blocks the request until that mark expires with the function's timeout (120 s,
        # which Powertools counts on the wall clock): the 5th delivery must come after it,
        # as the template's 12-minute visibility timeout makes it come in AWS.
        visibility_timeout=40 if chaos else 1,
        log_level="ERROR" if chaos else "WARNING",
        drop_event_ratio=0.01,
        speed=speed,
        history=history,
        parameters=budgets,
        # The soak's account was granted an instance for every request: the quota is not
        # what it tests, the budgets are (its ResourceLimitExceeded faults are injected).
        quotas={INSTANCE_TYPE: requests, SCARCE_TYPE: requests},
        chaos=chaos,
    )


def send(mix: Plan, queue_url: str, rate: float, rng: random.Random) -> None:
    """The requests on the jobs queue, 5 % of them twice (a producer's retries)."""
    sqs: Any = boto3.client("sqs")  # the local stack set AWS_ENDPOINT_URL
    messages = [json.dumps(body) for body in mix.bodies]
    duplicated = [m for m in messages if rng.random() < 0.05]
    mix.duplicates = len(duplicated)
    mix.sent_twice = {json.loads(message)["job_name"] for message in duplicated}
    outgoing = messages + duplicated
    for start in range(0, len(outgoing), 10):
        entries = [
            {"Id": str(i), "MessageBody": body} for i, body in enumerate(outgoing[start:][:10])
        ]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        if rate:
            time.sleep(len(entries) / rate)


def summary(
    mix: Plan,
    stack: LocalStack,
    records: list[Any],
    notices: list[dict[str, Any]],
    ours: dict[Any, Any],
    letters: int,
) -> dict[str, Any]:
    """What the soak did, for its report."""
    sagemaker = stack.sagemaker
    return {
        "requests": len(mix.bodies),
        "duplicate deliveries sent": mix.duplicates,
        "mix": dict(mix.kinds),
        "other teams' jobs in the account": stack.options.history,
        "ledger records": len(records),
        "terminal states": dict(Counter(r.status for r in records)),
        "notices": len(notices),
        "SageMaker jobs created": len(ours),
        "tries retried": sum(r.attempt - 1 for r in records),
        "estimated cost (USD)": round(sum(r.estimated_cost_usd or 0 for r in records), 2),
        "CreateTrainingJob/CreateAutoMLJob calls": sagemaker.calls["CreateTrainingJob"]
        + sagemaker.calls["CreateAutoMLJob"],
        "List calls": sagemaker.calls["ListTrainingJobs"] + sagemaker.calls["ListAutoMLJobs"],
        "SageMaker error answers": dict(sagemaker.error_answers),
        "of which throttled by the account's rate limits": dict(sagemaker.throttled),
        "peak calls per second (Create / List / Describe)": " / ".join(
            str(sagemaker.peak_rate(*operations)) for operations in PEAKS
        ),
        "state-change events sent / dropped": f"{stack.events_sent} / {stack.events_dropped}",
        "dead letters": letters,
        "local stack errors": stack.errors.total,
        "of which the first (kinds)": sorted({e.split(":", 2)[-1][:90] for e in stack.errors[:20]}),
    }


def budget_items() -> tuple[dict[str, Any], dict[str, str]]:
    """What the budgets' items still count as running, by budget key; and the budgets whose
    count is not what their holders take (or that cannot be read)."""
    settings = Settings.from_environ(os.environ)  # as the local stack set it
    capacity = DynamoDBCapacity(
        boto3.client("dynamodb"), settings.idempotency_table, settings.jobs_table
    )
    keys = [OVERALL, INSTANCE_TYPE, SCARCE_TYPE, *(f"share:{share}" for share in SHARES)]
    held, wrong = {}, {}
    for key, item in capacity.read(keys).items():
        if item is None:
            wrong[key] = "cannot be read"
            continue
        if item.holders:
            held[key] = {holder: holding.units for holder, holding in item.holders.items()}
        counted = sum(holding.units for holding in item.holders.values())
        if item.used != counted:
            wrong[key] = f"counts {item.used}, its holders take {counted}"
    return held, wrong


def check_retries(mix: Plan, records: list[Any]) -> list[str]:
    """A first try without capacity is tried again and completes; an algorithm error is
    not; every completed training job says what it used and cost. (A request given up
    because every delivery failed is the dead-letter queue's, not the retries'.) Tries
    count without preemptions (§10): a try preempted before its failure never failed."""
    kinds = {body["job_name"]: kind for body, kind in zip(mix.bodies, mix.kind_of, strict=True)}
    failures = []
    outcome = {
        r.job_name: (r.status, r.attempt - r.preemptions)
        for r in records
        if r.status != "SubmitFailed"
    }
    kinds = {name: kind for name, kind in kinds.items() if name in outcome}
    retried = [n for n, kind in kinds.items() if kind.endswith("+retried")]
    wrong = [n for n in retried if outcome.get(n) not in (("Completed", 2), ("Completed", 1))]
    if wrong:
        failures.append(f"{len(wrong)} capacity failures not completed on try 2: {wrong[:5]}")
    failing = [n for n, kind in kinds.items() if kind.endswith("+failing")]
    wrong = [n for n in failing if outcome.get(n) != ("Failed", 1)]
    if wrong:
        failures.append(f"{len(wrong)} algorithm errors not failed on try 1: {wrong[:5]}")
    unpriced = [
        r.job_name
        for r in records
        if r.status == "Completed" and r.job_type == "TrainingJob" and r.estimated_cost_usd is None
    ]
    if unpriced:
        failures.append(f"{len(unpriced)} completed training jobs without a cost: {unpriced[:5]}")
    return failures


def check_budgets(
    budgets: dict[str, str],
    peak_jobs: int,
    peak_instances: Mapping[str, int],
    held: dict[str, Any],
    wrong: dict[str, str],
) -> list[str]:
    failures = []
    if peak_jobs > int(budgets["ConcurrencyBudget"]):
        failures.append(f"SageMaker ran {peak_jobs} jobs at once, over the budget")
    for pair in budgets["InstanceTypeBudgets"].split(","):
        instance_type, limit = pair.split("=")
        if peak_instances[instance_type] > int(limit):
            failures.append(
                f"SageMaker ran {peak_instances[instance_type]} {instance_type} at once, "
                "over its budget"
            )
    if held:
        failures.append(f"budgets still held after everything settled: {held}")
    if wrong:
        failures.append(f"budget counts differ from the ledger's: {wrong}")
    return failures


def check(
    mix: Plan,
    records: list[Any],
    notices: list[dict[str, Any]],
    jobs: dict[Any, Any],
    errors: Counter[str],
    letters: list[Any],
    chaos: Chaos | None = None,
) -> list[str]:
    names = {body["job_name"] for body in mix.bodies}
    failures = []
    by_name = Counter(r.job_name for r in records)
    if set(by_name) != names or any(count != 1 for count in by_name.values()):
        absent = sorted(names - set(by_name))
        failures.append(f"not every request has exactly one ledger record (none: {absent[:5]})")
    unsettled = [
        f"{r.job_name} ({r.phase}, try {r.attempt}, since {r.updated_at}: {r.last_error})"
        for r in records
        if not record_is_settled(r)
    ]
    if unsettled:
        failures.append(
            f"{len(unsettled)} requests never reached a terminal state: {unsettled[:5]}"
        )
    failures += check_notices(mix, names, notices, chaos)
    valid = sum(count for kind, count in mix.kinds.items() if not kind.startswith("invalid"))
    retries = sum(r.attempt - 1 for r in records)
    expected = valid - sum(1 for r in records if r.status == "SubmitFailed") + retries
    if len(jobs) != expected:
        made = Counter(TRY_NAME_PATTERN.sub("", name) for _, name in jobs)
        odd = [
            f"{r.job_name}: {made[r.job_name]} made, {r.status} after {r.attempt} tries"
            for r in records
            if made[r.job_name] != (0 if r.status in ("SubmitFailed", "Rejected") else r.attempt)
        ]
        failures.append(
            f"{len(jobs)} SageMaker jobs for {valid} valid requests, {retries} retries: {odd[:5]}"
        )
    failures += check_retries(mix, records)
    # Under chaos, a create whose answer was lost to a kill or a failed write is met
    # again, and adopted: the count of jobs above is what proves none was created twice.
    if errors["ResourceInUse"] and chaos is None:
        failures.append(
            f"{errors['ResourceInUse']} creates met an existing job (a duplicate create)"
        )
    throttled = [r.job_name for r in records if "Throttling" in (r.last_error or "")]
    if throttled:
        failures.append(f"{len(throttled)} records still show a throttling error: {throttled[:5]}")
    # Without chaos a message reaches the DLQ only with its job given up. Under chaos a
    # message whose every delivery failed may be the controller's own wake-up of a job
    # the sweep then woke again: nothing is lost while its job settled (checked above).
    failed = {r.job_name for r in records if r.status == "SubmitFailed"}
    settled = {r.job_name for r in records if record_is_settled(r)}
    explained = failed if chaos is None else settled
    unexplained = [letter for letter in letters if letter.job_name not in explained]
    if unexplained:
        failures.append(f"{len(unexplained)} dead letters with no SubmitFailed job")
    return failures


def check_notices(
    mix: Plan, names: set[str], notices: list[dict[str, Any]], chaos: Chaos | None
) -> list[str]:
    """One notice per request."""
    noticed = Counter(n["job_name"] for n in notices)
    outcomes = {name: [n["status"] for n in notices if n["job_name"] == name] for name in noticed}
    doubled = [name for name, count in noticed.items() if count > 1]
    if chaos is not None:
        # A job given up (every delivery failed) comes back when its request is sent
        # again (docs/contract.md §6): a request the soak sent twice may have two outcomes,
        # each announced once, the first SubmitFailed.
        doubled = [
            name
            for name in doubled
            if name not in mix.sent_twice
            or outcomes[name][0] != "SubmitFailed"
            or len(set(outcomes[name])) != len(outcomes[name])
        ]
    missing = names - set(noticed)
    if not doubled and not missing:
        return []
    twice = {name: outcomes[name] for name in doubled[:5]}
    return [f"notices: {len(doubled)} jobs twice ({twice}), {len(missing)} jobs never"]


def print_report(report: dict[str, Any], failures: list[str]) -> None:
    from rich.table import Table

    from jobctl_cli.cli import console

    table = Table("measure", "value", title="jobctl soak")
    for key, value in report.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    console.print(table)
    for failure in failures:
        console.print(f"[red]FAILED[/] {failure}")
    if not failures:
        console.print(
            "[green]soak passed[/]: one terminal state and one notice per request, no duplicate job"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for settling")
    parser.add_argument(
        "--history", type=int, default=20_000, help="other teams' finished jobs in the account"
    )
    parser.add_argument(
        "--speed", type=float, default=40.0, help="simulated seconds per wall second"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="requests sent per wall second (0: all at once)",
    )
    parser.add_argument(
        "--budget-scale",
        type=int,
        default=1,
        help="budgets and share limits this many times the small soak's (12 jobs, 16 "
        "instances, research 5)",
    )
    parser.add_argument(
        "--chaos",
        action="store_true",
        help="fail 5 %% of the controller's AWS calls and kill 1 %% of its invocations "
        "right after a write",
    )
    args = parser.parse_args(argv)
    chaos = Chaos(fault_rate=0.05, kill_rate=0.01, seed=args.seed) if args.chaos else None
    return run(
        args.requests,
        args.seed,
        args.timeout,
        args.history,
        args.speed,
        args.rate,
        args.budget_scale,
        chaos,
    )


if __name__ == "__main__":
    sys.exit(main())
