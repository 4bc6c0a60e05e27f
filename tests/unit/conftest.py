from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import oracledb
import pytest

from tests.unit.fakes import FakeConnection


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated sqlite metadata DB (in the temp AIRFLOW_HOME set by tests/conftest.py)."""
    from airflow.utils.db import upgradedb

    upgradedb()


@pytest.fixture
def fake_oracle(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeConnection]:
    """``oracle_default`` exists, and every ``oracledb.connect`` returns this one fake connection."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORACLE_DEFAULT",
        json.dumps(
            {
                "conn_type": "oracle",
                "login": "APP",
                "password": "secret-pw",
                "extra": {"dsn": "db-host:1521/FREEPDB1"},
            }
        ),
    )
    connection = FakeConnection()
    calls: list[dict[str, Any]] = []

    def connect(**kwargs: Any) -> FakeConnection:
        calls.append(kwargs)
        return connection

    monkeypatch.setattr(oracledb, "connect", connect)
    connection.connect_calls = calls  # type: ignore[attr-defined]
    return connection
