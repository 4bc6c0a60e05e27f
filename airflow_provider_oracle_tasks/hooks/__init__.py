"""Airflow hooks: the sync :class:`~.task_manager.OracleTaskManagerHook` (the ``oracle``
connection type of apache-airflow-providers-oracle, reused).

Public face: DAG authors import ``hooks.task_manager``. May import the domains (``engine``,
``install``, ``chains``, ``aq``) and the shared modules (``db``, ``errors``, ``validation``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook


def task_manager_hook(conn_id: str) -> OracleTaskManagerHook:
    """The sync hook, imported on first use: DAG files import the operators while they are parsed,
    and the hook imports python-oracledb (~0.1 s; benchmarks/dag_parse_time.py)."""
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

    return OracleTaskManagerHook(oracle_conn_id=conn_id)
