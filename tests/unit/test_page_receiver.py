"""The local pages are SNS deliveries to a real HTTP subscriber: what no subscription carries
was not paged, and what is not an SNS notification is refused and kept."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from local.page_receiver import PageReceiver


@pytest.fixture
def receiver() -> Iterator[PageReceiver]:
    with PageReceiver().running() as r, mock_aws():
        yield r


def test_a_publish_arrives_at_the_subscribed_level_only(receiver: PageReceiver) -> None:
    sns = boto3.client("sns", region_name="us-east-1")
    l1 = sns.create_topic(Name="l1")["TopicArn"]
    l2 = sns.create_topic(Name="l2")["TopicArn"]  # nobody subscribed
    sns.subscribe(TopicArn=l1, Protocol="http", Endpoint=receiver.url("l1"))

    sent = sns.publish(TopicArn=l1, Subject="P1", Message=json.dumps({"incident": "i-1"}))
    sns.publish(TopicArn=l2, Subject="lost", Message="{}")

    [page] = receiver.received()
    assert (page["level"], page["topicArn"], page["subject"]) == ("l1", l1, "P1")
    assert page["messageId"] == sent["MessageId"]
    assert json.loads(page["message"]) == {"incident": "i-1"}


def test_what_is_not_an_sns_notification_is_refused_and_kept(receiver: PageReceiver) -> None:
    request = urllib.request.Request(receiver.url("l1"), data=b'{"hello": 1}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert receiver.received() == []
    [kept] = receiver.rejected
    assert kept.startswith("l1: not an SNS notification") and "hello" in kept
