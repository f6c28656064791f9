"""How jobctl shows jobs, dead letters and notices on a terminal (the CLI and the demo).

Two rules hold at every width:

- **Data is never markup.** A rejection reason such as ``does not match the pattern
  [a-zA-Z_]*`` is printed as it is: every value goes into a ``rich.text.Text``, never
  into a markup string.
- **The columns that identify a row are never cut.** Names, types, statuses (and ids)
  keep their full width; the free-text detail gives way first (it wraps, then moves
  beneath the table), and when even the identifying columns do not fit, each row becomes
  a line of its own (``Listing``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.live import Live
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from jobctl.logic.fair_share import Usage
from jobctl.logic.scheduling import OVERALL, Budgets, describe_key, is_share_key
from jobctl.models.jobs import JobRecord
from jobctl.models.requests import DEFAULT_SHARE, MIN_PRIORITY
from jobctl_cli.client import DeadLetter, QueueEntry, ShareEntry
from jobctl_cli.report import Report, Totals

STATUS_STYLE = {
    "Completed": "green",
    "Failed": "red",
    "Rejected": "red",
    "SubmitFailed": "red",
    "Stopped": "yellow",
    "Stopping": "yellow",
    "InProgress": "cyan",
    "Queued": "blue",
}
# The narrowest a wrapped detail column may be before the detail moves beneath the table.
MIN_DETAIL_WIDTH = 24
# A table shows this much of a detail; `jobctl get NAME` shows all of it.
DETAIL_CHARS = 240
_GAP = "  "


def output_width() -> int | None:
    """``COLUMNS`` if set; a terminal's own width (None); else 150, so that logs and CI
    captures, which are not terminals, get room instead of 80 columns."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if sys.stdout.isatty() else 150


console = Console(width=output_width())


class Follow:
    """A view that changes: redrawn in place on a terminal (rich's ``Live``); a log or
    a pipe gets only the last one, printed once, whole, when the ``with`` block ends."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._live = Live(console=console, refresh_per_second=4) if console.is_terminal else None
        self._view: RenderableType | None = None

    def __enter__(self) -> Follow:
        if self._live:
            self._live.__enter__()
        return self

    def update(self, view: RenderableType) -> None:
        self._view = view
        if self._live:
            self._live.update(view)

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._live.__exit__(None, None, None)
        elif self._view is not None:
            self._console.print(self._view)


def styled(status: str) -> Text:
    """A status in its colour (as data: never markup)."""
    return Text(status, style=STATUS_STYLE.get(status, ""))


def short_time(value: str | None) -> str:
    """An ISO-8601 time as UTC to the second (``2026-12-01T16:07:21Z``); else as given."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_age(seconds: float | None) -> str:
    """How long ago, in at most two units: ``45s``, ``12m``, ``3h05m``, ``2d04h``."""
    if seconds is None:
        return "?"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def clipped(text: str, limit: int = DETAIL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Fields:
    """Named values (``jobctl get``): a two-column table while every word of every value
    fits its column; else one ``name: value`` line each, never broken inside a word (an
    ARN or an S3 URI is copied whole: the terminal may wrap it, rich does not split it)."""

    title: str
    rows: Sequence[tuple[str, Text]]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        name_width = max((len(name) for name, _ in self.rows), default=0)
        longest_word = max((len(w) for _, v in self.rows for w in v.plain.split()), default=0)
        if _table_width([name_width, longest_word]) <= options.max_width:
            table = Table(title=Text(self.title), show_header=False)
            table.add_column("field", no_wrap=True)
            table.add_column("value", overflow="fold")
            for name, value in self.rows:
                table.add_row(name, value)
            yield table
            return
        yield Text(self.title, style="italic")
        for name, value in self.rows:
            line = Text.assemble((f"{name}: ", "dim"), value)
            line.no_wrap, line.overflow = True, "ignore"
            yield line


@dataclass
class Listing:
    """Rows of identifying cells, each with an optional free-text detail, laid out to fit.

    In order of preference, for the width the console gives:

    1. one table, the detail a column of its own that wraps (at least
       ``MIN_DETAIL_WIDTH`` wide);
    2. the table without the detail column, each row's detail beneath it, beside the
       row's ``key`` cell;
    3. that table without its ``optional`` columns (dropped in the order given, and
       named beneath the table);
    4. one line per row, its cells side by side (aligned when they fit), its detail
       indented on the lines below.

    No layout cuts a cell: a column is as wide as its longest value, and text that meets
    the edge of the console wraps instead of ending in an ellipsis.
    """

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Text]]
    details: Sequence[str | None] = ()
    detail_header: str = "detail"
    key: int = 0
    # Columns that may be left out, first to go first: never the identifying ones.
    optional: Sequence[int] = ()
    empty: str = "nothing to show"

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.rows:
            yield Text(f"{self.title}: {self.empty}" if self.title else self.empty, style="dim")
            return
        width = options.max_width
        widths = [
            max([len(header), *(row[index].cell_len for row in self.rows)])
            for index, header in enumerate(self.headers)
        ]
        details = [clipped(detail) if detail else "" for detail in self.details]
        details += [""] * (len(self.rows) - len(details))
        shown = list(range(len(self.headers)))
        if any(details) and _table_width([*widths, MIN_DETAIL_WIDTH]) <= width:
            yield self._table(shown, widths, details)
            return
        for dropped in range(len(self.optional) + 1):
            shown = [i for i in range(len(self.headers)) if i not in self.optional[:dropped]]
            if _table_width([widths[i] for i in shown]) <= width:
                yield self._table(shown, widths, None)
                yield from self._details_beneath(width, details)
                if dropped:
                    left_out = ", ".join(self.headers[i] for i in self.optional[:dropped])
                    yield Text(f"{left_out}: not shown at this width", style="dim")
                return
        yield from self._lines(width, widths, details)

    def _table(self, shown: list[int], widths: list[int], details: list[str] | None) -> Table:
        table = Table(title=Text(self.title) if self.title else None)
        for index in shown:
            table.add_column(self.headers[index], width=widths[index], no_wrap=True)
        if details is not None:
            table.add_column(self.detail_header, overflow="fold")
        for row, detail in zip(self.rows, details or [""] * len(self.rows), strict=True):
            cells = [row[index] for index in shown]
            table.add_row(*cells, *([Text(detail)] if details is not None else []))
        return table

    def _details_beneath(self, width: int, details: list[str]) -> RenderResult:
        """Each row's detail beside its key, wrapping in a column of its own (or, when
        the keys leave it too little room, beneath its key, indented)."""
        keyed = [(row[self.key].plain, d) for row, d in zip(self.rows, details, strict=True) if d]
        if not keyed:
            return
        key_width = max(len(key) for key, _ in keyed)
        if width - key_width - len(_GAP) >= MIN_DETAIL_WIDTH:
            grid = Table.grid(padding=(0, len(_GAP), 0, 0))
            grid.add_column(no_wrap=True, width=key_width)
            grid.add_column(overflow="fold")
            for key, detail in keyed:
                grid.add_row(Text(key, style="bold"), Text(detail))
            yield grid
            return
        for key, detail in keyed:
            yield Text(key, style="bold", overflow="fold")
            yield Padding(Text(detail, overflow="fold"), (0, 0, 0, 4))

    def _lines(self, width: int, widths: list[int], details: list[str]) -> RenderResult:
        """One line per row under a header line when the cells fit side by side; else one
        card per row: its key, then each other cell after its header, never split."""
        if self.title:
            yield Text(self.title, style="italic")
        if sum(widths) + len(_GAP) * (len(widths) - 1) <= width:
            header = _GAP.join(h.ljust(w) for h, w in zip(self.headers, widths, strict=True))
            yield Text(header.rstrip(), style="bold")
            for row, detail in zip(self.rows, details, strict=True):
                cells = [
                    cell + " " * (w - cell.cell_len) for cell, w in zip(row, widths, strict=True)
                ]
                line = Text(_GAP).join(cells)
                line.rstrip()
                yield line
                yield from _detail_lines(detail)
            return
        for row, detail in zip(self.rows, details, strict=True):
            yield Text(row[self.key].plain, style="bold", overflow="fold")
            fields = [
                Text.assemble((f"{header}: ", "dim"), cell)
                for index, (header, cell) in enumerate(zip(self.headers, row, strict=True))
                if index != self.key and cell.plain
            ]
            yield from _packed(fields, width - 2)
            yield from _detail_lines(detail)


def _packed(fields: list[Text], width: int) -> RenderResult:
    """Fields side by side on indented lines of at most ``width`` cells, each whole (one
    wider than a line has a line of its own)."""
    line: list[Text] = []
    for field in fields:
        if line and Text(_GAP).join([*line, field]).cell_len > width:
            yield Padding(Text(_GAP).join(line), (0, 0, 0, 2))
            line = []
        line.append(field)
    if line:
        yield Padding(Text(_GAP).join(line), (0, 0, 0, 2))


def _detail_lines(detail: str) -> RenderResult:
    if detail:
        yield Padding(Text(detail, style="dim", overflow="fold"), (0, 0, 0, 4))


def _table_width(widths: list[int]) -> int:
    """A rich table's width: its cells, one space of padding each side, and the rules."""
    return sum(widths) + 2 * len(widths) + len(widths) + 1


def record_detail(record: JobRecord) -> str:
    return (
        record.failure_reason
        or record.waiting_for
        or record.last_error
        or "; ".join(record.warnings)
        or ""
    )


def scheduled(records: Sequence[JobRecord]) -> bool:
    """Whether any of the jobs was given a priority or share of its own (docs/contract.md
    §8): only then does a listing spend columns on them."""
    return any(
        (record.priority or MIN_PRIORITY) != MIN_PRIORITY
        or (record.share or DEFAULT_SHARE) != DEFAULT_SHARE
        for record in records
    )


def ledger_view(records: Sequence[JobRecord], title: str = "jobs") -> Listing:
    """Ledger records: job, type, status, secondary status, last update, and why (a
    reason, or what a Queued job waits for); priority and share too when any job has its
    own."""
    if not scheduled(records):
        return Listing(
            title=title,
            headers=("job", "type", "status", "secondary", "updated"),
            rows=[(*_identity(record), Text(short_time(record.updated_at))) for record in records],
            details=[record_detail(record) for record in records],
            optional=(4, 3),
            empty="no jobs",
        )
    return Listing(
        title=title,
        headers=("job", "type", "status", "secondary", "priority", "share", "updated"),
        rows=[
            (
                *_identity(record),
                Text("" if record.priority is None else str(record.priority)),
                Text(record.share or ""),
                Text(short_time(record.updated_at)),
            )
            for record in records
        ],
        details=[record_detail(record) for record in records],
        # As without priorities: the update time goes first, then the secondary status.
        optional=(6, 3, 5, 4),
        empty="no jobs",
    )


def _identity(record: JobRecord) -> tuple[Text, Text, Text, Text]:
    return (
        Text(record.job_name, style="bold"),
        Text(record.job_type),
        styled(record.status),
        Text(record.secondary_status or ""),
    )


def instances_text(instances: Mapping[str, int]) -> str:
    """The instances a job runs on, as its budgets count them (``4 ml.p4d.24xlarge``); an
    AutoML job names none."""
    return ", ".join(f"{count} {kind}" for kind, count in sorted(instances.items())) or "-"


def queue_view(
    entries: Sequence[QueueEntry], title: str = "queue", empty: str = "no jobs waiting"
) -> Listing:
    """Waiting jobs in the order of admission (``jobctl queue``): position, job, type,
    priority, share, instances, age, the waiting jobs ahead, and what it waits for."""
    return Listing(
        title=title,
        headers=("#", "job", "type", "priority", "share", "instances", "age", "ahead"),
        rows=[
            (
                Text(str(entry.position)),
                Text(entry.job_name, style="bold"),
                Text(entry.job_type),
                Text(str(entry.priority)),
                Text(entry.share),
                Text(instances_text(entry.instances)),
                Text(short_age(entry.age_seconds)),
                Text("?" if entry.ahead is None else str(entry.ahead)),
            )
            for entry in entries
        ],
        details=[_waits_for(entry) for entry in entries],
        detail_header="waiting for",
        key=1,
        optional=(5, 6),
        empty=empty,
    )


def shares_view(entries: Sequence[ShareEntry]) -> Listing:
    """``jobctl shares``: per share and budget, its weight's part beside its use now and
    its part of the last day (all in % of the budget or of the day), and its jobs."""

    def percent(value: float | None) -> Text:
        return Text("-" if value is None else f"{value:.1f}%")

    return Listing(
        title="shares",
        headers=("share", "budget", "weight", "use now", "last day", "waiting", "running"),
        rows=[
            (
                Text(entry.share, style="bold"),
                Text(entry.budget),
                Text(f"{entry.weight:g} ({entry.weight_percent:.1f}%)"),
                percent(entry.use_percent),
                percent(entry.last_day_percent),
                Text(str(entry.waiting)),
                Text(str(entry.running)),
            )
            for entry in entries
        ],
        key=0,
        optional=(4,),
        empty="no budgets recorded, and no shares seen",
    )


def _waits_for(entry: QueueEntry) -> str:
    if entry.expected_start is None:
        return entry.waiting_for
    return (
        f"{entry.waiting_for}; room reserved: starts by {entry.expected_start} at the "
        "latest, if running jobs end by their limits"
    )


def budgets_line(budgets: Budgets, usage: Mapping[str, Usage]) -> Text:
    """The room in use in each budget the waiting jobs want."""
    parts = []
    for key in budgets.budget_keys():
        if key not in usage:
            continue
        unit = "" if key == OVERALL or is_share_key(key) else " instances"
        parts.append(f"{describe_key(key)} {usage[key].used} of {budgets.limit(key)}{unit}")
    return Text("in use: " + "; ".join(parts) if parts else "", style="dim", overflow="fold")


def notices_view(notices: Sequence[dict[str, Any]], title: str = "notices") -> Listing:
    """Notices as published: job, type, status, secondary status, warnings or reason."""
    return Listing(
        title=title,
        headers=("job", "type", "status", "secondary"),
        rows=[
            (
                Text(str(notice.get("job_name", "?")), style="bold"),
                Text(str(notice.get("job_type", "?"))),
                styled(str(notice.get("status", "?"))),
                Text(str(notice.get("secondary_status") or "")),
            )
            for notice in notices
        ],
        details=[
            "; ".join(notice.get("warnings") or []) or str(notice.get("failure_reason") or "")
            for notice in notices
        ],
        detail_header="warnings / reason",
        optional=(3,),
        empty="none",
    )


def dead_letters_view(letters: Sequence[tuple[DeadLetter, JobRecord | None]]) -> Listing:
    """Dead letters with their jobs' ledger status: full message ids, never cut."""
    return Listing(
        title=f"dead letters ({len(letters)})",
        headers=("message id", "sent", "type", "job", "status"),
        rows=[
            (
                Text(letter.message_id),
                Text(short_time(letter.sent_at)),
                Text(letter.job_type or "?"),
                Text(letter.job_name or "?", style="bold"),
                styled(record.status) if record else Text(""),
            )
            for letter, record in letters
        ],
        details=[(record.failure_reason or "") if record else "" for _, record in letters],
        detail_header="reason",
        key=0,
        optional=(1,),
        empty="none",
    )


def notice_line(notice: dict[str, Any]) -> Text:
    """One notice as one line (``jobctl notices``)."""
    cells = [
        Text(short_time(notice.get("updated_at"))),
        Text(str(notice.get("job_type", "?"))),
        Text(str(notice.get("job_name", "?")), style="bold"),
        styled(str(notice.get("status", "?"))),
        Text(str(notice.get("secondary_status") or "")),
        Text("; ".join(notice.get("warnings") or []) or str(notice.get("failure_reason") or "")),
    ]
    line = Text(_GAP).join(cell for cell in cells if cell.plain)
    line.overflow = "fold"
    return line


def _instant(at: str) -> datetime:
    """A history entry's time, for ordering (an unreadable one sorts first)."""
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record_view(record: JobRecord) -> list[RenderableType]:
    """A ledger record (``jobctl get``): its fields, then its history as a timeline."""
    rows: list[tuple[str, Text]] = []
    for name in (
        "status",
        "phase",
        "secondary_status",
        "failure_reason",
        "priority",
        "share",
        "waiting_for",
        "expected_start",
        "last_error",
        "warnings",
        "job_arn",
        "request_id",
        "created_at",
        "updated_at",
        "notified_at",
    ):
        value = getattr(record, name)
        if value is None or value in ("", []):  # a priority of 0 is shown
            continue
        if name == "status":
            rows.append((name, styled(value)))
        elif name == "phase":  # what the job waits for (README, "A job's lifecycle")
            rows.append((name, Text(value.value)))
        elif name == "warnings":
            rows.append((name, Text("; ".join(value))))
        else:
            rows.append((name, Text(str(value))))
    if record.outputs:
        rows.append(("outputs", Text(json.dumps(record.outputs))))
    fields = Fields(f"{record.job_type} {record.job_name}", rows)
    timeline = Table(title="history")
    timeline.add_column("at", no_wrap=True)
    timeline.add_column("status", no_wrap=True)
    timeline.add_column("secondary status", overflow="fold")
    # Entries come from the controller's clock and from SageMaker's: shown in time order.
    for entry in sorted(record.history, key=lambda entry: _instant(entry.at)):
        timeline.add_row(Text(entry.at), styled(entry.status), Text(entry.secondary_status or ""))
    return [fields, timeline]


BAR_CHARS = 24


def report_view(result: Report, since: str | None = None) -> Listing:
    """``jobctl report``: per group, its jobs and tries, billable instance-hours, what spot
    saved, and estimated cost, with a bar of its cost beside it (largest first); and what
    preemptions cost, where any try was preempted."""
    top = max((group.estimated_cost_usd for group in result.groups), default=0.0)
    preempted = result.total.preempted_tries > 0

    def bar(cost: float) -> str | None:
        if top <= 0 or cost <= 0:
            return None
        return "█" * max(1, round(cost / top * BAR_CHARS))

    def row(totals: Totals, style: str = "") -> tuple[Text, ...]:
        unpriced = f" (+{totals.unpriced_jobs} unpriced)" if totals.unpriced_jobs else ""
        cells = (
            Text(totals.group, style=style or "bold"),
            Text(str(totals.jobs), style=style),
            Text(str(totals.tries), style=style),
            Text(f"{totals.billable_instance_hours:,.2f}", style=style),
            Text(f"{totals.spot_saved_instance_hours:,.2f}", style=style),
            Text(f"${totals.estimated_cost_usd:,.2f}{unpriced}", style=style),
        )
        lost = f"{totals.preempted_instance_hours:,.2f} (${totals.preempted_cost_usd:,.2f})"
        return (*cells, Text(lost, style=style)) if preempted else cells

    window = f" since {since}" if since else ""
    headers = ("group", "jobs", "tries", "instance-hours", "spot saved (h)", "est. cost")
    return Listing(
        title=f"usage and cost by {result.by}{window}",
        headers=(*headers, "lost to preemption (h)") if preempted else headers,
        rows=[*(row(group) for group in result.groups), row(result.total, "italic")]
        if result.groups
        else [],
        details=[bar(group.estimated_cost_usd) for group in result.groups],
        detail_header="cost",
        key=0,
        optional=(4, 2, 6) if preempted else (4, 2),
        empty="no jobs",
    )
