"""The example DAGs: they parse in a DagBag, are documented, and run end to end with dag.test().

The runs use real Airflow 3 (scheduling loop, task runner, XCom, deferral with the trigger run
in-process) against fakes at the oracledb boundary: the sync fake for operators and the counting
async fake for the trigger. They prove the wiring, not the engine (tests/integration does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_oracle_tasks.operators.task_manager import (
    OracleTaskManagerCreateInstanceOperator,
    OracleTaskManagerRunOperator,
)
from airflow_provider_oracle_tasks.sensors.task_manager import OracleTaskManagerInstanceSensor
from tests.unit.engine_fakes import (
    AsyncFakeDriver,
    EngineFakeConnection,
    batch_answers,
    by_ids,
    engine_answers,
    patch_connect,
    sequence,
    status_row,
)
from tests.unit.fakes import FakeVar, installed

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"
DAG_IDS = {"oracle_tasks_quick_start", "oracle_tasks_mview_refresh", "oracle_tasks_partition_update"}
"""The task-manager examples; other examples in the folder are checked for parsing and docs too."""
RUNNING = by_ids({42: [status_row(42, "RUNNING", counts={"RUNNING": 2, "READY": 2})]})
SUCCEEDED = by_ids({42: [status_row(42, "SUCCEEDED", counts={"SUCCEEDED": 4})]})


@pytest.fixture(scope="module")
def bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=EXAMPLE_DAGS)


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> EngineFakeConnection:
    connection = EngineFakeConnection()
    patch_connect(monkeypatch, connection)
    return connection


@pytest.fixture
def driver(db: EngineFakeConnection, monkeypatch: pytest.MonkeyPatch) -> AsyncFakeDriver:
    return AsyncFakeDriver(db).install(monkeypatch)


def text(value: Any) -> str:
    return value.getvalue() if isinstance(value, FakeVar) else value


def calls(db: EngineFakeConnection, name: str) -> list[dict[str, Any]]:
    return [binds for sql, binds in db.calls() if sql == name]


def test_every_example_parses_and_is_documented(bag: Any) -> None:
    assert bag.import_errors == {}
    assert set(bag.dag_ids) >= DAG_IDS
    for dag_id in bag.dag_ids:
        dag: DAG = bag.dags[dag_id]
        assert dag.doc_md, dag_id
        assert "oracle-tasks" in dag.tags
    for dag_id in DAG_IDS:
        assert len(bag.dags[dag_id].doc_md) > 300, dag_id


def test_examples_wire_the_instance_id_through_xcom(bag: Any) -> None:
    for dag_id in ("oracle_tasks_mview_refresh", "oracle_tasks_partition_update"):
        dag = bag.dags[dag_id]
        create = dag.get_task("create_instance")
        assert isinstance(create, OracleTaskManagerCreateInstanceOperator)
        (sensor,) = [t for t in dag.tasks if isinstance(t, OracleTaskManagerInstanceSensor)]
        assert "create_instance" in sensor.upstream_task_ids or "start_jobs" in sensor.upstream_task_ids
        assert "create_instance" in dag.get_task("start_jobs").upstream_task_ids


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "polling"])
def test_quick_start_installs_then_runs_a_batch(
    airflow_db: None,
    bag: Any,
    db: EngineFakeConnection,
    driver: AsyncFakeDriver,
    monkeypatch: pytest.MonkeyPatch,
    deferrable: bool,
) -> None:
    installed(db)
    engine_answers(batch_answers(db), sequence(RUNNING, SUCCEEDED))
    driver.events.publish(42)  # the engine's completion message: the trigger wakes at once
    dag: DAG = bag.dags["oracle_tasks_quick_start"]
    run_task = dag.get_task("run_small_batch")
    assert isinstance(run_task, OracleTaskManagerRunOperator)
    monkeypatch.setattr(run_task, "deferrable", deferrable)
    monkeypatch.setattr(run_task, "poke_interval", 0.1)
    run = dag.test()
    assert str(run.state) == "success"
    install, batch = sorted(run.get_task_instances(), key=lambda ti: ti.task_id)
    assert install.xcom_pull(task_ids="install_engine") == 1
    assert any("otask_install" in sql for sql in db.sql())
    summary = batch.xcom_pull(task_ids="run_small_batch")
    assert (summary["state"], summary["counts"]["SUCCEEDED"]) == ("SUCCEEDED", 4)
    assert batch.xcom_pull(task_ids="run_small_batch", key="instance_id") == 42
    (create,) = calls(db, "callfunc otask.create_instance")
    assert create["p_taskspace"] == "QUICK_START"
    assert create["p_run_key"] == f"oracle_tasks_quick_start/{run.run_id}/run_small_batch/-1"
    (added,) = calls(db, "callfunc otask.add_tasks")
    assert [task["name"] for task in json.loads(text(added["p_tasks"]))] == [
        "sleep 1",
        "sleep 2",
        "no-op",
        "after the first group",
    ]
    assert calls(db, "callproc otask.start_jobs") == [{"p_instance_id": 42, "p_threads": 2}]
    if deferrable:  # the trigger's read went through the async driver, with its listener
        assert driver.sessions_opened == {"pooled": 1, "dedicated": 1}
    else:
        assert driver.connections_opened == 0


def test_partition_update_runs_groups_with_ten_threads_throttled_to_three(
    airflow_db: None,
    bag: Any,
    db: EngineFakeConnection,
    driver: AsyncFakeDriver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db.on(r"from user_tab_partitions", [("P2024",), ("P2025",)])
    engine_answers(batch_answers(db), sequence(RUNNING, SUCCEEDED))
    driver.events.publish(42)
    dag: DAG = bag.dags["oracle_tasks_partition_update"]
    monkeypatch.setattr(dag.get_task("wait_for_update"), "deferrable", True)
    run = dag.test()
    assert str(run.state) == "success"
    (lookup,) = [binds for sql, binds in db.calls() if "user_tab_partitions" in sql]
    assert lookup == {"table_name": "HTAB"}
    (added,) = calls(db, "callfunc otask.add_tasks")
    tasks = json.loads(text(added["p_tasks"]))
    assert [(t["name"], t["group"]) for t in tasks] == [
        ("update P2024", 1),
        ("update P2025", 1),
        ("rebuild indexes P2024", 2),
        ("rebuild indexes P2025", 2),
    ]
    assert tasks[0]["sql"] == "update HTAB partition (P2024) set NCOL = :new_value"
    assert tasks[0]["binds"] == {"new_value": "XNA"}
    assert calls(db, "callproc otask.start_jobs") == [{"p_instance_id": 42, "p_threads": 10}]
    assert calls(db, "callproc otask.set_threads") == [{"p_instance_id": 42, "p_threads": 3}]
    (wait,) = [ti for ti in run.get_task_instances() if ti.task_id == "wait_for_update"]
    assert wait.xcom_pull(task_ids="wait_for_update")["state"] == "SUCCEEDED"


def test_mview_refresh_defines_once_then_refreshes_from_the_definition(
    airflow_db: None,
    bag: Any,
    db: EngineFakeConnection,
    driver: AsyncFakeDriver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db.on(r"from otask_task_defs", [])
    db.on("callfunc otask.add_definition", [(7,)])
    engine_answers(batch_answers(db), sequence(RUNNING, SUCCEEDED))
    driver.events.publish(42)
    dag: DAG = bag.dags["oracle_tasks_mview_refresh"]
    monkeypatch.setattr(dag.get_task("wait_for_refresh"), "deferrable", True)
    run = dag.test()
    assert str(run.state) == "success"
    (definition,) = calls(db, "callfunc otask.add_definition")
    assert (definition["p_taskspace"], definition["p_name"]) == ("MVIEW_REFRESH", "REFRESH_MVIEW")
    assert ":p1" in text(definition["p_sql"])
    assert text(definition["p_source_query"]).startswith("select mview_name from user_mviews")
    (create,) = calls(db, "callfunc otask.create_instance")
    assert (create["p_from_definitions"], create["p_stop_on_error"]) == ("Y", "N")
    assert calls(db, "callfunc otask.add_tasks") == []  # definitions only
    assert calls(db, "callproc otask.start_jobs") == [{"p_instance_id": 42, "p_threads": 8}]
