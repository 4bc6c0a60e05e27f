"""Test-wide Airflow settings, applied before Airflow is imported (it reads its config once).

Unit tests run real Airflow 3 against a throwaway sqlite metadata DB in a temp AIRFLOW_HOME,
with the example DAGs as the DAGs folder, so ``dag.test()`` runs them end to end.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = tempfile.mkdtemp(prefix="oracle-tasks-airflow-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "example_dags")
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ.pop("AIRFLOW_CONN_ORACLE_DEFAULT", None)
