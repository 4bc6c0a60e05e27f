from __future__ import annotations

import pytest

from tests.unit.engine_fakes import patch_connect
from tests.unit.fakes import FakeConnection


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated sqlite metadata DB (in the temp AIRFLOW_HOME set by tests/conftest.py)."""
    from airflow.utils.db import upgradedb

    upgradedb()


@pytest.fixture
def fake_oracle(monkeypatch: pytest.MonkeyPatch) -> FakeConnection:
    """``oracle_default`` exists, and every ``oracledb.connect`` returns this one fake connection."""
    connection = FakeConnection()
    connection.connect_calls = patch_connect(monkeypatch, connection)  # type: ignore[attr-defined]
    return connection
