"""What users do with a deployed jobctl (docs/contract.md §1): enqueue requests, read the ledger,
follow notices. The CLI is a thin layer over this."""

from __future__ import annotations

import json
import re
import threading
import tomllib
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, EndpointConnectionError
from botocore.exceptions import ClientError as BotoClientError

from jobctl.adapters.capacity import DynamoDBCapacity
from jobctl.adapters.ledger import DynamoDBLedger
from jobctl.adapters.waiting_room import WaitingRoomCounts
from jobctl.errors import InvalidRequest, UnreadableBudget, UnreadableWaitingRoom
from jobctl.logic.admission import candidate_of, may_borrow
from jobctl.logic.fair_share import Usage
from jobctl.logic.requests import create_params
from jobctl.logic.scheduling import (
    Budgets,
    admission_order,
    budgets_wanted,
    describe_key,
    is_share_key,
)
from jobctl.models.jobs import JobRecord, Waiting, utc_iso
from jobctl.models.requests import JobRequest, parse_request
from jobctl_cli.report import report as usage_report

OUTPUT_KEYS = {
    "queue_url": "JobsQueueUrl",
    "table": "JobsTableName",
    "topic_arn": "NoticesTopicArn",
    "dlq_url": "DeadLetterQueueUrl",
    "state_table": "IdempotencyTableName",
    "dashboard_url": "DashboardUrl",
}
# Only `dlq` needs the dead-letter queue, only `queue` the state table (where the
# controller keeps the budgets' room beside the idempotency records), and only
# `dashboard` the dashboard (the local stack has none).
OPTIONAL_OUTPUTS = {"dlq_url", "state_table", "dashboard_url"}
# The template parameters that say which roles a request may name (the functions'
# DEFAULT_ROLE_ARN and ALLOWED_ROLE_ARNS).
ROLE_PARAMETERS = {"default_role_arn": "DefaultRoleArn", "allowed_role_arns": "AllowedRoleArns"}
# How long a listed dead letter stays hidden from other readers while we look at it.
_DLQ_LOOK_SECONDS = 30
# Stands in for DEFAULT_ROLE_ARN when checking a request before sending it: the role
# allow-list is the controller's to enforce.
_ANY_ROLE = "arn:aws:iam::000000000000:role/checked-by-the-controller"
_ANY_DEPLOYMENT = "checked-by-the-controller"


class UserError(RuntimeError):
    """A problem to report to the user in one line."""


def default_stack_name(config: Path = Path("samconfig.toml")) -> str:
    """The stack name `sam deploy` uses here (samconfig.toml), else "jobctl"."""
    try:
        settings = tomllib.loads(config.read_text())
    except (OSError, tomllib.TOMLDecodeError):
        return "jobctl"
    name = settings.get("default", {}).get("global", {}).get("parameters", {}).get("stack_name")
    return str(name) if name else "jobctl"


@dataclass(frozen=True)
class Resources:
    queue_url: str
    table: str
    topic_arn: str
    dlq_url: str | None = None
    state_table: str | None = None
    dashboard_url: str | None = None
    # The roles a request may name, when known (from options or the stack's Parameters):
    # None means unknown, and only the controller can check a request's RoleArn.
    default_role_arn: str | None = None
    allowed_role_arns: frozenset[str] | None = None

    @property
    def roles_known(self) -> bool:
        """Whether a request's RoleArn can be checked here (both role settings known)."""
        return self.default_role_arn is not None and self.allowed_role_arns is not None

    @classmethod
    def resolve(
        cls,
        stack: str,
        session: boto3.session.Session,
        endpoint_url: str | None,
        **given: str | None,
    ) -> Resources:
        """Explicit values win; the rest come from the CloudFormation stack's Outputs (and
        the roles from its Parameters), read only if a resource is missing."""
        values = {key: value for key, value in given.items() if value is not None}
        outputs = {key: value for key, value in values.items() if key in OUTPUT_KEYS and value}
        roles = {key: value for key, value in values.items() if key in ROLE_PARAMETERS}
        missing = [key for key in OUTPUT_KEYS if key not in outputs]
        if any(key not in OPTIONAL_OUTPUTS for key in missing):
            cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
            try:
                stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
            except EndpointConnectionError as exc:
                if endpoint_url is None:
                    raise UserError(f"cannot reach CloudFormation ({exc})") from exc
                raise UserError(
                    f"nothing answers at {endpoint_url}: the local stack is not running "
                    "(start it with: jobctl local up), or unset AWS_ENDPOINT_URL to use AWS"
                ) from exc
            except (BotoClientError, BotoCoreError) as exc:
                raise UserError(
                    f"cannot read stack {stack!r} ({exc}); pass --stack, or --queue-url, "
                    "--table and --topic-arn"
                ) from exc
            found = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
            for key in missing:
                if OUTPUT_KEYS[key] in found:
                    outputs[key] = found[OUTPUT_KEYS[key]]
                elif key not in OPTIONAL_OUTPUTS:
                    raise UserError(f"stack {stack!r} has no output {OUTPUT_KEYS[key]}")
            parameters = {
                p["ParameterKey"]: p.get("ParameterValue", "")
                for p in stacks[0].get("Parameters", [])
            }
            for key, parameter in ROLE_PARAMETERS.items():
                if key not in roles and parameter in parameters:
                    roles[key] = parameters[parameter]
        default_role = roles.get("default_role_arn") or None
        allowed = roles.get("allowed_role_arns")
        return cls(
            **outputs,
            default_role_arn=default_role,
            allowed_role_arns=None if allowed is None else split_arns(allowed),
        )


def split_arns(text: str) -> frozenset[str]:
    """A comma-separated list of ARNs, as the controller reads ALLOWED_ROLE_ARNS."""
    return frozenset(arn.strip() for arn in text.split(",") if arn.strip())


@dataclass(frozen=True)
class DeadLetter:
    message_id: str
    sent_at: str
    job_type: str | None
    job_name: str | None
    request_id: str | None

    @classmethod
    def of(cls, message: dict[str, Any]) -> DeadLetter:
        try:
            body = json.loads(message["Body"])
        except ValueError:
            body = None
        fields = body if isinstance(body, dict) else {}
        sent = int(message.get("Attributes", {}).get("SentTimestamp", "0")) / 1000
        return cls(
            message_id=message["MessageId"],
            sent_at=datetime.fromtimestamp(sent, UTC).isoformat(timespec="seconds"),
            job_type=_text(fields.get("job_type")),
            job_name=_text(fields.get("job_name")),
            request_id=_text(fields.get("request_id")),
        )


class NoticeCollector:
    """Gathers notices in the background (for the demo and the soak)."""

    def __init__(self, client: JobctlClient) -> None:
        self.received: list[dict[str, Any]] = []
        self._client = client
        self._listening = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)

    def start(self) -> NoticeCollector:
        self._thread.start()
        if not self._listening.wait(10):
            raise UserError("could not subscribe to the notices topic")
        return self

    def stop(self) -> list[dict[str, Any]]:
        self._done.set()
        self._thread.join(timeout=10)
        return self.received

    def _collect(self) -> None:
        with self._client.notices() as stream:
            self._listening.set()
            for notice in stream:
                if notice:
                    self.received.append(notice)
                if self._done.is_set():
                    return


def resolve_message_ids(given: Iterable[str], known: Iterable[str]) -> set[str]:
    """The full ids named by ``given`` (each an id, or a prefix only one id has)."""
    ids = set(known)
    chosen: set[str] = set()
    missing: list[str] = []
    for name in given:
        matches = {name} if name in ids else {i for i in ids if name and i.startswith(name)}
        if len(matches) > 1:
            raise UserError(
                f"{name!r} is the start of {len(matches)} dead letters' ids "
                f"({', '.join(sorted(matches))}): give more of it"
            )
        if not matches:
            missing.append(name)
        chosen |= matches
    if missing:
        raise UserError(
            f"not in the dead-letter queue: {', '.join(sorted(missing))} (nothing redriven)"
        )
    return chosen


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_requests(text: str) -> list[dict[str, Any]]:
    """One request, a JSON list of them, or JSON Lines."""
    stripped = text.strip()
    if not stripped:
        raise UserError("no request given")
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError:
        try:
            data = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise UserError(
                f"not JSON, a JSON list or JSON Lines: line {exc.lineno}: {exc.msg}"
            ) from exc
    requests = data if isinstance(data, list) else [data]
    if not all(isinstance(r, dict) for r in requests):
        raise UserError("each request must be a JSON object")
    return requests


def check_request(
    body: dict[str, Any],
    default_role_arn: str | None = None,
    allowed_role_arns: frozenset[str] | None = None,
) -> JobRequest:
    """The controller's own checks, run before sending; raises InvalidRequest.

    The roles are the deployment's DEFAULT_ROLE_ARN and ALLOWED_ROLE_ARNS; unless both
    are known, any RoleArn passes here, and the controller checks it.
    """
    try:
        request = parse_request(json.dumps(body))
    except InvalidRequest as envelope:
        spec = _spec_problems(body, default_role_arn, allowed_role_arns)
        raise InvalidRequest([*envelope.problems, *spec]) from None
    if request.action == "submit":
        _check_spec(request, default_role_arn, allowed_role_arns)
    return request


def _spec_problems(
    body: dict[str, Any], default_role_arn: str | None, allowed_role_arns: frozenset[str] | None
) -> list[str]:
    """A submit request's spec problems, checked under a stand-in name and id when the
    rest of the request fails (so every problem is reported at once)."""
    if body.get("action", "submit") != "submit":
        return []
    stand_in = {**body, "job_name": "checked", "request_id": "checked"}
    try:
        request = parse_request(json.dumps(stand_in))
    except InvalidRequest:
        return []  # wrong beyond its name and id: the envelope's problems say so
    try:
        _check_spec(request, default_role_arn, allowed_role_arns)
    except InvalidRequest as spec:
        return spec.problems
    return []


def _check_spec(
    request: JobRequest, default_role_arn: str | None, allowed_role_arns: frozenset[str] | None
) -> None:
    if default_role_arn is None or allowed_role_arns is None:
        role = (request.spec or {}).get("RoleArn", _ANY_ROLE)
        create_params(request, _ANY_ROLE, frozenset({role, _ANY_ROLE}), _ANY_DEPLOYMENT)
    else:
        permitted = allowed_role_arns | {default_role_arn}
        create_params(request, default_role_arn, permitted, _ANY_DEPLOYMENT)


def names_a_role(body: dict[str, Any]) -> bool:
    """Whether a submit request names its own RoleArn (instead of the default role)."""
    spec = body.get("spec")
    return body.get("action", "submit") == "submit" and isinstance(spec, dict) and "RoleArn" in spec


def with_scheduling(
    bodies: list[dict[str, Any]], priority: int | None = None, share: str | None = None
) -> list[dict[str, Any]]:
    """The requests with ``priority`` and ``share`` (``submit --priority/--share``) set on
    each submit request; one that names another value already is refused, not changed."""
    given = {
        name: value
        for name, value in (("priority", priority), ("share", share))
        if value is not None
    }
    changed = []
    for index, body in enumerate(bodies, start=1):
        if not given or body.get("action", "submit") != "submit":
            changed.append(body)
            continue
        for name, value in given.items():
            if name in body and body[name] != value:
                raise UserError(
                    f"request {index} names {name} {json.dumps(body[name])}, "
                    f"--{name} says {value}: give one of them"
                )
        changed.append({**body, **given})
    return changed


def update_request(job_name: str, job_type: str, priority: int) -> dict[str, Any]:
    """A waiting job's new priority (docs/contract.md §8), under a request id of its own:
    the controller takes one update per request id (the same id with another priority
    is refused as reused), so each call gets a new one."""
    return {
        "job_type": job_type,
        "action": "update",
        "job_name": job_name,
        "request_id": f"{job_name}-priority-{uuid.uuid4().hex[:8]}",
        "priority": priority,
    }


@dataclass(frozen=True)
class QueueEntry:
    """A waiting job's place in the order of admission (``jobctl queue``)."""

    position: int  # 1 is admitted first
    job_name: str
    job_type: str
    priority: int
    share: str
    instances: dict[str, int]
    since: str  # when its request arrived
    age_seconds: float | None  # None if ``since`` is not a time
    # What it waits for now (the plan's ``waiting_text``); with the budgets unknown,
    # what it waited for when it last tried to start.
    waiting_for: str
    # Waiting jobs before it that want one of its budgets; None with the budgets unknown.
    ahead: int | None
    starts_next: bool  # there is room for it now: the controller's next pass admits it
    # When it starts at the latest if it holds a reservation (ISO-8601), else None.
    expected_start: str | None = None


@dataclass(frozen=True)
class ShareEntry:
    """A share's standing in one budget (``jobctl shares``)."""

    share: str
    budget: str  # as describe_key names it
    weight: float
    weight_percent: float  # its weight's part among the shares listed
    use_percent: float  # its fair-share use now, decayed, as a part of the budget's size
    last_day_percent: float | None  # its part of the last day's billable instance-hours
    waiting: int
    running: int


@dataclass(frozen=True)
class Queue:
    """The waiting room as ``jobctl queue`` shows it: every waiting job in the order the
    controller will admit it, and the budgets that order was planned under."""

    entries: list[QueueEntry]
    # As the controller recorded them; None if it never did, or the item is damaged.
    budgets: Budgets | None
    usage: dict[str, Usage]
    # Ids of the state table's items that could not be read (their room taken as 0).
    unreadable_budgets: list[str]
    total: int = 0  # jobs waiting in all (the entries may be the first of them)


def _wanted_usage(
    capacity: DynamoDBCapacity,
    keys: Iterable[str],
    unreadable: list[str],
    now: datetime,
    half_life: float,
) -> dict[str, Usage]:
    """The budgets' usage; a damaged item is reported in ``unreadable`` and left out."""
    wanted = set(keys)
    while True:
        try:
            items = capacity.items(sorted(wanted))
            return {key: Usage.of(item, now, half_life) for key, item in items.items()}
        except UnreadableBudget as damaged:
            unreadable.append(damaged.item_id)
            if damaged.budget not in wanted:
                raise
            wanted.discard(damaged.budget)


def _seconds_since(moment: str, now: datetime) -> float | None:
    try:
        then = datetime.fromisoformat(moment)
    except ValueError:
        return None
    then = then if then.tzinfo else then.replace(tzinfo=UTC)
    return max(0.0, (now - then).total_seconds())


_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_AGE_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """A moment given as ISO-8601 (UTC unless it carries an offset) or as an age before
    ``now``: ``30m``, ``2h``, ``7d``, ``1w``, ``1h30m``. UserError if it is neither."""
    value = text.strip()
    if value and _AGE.sub("", value.lower()) == "":
        age = timedelta()
        for amount, unit in _AGE.findall(value.lower()):
            age += timedelta(**{_AGE_UNITS[unit]: float(amount)})
        return (now or datetime.now(UTC)) - age
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(
            f"{text!r} is not a time: give ISO-8601 (2026-12-01, 2026-12-01T16:00:00Z) "
            "or an age (30m, 2h, 7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Sent:
    """A request put on the jobs queue: as checked (None: it fails the checks and was sent
    anyway), and its message's id."""

    request: JobRequest | None
    message_id: str


class JobctlClient:
    def __init__(
        self, resources: Resources, session: boto3.session.Session, endpoint_url: str | None
    ) -> None:
        self.resources = resources
        self._session = session
        self._endpoint = endpoint_url
        self._sqs: Any = session.client("sqs", endpoint_url=endpoint_url)
        # Ledger records that could not be read (damaged by hand): their keys only.
        self.unreadable: list[tuple[str, str]] = []
        self._dynamodb: Any = session.client("dynamodb", endpoint_url=endpoint_url)

    def send(self, bodies: list[dict[str, Any]], check: bool = True) -> list[Sent]:
        """Check every request, then enqueue them all; nothing is sent if one is invalid.

        With ``check=False`` invalid requests are sent too (the controller rejects them,
        under ``rejected-<message id>`` when the name is not theirs to take); their
        ``request`` is None.
        """
        checked: list[JobRequest | None] = []
        for index, body in enumerate(bodies, start=1):
            try:
                checked.append(
                    check_request(
                        body, self.resources.default_role_arn, self.resources.allowed_role_arns
                    )
                )
            except InvalidRequest as exc:
                if check:
                    raise UserError(f"request {index}: {exc}") from exc
                checked.append(None)
        sent = []
        for body, request in zip(bodies, checked, strict=True):
            answer = self._sqs.send_message(
                QueueUrl=self.resources.queue_url, MessageBody=json.dumps(body)
            )
            sent.append(Sent(request, str(answer["MessageId"])))
        return sent

    @property
    def _state_table(self) -> str:
        if not self.resources.state_table:
            raise UserError(
                "no state table known: pass --state-table or use a stack (its output "
                "IdempotencyTableName)"
            )
        return self.resources.state_table

    def waiting(self) -> list[Waiting]:
        """The waiting room, share by share through queue-index (never a scan); an item
        that cannot be read is left out and its key kept in ``unreadable``."""
        room = WaitingRoomCounts(self._dynamodb, self._state_table)
        return self._ledger_with(room).waiting()

    def queue(self, now: datetime | None = None, first: int | None = None) -> Queue:
        """The waiting jobs in the order of admission, by the controller's own plan and
        ranking (``logic.scheduling.admission_order``) under the budgets it recorded and
        the room taken in them now: the ``first`` of them (reading that many of each
        share's queue, as a pass reads their heads), or every one (None)."""
        capacity = DynamoDBCapacity(self._dynamodb, self._state_table, self.resources.table)
        unreadable: list[str] = []
        try:
            budgets = capacity.recorded_budgets()
        except UnreadableBudget as damaged:
            unreadable.append(damaged.item_id)
            budgets = None
        room = WaitingRoomCounts(self._dynamodb, self._state_table)
        ledger = self._ledger_with(room)
        counts = self._waiting_counts(room, ledger, unreadable)
        if first is None:
            waiting = {w.key: w for w in ledger.waiting()}
        else:
            shares = [share for share, jobs in counts.items() if jobs > 0]
            pages = (ledger.queue_page(share, first)[0] for share in shares)
            waiting = {w.key: w for page in pages for w in page}
        scheduled = budgets or Budgets()
        within_quota = self._within_quota(waiting.values(), scheduled, ledger)
        candidates = [candidate_of(w, w.key not in within_quota) for w in waiting.values()]
        moment = now or datetime.now(UTC)
        wanted = budgets_wanted(candidates, scheduled)
        usage = _wanted_usage(capacity, wanted, unreadable, moment, scheduled.half_life)
        entries = []
        for position, place in enumerate(admission_order(candidates, usage, scheduled), start=1):
            job = place.candidate
            if budgets is None:
                waits_for, ahead = waiting[job.key].waiting_for or "", None
            elif place.admit:
                waits_for, ahead = "nothing: there is room now", 0
            else:
                waits_for, ahead = place.waits_for or "", place.ahead
            entries.append(
                QueueEntry(
                    position=position,
                    job_name=job.key[0],
                    job_type=job.key[1],
                    priority=job.priority,
                    share=job.share,
                    instances=dict(job.instances),
                    since=job.since,
                    age_seconds=_seconds_since(job.since, moment),
                    waiting_for=waits_for,
                    ahead=ahead,
                    starts_next=budgets is not None and place.admit,
                    expected_start=None
                    if place.starts_in is None
                    else utc_iso(moment + timedelta(seconds=place.starts_in)),
                )
            )
        total = sum(max(jobs, 0) for jobs in counts.values())
        shown = entries if first is None else entries[:first]
        return Queue(shown, budgets, usage, unreadable, max(total, len(entries)))

    @staticmethod
    def _within_quota(
        waiting: Iterable[Waiting], budgets: Budgets, ledger: DynamoDBLedger
    ) -> set[tuple[str, str]]:
        """The waiting jobs that may not borrow (docs/contract.md §10), from their records:
        read only for jobs on instance types with quotas."""
        quotas = budgets.quotas
        governed = [w.key for w in waiting if any(quotas.governs(t) for t in w.instances)]
        if not governed:
            return set()
        records = ledger.get_many(governed)
        return {key for key, record in records.items() if not may_borrow(record, quotas)}

    def shares(self, now: datetime | None = None) -> list[ShareEntry]:
        """Per share and budget: its weight's part, its fair-share use now (what the
        controller ranks by, before the weight), its part of the last day's billable
        instance-hours (jobs settled in the last 24 hours), and its jobs waiting and
        running. Reads a few items and the last day's records."""
        moment = now or datetime.now(UTC)
        capacity = DynamoDBCapacity(self._dynamodb, self._state_table, self.resources.table)
        budgets = capacity.recorded_budgets() or Budgets()
        unreadable: list[str] = []
        room = WaitingRoomCounts(self._dynamodb, self._state_table)
        waiting = self._waiting_counts(room, self._ledger_with(room), unreadable)
        keys = [key for key in budgets.budget_keys() if not is_share_key(key)]
        usage = _wanted_usage(capacity, keys, unreadable, moment, budgets.half_life)
        self.unreadable.extend(("state table", item) for item in unreadable)
        day = usage_report(self.find(since=moment - timedelta(days=1)), "share")
        hours = {totals.group: totals.billable_instance_hours for totals in day.groups}
        all_hours = sum(hours.values())
        holding = {share for key in keys for share in usage.get(key, Usage()).by_share}
        names = sorted({*waiting, *budgets.share_weights, *hours, *holding} - {""})
        weights = {name: budgets.weight(name) for name in names}
        total_weight = sum(weights.values()) or 1.0
        entries = []
        for key in keys:
            state, limit = usage.get(key, Usage()), max(budgets.limit(key), 1)
            use = state.share_use()
            for name in names:
                entries.append(
                    ShareEntry(
                        share=name,
                        budget=describe_key(key),
                        weight=weights[name],
                        weight_percent=100 * weights[name] / total_weight,
                        use_percent=100 * use.get(name, 0.0) / limit,
                        last_day_percent=100 * hours.get(name, 0.0) / all_hours
                        if all_hours
                        else None,
                        waiting=max(waiting.get(name, 0), 0),
                        running=state.by_share.get(name, 0),
                    )
                )
        return entries

    def get(self, job_name: str, job_type: str | None = None) -> list[JobRecord]:
        """The job's records (one per job type, unless ``job_type`` is given)."""
        return self._ledger.named(job_name, job_type)

    def find(
        self,
        status: str | None = None,
        job_type: str | None = None,
        since: datetime | None = None,
    ) -> list[JobRecord]:
        """Jobs by status (through status-index, never a scan), type and last update (at
        or after ``since``)."""
        after = utc_iso(since) if since else None  # stored times compare as text
        if status:
            records = self._ledger.by_status(status, after, job_type)
        else:
            records = self._ledger.every(after, job_type)
        return sorted(records, key=lambda r: r.updated_at, reverse=True)

    @property
    def _ledger(self) -> DynamoDBLedger:
        return self._ledger_with(None)

    @staticmethod
    def _waiting_counts(
        room: WaitingRoomCounts, ledger: DynamoDBLedger, unreadable: list[str]
    ) -> dict[str, int]:
        """Each share's waiting jobs, from the waiting room's counts; when those are
        damaged, counted from the queues (and the item's key kept in ``unreadable``)."""
        try:
            return room.counts()[1]
        except UnreadableWaitingRoom as damaged:
            unreadable.append(damaged.item_id)
            return dict(ledger.queue_lengths())

    def _ledger_with(self, room: WaitingRoomCounts | None) -> DynamoDBLedger:
        """The product's own ledger adapter: the CLI reads what the controller writes the
        way the controller reads it; a record that cannot be read is listed by its key."""
        return DynamoDBLedger(
            self._dynamodb,
            self.resources.table,
            on_unreadable=lambda unreadable: self.unreadable.append(unreadable.key),
            room=room,
        )

    def dead_letters(self) -> list[DeadLetter]:
        """The requests in the dead-letter queue (they stay there)."""
        messages = self._take_dead_letters()
        self._release(messages)
        return [DeadLetter.of(message) for message in messages]

    def redrive(self, message_ids: Iterable[str] | None = None) -> list[DeadLetter]:
        """Send dead letters (all, or those named) back to the jobs queue.

        A message is named by its id or a prefix of it that no other dead letter shares.
        If one is not in the queue, or its prefix is ambiguous, nothing is moved.
        SQS's own StartMessageMoveTask moves a whole queue at once; this replays chosen
        requests, one at a time, sending each before deleting it, so a crash leaves a copy
        at worst — and replays are idempotent (the request keeps its request_id).
        """
        messages = self._take_dead_letters()
        try:
            wanted = (
                None
                if message_ids is None
                else resolve_message_ids(message_ids, [m["MessageId"] for m in messages])
            )
        except UserError:
            self._release(messages)
            raise
        chosen = [m for m in messages if wanted is None or m["MessageId"] in wanted]
        self._release([m for m in messages if m not in chosen])
        for message in chosen:
            self._sqs.send_message(QueueUrl=self.resources.queue_url, MessageBody=message["Body"])
            self._sqs.delete_message(QueueUrl=self._dlq_url, ReceiptHandle=message["ReceiptHandle"])
        return [DeadLetter.of(message) for message in chosen]

    @property
    def _dlq_url(self) -> str:
        if not self.resources.dlq_url:
            raise UserError("no dead-letter queue known: pass --dlq-url or use a stack")
        return self.resources.dlq_url

    def _take_dead_letters(self) -> list[dict[str, Any]]:
        messages: dict[str, dict[str, Any]] = {}
        while True:
            batch = self._sqs.receive_message(
                QueueUrl=self._dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=_DLQ_LOOK_SECONDS,
                AttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                return list(messages.values())
            messages.update({m["MessageId"]: m for m in batch})

    def _release(self, messages: list[dict[str, Any]]) -> None:
        """Let others see the dead letters at once. Only a courtesy: each comes back by
        itself after the look's 30 seconds, and SQS refuses any visibility change to a
        message first received 12 hours ago (an old dead letter), which must not stop a
        listing."""
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ]
            try:
                self._sqs.change_message_visibility_batch(QueueUrl=self._dlq_url, Entries=entries)
            except BotoClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "InvalidParameterValue":
                    raise

    @contextmanager
    def notices(self) -> Iterator[Iterator[dict[str, Any]]]:
        """A temporary queue subscribed to the topic, removed with its subscription on exit."""
        sns: Any = self._session.client("sns", endpoint_url=self._endpoint)
        name = f"jobctl-notices-{uuid.uuid4().hex[:8]}"
        queue_url = self._sqs.create_queue(QueueName=name)["QueueUrl"]
        subscription = None
        try:
            queue_arn = self._sqs.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["QueueArn"]
            )["Attributes"]["QueueArn"]
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": queue_arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": self.resources.topic_arn}},
                    }
                ],
            }
            self._sqs.set_queue_attributes(
                QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)}
            )
            subscription = sns.subscribe(
                TopicArn=self.resources.topic_arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                ReturnSubscriptionArn=True,
            )["SubscriptionArn"]
            yield self._receive(queue_url)
        finally:
            if subscription:
                sns.unsubscribe(SubscriptionArn=subscription)
            self._sqs.delete_queue(QueueUrl=queue_url)

    def _receive(self, queue_url: str) -> Iterator[dict[str, Any]]:
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                yield {}  # a heartbeat, so callers can stop on a timeout
            for message in messages:
                envelope = json.loads(message["Body"])
                yield json.loads(envelope["Message"])
                self._sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
