"""The example DAGs on a REAL Oracle, run with dag.test(): operators, sensor and trigger for real.

Skipped without ORACLE_TASKS_TEST_DSN / _USER / _PASSWORD (see conftest.py). The deferred runs
execute the trigger in-process (dag.test runs triggers inline), so they also exercise the thin
asyncio pool, the batched status read and the completion listener (AQ browse of OTASK_EVENTS).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import DSN, PASSWORD, USER

EXAMPLE_DAGS = Path(__file__).resolve().parents[2] / "example_dags"


@pytest.fixture(scope="module")
def airflow_ready() -> None:
    """A migrated metadata DB in the temp AIRFLOW_HOME of tests/conftest.py."""
    from airflow.utils.db import upgradedb

    upgradedb()


@pytest.fixture
def oracle_default(monkeypatch: pytest.MonkeyPatch) -> None:
    value = {"conn_type": "oracle", "login": USER, "password": PASSWORD, "extra": {"dsn": DSN}}
    monkeypatch.setenv("AIRFLOW_CONN_ORACLE_DEFAULT", json.dumps(value))


@pytest.fixture(scope="module")
def bag(airflow_ready: None) -> Any:
    from airflow.dag_processing.dagbag import DagBag

    dags = DagBag(dag_folder=EXAMPLE_DAGS)
    assert dags.import_errors == {}
    return dags


def instance_of(run: Any, task_id: str) -> dict[str, Any]:
    (ti,) = [ti for ti in run.get_task_instances() if ti.task_id == task_id]
    summary = ti.xcom_pull(task_ids=task_id)
    assert isinstance(summary, dict), f"{task_id} returned {summary!r}"
    return summary


@pytest.mark.parametrize("deferrable", [False, True], ids=["polling", "deferred"])
def test_quick_start_installs_and_runs_its_batch(
    bag: Any, oracle_default: None, monkeypatch: pytest.MonkeyPatch, deferrable: bool
) -> None:
    dag = bag.dags["oracle_tasks_quick_start"]
    task = dag.get_task("run_small_batch")
    monkeypatch.setattr(task, "deferrable", deferrable)
    # A long poll interval: when deferred, only the completion message can end the wait early.
    monkeypatch.setattr(task, "poke_interval", 120.0)
    started = time.monotonic()
    run = dag.test()
    took = time.monotonic() - started
    assert str(run.state) == "success"
    summary = instance_of(run, "run_small_batch")
    assert summary["state"] == "SUCCEEDED"
    assert summary["counts"]["SUCCEEDED"] == 4
    if deferrable:
        assert took < 90, f"the trigger did not wake on the completion message ({took:.0f} s)"


@pytest.fixture
def partitioned_table(engine_conn: Any) -> Iterator[str]:
    name = f"OTASK_IT_HTAB_{secrets.token_hex(3).upper()}"
    with engine_conn.cursor() as cursor:
        # The name is generated above, never caller input; DDL cannot take binds.
        cursor.execute(
            f"create table {name} (id number, part_key number, ncol varchar2(10)) "
            "partition by range (part_key) (partition p1 values less than (10), "
            "partition p2 values less than (20), partition p3 values less than (maxvalue))"
        )
        cursor.execute(f"create index {name}_ix on {name} (ncol) local")
        cursor.execute(
            f"insert into {name} select level, mod(level, 30), null from dual connect by level <= 300"
        )
    engine_conn.commit()
    yield name
    with engine_conn.cursor() as cursor:
        cursor.execute(f"drop table {name} purge")


def test_partition_update_updates_every_partition_then_rebuilds(
    bag: Any, oracle_default: None, engine_conn: Any, partitioned_table: str
) -> None:
    dag = bag.dags["oracle_tasks_partition_update"]
    conf = {"table": partitioned_table, "column": "NCOL", "value": "XNA", "daytime_threads": 3}
    run = dag.test(run_conf=conf)
    assert str(run.state) == "success"
    summary = instance_of(run, "wait_for_update")
    assert summary["state"] == "SUCCEEDED"
    assert summary["counts"]["SUCCEEDED"] == 6  # 3 updates, then 3 rebuilds
    with engine_conn.cursor() as cursor:
        cursor.execute(f"select count(*) from {partitioned_table} where ncol = 'XNA'")
        assert cursor.fetchone()[0] == 300
        cursor.execute(
            "select count(*) from user_ind_partitions where index_name = :ix and status <> 'USABLE'",
            ix=f"{partitioned_table}_IX",
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "select min(t.group_no), max(t.group_no) from otask_tasks_v t where t.instance_id = :i",
            i=summary["instance_id"],
        )
        assert cursor.fetchone() == (1, 2)


@pytest.fixture
def mviews(engine_conn: Any) -> Iterator[list[str]]:
    import oracledb

    suffix = secrets.token_hex(3).upper()
    names = [f"OTASK_IT_MV{i}_{suffix}" for i in (1, 2)]
    base = f"OTASK_IT_MVBASE_{suffix}"
    with engine_conn.cursor() as cursor:
        cursor.execute(f"create table {base} (id number primary key, v number)")
        cursor.execute(f"insert into {base} select level, level from dual connect by level <= 10")
        engine_conn.commit()
        try:
            for name in names:
                cursor.execute(f"create materialized view {name} as select count(*) c, sum(v) s from {base}")
        except oracledb.DatabaseError as error:
            cursor.execute(f"drop table {base} purge")
            if "ORA-01031" in str(error):
                pytest.skip("needs CREATE MATERIALIZED VIEW: GRANT CREATE MATERIALIZED VIEW TO <owner>")
            raise
    yield names
    with engine_conn.cursor() as cursor:
        for name in names:
            cursor.execute(f"drop materialized view {name}")
        cursor.execute(f"drop table {base} purge")


def test_mview_refresh_refreshes_every_mview_from_the_definition(
    bag: Any, oracle_default: None, engine_conn: Any, mviews: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    dag = bag.dags["oracle_tasks_mview_refresh"]
    monkeypatch.setattr(dag.get_task("wait_for_refresh"), "poke_interval", 2.0)
    run = dag.test()
    assert str(run.state) == "success"
    summary = instance_of(run, "wait_for_refresh")
    assert summary["state"] == "SUCCEEDED"
    with engine_conn.cursor() as cursor:
        cursor.execute(
            "select count(*) from otask_tasks_v where instance_id = :i and state = 'SUCCEEDED'",
            i=summary["instance_id"],
        )
        assert cursor.fetchone()[0] >= len(mviews)  # every MV of the schema, ours included
        cursor.execute(
            "select count(*) from otask_task_defs where taskspace = :ts and name = :name",
            ts="MVIEW_REFRESH",
            name="REFRESH_MVIEW",
        )
        assert cursor.fetchone()[0] == 1
    assert str(dag.test().state) == "success"  # the definition step is idempotent
