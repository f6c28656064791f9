"""The Lambda context and events the tests, the benchmarks and the local stack share
(``jobctl_tools.local.lambda_events``) have the shapes Lambda gives the functions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from jobctl.models.events import ScheduledEvent, parse_reconcile_event
from jobctl_tools.local.lambda_events import (
    QUEUE_ARN,
    LambdaContext,
    scheduled_event,
    sqs_event,
    sqs_event_from,
    sqs_message,
)
from tests.support.template import load_event


def test_an_sqs_event_carries_each_body_with_its_receive_count_and_message_id() -> None:
    event = sqs_event([{"a": 1}, "{oops"], receive_count=[1, 3], message_ids=["m-1", "m-2"])
    first, second = SqsModel.model_validate(event).Records
    assert (first.messageId, first.body, first.attributes.ApproximateReceiveCount) == (
        "m-1",
        '{"a": 1}',
        "1",
    )
    assert (second.messageId, second.body, second.attributes.ApproximateReceiveCount) == (
        "m-2",
        "{oops",
        "3",
    )
    for record in event["Records"]:
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()  # noqa: S324
        assert record["eventSourceARN"] == QUEUE_ARN


def test_one_receive_count_serves_every_body_and_message_ids_are_fresh_by_default() -> None:
    records = sqs_event(["a", "b"], receive_count=2)["Records"]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in records] == ["2", "2"]
    assert len({r["messageId"] for r in records}) == 2


def test_counts_or_ids_that_do_not_match_the_bodies_are_refused() -> None:
    with pytest.raises(ValueError, match="2 bodies, 1 receive counts"):
        sqs_event(["a", "b"], receive_count=[1])


def test_a_record_has_the_keys_of_the_documented_sample() -> None:
    (sample,) = load_event("sqs-training-request.json")["Records"]
    (record,) = sqs_event([{"job_type": "TrainingJob"}])["Records"]
    assert set(record) == set(sample)
    assert set(record["attributes"]) == set(sample["attributes"])


def test_a_message_without_system_attributes_is_a_first_receive() -> None:
    message = sqs_message("body", receive_count=4)
    del message["Attributes"]
    (record,) = sqs_event_from([message])["Records"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    SqsModel.model_validate({"Records": [record]})


def test_a_scheduled_event_is_what_the_sweeps_schedule_sends() -> None:
    moment = datetime(2025, 11, 26, 12, 5, tzinfo=UTC)
    event = scheduled_event(moment)
    sample = load_event("scheduled-sweep.json")
    assert set(event) == set(sample)
    assert event["time"] == sample["time"]
    assert isinstance(parse_reconcile_event(event), ScheduledEvent)


def test_the_context_counts_down_from_the_timeout_unless_pinned() -> None:
    context = LambdaContext(function_name="SubmitFunction", timeout_seconds=120)
    assert 119_000 < context.get_remaining_time_in_millis() <= 120_000
    assert context.invoked_function_arn.endswith(":function:SubmitFunction")
    context.remaining_ms = 1500
    assert context.get_remaining_time_in_millis() == 1500
    assert LambdaContext(timeout_seconds=0).get_remaining_time_in_millis() == 0
