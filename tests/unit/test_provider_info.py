"""The provider registers with Airflow, cheaply, and brings no connection type of its own."""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys

import airflow_provider_oracle_tasks
from airflow_provider_oracle_tasks import get_provider_info


def test_provider_info_lists_importable_modules_and_docs() -> None:
    info = get_provider_info()
    assert info["package-name"] == "airflow-provider-oracle-tasks"
    assert info["versions"] == [airflow_provider_oracle_tasks.__version__]
    assert info["project-urls"]["Documentation"].startswith("https://")
    assert "connection-types" not in info  # reuses the 'oracle' connection type
    modules = [
        m
        for kind in ("hooks", "operators", "sensors", "triggers")
        for e in info[kind]
        for m in e["python-modules"]
    ]
    assert "airflow_provider_oracle_tasks.hooks.task_manager" in modules
    for module in modules:
        importlib.import_module(module)


def test_entry_point_is_registered() -> None:
    entry_points = importlib.metadata.entry_points(group="apache_airflow_provider")
    targets = {e.value for e in entry_points}
    assert "airflow_provider_oracle_tasks:get_provider_info" in targets


def test_import_is_cheap() -> None:
    """Airflow imports every provider's package while discovering providers."""
    code = (
        "import sys, time; t = time.perf_counter(); import airflow_provider_oracle_tasks as p; "
        "p.get_provider_info(); elapsed = time.perf_counter() - t; "
        "heavy = [m for m in ('oracledb', 'airflow') if m in sys.modules]; print(elapsed, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    elapsed, heavy = out.split(" ", 1)
    assert heavy.strip() == "[]"
    assert float(elapsed) < 0.2


def test_hook_reuses_the_oracle_connection_type() -> None:
    from airflow.providers.oracle.hooks.oracle import OracleHook

    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

    assert issubclass(OracleTaskManagerHook, OracleHook)
    assert OracleTaskManagerHook.conn_type == "oracle"
    assert OracleTaskManagerHook.default_conn_name == "oracle_default"
