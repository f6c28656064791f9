"""The README's benchmark table: rendered from one run's results, written between markers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

START = "<!-- bench:start -->"
END = "<!-- bench:end -->"


def update_readme(path: Path, table: str) -> bool:
    """Replace what is between the markers; False (and nothing written) if they are missing."""
    text = path.read_text()
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        return False
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}")
    return True


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and digits:
        return f"{value:,.{digits}f}"
    return f"{round(value):,}" if isinstance(value, int | float) else str(value)


def _target(results: dict[str, Any], name: str) -> str:
    for target in results.get("targets", []):
        if target["target"] == name:
            verdict = {True: "met", False: "**not met**", None: "not measured"}[target["met"]]
            return f"{target['wanted']} — {verdict}"
    return ""


def _failed(part: dict[str, Any]) -> str | None:
    return f"failed: {part['failed']}" if "failed" in part else None


Row = tuple[str, str, str]
# The fleet runs besides the first one: (result key, how the table names it).
FLEET_VARIANTS = {
    "fleet_terminal": "the same fleet, terminal-only tracking",
    "fleet_2h": "2-hour jobs, progress tracked",
    "fleet_2h_terminal": "2-hour jobs, terminal-only",
    "fleet_overlap_600s": "the first fleet, overlap 600 s",
}


def _usable(results: dict[str, Any], key: str) -> dict[str, Any] | None:
    part = results.get(key)
    return part if part and "failed" not in part else None


def _calls(fleet: dict[str, Any]) -> str:
    per = fleet["controller"]["per_job"]
    return (
        f"{per['sagemaker_calls']} (Create {per['create']}, Describe {per['describe']}, "
        f"List {per['list_pages']})"
    )


def _invocations(fleet: dict[str, Any]) -> str:
    per = fleet["controller"]["per_job"]
    kinds = per.get("lambda_invocations_by_kind", {})
    names = {"reconcile_event": "events", "reconcile_sweep": "sweeps", "submit": "submit"}
    split = ", ".join(f"{names.get(k, k)} {v}" for k, v in kinds.items())
    return f"{per['lambda_invocations']} Lambda invocations per job ({split})"


def _ratios(fleet: dict[str, Any]) -> str:
    ratio = fleet["calls_ratio_vs_poll"]
    return f"{ratio['poll_30s']}x vs 30 s, {ratio['poll_60s']}x vs 60 s"


def _checks(fleet: dict[str, Any]) -> str:
    checks = fleet["checks"]
    return (
        f"{checks['settled_in_ledger']}/{checks['jobs']} settled, "
        f"{checks['ledger_matches_sagemaker']} match SageMaker, "
        f"{checks['jobs_notified_exactly_once']} notified exactly once, "
        f"{fleet['controller']['error_count']} handler errors"
    )


def _duplicates(fleet: dict[str, Any]) -> int:
    events = fleet["events"]
    delivered = events.get("matched", events.get("changes", 0)) - events.get("dropped", 0)
    return int(events.get("deliveries", 0) - delivered)


def _fleet_rows(results: dict[str, Any]) -> list[Row]:
    fleet = results.get("fleet")
    if not fleet:
        return []
    if _failed(fleet):
        return [("Simulated fleet", _failed(fleet) or "", "")]
    w, c = fleet["workload"], fleet["controller"]
    per, events = c["per_job"], fleet["events"]
    by_type = fleet["describe_per_state_change_by_type"]
    in_flight, settled = fleet["quiet_sweep_in_flight"], fleet["quiet_sweep_settled"]
    busiest, most_read = in_flight["busiest"], in_flight["max_dynamodb_items_read"]
    polls = fleet["baselines"]
    what_if = fleet["what_if_describe_only_settled"]
    headline = results.get("headline", {})
    scaled = " (**scaled down**)" if w["scaled_down"] else ""
    terminal, long_jobs = _usable(results, "fleet_terminal"), _usable(results, "fleet_2h")
    long_terminal = _usable(results, "fleet_2h_terminal")
    also = ""
    if long_jobs:
        lw = long_jobs["workload"]
        also = (
            f"; and the same {lw['training_jobs'] + lw['automl_jobs']} jobs running about "
            f"two hours (mean {lw['mean_job_lifetime_minutes']} min, longest "
            f"{lw['longest_job_lifetime_minutes']}; {_n(lw['simulated_hours'])} simulated "
            f"hours), in both modes"
        )
    rows: list[Row] = [
        (
            "Workload",
            f"{w['training_jobs']} training + {w['automl_jobs']} AutoML jobs{scaled} over "
            f"{_n(w['simulated_hours'])} simulated hours, mean lifetime "
            f"{w['mean_job_lifetime_minutes']} min (longest "
            f"{w.get('longest_job_lifetime_minutes')}); {fleet['state_changes']['total']:,} "
            f"state changes; training events delivered {w['deliveries_per_change']}x each, "
            f"{events.get('dropped', 0)} of {events.get('changes', 0):,} changes "
            f"({w['dropped_change_rate']:.0%}) dropped; sweep every "
            f"{w['sweep_every_seconds'] // 60} min, `SWEEP_OVERLAP_SECONDS` "
            f"{_n(w['sweep_overlap_seconds'])} (default). Also run: the same fleet with "
            f"`TRACKING_MODE=terminal` (only the events the template's terminal pattern "
            f"matches reach the function){also}",
            "",
        ),
        (
            "Describes per distinct state change (progress tracked)",
            f"{fleet['describe_per_state_change']} (training {by_type['TrainingJob']}, "
            f"AutoML {by_type['AutoMLJob']})"
            + (f"; 2-hour jobs {long_jobs['describe_per_state_change']}" if long_jobs else ""),
            _target(results, "Describes per distinct state change"),
        ),
        (
            "Describes caused by duplicate deliveries",
            f"{fleet['duplicate_delivery_describes']} in {_duplicates(fleet):,} duplicate "
            f"deliveries; all runs at the default settings: "
            f"{_n(headline.get('duplicate_delivery_describes'))}",
            _target(results, "Describes caused by duplicate deliveries"),
        ),
        (
            "Quiet sweep (nothing changed since the last one)",
            f"worst of {in_flight['probes']} while jobs run: {in_flight['max_describes']} "
            f"Describes, {in_flight['max_list_calls']} List calls (minute "
            f"{busiest['at_minute']}: {busiest['jobs_listed']} jobs listed, those SageMaker "
            f"changed within the overlap before its newest change: pages hold 100, so List "
            f"calls grow with changes per minute, not with the fleet), "
            f"{most_read['dynamodb_items_read']:,} DynamoDB items read (minute "
            f"{most_read['at_minute']}: "
            + ", ".join(
                f"{op} {n:,}"
                for op, n in sorted(most_read["dynamodb_items_read_by_operation"].items())
            )
            + " — the Query is mostly the stuck-job scan, one item per job InProgress, so it "
            f"grows with the jobs in flight); settled fleet: {settled['describes']} "
            f"Describes, {settled['list_calls']} List calls, "
            f"{settled['dynamodb_items_read']} items read. Worst of all runs at the default "
            f"settings: {_n(headline.get('quiet_sweep_describes'))} Describes, "
            f"{_n(headline.get('quiet_sweep_list_calls'))} List calls",
            _target(results, "Quiet sweep: Describes / List calls (2 job types)"),
        ),
        *_overlap_rows(results),
        (
            "SageMaker calls per job",
            f"jobctl, progress tracked: {_calls(fleet)}"
            + (f" · terminal-only: {_calls(terminal)}" if terminal else "")
            + f" · 30 s poller {polls['poll_30s']['per_job']['total']} · 60 s poller "
            f"{polls['poll_60s']['per_job']['total']}",
            "",
        ),
        (
            "Fewer SageMaker calls than polling, progress tracked",
            f"{_ratios(fleet)} (mean lifetime {w['mean_job_lifetime_minutes']} min; 35x vs "
            f"30 s needs {fleet['break_even_lifetime_minutes']['35x_vs_poll_30s']} min)",
            _target(results, "SageMaker calls, 30 s poller / jobctl (progress tracked)"),
        ),
    ]
    if long_jobs:
        rows.append(
            (
                "… 2-hour jobs (the issue's workload)",
                f"{_ratios(long_jobs)}: jobctl {_calls(long_jobs)} calls per job, 30 s poller "
                f"{long_jobs['baselines']['poll_30s']['per_job']['total']}",
                _target(
                    results, "SageMaker calls, 30 s poller / jobctl (progress tracked), 2-hour jobs"
                ),
            )
        )
    rows.append(
        (
            "… if state-change events recorded progress from their detail",
            f"{what_if['unsettled_describes']:,} of the Describes answered a job not settled "
            f"yet (all from events: the sweep records progress from List); without them "
            f"{what_if['sagemaker_calls_per_job']} calls per job, "
            f"{what_if['calls_ratio_vs_poll_30s']}x vs 30 s (not the current design)",
            "",
        )
    )
    if terminal:
        matched = terminal["events"]
        rows.append(
            (
                "Terminal-only tracking (`TRACKING_MODE=terminal`), same fleet",
                f"{_ratios(terminal)}; {_calls(terminal)} SageMaker calls per job; "
                f"{_invocations(terminal)}; the rule matched {matched.get('matched', 0):,} of "
                f"{matched.get('changes', 0):,} training state changes (100x vs 30 s needs "
                f"a mean lifetime of "
                f"{terminal['break_even_lifetime_minutes'].get('100x_vs_poll_30s')} min)",
                _target(results, "SageMaker calls, 30 s poller / jobctl (terminal-only)"),
            )
        )
    elif _failed(results.get("fleet_terminal") or {}):
        rows.append(("Terminal-only tracking", _failed(results["fleet_terminal"]) or "", ""))
    if long_terminal:
        rows.append(
            (
                "… terminal-only, 2-hour jobs",
                f"{_ratios(long_terminal)}; {_calls(long_terminal)} SageMaker calls per job "
                f"(30 s poller {long_terminal['baselines']['poll_30s']['per_job']['total']}); "
                f"{_invocations(long_terminal)}",
                _target(
                    results, "SageMaker calls, 30 s poller / jobctl (terminal-only), 2-hour jobs"
                ),
            )
        )
    other = (
        f"progress tracked: {per['lambda_invocations']} Lambda invocations, "
        f"{per['dynamodb_reads']} DynamoDB reads ({per['dynamodb_items_read']} items), "
        f"{per['dynamodb_writes']} writes, {per['sns_publishes']} SNS publishes"
    )
    if terminal:
        tp = terminal["controller"]["per_job"]
        other += (
            f" · terminal-only: {tp['lambda_invocations']} invocations, {tp['dynamodb_reads']} "
            f"reads ({tp['dynamodb_items_read']} items), {tp['dynamodb_writes']} writes, "
            f"{tp['sns_publishes']} SNS publishes"
        )
    rows.append(("jobctl's other costs per job", other, ""))
    checks = [f"progress tracked: {_checks(fleet)}"]
    for key, label in FLEET_VARIANTS.items():
        part = results.get(key)
        if part:
            checks.append(f"{label}: {_failed(part) or _checks(part)}")
    rows.append(("Checks (ledger and notices at the end of each run)", " · ".join(checks), ""))
    return rows


def _overlap_rows(results: dict[str, Any]) -> list[Row]:
    fleet = results.get("fleet_overlap_600s")
    if not fleet:
        return []
    if _failed(fleet):
        return [("… with a 600 s sweep overlap", _failed(fleet) or "", "")]
    in_flight = fleet["quiet_sweep_in_flight"]
    busiest = in_flight["busiest"]
    return [
        (
            "… the same fleet with `SWEEP_OVERLAP_SECONDS=600` (the former default)",
            f"quiet sweep while jobs run: worst {in_flight['max_describes']} Describes, "
            f"{in_flight['max_list_calls']} List calls (minute {busiest['at_minute']}: "
            f"{busiest['jobs_listed']} jobs listed), "
            f"{in_flight['max_dynamodb_items_read']['dynamodb_items_read']:,} DynamoDB items "
            f"read; {fleet['controller']['per_job']['sagemaker_calls']} SageMaker calls per job",
            "",
        ),
    ]


def _overhead_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    overhead = results.get("overhead")
    if not overhead:
        return []
    if _failed(overhead):
        return [("Handler overhead", _failed(overhead) or "", "")]
    submit, reconcile = overhead["submit"], overhead["reconcile"]
    scaling = overhead["sweep_scaling"]

    def pair(figures: dict[str, Any]) -> str:
        return f"{_n(figures['p50_us'])} / {_n(figures['p99_us'])}"

    def spots(profile: dict[str, Any]) -> str:
        entries = sorted(profile["entry_points"].items(), key=lambda item: -item[1]["share"])[:3]
        return ", ".join(f"{label} {figures['share']:.0%}" for label, figures in entries)

    profile = overhead["profile"]
    return [
        (
            "submit, µs per record (p50 / p99)",
            f"batch of 1: {pair(submit['batch_1'])} · batch of 10: {pair(submit['batch_10'])}",
            "",
        ),
        (
            "reconcile, µs per record (p50 / p99)",
            f"state-change event: {pair(reconcile['batch_1'])} · its duplicate: "
            f"{pair(reconcile['batch_1_duplicate'])} · sweep finding 10 changed jobs "
            f"({reconcile['batch_10_sweep']['in_flight_jobs']} in flight): "
            f"{pair(reconcile['batch_10_sweep'])}",
            "",
        ),
        (
            "Quiet sweep, CPU ms by jobs in flight",
            " · ".join(
                f"{jobs} in flight: {ms}"
                for jobs, ms in scaling["quiet_sweep_ms_by_jobs_in_flight"].items()
            )
            + f" ({scaling['us_per_job_in_flight']} µs more per job in flight)",
            "",
        ),
        (
            "Hot spots (cProfile, share of handler time)",
            f"submit: {spots(profile['submit'])}; reconcile: {spots(profile['reconcile_events'])}",
            "",
        ),
    ]


def _cold_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    cold = results.get("cold_start")
    if not cold:
        return []
    if _failed(cold):
        return [("Cold start", _failed(cold) or "", "")]
    imports, ratio, first = (
        cold["import_ms"],
        cold["import_ratio_vs_boto3"],
        cold["first_invocation"],
    )
    top = cold["top_imports"]
    package = cold["package"]
    if package.get("measured"):
        sizes = package["functions"]
        largest = max(sizes.values(), key=lambda s: s["zipped_mb"])
        biggest = max(largest["largest_unzipped_mb"].items(), key=lambda item: item[1])
        package_text = (
            f"{largest['zipped_mb']} MB zipped, {largest['unzipped_mb']} MB unzipped per "
            f"function ({len(sizes)} functions; largest part {biggest[0]} {biggest[1]} MB)"
        )
    else:
        package_text = f"not measured ({package.get('reason')})"

    def costliest(module: str) -> str:
        return ", ".join(f"{i['module']} {i['ms']}" for i in top[module]["by_own_time"])

    return [
        (
            f"Import in a fresh interpreter, ms (median of {cold['runs']})",
            f"boto3 alone {imports['boto3']} · submit {imports['submit']} "
            f"({ratio['submit']}x boto3) · reconcile {imports['reconcile']} "
            f"({ratio['reconcile']}x boto3)",
            _target(results, "Handler import time / boto3's"),
        ),
        (
            "First invocation after the import, ms",
            f"submit {first['submit']['first_invocation_ms']} · reconcile "
            f"{first['reconcile']['first_invocation_ms']} (the next one: "
            f"{first['submit']['warm_invocation_ms']} / "
            f"{first['reconcile']['warm_invocation_ms']})",
            "",
        ),
        (
            "Top 5 imports by own time, ms (-X importtime)",
            f"submit: {costliest('submit')}; reconcile: {costliest('reconcile')}",
            "",
        ),
        ("Deployment package (`sam build`)", package_text, ""),
    ]


def _stack_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    stack = results.get("local_stack")
    if not stack:
        return []
    if _failed(stack):
        return [("Local stack", _failed(stack) or "", "")]
    accepted = stack["enqueue_to_in_progress_ms"]
    notices = stack["event_to_notice_ms"]
    single = notices["one_at_a_time"]
    burst_key = next(k for k in notices if k.startswith("burst"))
    burst = notices[burst_key]
    return [
        (
            "Local stack: enqueue → InProgress",
            f"{stack['requests_per_second']} requests/s ({stack['accepted']} of "
            f"{stack['requests']} enqueued at once; p50 {_n(accepted.get('p50'))} ms, p95 "
            f"{_n(accepted.get('p95'))} ms)",
            "",
        ),
        (
            "Local stack: state change → notice",
            f"one at a time: p50 {single.get('p50')} ms, p95 {single.get('p95')} ms · "
            f"{burst_key.replace('_', ' ')}: p50 {_n(burst.get('p50'))} ms, "
            f"{burst.get('notices_per_second')} notices/s",
            "",
        ),
    ]


def render_table(results: dict[str, Any]) -> str:
    m, run = results["machine"], results["run"]
    lines = [
        f"_One run of `make bench`, {run['started_at']}, commit {run['commit']}, on "
        f"{m['cores']} cores ({m['cpu']}), {m['implementation']} {m['python']}, "
        f"{m['platform']}; {_n(run.get('wall_seconds'))} s in all. Compare only figures "
        f"taken in the same run._",
        "",
        "| measure | this run | target |",
        "| --- | --- | --- |",
    ]
    sections = [
        ("API economy (simulated fleet, fake clock)", _fleet_rows),
        ("Handler overhead (in-process fakes)", _overhead_rows),
        ("Cold start", _cold_rows),
        ("Local stack (`jobctl.local.stack`, in-process)", _stack_rows),
    ]
    for title, rows in sections:
        body = rows(results)
        if body:
            lines.append(f"| **{title}** | | |")
            lines.extend(f"| {a} | {b} | {c} |" for a, b, c in body)
    return "\n".join(lines)
