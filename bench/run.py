"""``make bench``: every measurement, one after another, each in its own interpreter.

Writes ``bench/results.json`` (with the machine and the commit it ran on) and rewrites the
table between ``<!-- bench:start -->`` and ``<!-- bench:end -->`` in README.md. A partial
run (``--only``) prints its figures and writes neither: figures are compared only within
one full run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import ROOT

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
    ("cold_start", "bench.coldstart", [], 480),
    # 1,000 requests at once through the local stack, at SageMaker's create rate.
    ("burst", "bench.burst", [], 900),
    # What a pass and a request read with 1k, 10k and 50k jobs waiting in 100 shares.
    ("admission_1k", "bench.admission", ["--waiting", "0", "--burst", "1000"], 300),
    ("admission_10k", "bench.admission", ["--waiting", "9000", "--burst", "1000"], 900),
    ("admission_50k", "bench.admission", ["--waiting", "50000"], 600),
    # A contended p4d budget: priorities, shares, a freed slot's reuse.
    ("scheduling", "bench.scheduling", [], 900),
    # The same fleet as jobctl scheduled it before reservations and fair share over time.
    ("scheduling_before", "bench.scheduling", ["--rule", "before"], 900),
    # And with a half-life of 4 hours: jobs of up to half the budget need a longer memory.
    ("scheduling_4h", "bench.scheduling", ["--half-life", "14400"], 900),
    # 300 requests retried by failure cause (10 % CapacityError, 3 % AlgorithmError, 20 %
    # spot), and the same fleet without its capacity failures, for the calls retries add.
    ("retries", "bench.retries", [], 300),
    # Guaranteed quotas: prod takes its lent room back from research by preemption; the
    # same fleet with reserve only, and with victims chosen youngest first only.
    ("quotas", "bench.quotas", [], 900),
]


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        names = [
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line
        ]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
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
        if failure is None and out.exists():
            seconds = time.perf_counter() - started
            print(f"bench: {key} done in {seconds:.0f} s", file=sys.stderr, flush=True)
            return json.loads(out.read_text())  # type: ignore[no-any-return]
        tail = log.read_text().strip().splitlines()[-15:]
        print(f"bench: {key} FAILED ({failure})", *tail, sep="\n  ", file=sys.stderr)
        return {"failed": failure or "no result written", "log_tail": tail}


# The fleet runs at the functions' default settings, and those that track progress.
FLEETS = ("fleet", "fleet_terminal", "fleet_2h", "fleet_2h_terminal")
PROGRESS_FLEETS = ("fleet", "fleet_2h")


def _each(path: str, runs: tuple[str, ...] = FLEETS) -> tuple[str, ...]:
    return tuple(f"{run}.{path}" for run in runs)


def _all_settled(*checks: dict[str, Any]) -> bool:
    keys = ("jobs", "settled_in_ledger", "ledger_matches_sagemaker", "jobs_notified_exactly_once")
    return all(len({c[k] for k in keys}) == 1 for c in checks)


def _total(*values: Any) -> Any:
    return sum(values)


def _largest(*values: Any) -> Any:
    return max(values)


def _one(value: Any) -> Any:
    return value


# The figures, flat: one part's figure (its path), or a figure made of several
# parts' (the worst, or the sum, where several runs give it); one not measured (a part
# failed or was left out) is None.
HEADLINE: dict[str, str | tuple[Callable[..., Any], tuple[str, ...]]] = {
    "describe_per_state_change": (_largest, _each("describe_per_state_change", PROGRESS_FLEETS)),
    "duplicate_delivery_describes": (_total, _each("duplicate_delivery_describes")),
    "quiet_sweep_describes": (
        _largest,
        _each("quiet_sweep_in_flight.max_describes") + _each("quiet_sweep_settled.describes"),
    ),
    "quiet_sweep_list_calls": (
        _largest,
        _each("quiet_sweep_in_flight.max_list_calls") + _each("quiet_sweep_settled.list_calls"),
    ),
    "calls_ratio_vs_poll_60s": "fleet.calls_ratio_vs_poll.poll_60s",
    "sagemaker_calls_per_job": "fleet.controller.per_job.sagemaker_calls",
    "lambda_invocations_per_job": "fleet.controller.per_job.lambda_invocations",
    "mean_job_lifetime_minutes": "fleet.workload.mean_job_lifetime_minutes",
    "calls_ratio_vs_poll_30s_fleet": "fleet.calls_ratio_vs_poll.poll_30s",
    "calls_ratio_vs_poll_30s_2h_jobs": "fleet_2h.calls_ratio_vs_poll.poll_30s",
    "calls_ratio_vs_poll_30s_terminal": "fleet_terminal.calls_ratio_vs_poll.poll_30s",
    "calls_ratio_vs_poll_30s_terminal_2h_jobs": "fleet_2h_terminal.calls_ratio_vs_poll.poll_30s",
    "jobs_settled_and_notified_once_terminal": (
        _all_settled,
        _each("checks", ("fleet_terminal", "fleet_2h_terminal")),
    ),
    "peak_list_tps": (_largest, _each("peak_list_tps")),
    "peak_describe_tps": (_largest, _each("peak_describe_tps")),
    "fleet_throttled_calls": (lambda *v: sum(sum(t.values()) for t in v), _each("throttled")),
    "unsettled_describes": (_total, _each("unsettled_describes")),
    "burst_seconds_per_job": "burst.burst_seconds_per_job",
    "burst_submit_failed": "burst.burst_submit_failed",
    **{
        key: f"scheduling.{key}"
        for key in (
            "slot_idle_seconds_p50",
            "slot_idle_seconds_p95",
            "slot_idle_seconds_p95_excluding_reservations",
            "priority_inversions",
            "share_deviation_percent",
            "share_deviation_percent_per_window_max",
            "utilisation_percent",
            "largest_job_wait_hours",
            "expected_start_error_p50",
            "expected_start_error_p95",
        )
    },
    "largest_job_wait_hours_before": "scheduling_before.largest_job_wait_hours",
    "share_deviation_percent_before": "scheduling_before.share_deviation_percent",
    "share_deviation_percent_4h": "scheduling_4h.share_deviation_percent",
    **{
        key: f"retries.{key}"
        for key in (
            "retried_jobs",
            "retried_jobs_expected",
            "retried_algorithm_errors",
            "notices_per_job",
            "jobs_notified_exactly_once",
            "report_matches_simulator",
        )
    },
    "retries_jobs": "retries.workload.jobs",
    **{
        key: f"quotas.{key}"
        for key in (
            "quota_reclaim_seconds_p50",
            "quota_reclaim_seconds_p95",
            "quota_reclaim_target_seconds",
            "utilisation_percent_reserve_only",
            "instance_hours_lost_to_preemption",
            "instance_hours_lost_to_preemption_youngest_first",
            "preemptions_per_job_max",
            "preemption_loops",
        )
    },
    "utilisation_percent_borrowing": "quotas.utilisation_percent",
    "report_billable_instance_seconds_difference": (
        "retries.report_vs_simulator.billable_instance_seconds.difference"
    ),
    "report_training_seconds_difference": "retries.report_vs_simulator.training_seconds.difference",
    "submit_p50_us": "fleet.handler_time.submit_batch_1.p50_us",
    "submit_p99_us": "fleet.handler_time.submit_batch_1.p99_us",
    "submit_p99_us_batched": "fleet.handler_time.submit_batched.p99_us",
    "reconcile_p50_us": "fleet.handler_time.event.p50_us",
    "reconcile_p99_us": "fleet.handler_time.event.p99_us",
    "import_ratio_submit": "cold_start.import_ratio_vs_boto3.submit",
    "import_ratio_reconcile": "cold_start.import_ratio_vs_boto3.reconcile",
    "local_stack_requests_per_second": "burst.requests_per_second",
    **{
        f"{figure}_{size}": f"admission_{size}.{figure}_{size}"
        for figure in ("admission_items_read", "admission_plan_ms")
        for size in ("1k", "10k", "50k")
    },
    **{
        f"burst_items_read_per_job_{size}": f"admission_{size}.burst_items_read_per_job_{size}"
        for size in ("1k", "10k")
    },
}

# The targets: (its name in the table, what is wanted, the figures it is judged
# on, the test).
TARGETS: dict[str, tuple[str, tuple[str, ...], Callable[..., bool]]] = {
    "describes": ("<= 1", ("describe_per_state_change",), lambda v: v <= 1),
    "duplicates": ("0", ("duplicate_delivery_describes",), lambda v: v == 0),
    "quiet_sweep": (
        "0 / a page or two per type",
        ("quiet_sweep_describes", "quiet_sweep_list_calls"),
        lambda describes, lists: describes == 0 and lists <= 4,
    ),
    "ratio": (">= 35x", ("calls_ratio_vs_poll_30s_fleet",), lambda v: v >= 35),
    "ratio_2h": (">= 100x", ("calls_ratio_vs_poll_30s_2h_jobs",), lambda v: v >= 100),
    "ratio_terminal": (">= 100x", ("calls_ratio_vs_poll_30s_terminal",), lambda v: v >= 100),
    "ratio_terminal_2h": (
        ">= 100x",
        ("calls_ratio_vs_poll_30s_terminal_2h_jobs",),
        lambda v: v >= 100,
    ),
    "peaks": (
        "List <= 2, Describe <= 5 a second",
        ("peak_list_tps", "peak_describe_tps"),
        lambda lists, describes: lists <= 2 and describes <= 5,
    ),
    "throttled": ("0 throttled", ("fleet_throttled_calls",), lambda v: v == 0),
    "burst": ("<= 1.15", ("burst_seconds_per_job",), lambda v: v <= 1.15),
    "burst_failed": ("0", ("burst_submit_failed",), lambda v: v == 0),
    "pass_items": ("<= 200 at 50k", ("admission_items_read_50k",), lambda v: v <= 200),
    "pass_plan": ("<= 100 ms at 50k", ("admission_plan_ms_50k",), lambda v: v <= 100),
    "burst_items": (
        "<= 20 at 1k and 10k",
        ("burst_items_read_per_job_1k", "burst_items_read_per_job_10k"),
        lambda small, large: max(small, large) <= 20,
    ),
    "slot_idle": ("p95 <= 10", ("slot_idle_seconds_p95",), lambda v: v <= 10),
    "inversions": ("0", ("priority_inversions",), lambda v: v == 0),
    "shares": (
        "<= 10, and per 6-hour window",
        ("share_deviation_percent", "share_deviation_percent_per_window_max"),
        lambda overall, window: max(overall, window) <= 10,
    ),
    "utilisation": (">= 95", ("utilisation_percent",), lambda v: v >= 95),
    "retried": (
        "all of them, none of the algorithm errors",
        ("retried_jobs", "retried_jobs_expected", "retried_algorithm_errors"),
        lambda retried, expected, algorithm: retried == expected and algorithm == 0,
    ),
    "notices": (
        "exactly 1.0 / every job",
        ("notices_per_job", "jobs_notified_exactly_once", "retries_jobs"),
        lambda per_job, once, jobs: per_job == 1.0 and once == jobs,
    ),
    "report": (
        "0 / 0 / True (to the second)",
        (
            "report_billable_instance_seconds_difference",
            "report_training_seconds_difference",
            "report_matches_simulator",
        ),
        lambda billable, training, agree: billable == 0 and training == 0 and agree is True,
    ),
    "quota_reclaim": (
        "p95 <= Stopping + 30 s",
        ("quota_reclaim_seconds_p95", "quota_reclaim_target_seconds"),
        lambda p95, target: p95 <= target,
    ),
    "borrowing": (
        "above reserve only",
        ("utilisation_percent_borrowing", "utilisation_percent_reserve_only"),
        lambda borrowing, reserve: borrowing > reserve,
    ),
    "churn": (
        "<= MAX_PREEMPTIONS (5), 0 loops",
        ("preemptions_per_job_max", "preemption_loops"),
        lambda most, loops: most <= 5 and loops == 0,
    ),
    "imports": (
        "<= 1.5x",
        ("import_ratio_submit", "import_ratio_reconcile"),
        lambda submit, reconcile: max(submit, reconcile) <= 1.5,
    ),
}


def figure(figures: dict[str, Any], path: str) -> Any:
    """A figure by its path (``a.b``: member ``b`` of figure ``a``); None if there is none."""
    value: Any = figures
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) and "failed" not in value else None
    return value


def headline(parts: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue names, from this run's parts (None when not measured)."""
    figures = {}
    for key, made_of in HEADLINE.items():
        combine, paths = (_one, (made_of,)) if isinstance(made_of, str) else made_of
        values = [figure(parts, path) for path in paths]
        known = [value for value in values if value is not None]
        figures[key] = combine(*known) if known else None
    return figures


def targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets, judged on this run's figures (met: None when not measured)."""
    judged = []
    for name, (wanted, keys, test) in TARGETS.items():
        values = [figures.get(key) for key in keys]
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


# -- the README's table: bench/table.md with each {figure} filled in -------------------------

TABLE = ROOT / "bench" / "table.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.:?]+(?: [a-z ]+)?)\}")


def render_table(results: dict[str, Any]) -> str:
    """bench/table.md, its ``{path}`` figures filled in from ``results`` (``{target:name}``:
    what the target wants and whether it was met; ``{path?words}``: "(**words**)" if the
    figure holds), under a line saying which run they come from."""
    run, machine = results["run"], results["machine"]
    verdicts = {t["target"]: t for t in results.get("targets", [])}

    def filled(match: re.Match[str]) -> str:
        path, _, flag = match[1].partition("?")
        if path.startswith("target:"):
            target = verdicts.get(path.removeprefix("target:"))
            if target is None:
                return "—"
            verdict = {True: "met", False: "**not met**", None: "not measured"}[target["met"]]
            return f"{target['wanted']} — {verdict}"
        value = figure(results, path)
        if flag:
            return f" (**{flag}**)" if value else ""
        if value is None:
            return "—"
        return (
            f"{value:,}"
            if isinstance(value, int | float) and not isinstance(value, bool)
            else str(value)
        )

    header = (
        f"_One run of `make bench`, {run['started_at']}, commit {run['commit']}, on "
        f"{machine['cores']} cores ({machine['cpu']}), {machine['implementation']} "
        f"{machine['python']}, {machine['platform']}; {run.get('wall_seconds', 0):,.0f} s "
        "in all. Compare only figures taken in the same run._"
    )
    return f"{header}\n\n{PLACEHOLDER.sub(filled, TABLE.read_text()).rstrip()}"


def update_readme(path: Path, table: str) -> bool:
    """Replace what is between the markers; False (and nothing written) if they are missing."""
    text = path.read_text()
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        return False
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    return True


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
    when = datetime.now(UTC).isoformat(timespec="seconds")
    run: dict[str, Any] = {"started_at": when, "commit": git_commit()}
    results: dict[str, Any] = {"run": run, "machine": machine()}
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
    run["wall_seconds"] = round(time.perf_counter() - started, 1)
    failed = [key for key, part in parts.items() if "failed" in part]
    text = json.dumps(results, indent=2, default=str)
    if args.only:
        print(text)
        return 1 if failed else 0
    RESULTS.write_text(text + "\n")
    table = render_table(results)
    if not update_readme(README, table):
        print("bench: README.md has no bench markers; table not written", file=sys.stderr)
    print(table)
    print(f"\nbench: wrote {RESULTS.relative_to(ROOT)} and README.md", file=sys.stderr)
    print(f"bench: {run['wall_seconds']:.0f} s in all", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
