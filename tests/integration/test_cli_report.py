"""`jobctl report` against the stack in moto (docs/contract.md §9): jobs, tries, billable
instance-hours, spot savings and estimated cost per share, job type or status, summed over
mixed shares as the ledger recorded them."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from jobctl.logic.lifecycle import try_name
from jobctl_cli.cli import main
from tests.support.environment import JOBS_TABLE, TOPIC_ARN
from tests.support.requests import request_body
from tests.support.stack import Stack

CAPACITY = "CapacityError: Unable to provision requested ML compute capacity."


QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/jobctl-jobs"


def jobctl(*args: str, columns: int = 120) -> Result:
    resources = ["--table", JOBS_TABLE, "--queue-url", QUEUE_URL, "--topic-arn", TOPIC_ARN]
    return CliRunner().invoke(main, [*resources, *args], env={"COLUMNS": str(columns)})


def run(stack: Stack, name: str, share: str, seconds: int, count: int = 1, **spec: Any) -> None:
    body = request_body(job_name=name, request_id=name, share=share)
    body["spec"]["ResourceConfig"]["InstanceCount"] = count
    body["spec"].update(spec)
    body["retry"] = {"attempts": 2}
    stack.submit(body)
    billable = seconds // 4 if spec.get("EnableManagedSpotTraining") else seconds
    times = {"TrainingTimeInSeconds": seconds, "BillableTimeInSeconds": billable}
    if spec.get("EnableManagedSpotTraining"):
        times["EnableManagedSpotTraining"] = True
    stack.sagemaker.complete("TrainingJob", name, **times)
    stack.deliver(stack.sagemaker.training_event(name))


@pytest.fixture
def mixed_shares(stack: Stack) -> Stack:
    """Research: 2 instances for an hour, and a spot job billed a quarter of its 2 hours;
    prod: an hour on a second try after a capacity failure of half an hour."""
    queue_url = boto3.client("sqs").create_queue(QueueName="jobctl-jobs")["QueueUrl"]
    stack.reconfigure(JOBS_QUEUE_URL=queue_url, INSTANCE_PRICES="ml.m5.xlarge=0.25")
    run(stack, "research-a", "research", 3600, count=2)
    spot = {"MaxRuntimeInSeconds": 7200, "MaxWaitTimeInSeconds": 14400}
    run(stack, "research-spot", "research", 7200, EnableManagedSpotTraining=True,
        StoppingCondition=spot)  # fmt: skip
    body = request_body(job_name="prod-a", request_id="prod-a", share="prod")
    body["retry"] = {"attempts": 2}
    stack.submit(body)
    used = {"TrainingTimeInSeconds": 1800, "BillableTimeInSeconds": 1800}
    stack.sagemaker.set_state("TrainingJob", "prod-a", "Failed", "Failed", CAPACITY, **used)
    stack.deliver(stack.sagemaker.training_event("prod-a"))
    messages = boto3.client("sqs").receive_message(QueueUrl=queue_url)["Messages"]
    stack.submit(*(message["Body"] for message in messages))
    second = try_name("TrainingJob", "prod-a", 2)
    stack.sagemaker.complete("TrainingJob", second, **{**used, "TrainingTimeInSeconds": 3600,
                                                        "BillableTimeInSeconds": 3600})  # fmt: skip
    stack.deliver(stack.sagemaker.training_event(second))
    return stack


def test_the_report_sums_each_shares_jobs_usage_and_cost(mixed_shares: Stack) -> None:
    result = jobctl("report", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    groups = {group["group"]: group for group in report["groups"]}
    assert groups["research"]["jobs"] == 2
    assert groups["research"]["billable_instance_hours"] == 2.5  # 2 x 1 h + 0.5 h of spot
    assert groups["research"]["spot_saved_instance_hours"] == 1.5
    assert groups["research"]["estimated_cost_usd"] == 0.625
    assert (groups["prod"]["tries"], groups["prod"]["billable_instance_hours"]) == (2, 1.5)
    assert groups["prod"]["estimated_cost_usd"] == 0.375
    assert report["total"]["billable_instance_hours"] == 4.0
    assert report["total"]["estimated_cost_usd"] == 1.0


def test_the_report_groups_by_status_and_reads_a_time_window(mixed_shares: Stack) -> None:
    by_status = json.loads(jobctl("report", "--by", "status", "--json").stdout)
    assert [(g["group"], g["jobs"]) for g in by_status["groups"]] == [("Completed", 3)]
    later = json.loads(jobctl("report", "--since", "2099-01-01", "--json").stdout)
    assert (later["groups"], later["total"]["jobs"]) == ([], 0)


def test_the_report_table_shows_each_group_with_a_bar_of_its_cost(mixed_shares: Stack) -> None:
    result = jobctl("report")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    research = next(line for line in lines if "research" in line)
    prod = next(line for line in lines if "prod" in line)
    assert "$0.62" in research  # $0.625, shown with Python's rounding (half to even)
    assert research.count("█") > prod.count("█") > 0  # the bars follow the cost
    assert any("all" in line and "$1.00" in line for line in lines)
