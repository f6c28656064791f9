"""`jobctl queue`, `update` and the scheduling fields of `submit`, `get` and `list`, against
the stack in moto (docs/contract.md §8): the queue is the order the controller admits
jobs in, each with what it waits for and the waiting jobs ahead of it; a damaged item
is reported and skipped; an update is sent under a request id of its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from jobctl_cli.cli import main
from jobctl_tools.local.clocks import ManualClock
from tests.support.environment import IDEMPOTENCY_TABLE, JOBS_TABLE, TOPIC_ARN
from tests.support.requests import request_body
from tests.support.stack import Stack
from tests.support.waiting import GPU, finish, job, wake_ups

G5 = "ml.g5.xlarge"
# The shares of fair_share_queue, oldest first; urgent (priority 5) is the newest.
FAIR_SHARE_JOBS = [
    ("r1", "research", None),
    ("r2", "research", None),
    ("p1", "prod", None),
    ("p2", "prod", None),
    ("p3", "prod", None),
    ("urgent", "research", 5),
]


@pytest.fixture
def clock() -> ManualClock:
    """Three hours ago, so that the jobs' ages against the wall clock are real ones."""
    return ManualClock(datetime.now(UTC) - timedelta(hours=3))


@pytest.fixture(autouse=True)
def gpus(stack: Stack) -> None:
    """An account granted GPUs (AWS's default quota is 0): the budgets decide here."""
    stack.sagemaker.set_quota(GPU, 64)


@pytest.fixture
def jobs_queue(stack: Stack) -> str:
    return boto3.client("sqs").create_queue(QueueName="jobctl-jobs")["QueueUrl"]


@pytest.fixture
def jobctl(stack: Stack, jobs_queue: str) -> Any:
    resources = [
        *("--queue-url", jobs_queue, "--table", JOBS_TABLE, "--topic-arn", TOPIC_ARN),
        *("--state-table", IDEMPOTENCY_TABLE),
    ]

    def run(*args: str, columns: int | None = None, stdin: str | None = None) -> Result:
        env = {"COLUMNS": str(columns)} if columns else {}
        return CliRunner().invoke(main, [*resources, *args], input=stdin, env=env)

    return run


def schedule(stack: Stack, jobs_queue: str, **settings: str) -> None:
    stack.reconfigure(JOBS_QUEUE_URL=jobs_queue, **settings)


def waiting_jobs(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    entries: list[dict[str, Any]] = json.loads(result.stdout)
    return entries


def places(result: Result) -> list[tuple[str, int, int | None]]:
    """(job, position, ahead) of each job listed."""
    return [(e["job_name"], e["position"], e["ahead"]) for e in waiting_jobs(result)]


@pytest.fixture
def fair_share_queue(stack: Stack, jobs_queue: str) -> Stack:
    """6 GPUs taken by six jobs of share batch; six 1-GPU jobs waiting, a minute apart:
    research's two, prod's three (prod weighs 3), and a research job of priority 5."""
    schedule(stack, jobs_queue, INSTANCE_TYPE_BUDGETS=f"{GPU}=6", SHARE_WEIGHTS="prod=3")
    stack.submit(*(job(f"batch-{n}", GPU, share="batch") for n in range(6)))
    for name, share, priority in FAIR_SHARE_JOBS:
        stack.clock.advance(60)
        stack.submit(job(name, GPU, share=share, priority=priority))
    assert [stack.job(name).status for name, _, _ in FAIR_SHARE_JOBS] == ["Queued"] * 6
    return stack


# -- the order ------------------------------------------------------------------------------


def test_the_queue_is_the_order_the_controller_admits_jobs_in(
    fair_share_queue: Stack, jobs_queue: str, jobctl: Any
) -> None:
    listed = [name for name, _, _ in places(jobctl("queue", "--json"))]
    admitted = []
    for n in range(6):  # each settled batch job frees the GPU for one waiting job
        finish(fair_share_queue, f"batch-{n}")
        (woken,) = wake_ups(jobs_queue)
        admitted.append(json.loads(woken)["job_name"])
    # Priority first; then the share using least for its weight, counting each job as
    # it is admitted (prod's three before research's use of 1/6 is matched); then age.
    assert listed == admitted == ["urgent", "p1", "p2", "p3", "r1", "r2"]


def test_each_waiting_job_shows_what_it_waits_for_and_the_jobs_ahead(
    fair_share_queue: Stack, jobctl: Any
) -> None:
    entries = waiting_jobs(jobctl("queue", "--json"))
    first = entries[0]
    assert {key: first[key] for key in ("job_type", "priority", "share", "instances")} == {
        "job_type": "TrainingJob",
        "priority": 5,
        "share": "research",
        "instances": {GPU: 1},
    }
    assert first["waiting_for"] == f"waiting for capacity ({GPU}: 6 of 6 instances in use, needs 1)"
    assert [e["ahead"] for e in entries] == [0, 1, 2, 3, 4, 5]
    assert [e["position"] for e in entries] == [1, 2, 3, 4, 5, 6]
    assert not any(e["starts_next"] for e in entries)
    # r1 came first, a minute before r2 and five before urgent; all about three hours ago.
    ages = {e["job_name"]: e["age_seconds"] for e in entries}
    assert ages["r1"] - ages["r2"] == pytest.approx(60, abs=1)
    assert ages["r1"] - ages["urgent"] == pytest.approx(300, abs=1)
    assert 2 * 3600 < ages["urgent"] < 3 * 3600


@pytest.fixture
def two_budgets(stack: Stack, jobs_queue: str) -> Stack:
    """One GPU and one g5 instance, both taken; waiting: g1 (GPU, research), c1 (g5, prod),
    g2 (GPU, prod), a minute apart."""
    schedule(stack, jobs_queue, INSTANCE_TYPE_BUDGETS=f"{GPU}=1,{G5}=1")
    stack.submit(job("gpu-running", GPU), job("g5-running", G5))
    for body in (
        job("g1", GPU, share="research"),
        job("c1", G5, share="prod"),
        job("g2", GPU, share="prod"),
    ):
        stack.clock.advance(60)
        stack.submit(body)
    return stack


def test_the_jobs_ahead_are_those_that_want_the_same_budget(
    two_budgets: Stack, jobctl: Any
) -> None:
    assert places(jobctl("queue", "--json")) == [("g1", 1, 0), ("c1", 2, 0), ("g2", 3, 1)]


def test_share_picks_jobs_out_of_the_one_order_keeping_their_places(
    two_budgets: Stack, jobctl: Any
) -> None:
    assert places(jobctl("queue", "--share", "prod", "--json")) == [("c1", 2, 0), ("g2", 3, 1)]
    assert places(jobctl("queue", "--share", "research", "--json")) == [("g1", 1, 0)]


def test_job_type_picks_jobs_out_of_the_one_order_keeping_their_places(
    stack: Stack, jobs_queue: str, jobctl: Any
) -> None:
    schedule(stack, jobs_queue, CONCURRENCY_BUDGET="1")
    stack.submit(job("running"))
    automl = request_body("automl.json", job_name="m1", request_id="m1")
    for body in (job("t1"), automl, job("t2")):
        stack.clock.advance(60)
        stack.submit(body)
    assert places(jobctl("queue", "--job-type", "AutoMLJob", "--json")) == [("m1", 2, 1)]
    assert places(jobctl("queue", "--type", "TrainingJob", "--json")) == [
        ("t1", 1, 0),
        ("t2", 3, 2),
    ]
    (m1,) = waiting_jobs(jobctl("queue", "--type", "AutoMLJob", "--json"))
    assert m1["instances"] == {}
    assert m1["waiting_for"] == "waiting for capacity (all jobs: 1 of 1 running)"


# -- the listing ----------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 120])
def test_the_queue_keeps_names_whole_and_says_what_each_waits_for(
    fair_share_queue: Stack, jobctl: Any, columns: int
) -> None:
    result = jobctl("queue", columns=columns)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= columns
    assert lines[0].strip() == "queue: 6 waiting"
    for name, _, _ in FAIR_SHARE_JOBS:
        assert name in result.output
    words = " ".join(result.output.replace("│", " ").split())
    for word in f"waiting for capacity ({GPU}: 6 of 6 instances in use, needs 1)".split():
        assert word in words
    assert lines[-1] == f"in use: {GPU} 6 of 6 instances"
    assert "…" not in result.output


def test_an_empty_queue_says_so(stack: Stack, jobs_queue: str, jobctl: Any) -> None:
    schedule(stack, jobs_queue, CONCURRENCY_BUDGET="2")
    stack.submit(job("a"))
    result = jobctl("queue")
    assert result.exit_code == 0, result.output
    assert result.output == "queue: no jobs waiting\n"
    assert waiting_jobs(jobctl("queue", "--json")) == []


def test_a_filter_that_picks_no_one_says_who_else_waits(two_budgets: Stack, jobctl: Any) -> None:
    result = jobctl("queue", "--share", "nobody")
    assert result.exit_code == 0, result.output
    assert result.output == "queue: no jobs waiting (share nobody; 3 other jobs are)\n"


def test_the_queue_finds_the_state_table_in_the_stacks_outputs(
    two_budgets: Stack, jobs_queue: str
) -> None:
    outputs = {
        "JobsQueueUrl": jobs_queue,
        "JobsTableName": JOBS_TABLE,
        "NoticesTopicArn": TOPIC_ARN,
        "IdempotencyTableName": IDEMPOTENCY_TABLE,
    }
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation").create_stack(
        StackName="jobctl-queue", TemplateBody=json.dumps(template)
    )
    result = CliRunner().invoke(main, ["--stack", "jobctl-queue", "queue", "--json"])
    assert places(result) == [("g1", 1, 0), ("c1", 2, 0), ("g2", 3, 1)]


def test_without_a_state_table_the_queue_says_how_to_name_it(
    two_budgets: Stack, jobs_queue: str
) -> None:
    resources = ["--queue-url", jobs_queue, "--table", JOBS_TABLE, "--topic-arn", TOPIC_ARN]
    result = CliRunner().invoke(main, [*resources, "queue"])
    assert result.exit_code == 1
    assert "no state table known: pass --state-table or use a stack" in result.output


# -- damaged items --------------------------------------------------------------------------


def test_a_damaged_waiting_record_is_reported_and_left_out(two_budgets: Stack, jobctl: Any) -> None:
    boto3.client("dynamodb").update_item(
        TableName=JOBS_TABLE,
        Key={"job_name": {"S": "c1"}, "job_type": {"S": "TrainingJob"}},
        UpdateExpression="SET priority = :text",
        ExpressionAttributeValues={":text": {"S": "high"}},
    )
    result = jobctl("queue", "--json")
    assert places(result) == [("g1", 1, 0), ("g2", 2, 1)]
    assert "cannot be read were left out: TrainingJob/c1" in result.stderr


def test_a_damaged_budget_item_is_reported_and_the_rest_listed(
    two_budgets: Stack, jobctl: Any
) -> None:
    boto3.client("dynamodb").update_item(
        TableName=IDEMPOTENCY_TABLE,
        Key={"id": {"S": f"jobctl#capacity#{G5}"}},
        UpdateExpression="SET used = :text",
        ExpressionAttributeValues={":text": {"S": "lots"}},
    )
    result = jobctl("queue", "--json")
    assert f"item jobctl#capacity#{G5} of the state table cannot be read" in result.stderr
    # Its room in use is not known: taken as none, so c1 would find room.
    entries = {entry["job_name"]: entry for entry in waiting_jobs(result)}
    assert sorted(entries) == ["c1", "g1", "g2"]
    assert entries["c1"]["starts_next"]
    assert entries["g1"]["waiting_for"] == (
        f"waiting for capacity ({GPU}: 1 of 1 instances in use, needs 1)"
    )


def test_with_the_waiting_rooms_counts_damaged_the_queue_counts_the_queues_itself(
    two_budgets: Stack, jobctl: Any
) -> None:
    boto3.client("dynamodb").update_item(
        TableName=IDEMPOTENCY_TABLE,
        Key={"id": {"S": "jobctl#waiting-room"}},
        UpdateExpression="SET shares = :text",
        ExpressionAttributeValues={":text": {"S": "edited"}},
    )
    for first in ([], ["--all"]):
        result = jobctl("queue", "--json", *first)
        assert [entry[0] for entry in places(result)] == ["g1", "c1", "g2"]
        assert "item jobctl#waiting-room of the state table cannot be read" in result.stderr


def test_with_the_recorded_budgets_damaged_the_queue_shows_what_each_last_waited_for(
    two_budgets: Stack, jobctl: Any
) -> None:
    boto3.client("dynamodb").put_item(
        TableName=IDEMPOTENCY_TABLE,
        Item={"id": {"S": "jobctl#budgets"}, "budgets": {"S": "{not json"}},
    )
    result = jobctl("queue", "--json")
    assert places(result) == [("g1", 1, None), ("c1", 2, None), ("g2", 3, None)]
    assert waiting_jobs(result)[1]["waiting_for"] == two_budgets.job("c1").waiting_for
    assert "item jobctl#budgets of the state table cannot be read" in result.stderr
    assert "the order is by priority and age alone" in result.stderr


# -- update ---------------------------------------------------------------------------------


def sent(jobs_queue: str) -> list[dict[str, Any]]:
    return [json.loads(body) for body in wake_ups(jobs_queue)]


def test_update_sends_the_new_priority_under_a_request_id_of_its_own(
    two_budgets: Stack, jobs_queue: str, jobctl: Any
) -> None:
    first = jobctl("update", "g2", "--priority", "7")
    second = jobctl("update", "g2", "--job-type", "TrainingJob", "--priority", "8")
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    bodies = sent(jobs_queue)
    assert [{k: v for k, v in b.items() if k != "request_id"} for b in bodies] == [
        {"job_type": "TrainingJob", "action": "update", "job_name": "g2", "priority": 7},
        {"job_type": "TrainingJob", "action": "update", "job_name": "g2", "priority": 8},
    ]
    ids = [body["request_id"] for body in bodies]
    assert len(set(ids)) == 2
    assert all(rid.startswith("g2-priority-") for rid in ids)
    assert "TrainingJob g2: priority 7 (was 0) sent, request id g2-priority-" in first.output
    # The controller takes both, and g2 moves ahead of g1.
    two_budgets.submit(*bodies)
    assert two_budgets.job("g2").priority == 8
    assert places(jobctl("queue", "--json")) == [("g2", 1, 0), ("g1", 2, 1), ("c1", 3, 0)]


def test_update_of_a_job_not_waiting_is_refused_and_sends_nothing(
    two_budgets: Stack, jobs_queue: str, jobctl: Any
) -> None:
    result = jobctl("update", "gpu-running", "--priority", "7")
    assert result.exit_code == 1
    assert "TrainingJob gpu-running is not waiting (InProgress)" in result.output
    assert sent(jobs_queue) == []


def test_update_of_a_job_the_ledger_does_not_hold_is_refused_unless_no_check(
    two_budgets: Stack, jobs_queue: str, jobctl: Any
) -> None:
    result = jobctl("update", "ghost", "--priority", "7")
    assert result.exit_code == 1
    assert "no job named ghost in the ledger: nothing to update" in result.output
    assert sent(jobs_queue) == []
    forced = jobctl("update", "ghost", "--priority", "7", "--type", "TrainingJob", "--no-check")
    assert forced.exit_code == 0, forced.output
    assert [body["job_name"] for body in sent(jobs_queue)] == ["ghost"]


def test_update_refuses_a_priority_the_controller_would_reject(
    two_budgets: Stack, jobs_queue: str, jobctl: Any
) -> None:
    result = jobctl("update", "g2", "--priority", "10000")
    assert result.exit_code == 2
    assert "'10000': Input should be less than or equal to 9999" in result.output
    assert sent(jobs_queue) == []


# -- submit, get and list ---------------------------------------------------------------------


def test_submit_sets_priority_and_share_on_every_submit_request(
    stack: Stack, jobs_queue: str, jobctl: Any
) -> None:
    requests = "\n".join(json.dumps(job(name)) for name in ("a", "b"))
    result = jobctl("submit", "--priority", "40", "--share", "research", "-", stdin=requests)
    assert result.exit_code == 0, result.output
    assert [(b["job_name"], b["priority"], b["share"]) for b in sent(jobs_queue)] == [
        ("a", 40, "research"),
        ("b", 40, "research"),
    ]


def test_submit_refuses_a_priority_that_contradicts_the_request(
    stack: Stack, jobs_queue: str, jobctl: Any
) -> None:
    result = jobctl("submit", "--priority", "40", "-", stdin=json.dumps(job("a", priority=3)))
    assert result.exit_code == 1
    assert "request 1 names priority 3, --priority says 40: give one of them" in result.output
    assert sent(jobs_queue) == []


def test_get_shows_priority_share_and_what_a_job_waits_for(two_budgets: Stack, jobctl: Any) -> None:
    result = jobctl("get", "g2", columns=200)
    assert result.exit_code == 0, result.output
    rows = {
        cells[0]: cells[1]
        for line in result.output.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) == 2
    }
    assert rows["priority"] == "0"
    assert rows["share"] == "prod"
    assert rows["waiting_for"] == f"waiting for capacity ({GPU}: 1 of 1 instances in use, needs 1)"


@pytest.mark.parametrize("columns", [80, 200])
def test_list_shows_priority_and_share_when_a_job_has_its_own(
    two_budgets: Stack, jobctl: Any, columns: int
) -> None:
    result = jobctl("list", columns=columns)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= columns
    for name in ("g1", "c1", "g2", "gpu-running", "g5-running"):
        assert name in result.output
    if columns == 200:
        header = next(line for line in result.output.splitlines() if "┃ job" in line)
        assert "priority" in header
        assert "share" in header
        (g1,) = [line for line in result.output.splitlines() if "│ g1 " in line]
        assert "research" in g1
        assert "waiting for capacity" in result.output
    else:
        assert "not shown at this width" in result.output


# -- reservations and shares ---------------------------------------------------------------


def test_the_first_waiting_job_shows_when_its_reservation_starts_at_the_latest(
    fair_share_queue: Stack, jobctl: Any
) -> None:
    first = waiting_jobs(jobctl("queue", "--json"))[0]
    # When it joined, the batch jobs could run an hour (MaxRuntimeInSeconds), plus 15
    # minutes to start: the ledger says so.
    admitted = datetime.fromisoformat(fair_share_queue.job("batch-0").admitted_at or "")
    noted = fair_share_queue.job(first["job_name"]).expected_start or ""
    assert datetime.fromisoformat(noted) == admitted + timedelta(minutes=75)
    # Three hours on (the wall clock), they are overdue: any moment now.
    expected = datetime.fromisoformat(first["expected_start"]) - datetime.now(UTC)
    assert timedelta(0) < expected <= timedelta(minutes=1)
    text = jobctl("queue", columns=120).stdout
    assert "room reserved: starts by" in " ".join(text.split())


def test_shares_shows_each_shares_weight_use_and_jobs_per_budget(
    fair_share_queue: Stack, jobctl: Any
) -> None:
    result = jobctl("shares", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["share"]: row for row in json.loads(result.stdout)}
    assert {
        share: (r["weight_percent"], r["waiting"], r["running"]) for share, r in rows.items()
    } == {
        "batch": (20.0, 0, 6),
        "prod": (60.0, 3, 0),
        "research": (20.0, 3, 0),
    }
    assert rows["batch"]["budget"] == GPU
    assert rows["batch"]["use_percent"] > rows["prod"]["use_percent"] == 0
    table = jobctl("shares", columns=80).stdout
    assert "batch" in table
    assert "60.0%" in table


def test_the_queue_reads_the_first_jobs_of_each_shares_queue_unless_asked_for_all(
    fair_share_queue: Stack, jobctl: Any
) -> None:
    everyone = places(jobctl("queue", "--json"))
    first = jobctl("queue", "--json", "--first", "2")
    assert places(first) == everyone[:2]
    assert "the first 2 of 6 waiting jobs (--first N or --all for more)" in first.stderr
    assert places(jobctl("queue", "--json", "--first", "2", "--all")) == everyone


def test_the_queue_names_the_jobs_a_waiting_job_preempts_and_the_quota_another_waits_for(
    stack: Stack, jobs_queue: str, jobctl: Any
) -> None:
    """docs/contract.md §10: 4 GPUs, 2 guaranteed to prod and 2 to research; research
    borrows prod's idle two, then prod's job takes one back."""
    schedule(
        stack,
        jobs_queue,
        INSTANCE_TYPE_BUDGETS=f"{GPU}=4",
        SHARE_QUOTAS=f"prod:{GPU}=2,research:{GPU}=2",
    )
    for n in range(4):
        stack.submit(job(f"research-{n}", GPU, share="research"))
        stack.clock.advance(1)
    stack.submit(job("pinned", GPU, share="research", preemptible=False))
    stack.submit(job("prod-0", GPU, share="prod"))
    waiting = {e["job_name"]: e["waiting_for"] for e in waiting_jobs(jobctl("queue", "--json"))}
    assert waiting["prod-0"] == "waiting for its quota's room (stopping: research-3)"
    assert waiting["pinned"] == (
        f"waiting for quota ({GPU}: share research uses 4 of its quota of 2; this job runs "
        "only within its quota (not preemptible, or preempted 5 times))"
    )
    assert stack.job("prod-0").waiting_for == "waiting for its quota's room (preempting research-3)"
