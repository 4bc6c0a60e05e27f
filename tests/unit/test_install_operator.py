"""OracleTaskManagerInstallOperator in real Airflow 3, against a fake at the oracledb boundary."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oracle_tasks.errors import ConnectionProblem, MissingPrivilegesError, WrongSchemaError
from airflow_provider_oracle_tasks.operators.task_manager import OracleTaskManagerInstallOperator
from tests.unit.fakes import FakeConnection, db_error, installed


def make(**kwargs: Any) -> OracleTaskManagerInstallOperator:
    return OracleTaskManagerInstallOperator(task_id="install", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"uninstall": "yes"}, TypeError, "uninstall='yes' must be True or False"),
        ({"dry_run": 1}, TypeError, "dry_run=1 must be True or False"),
        ({"expected_schema": "app owner"}, ValueError, "expected_schema='app owner' is not a valid Oracle"),
        ({"expected_schma": "APP"}, TypeError, "expected_schma"),
    ],
)
def test_bad_arguments_fail_when_the_dag_is_parsed(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        make(**kwargs)


def test_templated_expected_schema_is_checked_at_run_time() -> None:
    operator = make(expected_schema="{{ var.value.owner }}")
    assert operator.expected_schema == "{{ var.value.owner }}"
    assert "expected_schema" in operator.template_fields


def test_install_returns_the_version_and_closes_the_connection(fake_oracle: FakeConnection) -> None:
    installed(fake_oracle)
    assert make(expected_schema="app").execute(context={}) == 1  # type: ignore[arg-type]
    assert fake_oracle.closed
    assert fake_oracle.connect_calls == [  # type: ignore[attr-defined]
        {"user": "APP", "password": "secret-pw", "dsn": "db-host:1521/FREEPDB1"}
    ]


def test_wrong_schema_is_refused_before_any_statement(fake_oracle: FakeConnection) -> None:
    installed(fake_oracle, schema="OTHER")
    with pytest.raises(WrongSchemaError, match="installs into schema OTHER, but expected_schema is APP"):
        make(expected_schema="APP").execute(context={})  # type: ignore[arg-type]
    assert len(fake_oracle.sql()) == 1


def test_missing_privileges_fail_with_the_grants(fake_oracle: FakeConnection) -> None:
    installed(fake_oracle).on("check_sys_priv", db_error("ORA-20001: missing ... GRANT CREATE JOB TO APP;"))
    with pytest.raises(MissingPrivilegesError, match="GRANT CREATE JOB TO APP;"):
        make().execute(context={})  # type: ignore[arg-type]


def test_unknown_connection_id_names_the_fix() -> None:
    with pytest.raises(ConnectionProblem, match="Airflow connection 'nope' does not exist"):
        make(oracle_conn_id="nope").execute(context={})  # type: ignore[arg-type]


def test_wrong_password_names_the_cause(fake_oracle: FakeConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    import oracledb

    def refuse(**kwargs: Any) -> None:
        raise db_error("ORA-01017: invalid username/password; logon denied")

    monkeypatch.setattr(oracledb, "connect", refuse)
    with pytest.raises(ConnectionProblem, match=r"ORA-01017.*oracle_default"):
        make().execute(context={})  # type: ignore[arg-type]


def test_dry_run_needs_no_connection() -> None:
    assert make(dry_run=True, oracle_conn_id="nope").execute(context={}) == 1  # type: ignore[arg-type]


def test_uninstall_returns_zero(fake_oracle: FakeConnection) -> None:
    installed(fake_oracle)
    assert make(uninstall=True).execute(context={}) == 0  # type: ignore[arg-type]
    assert any("drop_queue_table" in sql for sql in fake_oracle.sql())


# The quick-start DAG (install, then a small batch) runs end to end in tests/unit/test_example_dags.py.
