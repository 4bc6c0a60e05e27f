"""Install, re-install, upgrade, uninstall and privilege checks on throwaway schemas (real Oracle)."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_oracle_tasks import cli, installer
from airflow_provider_oracle_tasks.errors import MissingPrivilegesError, SchemaVersionError

from .conftest import DSN


def _objects(connection: Any) -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "select object_name, object_type, status from user_objects "
            "where object_name not like 'SYS\\_%' escape '\\' order by 1, 2"
        )
        return [tuple(row) for row in cursor.fetchall()]


def _snapshot(connection: Any) -> dict[str, Any]:
    """Everything a second install must leave as it was."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select object_name, object_type, to_char(last_ddl_time, 'YYYY-MM-DD HH24:MI:SS') "
            "from user_objects where object_type in ('TABLE', 'INDEX', 'SEQUENCE', 'TYPE', 'QUEUE') "
            "order by 1, 2"
        )
        ddl_times = cursor.fetchall()
        cursor.execute("select name, type, line, text from user_source order by 1, 2, 3")
        sources = cursor.fetchall()
        cursor.execute("select version, description, installed_at from otask_version order by version")
        versions = cursor.fetchall()
    return {"objects": _objects(connection), "ddl": ddl_times, "source": sources, "versions": versions}


def test_install_on_empty_schema(fresh_schema: Any, schema_connect: Any) -> None:
    user, password = fresh_schema()
    connection = schema_connect(user, password)
    assert _objects(connection) == []

    version = installer.install(connection)

    assert version == installer.scripts_version()
    objects = _objects(connection)
    names = {name for name, _, _ in objects}
    assert {"OTASK_VERSION", "OTASK_INSTALL"} <= names
    assert [o for o in objects if o[2] != "VALID"] == []
    with connection.cursor() as cursor:
        cursor.execute("select installed_by from otask_version")
        assert cursor.fetchall() == [(user,)]


def test_install_twice_changes_nothing(fresh_schema: Any, schema_connect: Any) -> None:
    user, password = fresh_schema()
    connection = schema_connect(user, password)
    installer.install(connection)
    before = _snapshot(connection)

    installer.install(connection)

    assert _snapshot(connection) == before


def test_older_schema_upgrades_in_place(fresh_schema: Any, schema_connect: Any) -> None:
    user, password = fresh_schema()
    connection = schema_connect(user, password)
    installer.install(connection)
    objects = _objects(connection)
    with connection.cursor() as cursor:  # pretend an older release installed this schema
        cursor.execute("delete from otask_version")
    connection.commit()
    assert installer.installed_version(connection) == 0

    assert installer.install(connection) == installer.scripts_version()
    assert _objects(connection) == objects


def test_newer_installed_schema_is_refused_without_changes(fresh_schema: Any, schema_connect: Any) -> None:
    user, password = fresh_schema()
    connection = schema_connect(user, password)
    installer.install(connection)
    newer = installer.scripts_version() + 1
    with connection.cursor() as cursor:
        cursor.execute("insert into otask_version (version, description) values (:v, 'future')", v=newer)
    connection.commit()
    before = _snapshot(connection)

    with pytest.raises(SchemaVersionError, match=rf"ORA-20002.*version {newer}, newer than these scripts"):
        installer.install(connection)

    assert _snapshot(connection) == before


def test_missing_create_job_is_named_and_nothing_changes(fresh_schema: Any, schema_connect: Any) -> None:
    user, password = fresh_schema(revoke=("CREATE JOB",))
    connection = schema_connect(user, password)

    result = installer.check(connection)
    assert not result.ok
    assert result.error_code == "ORA-20001"
    assert f"GRANT CREATE JOB TO {user};" in result.problems[0]
    assert "CREATE TABLE" not in result.problems[0]  # only what is really missing is listed

    with pytest.raises(MissingPrivilegesError, match=f"GRANT CREATE JOB TO {user}"):
        installer.install(connection)
    assert _objects(connection) == []


def test_uninstall_leaves_nothing_behind(fresh_schema: Any, schema_connect: Any) -> None:
    user, password = fresh_schema()
    connection = schema_connect(user, password)
    installer.install(connection)
    assert _objects(connection) != []

    installer.uninstall(connection)

    assert _objects(connection) == []
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from user_scheduler_jobs")
        assert cursor.fetchone() == (0,)
        cursor.execute("select count(*) from user_queue_tables")
        assert cursor.fetchone() == (0,)
        cursor.execute("select count(*) from user_recyclebin")
        assert cursor.fetchone() == (0,)


def test_uninstall_on_a_schema_without_the_engine_changes_nothing(
    fresh_schema: Any, schema_connect: Any
) -> None:
    user, password = fresh_schema()
    connection = schema_connect(user, password)
    installer.uninstall(connection)
    assert _objects(connection) == []


def test_cli_check_and_wrong_password(
    fresh_schema: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    user, password = fresh_schema()
    assert DSN
    monkeypatch.setenv(cli.PASSWORD_ENV, password)
    assert cli.main(["check", "--dsn", DSN, "--user", user]) == cli.EXIT_OK
    assert "check passed" in capsys.readouterr().out

    monkeypatch.setenv(cli.PASSWORD_ENV, password + "x")
    assert cli.main(["check", "--dsn", DSN, "--user", user]) == cli.EXIT_CONNECT
    assert "ORA-01017" in capsys.readouterr().err
