"""The ``jobctl`` command line: enqueue requests, read the ledger, follow notices, run locally."""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import boto3
import click
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import TypeAdapter, ValidationError
from rich.console import Group, RenderableType
from rich.text import Text

from jobctl.logic.lifecycle import record_is_settled
from jobctl.models.jobs import (
    COMPLETED,
    STATUSES,
    JobRecord,
    utc_iso,
)
from jobctl.models.requests import Priority, Share
from jobctl_cli.client import (
    JobctlClient,
    Queue,
    QueueEntry,
    Resources,
    UserError,
    default_stack_name,
    names_a_role,
    parse_time,
    read_requests,
    update_request,
    with_scheduling,
)
from jobctl_cli.render import (
    Follow,
    budgets_line,
    console,
    dead_letters_view,
    ledger_view,
    notice_line,
    output_width,
    queue_view,
    record_view,
    report_view,
    shares_view,
    styled,
)
from jobctl_cli.report import GROUP_BY, GroupBy
from jobctl_cli.report import report as usage_report

__all__ = ["STATUSES", "console", "main"]

T = TypeVar("T")

# The ledger's statuses (docs/contract.md §4), in the order a job meets them.
JOB_TYPES = ("TrainingJob", "AutoMLJob")


class JobctlGroup(click.Group):
    """Reports AWS and user errors in one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise click.ClickException(str(exc)) from exc
        except (ClientError, BotoCoreError) as exc:
            raise click.ClickException(f"AWS: {exc}") from exc


class Moment(click.ParamType[datetime]):
    """A time: ISO-8601 (UTC unless it has an offset) or an age such as 30m, 2h, 7d."""

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except UserError as exc:
            self.fail(str(exc), param, ctx)


class Checked(click.ParamType[T]):
    """A value checked by the type the controller's request model gives that field
    (``jobctl.models.requests``): the CLI refuses what the controller would reject, in
    the same words. ``read`` first turns the text into the field's kind (an integer)."""

    def __init__(self, name: str, rule: Any, read: click.ParamType[Any] = click.STRING) -> None:
        self.name = name
        self._rule: TypeAdapter[T] = TypeAdapter(rule)
        self._read = read

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> T:
        read = self._read.convert(value, param, ctx)
        try:
            return self._rule.validate_python(read)
        except ValidationError as exc:
            problems = "; ".join(e["msg"] for e in exc.errors(include_url=False))
            self.fail(f"{value!r}: {problems}", param, ctx)


class AnyCase(click.Choice[str]):
    """A choice matched whatever its case (``--status inprogress``); its errors list the
    choices as they are spelled."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        spelled = {str(choice).lower(): choice for choice in self.choices}
        return super().convert(spelled.get(str(value).lower(), value), param, ctx)


@click.group(cls=JobctlGroup)
@click.version_option(package_name="jobctl", prog_name="jobctl")
@click.option(
    "--stack", envvar="JOBCTL_STACK", help="CloudFormation stack [samconfig.toml, else jobctl]"
)
@click.option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="AWS endpoint (the local stack's)")
@click.option("--region", envvar="AWS_DEFAULT_REGION", help="AWS region")
@click.option(
    "--queue-url", envvar="JOBCTL_QUEUE_URL", help="jobs queue [stack output JobsQueueUrl]"
)
@click.option("--table", envvar="JOBCTL_TABLE", help="ledger table [stack output JobsTableName]")
@click.option(
    "--topic-arn", envvar="JOBCTL_TOPIC_ARN", help="notices topic [stack output NoticesTopicArn]"
)
@click.option(
    "--dlq-url", envvar="JOBCTL_DLQ_URL", help="dead-letter queue [stack output DeadLetterQueueUrl]"
)
@click.option(
    "--state-table",
    envvar="JOBCTL_STATE_TABLE",
    help="the controller's state table, for queue [stack output IdempotencyTableName]",
)
@click.option(
    "--default-role-arn",
    envvar="JOBCTL_DEFAULT_ROLE_ARN",
    help="the controller's DEFAULT_ROLE_ARN, for submit's checks [stack parameter DefaultRoleArn]",
)
@click.option(
    "--allowed-role-arns",
    envvar="JOBCTL_ALLOWED_ROLE_ARNS",
    help="the controller's ALLOWED_ROLE_ARNS, comma-separated [stack parameter AllowedRoleArns]",
)
@click.pass_context
def main(
    ctx: click.Context,
    /,
    stack: str | None,
    endpoint_url: str | None,
    region: str | None,
    **given: str | None,
) -> None:
    """Run Amazon SageMaker jobs from a queue."""
    width = output_width()
    if width is not None:
        console.width = width

    def connect() -> JobctlClient:
        session = boto3.session.Session(region_name=region)
        resources = Resources.resolve(stack or default_stack_name(), session, endpoint_url, **given)
        return JobctlClient(resources, session, endpoint_url)

    ctx.obj = connect


def _client(ctx: click.Context) -> JobctlClient:
    return ctx.obj()  # type: ignore[no-any-return]


def _job_name(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A job name argument: an empty one is the user's slip, not a DynamoDB error."""
    names = value if isinstance(value, tuple) else (value,)
    if any(not name.strip() for name in names):
        raise UserError("a job name cannot be empty: give the name `jobctl list` shows")
    return value


job_type_option = click.option(
    "--type",
    "--job-type",
    "job_type",
    type=click.Choice(JOB_TYPES),
    help="job type",
)
PRIORITY: Checked[int] = Checked("PRIORITY", Priority, click.INT)
SHARE: Checked[str] = Checked("SHARE", Share)


@main.command()
@click.argument("source", type=click.File("r"), default="-")
@click.option(
    "--priority",
    type=PRIORITY,
    help="the priority of every job submitted, 0-9999 (higher is admitted first) [0]",
)
@click.option("--share", type=SHARE, help="the share every job submitted counts against [default]")
@click.option("--no-check", is_flag=True, help="send even what fails the local checks")
@click.pass_context
def submit(
    ctx: click.Context, source: Any, priority: int | None, share: str | None, no_check: bool
) -> None:
    """Enqueue requests from FILE (or -): one JSON request, a JSON list, or JSON Lines.

    Each is checked locally with the controller's own rules first (the role allow-list
    too, when the stack's parameters or --default-role-arn and --allowed-role-arns say
    it); nothing is sent if one fails, unless --no-check. --priority and --share are set
    on every submit request; one that names another value already is refused.
    """
    bodies = with_scheduling(read_requests(source.read()), priority, share)
    client = _client(ctx)
    sent = client.send(bodies, check=not no_check)
    if not client.resources.roles_known:
        for index, body in enumerate(bodies, start=1):
            if names_a_role(body):
                click.echo(
                    f"note: request {index} names a RoleArn: the controller checks it against "
                    "its allow-list (not known here: pass --default-role-arn and "
                    "--allowed-role-arns, or use the stack)",
                    err=True,
                )
    for index, (body, sent_one) in enumerate(zip(bodies, sent, strict=True), start=1):
        request = sent_one.request
        if request is None:
            console.print(_rejection_to_come(index, body, sent_one.message_id), soft_wrap=True)
            continue
        derived = "  (name derived from request_id)" if not request.name_given else ""
        console.print(
            Text.assemble(f"{request.action} {request.job_type} ", (request.name, "bold"), derived)
        )


def _rejection_to_come(index: int, body: dict[str, Any], message_id: str) -> str:
    """Where the controller will file the rejection of a request sent despite the checks:
    under its job name if it gives one that is free (or only rejected), else under
    rejected-<message id> (docs/contract.md §3)."""
    fallback = f"rejected-{message_id}"
    name = body.get("job_name") if isinstance(body.get("job_name"), str) else None
    where = (
        f"jobctl get {name} (or {fallback}, if that name is another job's)"
        if name
        else (f"jobctl get {fallback}")
    )
    return f"sent request {index}, which fails the checks: the controller will reject it; {where}"


@main.command()
@click.argument("job_name", callback=_job_name)
@job_type_option
@click.option(
    "--no-check",
    is_flag=True,
    help="send the stop even if the ledger holds no such job, or it has settled",
)
@click.pass_context
def stop(ctx: click.Context, job_name: str, job_type: str | None, no_check: bool) -> None:
    """Stop a job, or cancel it while it is still Queued.

    A job the ledger does not hold is refused here, and a settled one is left alone
    (nothing is sent), unless --no-check.
    """
    client = _client(ctx)
    records = client.get(job_name, job_type)
    if len(records) > 1:
        raise UserError(f"{len(records)} jobs named {job_name}: give --type")
    record = records[0] if records else None
    if record is None and not no_check:
        raise UserError(
            f"no job named {job_name} in the ledger: nothing to stop (just submitted? "
            "`jobctl stop --no-check --type T` sends the stop anyway)"
        )
    if record is not None and record_is_settled(record) and not no_check:
        console.print(
            Text.assemble(
                f"{record.job_type} ",
                (job_name, "bold"),
                " has already settled (",
                _status_of(record),
                "): nothing to stop, no request sent",
            )
        )
        return
    job_type = job_type or (record.job_type if record else None)
    if job_type is None:
        raise UserError(f"the ledger holds no job named {job_name}: give --type")
    client.send([{"job_type": job_type, "action": "stop", "job_name": job_name}], check=True)
    console.print(Text.assemble(f"stop requested for {job_type} ", (job_name, "bold")))


def _status_of(record: JobRecord) -> Text:
    secondary = f"/{record.secondary_status}" if record.secondary_status else ""
    return Text.assemble(styled(record.status), secondary)


@main.command()
@click.argument("job_name", callback=_job_name)
@job_type_option
@click.option(
    "--priority",
    type=PRIORITY,
    required=True,
    help="the new priority, 0-9999 (higher is admitted first)",
)
@click.option(
    "--no-check",
    is_flag=True,
    help="send the update even if the ledger holds no such job, or it is not waiting",
)
@click.pass_context
def update(
    ctx: click.Context, job_name: str, job_type: str | None, priority: int, no_check: bool
) -> None:
    """Change the priority of a job waiting for capacity (`jobctl queue` shows them).

    Each update is sent under a request id of its own. Only a waiting job's priority
    can change: a job the ledger does not hold, or one not waiting any more (admitted,
    running, settled), is refused here, and nothing is sent, unless --no-check.
    """
    client = _client(ctx)
    records = client.get(job_name, job_type)
    if len(records) > 1:
        raise UserError(f"{len(records)} jobs named {job_name}: give --type")
    record = records[0] if records else None
    if not no_check:
        if record is None:
            raise UserError(
                f"no job named {job_name} in the ledger: nothing to update (just submitted? "
                "`jobctl update --no-check --type T` sends the update anyway)"
            )
        if not record.waiting:
            raise UserError(
                f"{record.job_type} {job_name} is not waiting ({record.status}): only a "
                "waiting job's priority can change; no request sent"
            )
    job_type = job_type or (record.job_type if record else None)
    if job_type is None:
        raise UserError(f"the ledger holds no job named {job_name}: give --type")
    body = update_request(job_name, job_type, priority)
    client.send([body], check=True)
    was = f" (was {record.priority})" if record is not None and record.priority is not None else ""
    console.print(
        Text.assemble(
            f"{job_type} ",
            (job_name, "bold"),
            f": priority {priority}{was} sent, request id {body['request_id']}",
        )
    )


@main.command()
@click.option("--since", type=Moment(), help="only jobs updated since: ISO-8601 or an age (7d)")
@click.option(
    "--by",
    type=click.Choice(GROUP_BY),
    default="share",
    show_default=True,
    help="what to group the jobs by",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
@click.pass_context
def report(ctx: click.Context, since: datetime | None, by: GroupBy, as_json: bool) -> None:
    """What jobs used and cost, per share, job type or status (docs/contract.md §9).

    Sums each job's usage (over all its tries): jobs, tries, billable instance-hours
    (what SageMaker bills), instance-hours managed spot saved, the estimated cost
    from INSTANCE_PRICES (jobs whose type has no price are counted apart), and the
    instance-hours and cost of tries stopped by a preemption (docs/contract.md §10).
    Reads the whole ledger (a Scan), or the jobs updated since --since.
    """
    client = _client(ctx)
    records = client.find(since=since)
    _warn_unreadable(client)
    result = usage_report(records, by)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    console.print(report_view(result, utc_iso(since) if since else None))


@main.command()
@job_type_option
@click.option("--share", type=SHARE, help="only jobs of this share")
@click.option(
    "--first",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="how many of the first waiting jobs to read and list",
)
@click.option("--all", "every", is_flag=True, help="read and list every waiting job")
@click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
@click.pass_context
def queue(
    ctx: click.Context,
    job_type: str | None,
    share: str | None,
    first: int,
    every: bool,
    as_json: bool,
) -> None:
    """List the jobs waiting for capacity, in the order they will be admitted.

    The order is the controller's own plan (docs/contract.md §8), under the budgets it
    recorded and the room taken now: higher priority first; among equal priorities, the
    share using least of the budget for its weight; then the oldest. Each job shows what
    it waits for, and how many waiting jobs before it want one of its budgets (ahead).
    --type and --share pick jobs out of that one order: their positions stay. It reads the
    first jobs of each share's queue, as the controller's passes do; --all reads them all.
    """
    client = _client(ctx)
    waiting = client.queue(first=None if every else first)
    _warn_unreadable(client)
    _warn_unplanned(waiting)
    if waiting.total > len(waiting.entries):
        click.echo(
            f"the first {len(waiting.entries)} of {waiting.total} waiting jobs "
            "(--first N or --all for more)",
            err=True,
        )
    entries = [
        entry
        for entry in waiting.entries
        if (job_type is None or entry.job_type == job_type)
        and (share is None or entry.share == share)
    ]
    if as_json:
        click.echo(json.dumps([asdict(entry) for entry in entries], indent=2))
        return
    console.print(queue_view(entries, *_queue_title(waiting.entries, entries, job_type, share)))
    if entries and waiting.budgets is not None:
        console.print(budgets_line(waiting.budgets, waiting.usage))


def _queue_title(
    everyone: list[QueueEntry], shown: list[QueueEntry], job_type: str | None, share: str | None
) -> tuple[str, str]:
    """The listing's title, and the line it is when empty."""
    picked = " ".join(part for part in (job_type, f"share {share}" if share else None) if part)
    if not shown:
        others = f"; {len(everyone)} other jobs are" if everyone else ""
        return "queue", f"no jobs waiting ({picked}{others})" if picked else "no jobs waiting"
    if not picked:
        return f"queue: {len(shown)} waiting", ""
    return f"queue: {len(shown)} of {len(everyone)} waiting ({picked})", ""


def _warn_unplanned(waiting: Queue) -> None:
    for item in waiting.unreadable_budgets:
        click.echo(
            f"warning: item {item} of the state table cannot be read (an operator must "
            "repair it): the plan goes without it (a budget's room in use taken as none)",
            err=True,
        )
    if waiting.budgets is None and waiting.entries:
        click.echo(
            "warning: the controller's budgets are not known (not recorded, or unreadable): "
            "the order is by priority and age alone, and each job shows what it waited for "
            "when it last tried to start",
            err=True,
        )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
@click.pass_context
def shares(ctx: click.Context, as_json: bool) -> None:
    """How each share stands against its weight, per budget (docs/contract.md §8).

    For each share and budget: its weight and that weight's part among the shares; its
    use now (what the controller ranks by: the room its jobs hold and held lately, decayed
    with SHARE_HALF_LIFE_SECONDS, as a part of the budget); its part of the billable
    instance-hours of the jobs that settled in the last 24 hours; its jobs waiting, and
    the jobs (or instances) it holds in the budget.
    """
    client = _client(ctx)
    entries = client.shares()
    _warn_unreadable(client)
    if as_json:
        click.echo(json.dumps([asdict(entry) for entry in entries], indent=2))
        return
    console.print(shares_view(entries))


@main.command()
@click.argument("job_name", callback=_job_name)
@job_type_option
@click.option("--json", "as_json", is_flag=True, help="print the ledger record as a JSON object")
@click.pass_context
def get(ctx: click.Context, job_name: str, job_type: str | None, as_json: bool) -> None:
    """Show a job's ledger record and its history."""
    records = _client(ctx).get(job_name, job_type)
    if not records:
        raise UserError(f"no job named {job_name} in the ledger")
    if as_json:
        if len(records) > 1:
            types = ", ".join(record.job_type for record in records)
            raise UserError(f"{len(records)} jobs are named {job_name} ({types}): give --type")
        click.echo(json.dumps(_public(records[0]), indent=2, default=str))
        return
    for record in records:
        for part in record_view(record):
            console.print(part, soft_wrap=True)  # an ARN too long for a line is not split


@main.command("list")
@click.option(
    "--status",
    type=AnyCase(STATUSES),
    help="only jobs with this status (uses status-index)",
)
@job_type_option
@click.option(
    "--since",
    type=Moment(),
    help="only jobs updated at or after this time: ISO-8601 (UTC unless it has an offset) "
    "or an age (30m, 2h, 7d)",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
@click.pass_context
def list_jobs(
    ctx: click.Context,
    status: str | None,
    job_type: str | None,
    since: datetime | None,
    as_json: bool,
) -> None:
    """List jobs in the ledger, newest first."""
    client = _client(ctx)
    records = client.find(status=status, job_type=job_type, since=since)
    _warn_unreadable(client)
    if as_json:
        click.echo(json.dumps([_public(r) for r in records], indent=2, default=str))
        return
    console.print(ledger_view(records))


@main.command()
@click.argument("job_names", nargs=-1, required=True, callback=_job_name)
@job_type_option
@click.option("--interval", default=2.0, show_default=True, help="seconds between reads")
@click.option("--timeout", type=float, help="give up after this many seconds")
@click.option(
    "--appear-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="seconds to wait for a job the ledger does not hold yet (one just submitted)",
)
@click.pass_context
def watch(
    ctx: click.Context,
    job_names: tuple[str, ...],
    job_type: str | None,
    interval: float,
    timeout: float | None,
    appear_timeout: float,
) -> None:
    """Follow jobs until they settle; exit 0 only if every one Completed.

    A job the ledger does not hold within --appear-timeout seconds fails the watch.
    """
    client = _client(ctx)
    started = time.monotonic()
    deadline = started + timeout if timeout else None
    names = list(dict.fromkeys(job_names))
    with Follow(console) as live:
        while True:
            found = {name: client.get(name, job_type) for name in names}
            records = [record for name in names for record in found[name]]
            missing = [name for name in names if not found[name]]
            live.update(_watch_view(records, missing))
            settled = not missing and all(record_is_settled(r) for r in records)
            if settled or (deadline and time.monotonic() > deadline):
                break
            if missing and time.monotonic() - started >= appear_timeout:
                break
            time.sleep(interval)
    if missing:
        waited = appear_timeout if timeout is None else min(appear_timeout, timeout)
        raise UserError(
            f"no job named {', '.join(missing)} in the ledger after {waited:g} s "
            "(check the name with `jobctl list`)"
        )
    if not settled:
        raise UserError("timed out before every job settled")
    if not all(r.status == COMPLETED for r in records):
        sys.exit(1)


def _watch_view(records: list[JobRecord], missing: list[str]) -> RenderableType:
    view = ledger_view(records, title="watching")
    if not missing:
        return view
    waiting = Text(f"not in the ledger yet: {', '.join(missing)}", style="yellow")
    return Group(view, waiting) if records else waiting


@main.command()
@click.option("--count", type=int, help="exit after this many notices")
@click.option("--timeout", type=float, help="exit after this many seconds")
@click.option("--json", "as_json", is_flag=True, help="print each notice as a JSON line")
@click.pass_context
def notices(ctx: click.Context, count: int | None, timeout: float | None, as_json: bool) -> None:
    """Print notices as they arrive (a temporary queue is subscribed, and removed on exit)."""
    deadline = time.monotonic() + timeout if timeout else None
    seen = 0
    with _client(ctx).notices() as stream:
        click.echo("listening for notices (Ctrl-C to stop)", err=True)
        for notice in stream:
            if notice:
                seen += 1
                if as_json:
                    click.echo(json.dumps(notice))
                else:
                    console.print(notice_line(notice))
            if count and seen >= count:
                return
            if deadline and time.monotonic() > deadline:
                click.echo(f"timed out after {timeout:g} s: {seen} notices received", err=True)
                ctx.exit(1 if count else 0)  # fewer than --count arrived


@main.command()
@click.pass_context
def dashboard(ctx: click.Context) -> None:
    """Print the URL of the stack's CloudWatch dashboard."""
    url = _client(ctx).resources.dashboard_url
    if not url:
        raise UserError(
            "no dashboard known: it is a stack output (DashboardUrl) of a deployed stack; "
            "the local stack has none"
        )
    click.echo(url)


@main.group()
def dlq() -> None:
    """Requests given up after MaxReceiveCount deliveries (their jobs are SubmitFailed)."""


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
@click.pass_context
def dlq_list(ctx: click.Context, as_json: bool) -> None:
    """Show the dead letters, with their jobs' ledger status."""
    client = _client(ctx)
    letters = client.dead_letters()
    rows = []
    for letter in letters:
        records = client.get(letter.job_name, letter.job_type) if letter.job_name else []
        record = records[0] if records else None
        rows.append((letter, record))
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        **letter.__dict__,
                        "status": record.status if record else None,
                        "failure_reason": record.failure_reason if record else None,
                    }
                    for letter, record in rows
                ],
                indent=2,
            )
        )
        return
    console.print(dead_letters_view(rows))


@dlq.command()
@click.argument("message_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="redrive every dead letter")
@click.pass_context
def redrive(ctx: click.Context, message_ids: tuple[str, ...], everything: bool) -> None:
    """Send dead letters back to the jobs queue (after fixing their cause).

    Name each by its message id, or by a prefix of it no other dead letter shares; if
    one is not found, nothing is redriven.
    """
    if not message_ids and not everything:
        raise UserError("name the messages to redrive, or pass --all")
    moved = _client(ctx).redrive(None if everything else message_ids)
    for letter in moved:
        console.print(Text(f"redriven {letter.message_id}  {letter.job_type} {letter.job_name}"))


@main.group()
def local() -> None:
    """The embedded local stack: jobctl on this machine, no AWS account needed."""


@local.command()
@click.option(
    "--state-dir", type=click.Path(path_type=Path), help="keep state here [a temporary directory]"
)
@click.option(
    "--step-seconds",
    default=2.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="simulated SageMaker: simulated seconds per status",
)
@click.option(
    "--sweep-seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="simulated seconds between sweeps",
)
@click.option(
    "--visibility-timeout",
    default=5,
    show_default=True,
    type=click.IntRange(min=0),
    help="seconds before a failed request is delivered again (the template's is minutes)",
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="simulated seconds per wall second (SageMaker's rate limits hold in simulated time)",
)
@click.option(
    "--history",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="finished jobs of other teams the simulated account already holds",
)
@click.option(
    "--quota",
    "quotas",
    multiple=True,
    metavar="TYPE=N",
    help="grant the simulated account N training instances of TYPE (repeatable; "
    "AWS's defaults are 0 for most types)",
)
@click.option(
    "--parameter",
    "parameters",
    multiple=True,
    metavar="NAME=VALUE",
    help="a template parameter, e.g. InstanceTypeBudgets=ml.p4d.24xlarge=8 (repeatable)",
)
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="the functions' log level",
)
def up(
    state_dir: Path | None,
    step_seconds: float,
    sweep_seconds: float,
    visibility_timeout: int,
    speed: float,
    history: int,
    quotas: tuple[str, ...],
    parameters: tuple[str, ...],
    log_level: str,
) -> None:
    """Start moto, the simulated SageMaker and the functions; Ctrl-C stops everything.

    Exits non-zero, with one line saying why, if moto loses its state (restarted, reset
    or stopped): the stack cannot go on without its queues and tables.
    """
    from jobctl_tools.local import stack as local_stack

    directory = state_dir or Path(tempfile.mkdtemp(prefix="jobctl-local-"))
    options = local_stack.LocalStackOptions(
        state_dir=directory,
        step_seconds=step_seconds,
        sweep_seconds=sweep_seconds,
        visibility_timeout=visibility_timeout,
        speed=speed,
        history=history,
        log_level=log_level,
        quotas=local_stack.parse_quotas(quotas),
        parameters=local_stack.parse_parameters(parameters),
    )
    # Ctrl-C, and a process manager's SIGTERM, stop the stack cleanly, even when the shell
    # started this process with SIGINT ignored (a background job, `nohup`), and even when
    # they come while the stack is starting: the handlers only note the request.
    asked_to_stop = threading.Event()
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    for signum in previous:
        signal.signal(signum, lambda *_: asked_to_stop.set())
    try:
        _serve(local_stack.LocalStack(options), directory, asked_to_stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _serve(stack: Any, directory: Path, asked_to_stop: threading.Event) -> None:
    """Start the stack and keep it up until asked to stop, or until it fails."""
    stack = stack.start()
    console.print(Text.assemble(("jobctl local stack is up", "green"), f" (state in {directory})"))
    console.print("In another terminal:\n")
    console.print(Text(f"  source {directory / 'env.sh'}"))
    console.print(
        "  jobctl submit events/requests/training.json && jobctl watch demo-xgboost-churn\n"
    )
    failure = stack.failure  # a stack that failed while starting says so at once
    try:
        while failure is None and not asked_to_stop.wait(0.5):
            failure = stack.failure
        if failure is None:
            console.print("stopping…")
    finally:
        stack.stop()
    if failure is not None:
        raise click.ClickException(failure)


_BOOKKEEPING = {"version", "sagemaker_modified_at", "notice_pending", "notice_claimed_at"}


def _warn_unreadable(client: JobctlClient) -> None:
    if client.unreadable:
        keys = ", ".join(f"{job_type}/{name}" for name, job_type in client.unreadable[:5])
        more = f" and {len(client.unreadable) - 5} more" if len(client.unreadable) > 5 else ""
        click.echo(
            f"warning: ledger records that cannot be read were left out: {keys}{more}", err=True
        )


def _public(record: JobRecord) -> dict[str, Any]:
    """The record as the contract describes it, without the controller's bookkeeping."""
    return record.model_dump(mode="json", exclude=_BOOKKEEPING)


if __name__ == "__main__":
    main()
