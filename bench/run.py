"""``make bench``: every measurement, one after another, each in its own interpreter.

Writes ``bench/results.json`` (with the machine and the commit it ran on) and rewrites the
table between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md. A partial
run (``--only``) prints its figures and writes neither: figures are compared only within
one full run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import ROOT
from bench.readme import render_table, update_readme

RESULTS = ROOT / "bench" / "results.json"
README = ROOT / "README.md"
# (result key, module, its arguments, timeout in seconds)
PARTS: list[tuple[str, str, list[str], int]] = [
    ("fleet", "bench.fleet", [], 300),
    # The same fleet with TRACKING_MODE=terminal: only outcome events reach the function.
    ("fleet_terminal", "bench.fleet", ["--tracking", "terminal"], 300),
    # The workload: the same number of jobs, each running about two hours.
    ("fleet_2h", "bench.fleet", ["--profile", "2h"], 300),
    ("fleet_2h_terminal", "bench.fleet", ["--profile", "2h", "--tracking", "terminal"], 300),
    # The sweep in an account with a 50,000-job history, next to the former sweep's calls.
    ("sweep_history", "bench.sweep", [], 240),
    ("overhead", "bench.overhead", [], 240),
    ("cold_start", "bench.coldstart", [], 480),
    ("local_stack", "bench.throughput", [], 300),
    # 1,000 requests at once through the local stack, at SageMaker's create rate.
    ("burst", "bench.burst", [], 600),
    # A contended p4d budget: priorities, shares, a freed slot's reuse; and the same on
    # the controller before scheduling (its run is a subprocess of this part).
    ("scheduling", "bench.scheduling", [], 600),
    # 300 requests retried by failure cause (10 % CapacityError, 3 % AlgorithmError, 20 %
    # spot), and the same fleet without its capacity failures, for the calls retries add.
    ("retries", "bench.retries", [], 300),
]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 0
    return {
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
    }


def git_commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603 - fixed git arguments
            ["git", *args],  # noqa: S607 - git from PATH, as make itself would use
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return f"{commit}+dirty" if git("status", "--porcelain", "--", "src") else commit


def run_part(key: str, module: str, timeout: int, extra: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="jobctl-bench-") as scratch:
        out = Path(scratch) / f"{key}.json"
        log = Path(scratch) / f"{key}.log"
        started = time.perf_counter()
        print(f"bench: {key} ...", file=sys.stderr, flush=True)
        try:
            with log.open("w") as sink:
                done = subprocess.run(  # noqa: S603 - our interpreter, our module
                    [sys.executable, "-m", module, str(out), *extra],
                    cwd=ROOT,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                )
            failure = None if done.returncode == 0 else f"exit status {done.returncode}"
        except subprocess.TimeoutExpired:
            failure = f"timed out after {timeout} s"
        seconds = time.perf_counter() - started
        if failure is None and out.exists():
            print(f"bench: {key} done in {seconds:.0f} s", file=sys.stderr, flush=True)
            return json.loads(out.read_text())  # type: ignore[no-any-return]
        tail = log.read_text().strip().splitlines()[-15:]
        print(f"bench: {key} FAILED ({failure})", *tail, sep="\n  ", file=sys.stderr)
        return {"failed": failure or "no result written", "log_tail": tail}


# Fleet runs (all at the functions' default settings).
DEFAULT_FLEETS = ("fleet", "fleet_terminal", "fleet_2h", "fleet_2h_terminal")
PROGRESS_FLEETS = ("fleet", "fleet_2h")


def _measured(part: dict[str, Any] | None) -> bool:
    return bool(part) and "failed" not in part  # type: ignore[operator]


def _quiet_sweep(fleet: dict[str, Any]) -> tuple[int, int]:
    """A run's worst quiet sweep: (Describes, List calls), while jobs run or after."""
    in_flight, settled = fleet["quiet_sweep_in_flight"], fleet["quiet_sweep_settled"]
    return (
        max(in_flight["max_describes"], settled["describes"]),
        max(in_flight["max_list_calls"], settled["list_calls"]),
    )


def headline(parts: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue names, flat, from this run's parts (None when not measured)."""
    fleet, overhead = parts.get("fleet", {}), parts.get("overhead", {})
    cold, stack = parts.get("cold_start", {}), parts.get("local_stack", {})
    figures: dict[str, Any] = {}
    if _measured(fleet):
        describes, lists = _quiet_sweep(fleet)
        figures.update(
            describe_per_state_change=fleet["describe_per_state_change"],
            duplicate_delivery_describes=fleet["duplicate_delivery_describes"],
            quiet_sweep_describes=describes,
            quiet_sweep_list_calls=lists,
            calls_ratio_vs_poll_60s=fleet["calls_ratio_vs_poll"]["poll_60s"],
            sagemaker_calls_per_job=fleet["controller"]["per_job"]["sagemaker_calls"],
            lambda_invocations_per_job=fleet["controller"]["per_job"]["lambda_invocations"],
            mean_job_lifetime_minutes=fleet["workload"]["mean_job_lifetime_minutes"],
        )
    for key, suffix in (
        ("fleet_terminal", "_terminal"),
        ("fleet_2h", "_2h_jobs"),
        ("fleet_2h_terminal", "_terminal_2h_jobs"),
    ):
        part = parts.get(key, {})
        if _measured(part):
            per_job = part["controller"]["per_job"]
            figures.update(
                {
                    f"calls_ratio_vs_poll_30s{suffix}": part["calls_ratio_vs_poll"]["poll_30s"],
                    f"calls_ratio_vs_poll_60s{suffix}": part["calls_ratio_vs_poll"]["poll_60s"],
                    f"sagemaker_calls_per_job{suffix}": per_job["sagemaker_calls"],
                    f"lambda_invocations_per_job{suffix}": per_job["lambda_invocations"],
                }
            )
    # Progress tracked: the first fleet's ratio (target >= 35x) and the 2-hour fleet's
    # (the workload, target >= 100x).
    figures["calls_ratio_vs_poll_30s"] = {
        key: parts[key]["calls_ratio_vs_poll"]["poll_30s"] if _measured(parts.get(key)) else None
        for key in PROGRESS_FLEETS
    }
    runs = {key: parts[key] for key in DEFAULT_FLEETS if _measured(parts.get(key))}
    if runs:
        # Over every fleet run with the default settings: the worst, and the sum.
        figures.update(
            quiet_sweep_describes=max(_quiet_sweep(f)[0] for f in runs.values()),
            quiet_sweep_list_calls=max(_quiet_sweep(f)[1] for f in runs.values()),
            duplicate_delivery_describes=sum(
                f["duplicate_delivery_describes"] for f in runs.values()
            ),
        )
        terminal = [f["checks"] for key, f in runs.items() if "terminal" in key]
        if terminal:
            figures["jobs_settled_and_notified_once_terminal"] = all(
                c["jobs"]
                == c["settled_in_ledger"]
                == c["ledger_matches_sagemaker"]
                == c["jobs_notified_exactly_once"]
                for c in terminal
            )
        progress = [runs[key] for key in PROGRESS_FLEETS if key in runs]
        if progress:
            figures["describe_per_state_change"] = max(
                f["describe_per_state_change"] for f in progress
            )
        # The controller's simulator, rate limits on: the busiest second of any fleet run,
        # and every call the account's limits refused.
        figures.update(
            peak_list_tps=max(f["peak_list_tps"] for f in runs.values()),
            peak_describe_tps=max(f["peak_describe_tps"] for f in runs.values()),
            fleet_throttled_calls=sum(sum(f["throttled"].values()) for f in runs.values()),
            unsettled_describes=sum(f["unsettled_describes"] for f in runs.values()),
        )
    sweep, burst = parts.get("sweep_history", {}), parts.get("burst", {})
    if _measured(sweep):
        figures.update(
            sweep_list_calls_first_50k=sweep["sweep_list_calls_first_50k"],
            sweep_list_calls_quiet_50k=sweep["sweep_list_calls_quiet_50k"],
            sweep_list_calls_quiet_50k_before=sweep["sweep_list_calls_quiet_50k_before"],
            sweep_describes_quiet_50k=sweep["sweep_describes_quiet_50k"],
        )
    if _measured(burst):
        figures.update(
            burst_seconds_per_job=burst["burst_seconds_per_job"],
            burst_submit_failed=burst["burst_submit_failed"],
        )
    scheduling = parts.get("scheduling", {})
    if _measured(scheduling):
        figures.update(
            {
                key: scheduling[key]
                for key in (
                    "slot_idle_seconds_p50",
                    "slot_idle_seconds_p95",
                    "slot_idle_seconds_p95_before",
                    "priority_inversions",
                    "share_deviation_percent",
                    "utilisation_percent",
                )
            }
        )
    retries = parts.get("retries", {})
    if _measured(retries):
        accounts = retries["report_vs_simulator"]
        figures.update(
            {
                key: retries[key]
                for key in (
                    "retried_jobs",
                    "retried_jobs_expected",
                    "retried_algorithm_errors",
                    "notices_per_job",
                    "jobs_notified_exactly_once",
                    "extra_sagemaker_calls_per_retry",
                    "report_matches_simulator",
                )
            },
            retries_jobs=retries["workload"]["jobs"],
            report_billable_instance_seconds_difference=accounts["billable_instance_seconds"][
                "difference"
            ],
            report_training_seconds_difference=accounts["training_seconds"]["difference"],
        )
    package = cold.get("package", {}) if _measured(cold) else {}
    if package.get("measured"):
        # What each function's deployment package weighs, zipped (sam build).
        figures["package_mb"] = {
            name: sizes["zipped_mb"] for name, sizes in package["functions"].items()
        }
    if _measured(overhead):
        figures.update(
            submit_p50_us=overhead["submit"]["batch_1"]["p50_us"],
            submit_p99_us=overhead["submit"]["batch_1"]["p99_us"],
            submit_p99_us_batch_10=overhead["submit"]["batch_10"]["p99_us"],
            reconcile_p50_us=overhead["reconcile"]["batch_1"]["p50_us"],
            reconcile_p99_us=overhead["reconcile"]["batch_1"]["p99_us"],
            reconcile_p99_us_batch_10=overhead["reconcile"]["batch_10_sweep"]["p99_us"],
        )
    if _measured(cold):
        package = cold["package"]
        sizes = package.get("functions", {}).values()
        figures.update(
            import_ratio_submit=cold["import_ratio_vs_boto3"]["submit"],
            import_ratio_reconcile=cold["import_ratio_vs_boto3"]["reconcile"],
            package_mb=max((s["zipped_mb"] for s in sizes), default=None),
            package_unzipped_mb=max((s["unzipped_mb"] for s in sizes), default=None),
        )
    if _measured(stack):
        figures.update(
            local_stack_requests_per_second=stack["requests_per_second"],
            local_stack_event_to_notice_p50_ms=stack["event_to_notice_ms"]["one_at_a_time"].get(
                "p50"
            ),
        )
    for key in (
        "describe_per_state_change",
        "duplicate_delivery_describes",
        "quiet_sweep_describes",
        "quiet_sweep_list_calls",
        "calls_ratio_vs_poll_30s_2h_jobs",
        "calls_ratio_vs_poll_30s_terminal",
        "calls_ratio_vs_poll_30s_terminal_2h_jobs",
        "submit_p99_us",
        "reconcile_p99_us",
        "import_ratio_submit",
        "import_ratio_reconcile",
        "package_mb",
        "peak_list_tps",
        "peak_describe_tps",
        "fleet_throttled_calls",
        "sweep_list_calls_first_50k",
        "sweep_list_calls_quiet_50k",
        "sweep_list_calls_quiet_50k_before",
        "sweep_describes_quiet_50k",
        "burst_seconds_per_job",
        "burst_submit_failed",
        "slot_idle_seconds_p50",
        "slot_idle_seconds_p95",
        "slot_idle_seconds_p95_before",
        "priority_inversions",
        "share_deviation_percent",
        "utilisation_percent",
        "retried_jobs",
        "retried_jobs_expected",
        "retried_algorithm_errors",
        "notices_per_job",
        "jobs_notified_exactly_once",
        "retries_jobs",
        "extra_sagemaker_calls_per_retry",
        "report_matches_simulator",
        "report_billable_instance_seconds_difference",
        "report_training_seconds_difference",
    ):
        figures.setdefault(key, None)
    return figures


# The targets: (name, wanted, the figures it is judged on, the test).
TARGETS: list[tuple[str, str, tuple[str, ...], Any]] = [
    (
        "Describes per distinct state change",
        "<= 1",
        ("describe_per_state_change",),
        lambda v: v <= 1,
    ),
    (
        "Describes caused by duplicate deliveries",
        "0",
        ("duplicate_delivery_describes",),
        lambda v: v == 0,
    ),
    (
        "Quiet sweep: Describes / List calls (2 job types)",
        "0 / a page or two per type",
        ("quiet_sweep_describes", "quiet_sweep_list_calls"),
        lambda describes, lists: describes == 0 and lists <= 4,
    ),
    (
        "SageMaker calls, 30 s poller / jobctl (progress tracked)",
        ">= 35x",
        ("calls_ratio_vs_poll_30s.fleet",),
        lambda v: v >= 35,
    ),
    (
        "SageMaker calls, 30 s poller / jobctl (progress tracked), 2-hour jobs",
        ">= 100x",
        ("calls_ratio_vs_poll_30s.fleet_2h",),
        lambda v: v >= 100,
    ),
    (
        "SageMaker calls, 30 s poller / jobctl (terminal-only)",
        ">= 100x",
        ("calls_ratio_vs_poll_30s_terminal",),
        lambda v: v >= 100,
    ),
    (
        "SageMaker calls, 30 s poller / jobctl (terminal-only), 2-hour jobs",
        ">= 100x",
        ("calls_ratio_vs_poll_30s_terminal_2h_jobs",),
        lambda v: v >= 100,
    ),
    (
        "Peak SageMaker calls per second, List / Describe (fleet runs)",
        "within the account's limits: <= 2 / <= 5",
        ("peak_list_tps", "peak_describe_tps"),
        lambda lists, describes: lists <= 2 and describes <= 5,
    ),
    (
        "Calls throttled by the account's limits (fleet runs)",
        "0",
        ("fleet_throttled_calls",),
        lambda v: v == 0,
    ),
    (
        "Sweep, 50,000-job history, 200 in flight: List calls first / quiet, quiet Describes",
        "<= 4 / <= 4 / 0",
        ("sweep_list_calls_first_50k", "sweep_list_calls_quiet_50k", "sweep_describes_quiet_50k"),
        lambda first, quiet, describes: first <= 4 and quiet <= 4 and describes == 0,
    ),
    (
        "Burst of 1,000 requests: seconds per job to InProgress",
        "<= 1.15",
        ("burst_seconds_per_job",),
        lambda v: v <= 1.15,
    ),
    (
        "Burst of 1,000 requests: SubmitFailed",
        "0",
        ("burst_submit_failed",),
        lambda v: v == 0,
    ),
    (
        "Scheduling: seconds from a slot freeing to the next waiting job's create, p95",
        "<= 10",
        ("slot_idle_seconds_p95",),
        lambda v: v <= 10,
    ),
    (
        "Scheduling: priority inversions",
        "0",
        ("priority_inversions",),
        lambda v: v == 0,
    ),
    (
        "Scheduling: share's instance-hours off its weight's part, all shares backlogged (%)",
        "<= 10",
        ("share_deviation_percent",),
        lambda v: v <= 10,
    ),
    (
        "Scheduling: budget in use while work waits (%)",
        ">= 95",
        ("utilisation_percent",),
        lambda v: v >= 95,
    ),
    (
        "Retries: jobs retried / capacity failures given / algorithm errors retried",
        "all of them, none of the algorithm errors",
        ("retried_jobs", "retried_jobs_expected", "retried_algorithm_errors"),
        lambda retried, expected, algorithm: retried == expected and algorithm == 0,
    ),
    (
        "Retries: notices per job / jobs notified exactly once / jobs",
        "exactly 1.0 / every job",
        ("notices_per_job", "jobs_notified_exactly_once", "retries_jobs"),
        lambda per_job, once, jobs: per_job == 1.0 and once == jobs,
    ),
    (
        "Retries: billable instance-seconds / training seconds off the simulator's "
        "accounting; all of jobctl report's totals agree",
        "0 / 0 / True (to the second)",
        (
            "report_billable_instance_seconds_difference",
            "report_training_seconds_difference",
            "report_matches_simulator",
        ),
        lambda billable, training, agree: billable == 0 and training == 0 and agree is True,
    ),
    (
        "Handler import time / boto3's",
        "<= 1.5x",
        ("import_ratio_submit", "import_ratio_reconcile"),
        lambda submit, reconcile: max(submit, reconcile) <= 1.5,
    ),
]


def _figure(figures: dict[str, Any], key: str) -> Any:
    """A figure by its key; ``a.b`` is member ``b`` of figure ``a``."""
    value: Any = figures
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, judged on this run's figures (met: None when not measured)."""
    judged = []
    for name, wanted, keys, test in TARGETS:
        values = [_figure(figures, key) for key in keys]
        known = all(v is not None for v in values)
        judged.append(
            {
                "target": name,
                "wanted": wanted,
                "measured": " / ".join(map(str, values)) if len(values) > 1 else values[0],
                "met": bool(test(*values)) if known else None,
            }
        )
    return judged


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated parts: " + ", ".join(k for k, *_ in PARTS))
    parser.add_argument("--scale", help="fleet size factor (< 1 makes the fleet smaller)")
    args = parser.parse_args()
    chosen = set(args.only.split(",")) if args.only else {key for key, *_ in PARTS}
    unknown = chosen - {key for key, *_ in PARTS}
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    results: dict[str, Any] = {
        "run": {
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "commit": git_commit(),
        },
        "machine": machine(),
    }
    parts = {}
    for key, module, arguments, timeout in PARTS:
        if key in chosen:
            scale = ["--scale", args.scale] if module == "bench.fleet" and args.scale else []
            parts[key] = run_part(key, module, timeout, [*arguments, *scale])
    results["headline"] = headline(parts)
    results["targets"] = targets(results["headline"])
    # The keys also stand at the top level, where a reader looks for them first.
    results.update({key: value for key, value in results["headline"].items() if key not in parts})
    results.update(parts)
    results["run"]["wall_seconds"] = round(time.perf_counter() - started, 1)
    failed = [key for key, part in parts.items() if "failed" in part]
    if args.only:
        print(json.dumps(results, indent=2, default=str))
        return 1 if failed else 0
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")
    table = render_table(results)
    if not update_readme(README, table):
        print("bench: README.md has no bench markers; table not written", file=sys.stderr)
    print(table)
    print(f"\nbench: wrote {RESULTS.relative_to(ROOT)} and README.md", file=sys.stderr)
    print(f"bench: {results['run']['wall_seconds']:.0f} s in all", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
