"""Quick start: install (or upgrade) the oracle-tasks engine in the schema of ``oracle_default``.

Run it without a scheduler (README, "Quick start"):

    export ORACLE_TASKS_DSN=localhost:1521/FREEPDB1 ORACLE_TASKS_USER=OTASK ORACLE_TASKS_PASSWORD=...
    python example_dags/quick_start.py

When run as a script it builds the ``oracle_default`` connection from those three variables
(unless AIRFLOW_CONN_ORACLE_DEFAULT is set already) and runs the DAG once with ``dag.test()``.
The install task is idempotent, so the DAG can run again and again.
"""

from __future__ import annotations

import json
import os
import sys

if __name__ == "__main__":
    # dag.test() looks the DAG up in the DAGs folder; Airflow reads its config on import.
    os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", os.path.dirname(os.path.abspath(__file__)))
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")

import pendulum  # noqa: E402
from airflow.sdk import DAG  # noqa: E402

from airflow_provider_oracle_tasks.operators.task_manager import (  # noqa: E402
    OracleTaskManagerInstallOperator,
)

with DAG(
    dag_id="oracle_tasks_quick_start",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    tags=["oracle-tasks", "example"],
    doc_md=__doc__,
) as dag:
    install = OracleTaskManagerInstallOperator(task_id="install_engine", oracle_conn_id="oracle_default")


def _connection_from_environment() -> None:
    if os.environ.get("AIRFLOW_CONN_ORACLE_DEFAULT"):
        return
    missing = [
        name
        for name in ("ORACLE_TASKS_DSN", "ORACLE_TASKS_USER", "ORACLE_TASKS_PASSWORD")
        if not os.environ.get(name)
    ]
    if missing:
        sys.exit(
            f"quick start: set {', '.join(missing)} (the Oracle to install into), e.g.\n"
            "  export ORACLE_TASKS_DSN=localhost:1521/FREEPDB1 ORACLE_TASKS_USER=OTASK "
            "ORACLE_TASKS_PASSWORD=...\nor set AIRFLOW_CONN_ORACLE_DEFAULT. See README.md, 'Quick start'."
        )
    os.environ["AIRFLOW_CONN_ORACLE_DEFAULT"] = json.dumps(
        {
            "conn_type": "oracle",
            "login": os.environ["ORACLE_TASKS_USER"],
            "password": os.environ["ORACLE_TASKS_PASSWORD"],
            "extra": {"dsn": os.environ["ORACLE_TASKS_DSN"]},
        }
    )


if __name__ == "__main__":
    _connection_from_environment()
    run = dag.test()
    sys.exit(0 if run is not None and str(run.state) == "success" else 1)
