"""Oracle AQ in Airflow's common messaging interface: MessageQueueTrigger resolves to the AQ watcher."""

from __future__ import annotations

import pytest

pytest.importorskip("airflow.providers.common.messaging")

from airflow.providers.common.messaging.triggers import msg_queue

from airflow_provider_oracle_tasks import get_provider_info
from airflow_provider_oracle_tasks.triggers.aq import OracleAQEventTrigger
from airflow_provider_oracle_tasks.triggers.aq_message_queue import (
    OracleAQMessageQueueProvider,
    parse_queue_uri,
)

WATCHER = "airflow_provider_oracle_tasks.triggers.aq.OracleAQEventTrigger"


@pytest.fixture(autouse=True)
def only_oracle(monkeypatch: pytest.MonkeyPatch) -> None:
    """The installed provider (in site-packages) may be another build: register this one."""
    monkeypatch.setattr(msg_queue, "MESSAGE_QUEUE_PROVIDERS", [OracleAQMessageQueueProvider()])


def test_the_provider_is_registered_when_common_messaging_is_installed() -> None:
    assert get_provider_info()["queues"] == [
        "airflow_provider_oracle_tasks.triggers.aq_message_queue.OracleAQMessageQueueProvider"
    ]


def test_message_queue_trigger_by_scheme_is_the_aq_watcher() -> None:
    trigger = msg_queue.MessageQueueTrigger(
        scheme="oracle+aq", queue_name="app.payroll_events", consumer="payroll_watch", oracle_conn_id="ora"
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == WATCHER
    assert (kwargs["queue"], kwargs["consumer"], kwargs["oracle_conn_id"]) == (
        "APP.PAYROLL_EVENTS",
        "PAYROLL_WATCH",
        "ora",
    )
    assert isinstance(trigger.trigger, OracleAQEventTrigger)
    assert trigger.trigger.shared_stream_key() is not None  # the triggerer runs it in ack mode


def test_message_queue_trigger_by_queue_uri() -> None:
    with pytest.warns(DeprecationWarning, match="scheme"):
        trigger = msg_queue.MessageQueueTrigger(
            queue="oracle+aq://oracle_default/APP.PAYROLL_EVENTS?consumer=PAYROLL_WATCH&payload_type=json"
        )
    classpath, kwargs = trigger.serialize()
    assert classpath == WATCHER
    assert kwargs["payload_type"] == "JSON"
    assert OracleAQEventTrigger(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("oracle+aq://oracle_default/Q", "names no consumer"),
        ("oracle+aq:///Q?consumer=C", "must be oracle"),
        ("oracle+aq://c/Q?consumer=C&condition=1%3D1", "unknown option"),
        ("oracle+aq://c/A/B?consumer=C", "must be oracle"),
    ],
)
def test_bad_queue_uris_are_refused_with_the_expected_form(uri: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_queue_uri(uri)


def test_other_schemes_and_uris_are_not_ours() -> None:
    provider = OracleAQMessageQueueProvider()
    assert not provider.scheme_matches("kafka")
    assert not provider.queue_matches("https://sqs.eu-west-1.amazonaws.com/1/q")
    assert provider.queue_matches("oracle+aq://c/Q?consumer=C")


def test_without_the_extra_no_queue_provider_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    import airflow_provider_oracle_tasks as package

    def missing(name: str) -> str:
        raise package.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(package.metadata, "version", missing)
    assert "queues" not in get_provider_info()
