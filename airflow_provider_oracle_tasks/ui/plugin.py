"""The ``airflow.plugins`` entry point: mounts the UI app in the API server at ``/oracle-tasks``.

Airflow's plugins manager imports this module wherever it loads plugins, and the module imports
FastAPI and the app: that is why it is reached only through the entry point, and why nothing
else in the package imports ``ui``.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from airflow_provider_oracle_tasks.ui.app import app

URL_PREFIX = "/oracle-tasks"


class OracleTasksUIPlugin(AirflowPlugin):
    """Live batch, taskspace and chain pages; the task's extra links open them (links.py)."""

    name = "oracle_tasks_ui"
    fastapi_apps: list[Any] = [  # noqa: RUF012 - AirflowPlugin's own shape
        {"app": app, "url_prefix": URL_PREFIX, "name": "oracle-tasks"}
    ]
    # A tab on every DAG's page: the DAG's newest batches (conn_id oracle_default unless the
    # page is given another); each row opens the live batch page.
    external_views: list[Any] = [  # noqa: RUF012 - AirflowPlugin's own shape
        {
            "name": "Oracle batches",
            "href": URL_PREFIX + "/dags/{DAG_ID}/instances",
            "destination": "dag",
            "url_route": "oracle-tasks-batches",
        }
    ]
