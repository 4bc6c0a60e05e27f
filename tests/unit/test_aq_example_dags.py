"""The AQ example DAGs end to end with dag.test(): real Airflow 3 (deferral with the trigger run
in-process, XCom, templates) against the fake AQ broker and the engine fakes. They prove the
wiring, not AQ or the engine (tests/integration/test_aq.py and test_example_dags.py do)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import oracledb
import pendulum
import pytest

from airflow_provider_oracle_tasks.db import transient
from airflow_provider_oracle_tasks.triggers import _aq_listener as aq_listener
from tests.unit.aq_fakes import FakeBroker, install_aq
from tests.unit.engine_fakes import (
    EngineFakeConnection,
    batch_answers,
    by_ids,
    engine_answers,
    sequence,
    status_row,
)
from tests.unit.fakes import FakeVar

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "payroll_file_arrival.py"
SUCCEEDED = by_ids({42: [status_row(42, "SUCCEEDED", counts={"SUCCEEDED": 4})]})


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> tuple[FakeBroker, EngineFakeConnection]:
    broker = FakeBroker().add_queue("PAYROLL_FILES", ["PAYROLL_DAG"])
    db = EngineFakeConnection().on(r"from all_objects o", [("APP", 1)])
    db.on(
        r'select q\."TYPE", q\.object_type, q\.recipients from user_queue_tables q',
        [("RAW", None, "MULTIPLE")],
    )
    db.on(r"from user_queues where name = :queue", [("PAYROLL_FILES_QT", "YES", "YES")])
    db.on(r"from user_queue_subscribers", [("PAYROLL_DAG",)])
    engine_answers(batch_answers(db), sequence(SUCCEEDED))
    install_aq(monkeypatch, broker, sql=db)
    monkeypatch.setattr(transient, "backoff_delay", lambda *a, **k: 0.0)
    monkeypatch.setattr(aq_listener, "LISTEN_INTERVAL", 0.05)
    return broker, db


def file_binds(db: EngineFakeConnection) -> list[str]:
    (added,) = [b for sql, b in db.calls() if sql == "callfunc otask.add_tasks"]
    tasks = json.loads(
        added["p_tasks"].getvalue() if isinstance(added["p_tasks"], FakeVar) else added["p_tasks"]
    )
    return sorted({task["binds"]["file"] for task in tasks})


def run_dag(broker: FakeBroker) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=EXAMPLE).dags["oracle_tasks_payroll_file_arrival"]
    return dag, dag.test(logical_date=pendulum.datetime(2025, 3, 1, tz="UTC"))


def test_the_file_arrival_dag_takes_a_message_that_is_already_queued(airflow_db: None, world: Any) -> None:
    broker, db = world
    broker.publish("PAYROLL_FILES", b'{"file": "pay_202503.csv"}', correlation="2025-03")
    broker.publish("PAYROLL_FILES", b'{"file": "pay_202502.csv"}', correlation="2025-02")
    _, run = run_dag(broker)
    assert str(run.state) == "success"
    assert file_binds(db) == ["pay_202503.csv"]  # the month of the logical date, via correlation
    assert [m.correlation for m in broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG")] == ["2025-02"]


def test_the_file_arrival_dag_defers_and_resumes_when_the_file_arrives_later(
    airflow_db: None, world: Any
) -> None:
    broker, db = world

    def arrive_later() -> None:
        """Enqueue once the sensor's first take found nothing (so it defers), whatever the speed."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any(
            d["mode"] == oracledb.DEQ_REMOVE for d in broker.dequeues
        ):
            time.sleep(0.02)
        time.sleep(0.3)
        broker.publish("PAYROLL_FILES", b'{"file": "pay_202503.csv"}', correlation="2025-03")

    producer = threading.Thread(target=arrive_later)
    producer.start()
    try:
        _, run = run_dag(broker)
    finally:
        producer.join()
    assert str(run.state) == "success"
    assert file_binds(db) == ["pay_202503.csv"]
    assert broker.pending_for("PAYROLL_FILES", "PAYROLL_DAG") == []  # taken by msgid on resume
    assert any(d["mode"] == oracledb.DEQ_BROWSE for d in broker.dequeues)  # it did defer and browse
    assert broker.sessions_by_kind["dedicated"] == 0  # the wait held no session of its own
