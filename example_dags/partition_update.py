"""Update a huge partitioned table partition by partition in 10 threads, then rebuild its
local indexes as a later group, throttled to 3 threads for business hours (seed 001).

The AHOY guide inserts one task per partition (``update HTAB partition (P) set NCOL = 'XNA'``),
starts 10 threads, watches the counts by state, lowers the thread count to 3 when the batch
"consumes too much and blocks other processes", and uses a later batch (BAT1) so that indexes
are rebuilt only after every partition is done. Here:

1. ``partition_tasks`` reads the table's partitions and returns the tasks: group 1 updates
   each partition (the new value is a bind, never pasted into the SQL), group 2 rebuilds each
   partition's unusable local indexes. Group 2 opens only when group 1 has nothing ready or
   running. Table, column and partition names are checked as simple Oracle names, because
   identifiers cannot be bound.
2. ``create_instance`` submits them in one commit (idempotent on the Airflow run key).
3. ``start_jobs`` starts 10 workers.
4. ``throttle`` sets the target to ``params.daytime_threads`` (3): workers above the target
   exit after their current task. In production gate it with a time sensor, or run
   ``OracleTaskManagerSetThreadsOperator`` from another DAG on a schedule (fewer threads in
   business hours, more at night).
5. ``wait_for_update`` waits (deferrable by default config) and fails listing failed tasks.

Parameters: ``table``, ``column``, ``value`` and ``daytime_threads``.
"""

from __future__ import annotations

from contextlib import closing
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_oracle_tasks.operators.task_manager import (
    OracleTaskManagerCreateInstanceOperator,
    OracleTaskManagerSetThreadsOperator,
    OracleTaskManagerStartJobsOperator,
)
from airflow_provider_oracle_tasks.sensors.task_manager import OracleTaskManagerInstanceSensor

CONN_ID = "oracle_default"
TASKSPACE = "PARTITION_UPDATE"
PARTITIONS_SQL = (
    "select partition_name from user_tab_partitions where table_name = :table_name "
    "order by partition_position"
)

with DAG(
    dag_id="oracle_tasks_partition_update",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oracle-tasks", "example"],
    doc_md=__doc__,
    params={
        "table": Param("HTAB", type="string", description="partitioned table of the connection's schema"),
        "column": Param("NCOL", type="string", description="column to set"),
        "value": Param("XNA", type="string", description="new value (bound, not pasted)"),
        "daytime_threads": Param(3, type="integer", minimum=0, maximum=1000),
    },
) as dag:

    @task
    def partition_tasks(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """One update per partition (group 1), then one index rebuild per partition (group 2)."""
        from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook
        from airflow_provider_oracle_tasks.validation import oracle_identifier

        assert params is not None  # Airflow passes the DAG run's params
        table = oracle_identifier(params["table"], "params.table")
        column = oracle_identifier(params["column"], "params.column")
        hook = OracleTaskManagerHook(oracle_conn_id=CONN_ID)
        with closing(hook.get_conn()) as connection, connection.cursor() as cursor:
            cursor.execute(PARTITIONS_SQL, {"table_name": table})
            partitions = [oracle_identifier(row[0], "partition_name") for row in cursor.fetchall()]
        if not partitions:
            raise ValueError(f"table {table} has no partitions in this schema (USER_TAB_PARTITIONS)")
        updates = [
            {
                "sql": f"update {table} partition ({name}) set {column} = :new_value",
                "name": f"update {name}",
                "group": 1,
                "binds": {"new_value": params["value"]},
            }
            for name in partitions
        ]
        rebuilds = [
            {
                "sql": f"alter table {table} modify partition {name} rebuild unusable local indexes",
                "name": f"rebuild indexes {name}",
                "group": 2,
            }
            for name in partitions
        ]
        return updates + rebuilds

    create = OracleTaskManagerCreateInstanceOperator(
        task_id="create_instance", oracle_conn_id=CONN_ID, taskspace=TASKSPACE, tasks=partition_tasks()
    )
    start = OracleTaskManagerStartJobsOperator(
        task_id="start_jobs", oracle_conn_id=CONN_ID, instance_id=create.output, threads=10
    )
    throttle = OracleTaskManagerSetThreadsOperator(
        task_id="throttle",
        oracle_conn_id=CONN_ID,
        instance_id=create.output,
        threads="{{ params.daytime_threads }}",
    )
    wait = OracleTaskManagerInstanceSensor(
        task_id="wait_for_update",
        oracle_conn_id=CONN_ID,
        instance_id=create.output,
        poke_interval=30,
        timeout=timedelta(hours=12),
    )

    start >> [throttle, wait]
