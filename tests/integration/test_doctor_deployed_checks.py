"""The checks ``activity-sync doctor --stack`` adds for what only a deployed stack has - the
poller's EventBridge rule and the alarm topic - on moto's EventBridge and SNS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from activity_sync_tools.operate.doctor import alarm_topic_check, schedule_check
from tests.moto_env import use_fake_aws

pytestmark = pytest.mark.integration


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    use_fake_aws(monkeypatch)
    with mock_aws():
        yield


def test_an_enabled_poller_rule_is_ok_a_disabled_one_a_problem_with_the_command(aws: None) -> None:
    events: Any = boto3.client("events")
    rule = "activity-sync-PollerSchedule"
    events.put_rule(Name=rule, ScheduleExpression="rate(5 minutes)", State="ENABLED")
    assert schedule_check(events, "activity-sync-PollerSchedule").state == "ok"

    events.disable_rule(Name="activity-sync-PollerSchedule")
    check = schedule_check(events, "activity-sync-PollerSchedule")

    assert check.state == "problem"
    assert check.found == "activity-sync-PollerSchedule is disabled"
    assert check.fix.startswith("aws events enable-rule --name activity-sync-PollerSchedule")


def test_an_alarm_topic_without_a_confirmed_subscription_is_a_problem(aws: None) -> None:
    sns: Any = boto3.client("sns")
    topic = sns.create_topic(Name="activity-sync-alarms")["TopicArn"]
    lonely = alarm_topic_check(sns, topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint="arn:aws:sqs:us-east-1:123456789012:ops")
    heard = alarm_topic_check(sns, topic)

    assert lonely.state == "problem"
    assert lonely.found == "no confirmed subscription: dead-letter alarms reach nobody"
    assert lonely.fix.startswith(f"aws sns subscribe --topic-arn {topic}")
    assert heard.state == "ok"
    assert heard.found == "sqs subscription(s): 1"
