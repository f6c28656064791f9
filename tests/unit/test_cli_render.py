"""How the CLI and the demo lay out jobs, dead letters and notices: at 80 and 120 columns
no job name, type, status or message id is cut, and data is never read as markup."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console, RenderableType

from jobctl.logic.fair_share import Usage
from jobctl.logic.scheduling import OVERALL, Budgets
from jobctl.models.jobs import JobRecord, Phase
from jobctl_cli.client import DeadLetter, QueueEntry
from jobctl_cli.render import (
    budgets_line,
    dead_letters_view,
    instances_text,
    ledger_view,
    notice_line,
    notices_view,
    queue_view,
    record_view,
    short_age,
    short_time,
)

# A rejection reason as the controller writes it: a regex pattern, brackets and all.
PATTERN_REASON = (
    "job_name: does not match the pattern '^[a-zA-Z0-9](-*[a-zA-Z0-9])*$'; "
    "spec.Environment (key: 1-BAD): does not match the pattern [a-zA-Z_][a-zA-Z0-9_]*"
)
LONG_REASON = (
    'AlgorithmError: ExecuteUserScriptError: Command "/usr/local/bin/python3.9 train.py '
    '--epochs 10" exited with code 1: out of memory while loading the training channel'
)


def record(name: str, status: str, **fields: Any) -> JobRecord:
    return JobRecord(
        job_name=name,
        job_type=fields.pop("job_type", "TrainingJob"),
        status=status,
        created_at="2026-12-01T16:00:00.000Z",
        updated_at=fields.pop("updated_at", "2026-12-01T16:07:21.234Z"),
        **fields,
    )


def demo_records() -> list[JobRecord]:
    """What the demo's ledger holds at its end."""
    return [
        record("demo-xgboost-churn", "Completed", secondary_status="Completed"),
        record(
            "demo-xgboost-fails", "Failed", secondary_status="Failed", failure_reason=LONG_REASON
        ),
        record(
            "demo-autopilot-churn",
            "Completed",
            job_type="AutoMLJob",
            secondary_status="ExplainabilityError",
            warnings=["ExplainabilityError: simulated explainability failure"],
        ),
        record("demo-invalid-request", "Rejected", failure_reason=PATTERN_REASON),
    ]


def fleet_records() -> list[JobRecord]:
    """The demo's, and jobs with a long name and a long secondary status."""
    return [
        *demo_records(),
        record(
            "nightly-churn-retrain-with-a-rather-long-name-2026-12-01",
            "SubmitFailed",
            failure_reason="ResourceLimitExceeded: the account-level service limit",
        ),
        record(
            "li-autopilot",
            "Completed",
            job_type="AutoMLJob",
            secondary_status="GeneratingExplainabilityReport",
        ),
    ]


def rendered(renderable: RenderableType, width: int, soft_wrap: bool = False) -> str:
    """As the CLI prints it (``soft_wrap``: as ``jobctl get`` does, long words whole)."""
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None, legacy_windows=False)
    console.print(renderable, soft_wrap=soft_wrap)
    return out.getvalue()


def assert_fits(text: str, width: int) -> None:
    too_long = [line for line in text.splitlines() if len(line) > width]
    assert not too_long, f"lines wider than {width}: {too_long}"


def assert_uncut(text: str, *values: str) -> None:
    """Every value appears whole: not cut short, not ellipsised, not wrapped apart."""
    for value in values:
        assert value in text, f"{value!r} is cut:\n{text}"


WIDTHS = [80, 120]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("records", [demo_records(), fleet_records()], ids=["demo", "fleet"])
def test_the_ledger_never_cuts_a_name_type_or_status(width: int, records: list[JobRecord]) -> None:
    text = rendered(ledger_view(records), width)
    assert_fits(text, width)
    for job in records:
        assert_uncut(text, job.job_name, job.job_type, job.status)
    assert "…" not in text


@pytest.mark.parametrize("width", WIDTHS)
def test_the_ledger_keeps_every_detail_whole_wrapped_or_beneath(width: int) -> None:
    text = rendered(ledger_view(fleet_records()), width)
    words = " ".join(text.replace("│", " ").split())
    for reason in (LONG_REASON, PATTERN_REASON):
        # Wrapped, maybe across table cells: every word of it is still there, in order.
        for word in reason.split():
            assert word in words


def test_the_ledger_shows_every_column_where_there_is_room() -> None:
    text = rendered(ledger_view(fleet_records()), 250)
    for header in ("job", "type", "status", "secondary", "updated", "detail"):
        assert header in text.splitlines()[2]
    assert "GeneratingExplainabilityReport" in text
    assert "2026-12-01T16:07:21Z" in text


def test_at_80_columns_the_demo_ledger_is_a_table_that_says_what_it_left_out() -> None:
    text = rendered(ledger_view(demo_records()), 80)
    assert "┃ job " in text
    assert "2026-12-01T16:07:21Z" not in text
    assert "not shown at this width" in text


@pytest.mark.parametrize("width", [40, 60])
def test_a_narrow_terminal_gets_one_line_per_job_and_still_no_cut_name(width: int) -> None:
    records = fleet_records()
    text = rendered(ledger_view(records), width)
    assert "┃" not in text  # no table: one line per job
    assert_fits(text, width)
    flat = text.replace("\n", "")
    for job in records:
        # A name longer than the console folds onto the next line, whole.
        assert job.job_name in flat
        assert_uncut(text, job.job_type, job.status)


@pytest.mark.parametrize("width", WIDTHS)
def test_watching_two_jobs_keeps_both_names_when_one_fails(width: int) -> None:
    running = record("li-train-a", "InProgress", secondary_status="Training")
    failed = record(
        "li-train-b", "Failed", secondary_status="Failed", failure_reason=LONG_REASON * 2
    )
    text = rendered(ledger_view([running, failed], title="watching"), width)
    assert_fits(text, width)
    assert_uncut(text, "li-train-a", "li-train-b", "InProgress", "Failed", "TrainingJob")


@pytest.mark.parametrize("width", WIDTHS)
def test_dead_letters_show_their_full_message_ids(width: int) -> None:
    letters = [
        (
            DeadLetter(
                message_id=f"3f2a9c1e-7b4d-4e8a-9c21-5d6e7f80{n:04d}",
                sent_at="2026-12-01T16:07:21+00:00",
                job_type="TrainingJob",
                job_name=f"demo-xgboost-dlq-{n}",
                request_id=f"r-{n}",
            ),
            record(f"demo-xgboost-dlq-{n}", "SubmitFailed", failure_reason=PATTERN_REASON),
        )
        for n in range(3)
    ]
    text = rendered(dead_letters_view(letters), width)
    assert_fits(text, width)
    for letter, job in letters:
        assert_uncut(text, letter.message_id, job.job_name, "TrainingJob", "SubmitFailed")
    assert "…" not in text


@pytest.mark.parametrize("width", WIDTHS)
def test_the_demo_notices_keep_names_types_and_statuses(width: int) -> None:
    notices: list[dict[str, Any]] = [
        {
            "job_name": job.job_name,
            "job_type": job.job_type,
            "status": job.status,
            "secondary_status": job.secondary_status,
            "failure_reason": job.failure_reason,
            "warnings": job.warnings,
        }
        for job in fleet_records()
    ]
    text = rendered(notices_view(notices, title="notices received"), width)
    assert_fits(text, width)
    for notice in notices:
        assert_uncut(text, notice["job_name"], notice["job_type"], notice["status"])


def test_an_empty_ledger_says_so() -> None:
    assert rendered(ledger_view([]), 80).strip() == "jobs: no jobs"


# -- data is never markup -----------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 120, 250])
def test_a_rejection_reason_keeps_its_brackets_in_the_ledger(width: int) -> None:
    reason = "job_name: does not match the pattern '^[a-zA-Z0-9](-*[a-zA-Z0-9])*$'"
    text = rendered(ledger_view([record("bad", "Rejected", failure_reason=reason)]), width)
    assert "'^[a-zA-Z0-9](-*[a-zA-Z0-9])*$'" in " ".join(text.split())
    assert "'^(-*)*$'" not in text


def test_a_record_keeps_the_brackets_of_its_reason_and_its_history() -> None:
    job = record(
        "bad",
        "Rejected",
        failure_reason=PATTERN_REASON,
        history=[{"status": "Rejected", "secondary_status": "[bold]x[/bold]", "at": "t"}],
    )
    text = "".join(rendered(part, 250) for part in record_view(job))
    assert PATTERN_REASON in text
    assert "[bold]x[/bold]" in text


def test_the_history_is_shown_in_time_order_whichever_clock_wrote_each_entry() -> None:
    job = record(
        "a",
        "InProgress",
        history=[
            {"status": "Queued", "at": "2026-12-01T06:06:27.100Z"},
            {
                "status": "InProgress",
                "secondary_status": "Training",
                "at": "2026-12-01T06:06:27.163Z",
            },
            {
                "status": "InProgress",
                "secondary_status": "Starting",
                "at": "2026-12-01T06:06:27.122Z",
            },
        ],
    )
    text = "".join(rendered(part, 120) for part in record_view(job))
    assert text.index("27.100") < text.index("27.122") < text.index("27.163")


def test_a_notice_line_keeps_the_brackets_of_its_reason() -> None:
    notice = {
        "updated_at": "2026-12-01T16:07:21.234Z",
        "job_type": "TrainingJob",
        "job_name": "bad",
        "status": "Rejected",
        "failure_reason": PATTERN_REASON,
    }
    text = rendered(notice_line(notice), 400)
    assert PATTERN_REASON in text
    assert text.startswith("2026-12-01T16:07:21Z  TrainingJob  bad  Rejected  ")


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("2026-12-01T16:07:21.234Z", "2026-12-01T16:07:21Z"),
        ("2026-12-01T18:07:21+02:00", "2026-12-01T16:07:21Z"),
        ("not a time", "not a time"),
        (None, ""),
    ],
)
def test_times_are_shown_as_utc_to_the_second(given: str | None, shown: str) -> None:
    assert short_time(given) == shown


# -- the queue and the scheduling fields (docs/contract.md §8) --------------------------------

GPU = "ml.p4d.24xlarge"


def cells_of(table: str, name: str) -> dict[str, str]:
    """The cells of the table row of job ``name``, by their column's header."""
    lines = table.splitlines()
    headers = next(line for line in lines if line.startswith("┃"))
    row = next(line for line in lines if line.startswith("│") and f" {name} " in line)
    return dict(
        zip(
            (h.strip() for h in headers.strip("┃").split("┃")),
            (c.strip() for c in row.strip("│").split("│")),
            strict=True,
        )
    )


GPU_FULL = f"waiting for capacity ({GPU}: 8 of 8 instances in use, needs 4)"


def entry(position: int, name: str, **fields: Any) -> QueueEntry:
    values: dict[str, Any] = {
        "job_type": "TrainingJob",
        "priority": 0,
        "share": "default",
        "instances": {GPU: 4},
        "since": "2026-12-01T16:00:00.000Z",
        "age_seconds": 754.0,
        "waiting_for": GPU_FULL,
        "ahead": position - 1,
        "starts_next": False,
        **fields,
    }
    return QueueEntry(position=position, job_name=name, **values)


def queue_entries() -> list[QueueEntry]:
    return [
        entry(1, "llm-sweep-17", priority=100, share="research", instances={GPU: 2}),
        entry(2, "prod-retrain", priority=50, share="prod"),
        entry(
            3,
            "nightly-churn-retrain-with-a-rather-long-name-2026-12-01",
            job_type="AutoMLJob",
            instances={},
            waiting_for="waiting for capacity (all jobs: 20 of 20 running)",
            age_seconds=3 * 86400 + 7200,
        ),
    ]


@pytest.mark.parametrize("width", WIDTHS)
def test_the_queue_never_cuts_a_name_or_type(width: int) -> None:
    text = rendered(queue_view(queue_entries()), width)
    assert_fits(text, width)
    for job in queue_entries():
        assert_uncut(text, job.job_name, job.job_type)
    assert "…" not in text


@pytest.mark.parametrize(
    ("width", "columns"),
    [
        (
            150,
            ["#", "job", "type", "priority", "share", "instances", "age", "ahead", "waiting for"],
        ),
        # The instances give way first, and what each waits for goes beneath the table.
        (80, ["#", "job", "type", "priority", "share", "age", "ahead"]),
    ],
)
def test_the_queue_shows_each_jobs_position_priority_share_and_the_jobs_ahead(
    width: int, columns: list[str]
) -> None:
    text = rendered(queue_view(queue_entries()[:2]), width)
    assert_fits(text, width)
    cells = cells_of(text, "llm-sweep-17")
    assert list(cells) == columns
    expected = {"#": "1", "job": "llm-sweep-17", "type": "TrainingJob", "priority": "100"}
    expected |= {"share": "research", "instances": f"2 {GPU}", "age": "12m", "ahead": "0"}
    assert {column: cells[column] for column in columns if column in expected} == {
        column: expected[column] for column in columns if column in expected
    }
    assert cells_of(text, "prod-retrain")["ahead"] == "1"


@pytest.mark.parametrize("width", WIDTHS)
def test_the_queue_keeps_what_each_job_waits_for_whole(width: int) -> None:
    text = rendered(queue_view(queue_entries()), width)
    words = " ".join(text.replace("│", " ").split())
    for word in GPU_FULL.split():
        assert word in words
    assert "all jobs: 20 of 20 running)" in words


@pytest.mark.parametrize("width", [40, 60])
def test_a_narrow_terminal_gets_one_line_per_waiting_job(width: int) -> None:
    text = rendered(queue_view(queue_entries()), width)
    assert "┃" not in text
    assert_fits(text, width)
    flat = text.replace("\n", "")
    for job in queue_entries():
        assert job.job_name in flat


def test_an_empty_queue_says_so() -> None:
    assert rendered(queue_view([]), 80).strip() == "queue: no jobs waiting"


def test_a_job_whose_place_is_not_known_shows_a_question_mark() -> None:
    text = rendered(queue_view([entry(1, "a", ahead=None, age_seconds=None)]), 120)
    cells = cells_of(text, "a")
    assert (cells["age"], cells["ahead"]) == ("?", "?")


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h00m"),
        (3 * 3600 + 300, "3h05m"),
        (86400, "1d00h"),
        (2 * 86400 + 4 * 3600 + 59, "2d04h"),
        (None, "?"),
    ],
)
def test_an_age_is_shown_in_at_most_two_units(seconds: float | None, shown: str) -> None:
    assert short_age(seconds) == shown


def test_instances_are_shown_as_the_budgets_count_them() -> None:
    assert instances_text({GPU: 4, "ml.g5.xlarge": 1}) == f"1 ml.g5.xlarge, 4 {GPU}"
    assert instances_text({}) == "-"


def test_the_budgets_line_names_the_room_in_use_in_each_budget_wanted() -> None:
    budgets = Budgets(overall=20, instance_types={GPU: 8, "ml.g5.xlarge": 4})
    usage = {OVERALL: Usage(20), GPU: Usage(8)}
    assert (
        budgets_line(budgets, usage).plain == f"in use: all jobs 20 of 20; {GPU} 8 of 8 instances"
    )


def scheduled_records() -> list[JobRecord]:
    return [
        record("llm-sweep-17", "Queued", priority=100, share="research", waiting_for=GPU_FULL),
        record("prod-retrain", "InProgress", secondary_status="Training", priority=0, share="prod"),
        *demo_records(),
    ]


def test_the_ledger_shows_priority_and_share_when_a_job_has_its_own() -> None:
    text = rendered(ledger_view(scheduled_records()), 250)
    header = text.splitlines()[2]
    for name in ("job", "type", "status", "secondary", "priority", "share", "updated", "detail"):
        assert name in header
    cells = cells_of(text, "llm-sweep-17")
    assert (cells["priority"], cells["share"]) == ("100", "research")
    assert GPU_FULL in text


def test_the_ledger_spends_no_columns_on_priorities_nobody_set() -> None:
    defaults = [record("a", "Queued", priority=0, share="default"), *demo_records()]
    header = rendered(ledger_view(defaults), 250).splitlines()[2]
    assert "priority" not in header
    assert "share" not in header


@pytest.mark.parametrize("width", [40, 60, *WIDTHS])
def test_the_ledger_with_priorities_never_cuts_a_name_type_or_status(width: int) -> None:
    records = scheduled_records()
    text = rendered(ledger_view(records), width)
    assert_fits(text, width)
    flat = text.replace("\n", "")
    for job in records:
        assert job.job_name in flat
        assert_uncut(text, job.job_type, job.status)


def test_a_record_shows_its_priority_even_the_default_and_its_share() -> None:
    job = record("a", "Queued", priority=0, share="default", waiting_for=GPU_FULL)
    text = "".join(rendered(part, 250) for part in record_view(job))
    rows = {
        cells[0]: cells[1]
        for line in text.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 2
    }
    assert (rows["priority"], rows["share"], rows["waiting_for"]) == ("0", "default", GPU_FULL)


def test_a_record_shows_its_phase_so_an_operator_sees_what_it_waits_for() -> None:
    job = record("a", "Queued", phase=Phase.BETWEEN_TRIES)
    text = "".join(rendered(part, 250) for part in record_view(job))
    assert any("phase" in line and "between-tries" in line for line in text.splitlines())


LONG_NAME = "nightly-churn-retrain-for-the-eu-west-customers-2026-12-01-final"  # 63


@pytest.mark.parametrize("width", [80, 120])
def test_with_a_long_job_name_list_keeps_every_value_beside_its_header(width: int) -> None:
    jobs = [
        record(LONG_NAME, "Queued", priority=100, share="research", waiting_for="capacity"),
        record("short", "InProgress", secondary_status="Training"),
    ]
    text = rendered(ledger_view(jobs), width)
    assert_fits(text, width)
    assert LONG_NAME in text  # whole, never split
    plain = " ".join(text.split())
    if width == 80:  # a card per job: each value after its header
        assert "status: Queued" in plain
        assert "priority: 100" in plain
        assert "share: research" in plain
    else:
        assert all(header in text for header in ("job", "status", "priority", "share"))


@pytest.mark.parametrize("width", [80, 120])
def test_with_a_long_job_name_queue_keeps_every_value_beside_its_header(width: int) -> None:
    entries = [*queue_entries(), entry(4, LONG_NAME, priority=7, share="prod")]
    text = rendered(queue_view(entries), width)
    assert_fits(text, width)
    assert LONG_NAME in text
    plain = " ".join(text.split())
    if width == 80:
        assert "priority: 7" in plain
        assert "share: prod" in plain
    else:
        assert all(header in text for header in ("job", "priority", "share", "ahead"))


@pytest.mark.parametrize("width", [80, 120])
def test_get_never_splits_an_arn_or_an_s3_uri(width: int) -> None:
    arn = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{LONG_NAME}"
    uri = f"s3://example-bucket/churn/output/{LONG_NAME}/output/model.tar.gz"
    job = record(LONG_NAME, "Completed", job_arn=arn, outputs={"model": uri})
    text = "".join(rendered(part, width, soft_wrap=True) for part in record_view(job))
    assert arn in text
    assert uri in text
    assert "status" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_shares_and_report_keep_every_share_and_header_at_any_width(width: int) -> None:
    from jobctl_cli.client import ShareEntry
    from jobctl_cli.render import report_view, shares_view
    from jobctl_cli.report import Report, Totals

    long_share = "computer-vision-research-emea-2026"
    shares = [
        ShareEntry(long_share, f"{GPU} (8)", 2.0, 40.0, 38.5, 41.2, 12, 3),
        ShareEntry("prod", f"{GPU} (8)", 3.0, 60.0, 61.5, None, 0, 5),
    ]
    groups = [Totals(long_share, 10, 12, 7200, 3600, 12.5), Totals("prod", 4, 4, 3600, 0, 4.0)]
    report = Report("share", groups, Totals("all", 14, 16, 10800, 3600, 16.5))
    for view in (shares_view(shares), report_view(report)):
        text = rendered(view, width)
        assert_fits(text, width)
        assert long_share in text
        assert "prod" in text


@pytest.mark.parametrize("width", WIDTHS)
def test_the_report_shows_what_preemption_cost_where_a_try_was_preempted(width: int) -> None:
    from jobctl_cli.render import report_view
    from jobctl_cli.report import Report, Totals

    research = Totals("research", 10, 12, 7200, 0, 12.5, 0, 2, 3600, 6.25)
    report = Report("share", [research], Totals("all", 10, 12, 7200, 0, 12.5, 0, 2, 3600, 6.25))
    text = rendered(report_view(report), width)
    assert_fits(text, width)
    assert "research" in text
    assert "lost to preemption" in text
    assert "1.00 ($6.25)" in text
