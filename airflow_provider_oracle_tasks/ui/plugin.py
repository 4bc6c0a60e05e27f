"""The ``airflow.plugins`` entry point: mounts the UI app in the API server at ``/oracle-tasks``.

Airflow loads entry-point plugins in every process that integrates plugins - the API server, but
also each task process (for macros). So this module stays cheap: the FastAPI app (FastAPI, the
hook, Airflow's API security module) is imported only when something reads ``fastapi_apps``,
which the API server does when it mounts the plugins. Nothing else in the package imports ``ui``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, SupportsIndex

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/oracle-tasks"
NAME = "oracle-tasks"


class _AppOnFirstUse(list[Any]):
    """``[{"app": app, "url_prefix": ..., "name": ...}]``, the app imported when first read."""

    def _load(self) -> None:
        if not list.__len__(self):
            from airflow_provider_oracle_tasks.ui.app import app

            list.append(self, {"app": app, "url_prefix": URL_PREFIX, "name": NAME})

    def __iter__(self) -> Iterator[Any]:
        self._load()
        return list.__iter__(self)

    def __len__(self) -> int:
        self._load()
        return list.__len__(self)

    def __getitem__(self, index: SupportsIndex | slice) -> Any:
        self._load()
        return list.__getitem__(self, index)

    def __repr__(self) -> str:
        self._load()
        return list.__repr__(self)


class OracleTasksUIPlugin(AirflowPlugin):
    """Live batch, taskspace and chain pages; the task's extra links open them (links.py)."""

    name = "oracle_tasks_ui"
    fastapi_apps: list[Any] = _AppOnFirstUse()
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
