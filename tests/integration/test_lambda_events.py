"""What SQS's ReceiveMessage returns (moto's SQS) becomes the event Lambda's SQS event
source builds (``jobctl_tools.local.lambda_events``), as the local stack hands it on."""

from __future__ import annotations

import json

import boto3
from aws_lambda_powertools.utilities.parser.models import SqsModel
from moto import mock_aws

from jobctl_tools.local.lambda_events import sqs_event_from


@mock_aws
def test_receive_message_messages_become_the_event_lambda_builds() -> None:
    client = boto3.client("sqs")
    url = client.create_queue(QueueName="jobs")["QueueUrl"]
    arn = client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    client.send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"job_name": "x"}),
        MessageAttributes={
            "origin": {"DataType": "String", "StringValue": "cli"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )
    for _ in range(2):  # the second receive counts 2
        messages = client.receive_message(
            QueueUrl=url,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
            VisibilityTimeout=0,
        )["Messages"]
    (message,) = messages
    event = sqs_event_from(messages, arn)
    (record,) = SqsModel.model_validate(event).Records
    assert record.messageId == message["MessageId"]
    assert record.receiptHandle == message["ReceiptHandle"]
    assert record.body == message["Body"]
    assert record.attributes.ApproximateReceiveCount == "2"
    assert record.md5OfBody == message["MD5OfBody"]
    assert record.eventSourceARN == arn
    assert record.messageAttributes["origin"].stringValue == "cli"
    assert record.messageAttributes["blob"].binaryValue == "AAE="
