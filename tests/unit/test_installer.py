"""installer.py runs the shipped scripts in the right order and maps engine errors (fake DB)."""

from __future__ import annotations

import pytest

from airflow_provider_oracle_tasks.errors import (
    MissingPrivilegesError,
    SchemaVersionError,
    WrongSchemaError,
)
from airflow_provider_oracle_tasks.install import installer
from airflow_provider_oracle_tasks.install.script_runner import parse_script, sql_root
from tests.unit.fakes import FakeConnection, db_error, installed

PREFLIGHT = r"procedure check_sys_priv"
MISSING = (
    "ORA-20001: oracle-tasks cannot install in schema APP: missing privileges. Ask a DBA to run "
    "sql/grants.sql, or these statements:\n  GRANT CREATE JOB TO APP;  -- CREATE JOB"
)


def _changes(connection: FakeConnection) -> list[str]:
    """Statements that could change something (everything but reads and DBMS_OUTPUT plumbing)."""
    return [
        s
        for s in connection.sql()
        if not s.lstrip().lower().startswith("select") and "check_sys_priv" not in s
    ]


def test_scripts_version_comes_from_install_sql() -> None:
    assert installer.scripts_version() == 1


def test_install_runs_preflight_first_then_every_script_statement() -> None:
    connection = installed(FakeConnection())
    version = installer.install(connection)

    assert version == 1
    sent = connection.sql()
    expected = [s.text for s in parse_script(sql_root() / "install.sql") if hasattr(s, "kind")]
    assert sent[: len(expected)] == expected
    assert PREFLIGHT.split()[-1] in sent[0]
    assert "create table otask_version" in sent[1]
    assert connection.commits == 1
    assert connection.rollbacks == 0


def test_missing_privileges_stop_before_any_change() -> None:
    connection = FakeConnection().on(PREFLIGHT, db_error(MISSING))

    with pytest.raises(MissingPrivilegesError, match="GRANT CREATE JOB TO APP;") as raised:
        installer.install(connection)

    assert "preflight.sql" in str(raised.value)
    assert _changes(connection) == []
    assert connection.rollbacks == 1


def test_newer_schema_is_refused() -> None:
    connection = FakeConnection().on(
        PREFLIGHT,
        db_error(
            "ORA-20002: schema APP has oracle-tasks schema version 9, newer than these scripts (version 1)."
        ),
    )
    with pytest.raises(SchemaVersionError, match="newer than these scripts"):
        installer.install(connection)
    assert _changes(connection) == []


def test_check_reports_problems_without_raising() -> None:
    connection = installed(FakeConnection(), version=0).on(PREFLIGHT, db_error(MISSING))
    result = installer.check(connection)
    assert not result.ok
    assert result.error_code == "ORA-20001"
    assert result.installed_version == 1 or result.installed_version == 0
    assert "GRANT CREATE JOB TO APP;" in result.problems[0]
    with pytest.raises(MissingPrivilegesError):
        result.raise_if_failed()


def test_check_passes_and_binds_the_scripts_version() -> None:
    connection = installed(FakeConnection())
    result = installer.check(connection)
    assert result.ok
    assert result.schema == "APP"
    assert result.scripts_version == 1
    preflight = next(s for s in connection.sql() if "check_sys_priv" in s)
    assert "c_scripts_version constant pls_integer := 1;" in preflight


def test_dry_run_needs_no_database_and_logs_every_statement() -> None:
    lines: list[str] = []
    assert installer.install(None, dry_run=True, log=lines.append) == 1
    statements = [s for s in parse_script(sql_root() / "install.sql") if hasattr(s, "kind")]
    assert len([line for line in lines if "preflight.sql" in line]) >= 1
    assert sum(1 for line in lines if " sql:" in line or " plsql:" in line) == len(statements)


def test_expected_schema_mismatch_changes_nothing() -> None:
    connection = installed(FakeConnection(), schema="OTHER")
    with pytest.raises(WrongSchemaError, match="schema OTHER, but expected_schema is APP"):
        installer.check_expected_schema(connection, "app")
    assert _changes(connection) == []


def test_uninstall_runs_the_uninstall_script() -> None:
    connection = FakeConnection()
    installer.uninstall(connection)
    (block,) = connection.sql()
    assert "dbms_aqadm.drop_queue_table" in block
    assert "cascade constraints purge" in block


def test_grants_script_gets_the_owner_as_a_define() -> None:
    connection = FakeConnection()
    installer.grant(connection, "APP_OWNER")
    (block,) = connection.sql()
    assert "upper(trim('APP_OWNER'))" in block


@pytest.mark.parametrize(
    "owner",
    [
        "X')); execute immediate 'drop user victim cascade'; --",
        "APP_OWNER\n",
        "APP OWNER",
        "app.owner",
        "",
        None,
        "A" * 129,
    ],
)
def test_grant_refuses_an_owner_that_is_no_simple_name_before_any_sql(owner: object) -> None:
    """A-9: the owner is pasted into PL/SQL run by a DBA, so grant() checks it itself."""
    connection = FakeConnection()
    with pytest.raises(ValueError, match=r"owner=.* is not a valid Oracle name"):
        installer.grant(connection, owner)  # type: ignore[arg-type]
    assert connection.executed == []
