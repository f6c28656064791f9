"""The kinds of SageMaker job jobctl runs, described once as data.

The SageMaker adapter, the simulated SageMaker and the observation parsers read this
table instead of branching on the job type, so a third kind (processing, transform,
tuning jobs) is one more entry. Names are botocore's (the operation and member names of
the service model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

JobType = Literal["TrainingJob", "AutoMLJob"]


@dataclass(frozen=True)
class JobKind:
    job_type: JobType
    # SageMaker's API: operations and the members that name, identify and describe a job.
    create: str
    describe: str
    stop: str
    list: str
    name_member: str
    arn_member: str
    status_member: str
    secondary_member: str
    ended_member: str
    summaries_member: str
    name_limit: int
    arn_resource: str  # arn:aws:sagemaker:<region>:<account>:<arn_resource>/<name>
    # List calls sort by CreationTime ascending or Name descending unless told otherwise.
    default_sort_by: str
    default_sort_order: str
    # SageMaker's EventBridge state-change detail-type; None: it sends no events.
    event_detail_type: str | None


KINDS: dict[JobType, JobKind] = {
    "TrainingJob": JobKind(
        job_type="TrainingJob",
        create="CreateTrainingJob",
        describe="DescribeTrainingJob",
        stop="StopTrainingJob",
        list="ListTrainingJobs",
        name_member="TrainingJobName",
        arn_member="TrainingJobArn",
        status_member="TrainingJobStatus",
        secondary_member="SecondaryStatus",
        ended_member="TrainingEndTime",
        summaries_member="TrainingJobSummaries",
        name_limit=63,
        arn_resource="training-job",
        default_sort_by="CreationTime",
        default_sort_order="Ascending",
        event_detail_type="SageMaker Training Job State Change",
    ),
    # CreateAutoMLJob (v1), not V2: DescribeAutoMLJob cannot describe V2 jobs.
    "AutoMLJob": JobKind(
        job_type="AutoMLJob",
        create="CreateAutoMLJob",
        describe="DescribeAutoMLJob",
        stop="StopAutoMLJob",
        list="ListAutoMLJobs",
        name_member="AutoMLJobName",
        arn_member="AutoMLJobArn",
        status_member="AutoMLJobStatus",
        secondary_member="AutoMLJobSecondaryStatus",
        ended_member="EndTime",
        summaries_member="AutoMLJobSummaries",
        name_limit=32,
        arn_resource="automl-job",
        default_sort_by="Name",
        default_sort_order="Descending",
        event_detail_type=None,
    ),
}
JOB_TYPES: tuple[JobType, ...] = tuple(KINDS)
