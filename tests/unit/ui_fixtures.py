"""Shared set-up of the UI tests: Airflow's real auth (SimpleAuthManager JWTs), the app mounted as
the API server mounts it, and a :class:`~tests.unit.ui_fakes.FakeBatch` behind ``oracledb.connect``.

Not a conftest: test_ui_api.py and test_ui_browser.py import these fixtures explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import oracledb
import pytest

from tests.unit.ui_fakes import FakeBatch

JWT_SECRET = "oracle-tasks-ui-tests-" + "x" * 64


@dataclass
class Auth:
    manager: Any

    def token(self, role: str | None) -> str:
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

        return str(self.manager.generate_jwt(SimpleAuthManagerUser(username=f"{role}-user", role=role)))

    def header(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}"}


@pytest.fixture
def auth(airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Auth]:
    """Airflow's SimpleAuthManager (the default) with a test JWT secret: real tokens, real checks."""
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    from airflow.api_fastapi import app as airflow_app

    airflow_app.purge_cached_app()
    manager = airflow_app.create_auth_manager()
    manager.init()
    yield Auth(manager)
    airflow_app.purge_cached_app()


@dataclass
class Database:
    """The fake batch and what reached the driver."""

    batch: FakeBatch
    connection: Any
    connects: list[dict[str, Any]]

    def statements(self) -> list[str]:
        return [executed.sql for executed in self.connection.executed]


@pytest.fixture
def database(monkeypatch: pytest.MonkeyPatch) -> Database:
    """``oracle_default`` (type oracle) and ``http_api`` (type http) exist; connect gives the batch."""
    batch = FakeBatch.sample()
    connection = batch.connection()
    connects: list[dict[str, Any]] = []
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORACLE_DEFAULT",
        json.dumps(
            {"conn_type": "oracle", "login": "APP", "password": "pw", "extra": {"dsn": "db:1521/FREEPDB1"}}
        ),
    )
    monkeypatch.setenv("AIRFLOW_CONN_HTTP_API", json.dumps({"conn_type": "http", "host": "example.invalid"}))

    def connect(**kwargs: Any) -> Any:
        connects.append(kwargs)
        return connection

    monkeypatch.setattr(oracledb, "connect", connect)
    return Database(batch, connection, connects)


def mounted_app(**options: Any) -> Any:
    """The plugin's app under /oracle-tasks of a root app, as Airflow's API server mounts it."""
    from fastapi import FastAPI

    from airflow_provider_oracle_tasks.ui.app import create_app
    from airflow_provider_oracle_tasks.ui.plugin import URL_PREFIX

    root = FastAPI()
    root.mount(URL_PREFIX, create_app(**options))
    return root
