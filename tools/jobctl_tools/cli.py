"""The ``jobctl`` command line: enqueue requests, read the ledger, follow notices, run locally."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import boto3
import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from jobctl.logic.states import record_is_settled
from jobctl.models.jobs import COMPLETED, JobRecord
from jobctl_tools.client import (
    JobctlClient,
    Resources,
    UserError,
    default_stack_name,
    read_requests,
)

# Logs and CI captures are not terminals: give tables room there instead of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 150)
F = TypeVar("F", bound=Callable[..., Any])
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


class JobctlGroup(click.Group):
    """Reports AWS and user errors in one line instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            raise click.ClickException(str(exc)) from exc
        except (ClientError, BotoCoreError) as exc:
            raise click.ClickException(f"AWS: {exc}") from exc


@click.group(cls=JobctlGroup)
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

    def connect() -> JobctlClient:
        session = boto3.session.Session(region_name=region)
        resources = Resources.resolve(stack or default_stack_name(), session, endpoint_url, **given)
        return JobctlClient(resources, session, endpoint_url)

    ctx.obj = connect


def _client(ctx: click.Context) -> JobctlClient:
    return ctx.obj()  # type: ignore[no-any-return]


job_type_option = click.option(
    "--type", "job_type", type=click.Choice(["TrainingJob", "AutoMLJob"]), help="job type"
)


@main.command()
@click.argument("source", type=click.File("r"), default="-")
@click.option("--no-check", is_flag=True, help="send even what fails the local checks")
@click.pass_context
def submit(ctx: click.Context, source: Any, no_check: bool) -> None:
    """Enqueue requests from FILE (or -): one JSON request, a JSON list, or JSON Lines.

    Each is checked locally with the controller's own rules first; nothing is sent if
    one fails, unless --no-check.
    """
    requests = _client(ctx).send(read_requests(source.read()), check=not no_check)
    for request in requests:
        if request is None:
            console.print("sent a request that fails the checks: the controller will reject it")
            continue
        derived = "" if request.name_given else "  (name derived from request_id)"
        console.print(f"{request.action} {request.job_type} [bold]{request.job_name}[/]{derived}")


@main.command()
@click.argument("job_name")
@job_type_option
@click.pass_context
def stop(ctx: click.Context, job_name: str, job_type: str | None) -> None:
    """Stop a job, or cancel it while it is still Queued."""
    client = _client(ctx)
    if job_type is None:
        records = client.get(job_name)
        if len(records) != 1:
            raise UserError(f"{len(records)} jobs named {job_name}: give --type")
        job_type = records[0].job_type
    client.send([{"job_type": job_type, "action": "stop", "job_name": job_name}], check=True)
    console.print(f"stop requested for {job_type} [bold]{job_name}[/]")


@main.command()
@click.argument("job_name")
@job_type_option
@click.option("--json", "as_json", is_flag=True, help="print the ledger record as JSON")
@click.pass_context
def get(ctx: click.Context, job_name: str, job_type: str | None, as_json: bool) -> None:
    """Show a job's ledger record and its history."""
    records = _client(ctx).get(job_name, job_type)
    if not records:
        raise UserError(f"no job named {job_name} in the ledger")
    if as_json:
        click.echo(json.dumps([_public(r) for r in records], indent=2, default=str))
        return
    for record in records:
        table = Table(title=f"{record.job_type} {record.job_name}", show_header=False)
        for field in (
            "status",
            "secondary_status",
            "failure_reason",
            "warnings",
            "job_arn",
            "request_id",
            "created_at",
            "updated_at",
            "notified_at",
        ):
            value = getattr(record, field)
            if value:
                table.add_row(field, _styled(value) if field == "status" else str(value))
        if record.outputs:
            table.add_row("outputs", json.dumps(record.outputs))
        console.print(table)
        timeline = Table("at", "status", "secondary status", title="history")
        for entry in record.history:
            timeline.add_row(entry.at, _styled(entry.status), entry.secondary_status or "")
        console.print(timeline)


@main.command("list")
@click.option("--status", help="only jobs with this status (uses status-index)")
@job_type_option
@click.option("--since", help="only jobs updated at or after this ISO-8601 time")
@click.option("--json", "as_json", is_flag=True, help="print JSON for scripts")
@click.pass_context
def list_jobs(
    ctx: click.Context, status: str | None, job_type: str | None, since: str | None, as_json: bool
) -> None:
    """List jobs in the ledger, newest first."""
    client = _client(ctx)
    records = client.find(status=status, job_type=job_type, since=since)
    _warn_unreadable(client)
    if as_json:
        click.echo(json.dumps([_public(r) for r in records], indent=2, default=str))
        return
    console.print(_ledger_table(records))


@main.command()
@click.argument("job_names", nargs=-1, required=True)
@job_type_option
@click.option("--interval", default=2.0, show_default=True, help="seconds between reads")
@click.option("--timeout", type=float, help="give up after this many seconds")
@click.pass_context
def watch(
    ctx: click.Context,
    job_names: tuple[str, ...],
    job_type: str | None,
    interval: float,
    timeout: float | None,
) -> None:
    """Follow jobs until they settle; exit 0 only if every one Completed."""
    client = _client(ctx)
    deadline = time.monotonic() + timeout if timeout else None
    with Live(console=console, refresh_per_second=4) as live:
        while True:
            records = [r for name in job_names for r in client.get(name, job_type)]
            live.update(_ledger_table(records, title="watching"))
            settled = len(records) >= len(job_names) and all(record_is_settled(r) for r in records)
            if settled or (deadline and time.monotonic() > deadline):
                break
            time.sleep(interval)
    if not settled:
        raise UserError("timed out before every job settled")
    if not all(r.status == COMPLETED for r in records):
        sys.exit(1)


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
                    console.print(
                        f"{notice['updated_at']}  {notice['job_type']:<11} "
                        f"{notice['job_name']:<34} "
                        f"{_styled(notice['status'])}  {notice.get('secondary_status') or ''}"
                        f"  {notice.get('failure_reason') or ''}"
                    )
            if (count and seen >= count) or (deadline and time.monotonic() > deadline):
                return


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
    table = Table(title=f"dead letters ({len(letters)})")
    for column in ("message id", "sent", "type", "job", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("reason", overflow="ellipsis", no_wrap=True, max_width=60)
    for letter, record in rows:
        table.add_row(
            letter.message_id,
            letter.sent_at,
            letter.job_type or "?",
            letter.job_name or "?",
            _styled(record.status) if record else "",
            (record.failure_reason or "") if record else "",
        )
    console.print(table)


@dlq.command()
@click.argument("message_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="redrive every dead letter")
@click.pass_context
def redrive(ctx: click.Context, message_ids: tuple[str, ...], everything: bool) -> None:
    """Send dead letters back to the jobs queue (after fixing their cause)."""
    if not message_ids and not everything:
        raise UserError("name the messages to redrive, or pass --all")
    client = _client(ctx)
    moved = client.redrive(None if everything else set(message_ids))
    missing = set(message_ids) - {letter.message_id for letter in moved}
    for letter in moved:
        console.print(f"redriven {letter.message_id}  {letter.job_type} {letter.job_name}")
    if missing:
        raise UserError(f"not in the dead-letter queue: {', '.join(sorted(missing))}")


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
    log_level: str,
) -> None:
    """Start moto, the simulated SageMaker and the functions; Ctrl-C stops everything.

    Exits non-zero, with one line saying why, if moto loses its state (restarted, reset
    or stopped): the stack cannot go on without its queues and tables.
    """
    import warnings

    from jobctl_tools.local.stack import LocalStack, LocalStackOptions

    # An invocation that failed before emitting a metric makes Powertools warn on stderr;
    # this terminal's stderr is for the stack's own one-line failure.
    warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
    directory = state_dir or Path(tempfile.mkdtemp(prefix="jobctl-local-"))
    options = LocalStackOptions(
        state_dir=directory,
        step_seconds=step_seconds,
        sweep_seconds=sweep_seconds,
        visibility_timeout=visibility_timeout,
        speed=speed,
        history=history,
        log_level=log_level,
    )
    stack = LocalStack(options).start()
    console.print(f"[green]jobctl local stack is up[/] (state in {directory})")
    console.print("In another terminal:\n")
    console.print(f"  source {directory / 'env.sh'}")
    console.print(
        "  jobctl submit events/requests/training.json && jobctl watch demo-xgboost-churn\n"
    )
    failure = None
    try:
        while failure is None:
            failure = stack.wait_for_failure(1)
    except KeyboardInterrupt:
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


def _styled(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def _ledger_table(records: list[JobRecord], title: str = "jobs") -> Table:
    table = Table(title=title)
    table.add_column("job", no_wrap=True)
    for column in ("type", "status", "secondary", "updated"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="ellipsis", no_wrap=True, max_width=60)
    for record in records:
        detail = (
            record.failure_reason
            or record.waiting_for
            or record.last_error
            or "; ".join(record.warnings)
            or ""
        )
        table.add_row(
            record.job_name,
            record.job_type,
            _styled(record.status),
            record.secondary_status or "",
            record.updated_at,
            detail[:80],
        )
    return table


if __name__ == "__main__":
    main()
