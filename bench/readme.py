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
}


def _limits(workload: dict[str, Any]) -> str:
    limits = workload.get("controller_rate_limits") or {}
    if not limits:
        return "off"
    shown = {
        "Create*": limits.get("CreateTrainingJob"),
        "List*": limits.get("ListTrainingJobs"),
        "others": limits.get("any other operation"),
    }
    return ", ".join(f"{name} {value}" for name, value in shown.items() if value)


def _throttled(counts: dict[str, int]) -> str:
    if not counts:
        return "none"
    return ", ".join(f"{op} {n:,}" for op, n in sorted(counts.items()))


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
            f"{w['sweep_every_seconds'] // 60} min (its defaults: {w['sweep_list_calls']} List "
            f"calls, {w['sweep_describe_calls']} Describes, a "
            f"{_n(w['sweep_list_window_hours'])} h List window). The controller's simulated "
            f"account has SageMaker's rate limits on ({_limits(w)}) and no history of other "
            f"teams' jobs (the sweep over a 50,000-job history is below); the functions run "
            f"with `SUBMIT_MAX_CONCURRENCY={w['submit_max_concurrency']}` (the bench runs "
            f"submit invocations one after another, one container: it may spend the whole "
            f"create rate). The pollers' simulators have no rate limits: the pollers are "
            f"counted, not throttled. Also run: the same fleet with `TRACKING_MODE=terminal` "
            f"(only the events the template's terminal pattern matches reach the "
            f"function){also}",
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
            f"{busiest['at_minute']}: {_n(busiest.get('in_flight'))} jobs in flight, "
            f"{busiest['jobs_listed']} listed: newest first down to the oldest job in flight, "
            f"100 a page, so List calls grow with the jobs in flight, one per 100, not with "
            f"the account's history), "
            f"{most_read['dynamodb_items_read']:,} DynamoDB items read (minute "
            f"{most_read['at_minute']}: "
            + ", ".join(
                f"{op} {n:,}"
                for op, n in sorted(most_read["dynamodb_items_read_by_operation"].items())
            )
            + " — the Query reads the in-flight index, one item per job in flight, so it "
            f"grows with the jobs in flight); settled fleet: {settled['describes']} "
            f"Describes, {settled['list_calls']} List calls, "
            f"{settled['dynamodb_items_read']} items read. Worst of all runs at the default "
            f"settings: {_n(headline.get('quiet_sweep_describes'))} Describes, "
            f"{_n(headline.get('quiet_sweep_list_calls'))} List calls",
            _target(results, "Quiet sweep: Describes / List calls (2 job types)"),
        ),
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
            "Describes of jobs not settled yet",
            f"{fleet['unsettled_describes']:,} (events record progress from their detail, the "
            f"sweep from List summaries; only settled jobs are described); all runs at the "
            f"default settings: {_n(headline.get('unsettled_describes'))}",
            "",
        )
    )
    peaks = c["peak_calls_per_second"]
    rows.append(
        (
            "Peak SageMaker calls in one simulated second, and calls throttled",
            f"Create {peaks['create']}, List {fleet['peak_list_tps']}, Describe "
            f"{fleet['peak_describe_tps']}; throttled: {_throttled(fleet['throttled'])}; "
            f"{_n(c['simulated_seconds_paced'])} simulated s spent pacing. All runs at the "
            f"default settings: List {_n(headline.get('peak_list_tps'))}, Describe "
            f"{_n(headline.get('peak_describe_tps'))}, "
            f"{_n(headline.get('fleet_throttled_calls'))} throttled",
            _target(results, "Peak SageMaker calls per second, List / Describe (fleet runs)")
            + "; throttled: "
            + _target(results, "Calls throttled by the account's limits (fleet runs)"),
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
        holds = ", ".join(largest.get("holds", [])) or "?"
        package_text = (
            f"{largest['zipped_mb']} MB zipped, {largest['unzipped_mb']} MB unzipped per "
            f"function ({len(sizes)} functions; largest part {biggest[0]} {biggest[1]} MB; "
            f"of jobctl's and the X-Ray SDK's packages it holds: {holds})"
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
            f"{stack['requests_per_second']} requests per simulated second, "
            f"{stack['requests_per_wall_second']} per wall second at {stack['speed']}x "
            f"({stack['accepted']} of {stack['requests']} enqueued at once; simulated p50 "
            f"{_n(_seconds(accepted.get('p50')))} s, p95 {_n(_seconds(accepted.get('p95')))} s; "
            f"throttled: {_throttled(stack['throttled'])}; CreateTrainingJob 1/s in the "
            f"simulator, the controller's default 0.9/s)",
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


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def _sweep_rows(results: dict[str, Any]) -> list[Row]:
    sweep = results.get("sweep_history")
    if not sweep:
        return []
    if _failed(sweep):
        return [("Sweep over an account's history", _failed(sweep) or "", "")]
    account, first, quiet = sweep["account"], sweep["first_sweep"], sweep["quiet_sweep"]
    before = sweep["quiet_sweep_before"]
    history = account["history_by_type"]
    calls = before["list_calls_by_operation"]
    return [
        (
            "Workload",
            f"a simulated account holding {account['history_jobs']:,} finished jobs of other "
            f"teams ({history.get('TrainingJob', 0):,} training, {history.get('AutoMLJob', 0):,} "
            f"AutoML, created over {account['history_span_days']} days) and "
            f"{account['ours_in_flight']} training jobs of ours in flight (submitted through "
            f"the submit handler under moto; "
            + ", ".join(f"{n} {status}" for status, n in account["ours_by_status"].items())
            + f"); List pages are taken in sort order, then filtered; rate limits "
            f"{account['rate_limits'].removeprefix('on ').strip('()')}",
            "",
        ),
        (
            "Sweep: first / quiet (5 min later, nothing changed)",
            f"first: {first['list_calls']} List calls, {first['describes']} Describes "
            f"({first['report']['listed']} jobs listed, {first['report']['updated']} records "
            f"updated) · quiet: {quiet['list_calls']} List calls, {quiet['describes']} "
            f"Describes ({quiet['report']['listed']} listed, {quiet['report']['updated']} "
            f"updated)",
            _target(
                results,
                "Sweep, 50,000-job history, 200 in flight: List calls first / quiet, "
                "quiet Describes",
            ),
        ),
        (
            "… the same quiet sweep as the sweep was before (`LastModifiedTimeAfter`, "
            "botocore's paginator, default sort)",
            f"{before['list_calls']:,} List calls (ListTrainingJobs "
            f"{calls.get('ListTrainingJobs', 0):,}, ListAutoMLJobs "
            f"{calls.get('ListAutoMLJobs', 0):,}) to return "
            f"{sum(before['summaries_returned'].values()):,} summaries: "
            f"{_n(before['seconds_at_2_calls_per_second'])} s at 2 calls/s, "
            f"{_n(before['seconds_at_the_controllers_list_rate'])} s at the controller's "
            f"1/s; replayed on {before['replayed_on']}",
            "",
        ),
    ]


def _burst_rows(results: dict[str, Any]) -> list[Row]:
    burst = results.get("burst")
    if not burst:
        return []
    if _failed(burst):
        return [("Burst of requests", _failed(burst) or "", "")]
    return [
        (
            f"Burst: {burst['requests']:,} training requests enqueued at once → all InProgress",
            f"{_n(burst['burst_seconds_per_job'], 3)} simulated s per job "
            f"({_n(burst['simulated_seconds_to_last_in_progress'])} s; the default create "
            f"rate {burst['sagemaker_create_rate']}/s makes "
            f"{burst['seconds_per_job_floor_by_design']} s the floor; the pacer waited "
            f"{_n(burst['pacer_slept_simulated_seconds'])} s of it); {burst['speed']}x clock, "
            f"{_n(burst['wall_seconds_to_last_in_progress'])} wall s "
            f"({burst['wall_ms_per_job']} ms a job, against the "
            f"{burst['wall_ms_per_job_budget_at_speed']} ms the create rate leaves at "
            f"{burst['speed']}x); peak {burst['peak_creates_per_second']} create a second; "
            f"throttled: {_throttled(burst['throttled'])}; "
            f"{burst['records_with_a_throttling_error_count']} records left with a "
            f"throttling error",
            _target(results, "Burst of 1,000 requests: seconds per job to InProgress"),
        ),
        (
            "Burst: SubmitFailed / dead letters",
            f"{burst['burst_submit_failed']} / {burst['dead_letters']} "
            f"({burst['create_calls']:,} CreateTrainingJob calls for {burst['requests']:,} "
            f"jobs)",
            _target(results, "Burst of 1,000 requests: SubmitFailed"),
        ),
    ]


def _parts(usage: dict[str, Any]) -> str:
    shares = usage["shares"]
    return (
        " / ".join(f"{name} {share['part']:.2f}" for name, share in shares.items())
        + " against "
        + " / ".join(f"{share['fair_part']:.2f}" for share in shares.values())
    )


def _waits(figures: dict[str, Any]) -> str:
    waits = figures["wait_to_create_minutes_by_priority"]
    return ", ".join(
        f"{priority}: {_n(w['p50'] / 60 if w['p50'] is not None else None, 1)} h"
        for priority, w in waits.items()
    )


def _scheduling_rows(results: dict[str, Any]) -> list[Row]:
    part = results.get("scheduling")
    if not part:
        return []
    if _failed(part):
        return [("Scheduling under contention", _failed(part) or "", "")]
    w, after, before = part["workload"], part["after"], part["before"]
    measured_before = _failed(before) is None
    idle, causes = after["slot_idle_seconds"], after["slot_idle_causes"]
    within = causes.get("within_10_s", 0)
    scaled = " (**scaled down**)" if w["scaled_down"] else ""
    weights = " / ".join(f"{name} {weight}" for name, weight in w["share_weights"].items())
    if measured_before:
        b_idle = before["slot_idle_seconds"]
        idle_before = (
            f" · before scheduling: {_n(b_idle['p50'], 1)} / {_n(b_idle['p95'], 1)} s (job "
            f"slots); its submit function handled "
            f"{before['calls']['submit_records_handled']:,} records, waiting requests sent "
            f"back after their backoff ({after['calls']['submit_records_handled']:,} here)"
        )
        inversions_before = (
            f" (before scheduling: {before['priority_inversions']}, against the priorities "
            f"it could not see)"
        )
        share_before = (
            f" (before scheduling, which had no shares: "
            f"{_n(before['share_deviation_percent'], 1)} %)"
        )
        use_before = (
            f" (before scheduling: {_n(before['utilisation_percent'], 1)} % of 8 job slots, up "
            f"to {before['peak_instances_running']} instances at once)"
        )
        checks_before = _scheduling_checks(before)
    else:
        idle_before = f" · before scheduling: {_failed(before)}"
        inversions_before = share_before = use_before = ""
        checks_before = _failed(before) or ""
    usage = after["share_usage"]
    return [
        (
            "Workload",
            f"{w['requests']} training requests{scaled} on `{w['instance_type_budget']}` "
            f"(instances), {w['requests_per_share']} from each of three shares weighted "
            f"{weights}, priorities {'/'.join(map(str, w['priorities']))}, "
            f"{w['instance_counts'][0]} to {w['instance_counts'][1]} instances and "
            f"{w['job_minutes'][0]} to {w['job_minutes'][1]} min each, queued over the first "
            f"{w['arrival_window_minutes']} min; SQS batches of {w['batch_size']} gathered for "
            f"{_n(w['batch_window_seconds'])} s, EventBridge events "
            f"{w['event_delay_seconds'][0]} to {w['event_delay_seconds'][1]} s after each change, "
            f"a sweep every {_n(w['sweep_every_seconds'] / 60)} min; the handlers on "
            f"in-process DynamoDB, SNS and SQS and the simulated SageMaker. Before "
            f"scheduling: {part['before_note']}",
            "",
        ),
        (
            "Slot freed → next waiting job's create, p50 / p95",
            f"{_n(idle['p50'], 1)} / {_n(idle['p95'], 1)} s ({within} of {idle['count']} "
            f"freed slots taken within 10 s; "
            f"{causes['held_for_larger_jobs_of_the_top_priority']} kept free for waiting jobs "
            f"of the top priority that each need more instances than were free; "
            f"{causes['other']} for another reason){idle_before}",
            _target(
                results,
                "Scheduling: seconds from a slot freeing to the next waiting job's create, p95",
            ),
        ),
        (
            "Priority inversions",
            f"{after['priority_inversions']}{inversions_before}; wait to create, p50 by "
            f"priority: {_waits(after)}",
            _target(results, "Scheduling: priority inversions"),
        ),
        (
            "Share deviation while all shares wait at the top priority",
            f"{_n(after['share_deviation_percent'], 1)} % over {_n(usage['backlogged_hours'], 1)} "
            f"h: parts of the instance-hours {_parts(usage)}{share_before}",
            _target(
                results,
                "Scheduling: share's instance-hours off its weight's part, all shares "
                "backlogged (%)",
            ),
        ),
        (
            "Budget in use while work waits",
            f"{_n(after['utilisation_percent'], 1)} % of {w['instance_type_budget'].split('=')[1]} "
            f"instances over {_n(after['hours_with_work_waiting'], 1)} h{use_before}",
            _target(results, "Scheduling: budget in use while work waits (%)"),
        ),
        (
            "Checks (ledger and simulator at the end of each run)",
            f"{_scheduling_checks(after)} · before scheduling: {checks_before}",
            "",
        ),
    ]


def _scheduling_checks(run: dict[str, Any]) -> str:
    checks = run["checks"]
    return (
        f"{checks['created']}/{checks['jobs']} created, {checks['settled_in_ledger']} settled, "
        f"peak {run['peak_instances_running']} instances, {checks['dead_letters']} dead "
        f"letters, {checks['error_count']} handler errors"
    )


def _compared(figures: dict[str, Any], digits: int = 0) -> str:
    return (
        f"{_n(figures['jobctl'], digits)} / {_n(figures['simulator'], digits)} (difference "
        f"{_n(figures['difference'], digits)})"
    )


def _retries_rows(results: dict[str, Any]) -> list[Row]:
    part = results.get("retries")
    if not part:
        return []
    if _failed(part):
        return [("Retries by failure cause", _failed(part) or "", "")]
    w, run, base = part["workload"], part["run"], part["baseline"]
    extra, accounts = part["extra_sagemaker_calls"], part["report_vs_simulator"]
    scaled = " (**scaled down**)" if w["scaled_down"] else ""
    budgets = ", ".join(f"{t}={n}" for t, n in w["instance_type_budgets"].items())
    prices = ", ".join(f"{t} ${p}" for t, p in w["instance_prices"].items())
    by_operation = ", ".join(
        f"{op.removesuffix('TrainingJob').removesuffix('TrainingJobs')} {n}"
        for op, n in extra["per_retry_by_operation"].items()
    )
    cost = accounts["estimated_cost_usd"]
    checks = run["checks"]
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(checks["ledger_statuses"].items()))
    return [
        (
            "Workload",
            f'{w["jobs"]} training requests{scaled}, each `"retry": {{"attempts": '
            f"{w['retry']['attempts']}}}`, queued over the first {w['arrival_window_minutes']} "
            f"min: {w['capacity_failures']} fail their first try with `CapacityError` "
            f"(while Starting), {w['algorithm_errors']} with `AlgorithmError`, "
            f"{w['spot_jobs']} run on managed spot ({w['spot_and_capacity_failure']} of "
            f"them among the capacity failures); budgets `{budgets}` instances, prices "
            f"{prices} an instance-hour; the handlers on in-process DynamoDB, SNS and SQS "
            f"and the simulated SageMaker, as for scheduling. Baseline: the same fleet "
            f"without its capacity failures",
            "",
        ),
        (
            "Jobs retried",
            f"{part['retried_jobs']} (the fleet's capacity failures: "
            f"{part['retried_jobs_expected']}; algorithm errors retried: "
            f"{part['retried_algorithm_errors']} of {w['algorithm_errors']}, failed at once); "
            f"{run['tries']} tries for {checks['jobs']} jobs",
            _target(
                results,
                "Retries: jobs retried / capacity failures given / algorithm errors retried",
            ),
        ),
        (
            "Notices per job",
            f"{part['notices_per_job']}: {run['notices_published']} published, "
            f"{run['jobs_notified_exactly_once']} jobs notified exactly once, "
            f"{run['notices_giving_the_tries']} giving the record's number of tries",
            _target(results, "Retries: notices per job / jobs notified exactly once / jobs"),
        ),
        (
            "SageMaker calls a retry adds",
            f"{_n(extra['per_retry'], 3)} per retry ({by_operation}): the run's "
            f"{run['sagemaker_calls']:,} calls minus the baseline's {base['sagemaker_calls']:,}, "
            f"over {extra['retries']} retries; {_n(extra['naming_later_tries_per_retry'], 1)} "
            f"of them name the retry's own job (its create, and its Describe once it "
            f"settled)",
            "",
        ),
        (
            "`jobctl report` against the simulator's own accounting",
            f"billable instance-seconds {_compared(accounts['billable_instance_seconds'])}; "
            f"training seconds (the ledger's usage) "
            f"{_compared(accounts['training_seconds'])}; training instance-seconds "
            f"(billable + spot saved) {_compared(accounts['training_instance_seconds'])}; "
            f"estimated cost ${_n(cost['jobctl'], 2)} / ${_n(cost['simulator'], 2)} (each try "
            f"rounded to 4 decimals)",
            _target(
                results,
                "Retries: billable instance-seconds / training seconds off the simulator's "
                "accounting; all of jobctl report's totals agree",
            ),
        ),
        (
            "Checks (ledger and simulator at the end of the run)",
            f"{checks['settled_in_ledger']}/{checks['jobs']} settled ({statuses}), "
            f"{checks['tries_usage_matching_the_simulator']}/{run['tries']} tries' usage as "
            f"the simulator billed them, peak instances running "
            + ", ".join(
                f"{t} {n} (budget {w['instance_type_budgets'].get(t, '—')})"
                for t, n in checks["peak_instances_running"].items()
            )
            + f", {checks['dead_letters']} dead letters, "
            f"{checks['error_count']} handler errors; {run['simulated_hours']} simulated h "
            f"(baseline {base['simulated_hours']})",
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
        ("Sweep over an account's history (`bench/sweep.py`, fake clock)", _sweep_rows),
        ("Local stack (`jobctl_tools.local.stack`, in-process)", _stack_rows),
        ("Burst of requests (`bench/burst.py`, local stack)", _burst_rows),
        ("Scheduling under contention (`bench/scheduling.py`, fake clock)", _scheduling_rows),
        ("Retries by failure cause, and cost (`bench/retries.py`, fake clock)", _retries_rows),
    ]
    for title, rows in sections:
        body = rows(results)
        if body:
            lines.append(f"| **{title}** | | |")
            lines.extend(f"| {a} | {b} | {c} |" for a, b, c in body)
    return "\n".join(lines)
