"""partition_update.py written with common.sql operators: same tasks, calls and dependencies."""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta
from typing import Any

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.common.sql.sensors.sql import SqlSensor
from airflow.sdk import DAG, Param, task

CONN_ID = "oracle_default"
PARTITIONS_SQL = (
    "select partition_name from user_tab_partitions where table_name = :table_name "
    "order by partition_position"
)
CREATE_SQL = """
declare
  l_id number;
begin
  l_id := otask.create_instance(p_taskspace => 'PARTITION_UPDATE', p_run_key => :run_key);
  :instance_id := l_id;
  if otask.add_tasks(l_id, :tasks) > 0 then commit; end if;
end;"""

with DAG(
    dag_id="common_sql_partition_update",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["benchmark"],
    params={
        "table": Param("HTAB", type="string"),
        "column": Param("NCOL", type="string"),
        "value": Param("XNA", type="string"),
        "daytime_threads": Param(3, type="integer", minimum=0, maximum=1000),
    },
) as dag:

    @task
    def partition_tasks(params: dict[str, Any] | None = None) -> str:
        import json

        from airflow.providers.oracle.hooks.oracle import OracleHook

        assert params is not None
        hook = OracleHook(oracle_conn_id=CONN_ID)
        with closing(hook.get_conn()) as connection, connection.cursor() as cursor:
            cursor.execute(PARTITIONS_SQL, {"table_name": params["table"]})
            names = [row[0] for row in cursor.fetchall()]
        table, column = params["table"], params["column"]
        value = params["value"]
        updates = [
            {"sql": f"update {table} partition ({n}) set {column} = :v", "group": 1, "binds": {"v": value}}
            for n in names
        ]
        rebuilds = [
            {"sql": f"alter table {table} modify partition {n} rebuild unusable local indexes", "group": 2}
            for n in names
        ]
        return json.dumps(updates + rebuilds)

    create = SQLExecuteQueryOperator(
        task_id="create_instance",
        conn_id=CONN_ID,
        sql=CREATE_SQL,
        parameters={"run_key": "{{ run_id }}", "tasks": "{{ ti.xcom_pull('partition_tasks') }}"},
    )
    start = SQLExecuteQueryOperator(
        task_id="start_jobs",
        conn_id=CONN_ID,
        sql="begin otask.start_jobs(p_instance_id => :i, p_threads => 10); end;",
        parameters={"i": "{{ ti.xcom_pull('create_instance') }}"},
    )
    throttle = SQLExecuteQueryOperator(
        task_id="throttle",
        conn_id=CONN_ID,
        sql="begin otask.set_threads(p_instance_id => :i, p_threads => :t); end;",
        parameters={"i": "{{ ti.xcom_pull('create_instance') }}", "t": "{{ params.daytime_threads }}"},
    )
    wait = SqlSensor(
        task_id="wait_for_update",
        conn_id=CONN_ID,
        sql="select 1 from otask_instances_v where instance_id = :i and state in ('SUCCEEDED')",
        parameters={"i": "{{ ti.xcom_pull('create_instance') }}"},
        poke_interval=30,
        timeout=timedelta(hours=12),
        mode="reschedule",
    )

    partition_tasks() >> create >> start >> [throttle, wait]
