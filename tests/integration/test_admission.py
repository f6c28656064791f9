"""The waiting room on DynamoDB and SQS (moto), through the handlers: jobs wait in the
ledger, a settled job's room goes to the next at once, and no two admissions share a slot."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from jobctl.adapters.capacity import DynamoDBCapacity
from jobctl.adapters.ledger import item_of
from jobctl.adapters.waiting_room import ROOM_KEY, WaitingRoomCounts
from jobctl.errors import NoRoom, UnreadableWaitingRoom
from jobctl.logic.admission import INDEX_GRACE
from jobctl.logic.fair_share import Holding
from jobctl.logic.submission import REUSED_REQUEST_ID
from jobctl.models.jobs import JobRecord, unpack_request
from tests.support.environment import IDEMPOTENCY_TABLE, JOBS_TABLE, MAX_RECEIVE_COUNT, TOPIC_ARN
from tests.support.stack import Stack
from tests.support.waiting import GPU, finish, job, wake_ups


@pytest.fixture
def budgeted(stack: Stack) -> tuple[Stack, str]:
    """The stack with a budget of 2 jobs overall and 4 GPU instances."""
    queue_url = boto3.client("sqs").create_queue(QueueName="jobctl-jobs")["QueueUrl"]
    stack.reconfigure(
        CONCURRENCY_BUDGET="2", INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=queue_url
    )
    return stack, queue_url


def test_over_the_overall_budget_a_job_waits_queued_with_its_reason(
    budgeted: tuple[Stack, str],
) -> None:
    stack, queue_url = budgeted
    assert stack.submit(job("a"), job("b"), job("c")) == {"batchItemFailures": []}
    assert stack.sagemaker.calls["CreateTrainingJob"] == 2
    waiting = stack.job("c")
    assert (waiting.status, waiting.waiting_for) == (
        "Queued",
        "waiting for capacity (all jobs: 2 of 2 running)",
    )
    assert wake_ups(queue_url) == []  # it waits in the ledger, not on the queue
    assert stack.notices() == []


def test_a_settled_job_wakes_the_next_waiting_job_which_is_then_created(
    budgeted: tuple[Stack, str],
) -> None:
    stack, queue_url = budgeted
    stack.submit(job("a"), job("b"), job("c"))
    finish(stack, "a")
    (body,) = wake_ups(queue_url)
    assert json.loads(body)["job_name"] == "c"  # the very request, sent again
    assert stack.submit(body) == {"batchItemFailures": []}  # not answered from idempotency
    assert stack.job("c").status == "InProgress"
    assert stack.job("c").request_body is None


def test_the_waiting_request_is_kept_to_be_sent_again_and_never_announced(
    budgeted: tuple[Stack, str],
) -> None:
    stack, _ = budgeted
    body = json.dumps(job("a")), json.dumps(job("b")), json.dumps(job("c"))
    stack.submit(*body)
    stored = stack.job("c").request_body
    assert stored is not None
    assert unpack_request(stored) == body[2]
    assert all("request_body" not in n for n in stack.notices())


def test_a_budget_of_instances_counts_each_jobs_instances(budgeted: tuple[Stack, str]) -> None:
    stack, _ = budgeted
    stack.sagemaker.set_quota(GPU, 8)  # an account granted GPUs (AWS's default is 0)
    stack.reconfigure(INSTANCE_TYPE_BUDGETS=f"{GPU}=4", JOBS_QUEUE_URL=budgeted[1])
    stack.submit(job("three", GPU, 3), job("two", GPU, 2), job("one", GPU, 1))
    assert [stack.job(n).status for n in ("three", "two", "one")] == [
        "InProgress",
        "Queued",
        "InProgress",
    ]
    # "one" fits beside "two"'s reservation (when "three" ends); "two" says what it
    # waited for when it joined.
    assert stack.job("two").waiting_for == (
        f"waiting for capacity ({GPU}: 3 of 4 instances in use, needs 2)"
    )
    assert stack.job("two").expected_start is not None


def test_waiting_any_number_of_times_never_sends_a_request_to_the_dlq(
    budgeted: tuple[Stack, str],
) -> None:
    stack, _ = budgeted
    stack.submit(job("a"), job("b"))
    for receive in range(1, MAX_RECEIVE_COUNT * 2):
        assert stack.submit(job("c"), receive_count=receive) == {"batchItemFailures": []}
    assert stack.job("c").status == "Queued"


def test_a_job_that_does_not_start_gives_its_room_back(budgeted: tuple[Stack, str]) -> None:
    stack, _ = budgeted
    stack.sagemaker.fail_next("CreateTrainingJob", "ValidationException", message="bad image")
    stack.submit(job("rejected"))
    stack.submit(job("a"), job("b"))
    assert stack.job("rejected").status == "Rejected"
    assert [stack.job(n).status for n in ("a", "b")] == ["InProgress", "InProgress"]


def test_the_sweep_frees_room_held_by_a_job_that_is_gone(budgeted: tuple[Stack, str]) -> None:
    stack, queue_url = budgeted
    # A job took room and its record was deleted by hand (records are never deleted).
    stack.submit(job("a"), job("b"))
    boto3.client("dynamodb").delete_item(
        TableName=JOBS_TABLE, Key={"job_name": {"S": "a"}, "job_type": {"S": "TrainingJob"}}
    )
    stack.submit(job("c"))
    assert stack.job("c").status == "Queued"
    assert stack.sweep()["sweep"]["repaired"]["budgets derived again"] == 1
    (body,) = wake_ups(queue_url)
    stack.submit(body)
    assert stack.job("c").status == "InProgress"


def test_two_admissions_racing_for_the_last_slot_take_it_once(
    budgeted: tuple[Stack, str],
) -> None:
    stack, _ = budgeted
    stack.submit(job("a"), job("b"), job("c"), job("d"))  # a and b run; c and d wait
    finish(stack, "a")  # c is admitted into the freed slot...
    admission = stack.controller.reconciler.admission
    assert admission is not None
    waiting = stack.job("d")
    # ...and a second admission that planned d into the same slot finds it taken.
    with pytest.raises(NoRoom):
        admission.capacity.admit(
            "TrainingJob/d", {"all": Holding(1, "default")}, {"all": 2}, waiting
        )
    assert admission.capacity.items(["all"])["all"].used == 2
    assert stack.job("d").waiting


def test_a_second_update_with_the_same_request_id_is_refused_not_ignored(
    budgeted: tuple[Stack, str],
) -> None:
    stack, _ = budgeted
    stack.submit(job("a"), job("b"), job("c"))
    update = {"job_type": "TrainingJob", "action": "update", "job_name": "c", "request_id": "u1"}
    stack.submit({**update, "priority": 5})
    stack.submit({**update, "priority": 5})  # a duplicate: the same update
    stack.submit({**update, "priority": 9}, message_ids=["m-9"])
    assert stack.job("c").priority == 5
    assert stack.job("rejected-m-9").failure_reason == REUSED_REQUEST_ID


def test_list_of_queued_jobs_shows_why_each_waits(budgeted: tuple[Stack, str]) -> None:
    from click.testing import CliRunner

    from jobctl_cli.cli import main

    stack, queue_url = budgeted
    stack.submit(job("a"), job("b"), job("c"))
    resources = ["--queue-url", queue_url, "--table", JOBS_TABLE, "--topic-arn", TOPIC_ARN]
    result = CliRunner().invoke(main, [*resources, "list", "--status", "Queued", "--json"])
    assert result.exit_code == 0, result.output
    (waiting,) = json.loads(result.output)
    assert (waiting["job_name"], waiting["waiting_for"]) == (
        "c",
        "waiting for capacity (all jobs: 2 of 2 running)",
    )


def test_the_waiting_rooms_counts_follow_every_join_and_leave(
    budgeted: tuple[Stack, str],
) -> None:
    stack, _ = budgeted
    stack.submit(job("a", share="x"), job("b", share="x"), job("c", share="x"), job("d", share="y"))
    room = WaitingRoomCounts(stack.clients.dynamodb, IDEMPOTENCY_TABLE)
    assert room.counts() == (2, {"x": 1, "y": 1})  # a and b run
    finish(stack, "a")  # d (y runs nothing) is admitted: its count leaves in that write
    assert room.counts() == (1, {"x": 1, "y": 0})
    stop = {"job_type": "TrainingJob", "action": "stop", "job_name": "c", "request_id": "s"}
    stack.submit(stop)
    assert room.counts() == (0, {})  # an emptied share is forgotten by the next pass
    assert not any(name.startswith("changed:") for name in room_item(stack))


def test_releases_racing_for_one_shares_past_use_each_fold_theirs_in(stack: Stack) -> None:
    capacity = DynamoDBCapacity(stack.clients.dynamodb, IDEMPOTENCY_TABLE, JOBS_TABLE)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    hour = timedelta(hours=1)
    for name in ("one", "two"):
        record = JobRecord(
            job_name=name, job_type="TrainingJob", status="Queued", created_at="x", updated_at="x"
        )
        stack.clients.dynamodb.put_item(TableName=JOBS_TABLE, Item=item_of(record))
        holding = {GPU: Holding(2, "team", start, start + 2 * hour)}
        capacity.admit(f"TrainingJob/{name}", holding, {GPU: 4}, record)
    read = capacity._items

    def first_read_is_stale(keys: Any) -> Any:
        items = read(keys)
        capacity._items = read  # type: ignore[method-assign]
        capacity.release("TrainingJob/two", {GPU: 2}, start + hour, 3600)  # meanwhile
        return items

    capacity._items = first_read_is_stale  # type: ignore[method-assign]
    capacity.release("TrainingJob/one", {GPU: 2}, start + hour, 3600)
    item = capacity.items([GPU])[GPU]
    assert item.holders == {}
    assert item.past_use["team"][0] == pytest.approx(2.0)  # 1.0 from each, none lost


def room_item(stack: Stack) -> dict[str, Any]:
    return stack.clients.dynamodb.get_item(TableName=IDEMPOTENCY_TABLE, Key=ROOM_KEY)["Item"]


def test_a_damaged_waiting_room_count_is_written_anew_by_the_sweep_and_joins_go_on(
    budgeted: tuple[Stack, str],
) -> None:
    stack, queue_url = budgeted
    stack.submit(job("a", share="x"), job("b", share="x"), job("c", share="x"))
    damaged = {**room_item(stack), "total": {"S": "edited by hand"}}
    stack.clients.dynamodb.put_item(TableName=IDEMPOTENCY_TABLE, Item=damaged)
    room = WaitingRoomCounts(stack.clients.dynamodb, IDEMPOTENCY_TABLE)
    with pytest.raises(UnreadableWaitingRoom, match="the next sweep counts them again"):
        room.counts()
    with pytest.raises(BatchProcessingError):  # its message is received again later
        stack.submit(job("d", share="y"))
    report = stack.sweep()
    assert report["sweep"]["repaired"]["waiting room counts"] == 1
    assert room.counts() == (1, {"x": 1})
    assert stack.submit(job("d", share="y")) == {"batchItemFailures": []}  # its next receive
    assert room.counts() == (2, {"x": 1, "y": 1})
    finish(stack, "a")  # the pass finds the waiting jobs through the counts again
    (woken,) = wake_ups(queue_url)
    assert json.loads(woken)["job_name"] == "d"  # y has run nothing: it goes first


def test_a_count_that_differs_from_its_queue_is_corrected_once_the_share_is_quiet(
    budgeted: tuple[Stack, str],
) -> None:
    stack, _ = budgeted
    stack.submit(job("a", share="x"), job("b", share="x"), job("c", share="x"), job("d", share="x"))
    room = WaitingRoomCounts(stack.clients.dynamodb, IDEMPOTENCY_TABLE)
    key = {"job_name": {"S": "d"}, "job_type": {"S": "TrainingJob"}}
    stack.clients.dynamodb.delete_item(TableName=JOBS_TABLE, Key=key)  # by hand
    assert room.counts() == (2, {"x": 2})
    assert stack.sweep()["sweep"]["repaired"]["waiting room counts"] == 0  # c joined a moment ago
    stack.clock.advance(INDEX_GRACE.total_seconds() + 1)
    assert stack.sweep()["sweep"]["repaired"]["waiting room counts"] == 1
    assert room.counts() == (1, {"x": 1})
    assert stack.sweep()["sweep"]["repaired"]["waiting room counts"] == 0
    stack.clients.dynamodb.update_item(
        TableName=IDEMPOTENCY_TABLE,
        Key=ROOM_KEY,
        UpdateExpression="SET #total = :seven",
        ExpressionAttributeNames={"#total": "total"},
        ExpressionAttributeValues={":seven": {"N": "7"}},
    )
    assert stack.sweep()["sweep"]["repaired"]["waiting room counts"] == 1
    assert room.counts() == (1, {"x": 1})


def test_a_correction_loses_to_a_join_made_after_the_count_was_read(
    budgeted: tuple[Stack, str],
) -> None:
    stack, _ = budgeted
    stack.submit(job("a", share="x"), job("b", share="x"), job("c", share="x"))
    room = WaitingRoomCounts(stack.clients.dynamodb, IDEMPOTENCY_TABLE)
    quiet_since = "9999"  # every share quiet
    read = room._read

    def a_join_meanwhile() -> Any:
        found = read()
        room._read = read  # type: ignore[method-assign]
        stack.submit(job("d", share="x"))
        return found

    room._read = a_join_meanwhile  # type: ignore[method-assign]
    assert room.recount({"x": 5}, "now", quiet_since) == 0  # its condition no longer held
    assert room.counts() == (2, {"x": 2})
