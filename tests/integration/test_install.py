"""Install, re-install, upgrade, uninstall and privilege checks on throwaway schemas (real Oracle)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from airflow_provider_oracle_tasks.cli import main as cli
from airflow_provider_oracle_tasks.errors import MissingPrivilegesError, SchemaVersionError
from airflow_provider_oracle_tasks.install import installer

from .conftest import DSN


def _objects(connection: Any) -> list[tuple[str, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "select object_name, object_type, status from user_objects "
            "where object_name not like 'SYS\\_%' escape '\\' order by 1, 2"
        )
        return [tuple(row) for row in cursor.fetchall()]


def _snapshot(connection: Any) -> dict[str, Any]:
    """Everything a second install must leave as it was: no DDL on an existing object (views and
    packages included: a CREATE OR REPLACE VIEW is DDL even with the same text), the same
    source, no new grant, no new version."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select object_name, object_type, to_char(last_ddl_time, 'YYYY-MM-DD HH24:MI:SS') "
            "from user_objects where object_type in ('TABLE', 'INDEX', 'SEQUENCE', 'TYPE', 'QUEUE', "
            "'VIEW', 'PACKAGE', 'PACKAGE BODY') "
            "order by 1, 2"
        )
        ddl_times = cursor.fetchall()
        cursor.execute("select name, type, line, text from user_source order by 1, 2, 3")
        sources = cursor.fetchall()
        cursor.execute("select version, description, installed_at from otask_version order by version")
        versions = cursor.fetchall()
        cursor.execute("select grantee, table_name, privilege from user_tab_privs_made order by 1, 2, 3")
        grants = cursor.fetchall()
    return {
        "objects": _objects(connection),
        "ddl": ddl_times,
        "source": sources,
        "versions": versions,
        "grants": grants,
    }


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
    kinds = {(name, object_type) for name, object_type, _ in objects}
    # The engine log: table OTASK_LOG, written by package OTASK_LOGGER (one namespace: a package
    # named like the table could not be created).
    assert {("OTASK_LOG", "TABLE"), ("OTASK_LOGGER", "PACKAGE BODY"), ("OTASK", "PACKAGE BODY")} <= kinds
    assert {(v, "VIEW") for v in ("OTASK_INSTANCES_V", "OTASK_TASKS_V", "OTASK_WORKERS_V")} <= kinds
    with connection.cursor() as cursor:
        cursor.execute("select installed_by from otask_version")
        assert cursor.fetchall() == [(user,)]


def test_install_twice_changes_nothing(fresh_schema: Any, schema_connect: Any) -> None:
    user, password = fresh_schema()
    connection = schema_connect(user, password)
    installer.install(connection)
    before = _snapshot(connection)
    assert {"OTASK_INSTANCES_V", "OTASK_TASKS_V", "OTASK_WORKERS_V"} <= {
        name for name, object_type, _ in before["ddl"] if object_type == "VIEW"
    }
    assert ("OTASK_USER_ROLE", "OTASK", "EXECUTE") in before["grants"]
    time.sleep(1.1)  # LAST_DDL_TIME has whole seconds: any DDL of the second run would show

    installer.install(connection)

    assert _snapshot(connection) == before


def test_changed_view_text_is_replaced_by_the_next_install(fresh_schema: Any, schema_connect: Any) -> None:
    """ensure_view runs a view's DDL again when the shipped text differs from what made it."""
    user, password = fresh_schema()
    connection = schema_connect(user, password)
    installer.install(connection)
    with connection.cursor() as cursor:  # what an older release's view text leaves behind
        cursor.execute("comment on table otask_tasks_v is 'oracle-tasks view OTASK_TASKS_V, source 1-1'")
        cursor.execute(
            "select to_char(last_ddl_time, 'YYYY-MM-DD HH24:MI:SS') from user_objects "
            "where object_name = 'OTASK_TASKS_V'"
        )
        (before,) = cursor.fetchone()
    time.sleep(1.1)

    installer.install(connection)

    with connection.cursor() as cursor:
        cursor.execute(
            "select to_char(o.last_ddl_time, 'YYYY-MM-DD HH24:MI:SS'), c.comments from user_objects o "
            "join user_tab_comments c on c.table_name = o.object_name "
            "where o.object_name = 'OTASK_TASKS_V' and o.object_type = 'VIEW'"
        )
        after, comment = cursor.fetchone()
    assert after > before
    assert comment.startswith("oracle-tasks view OTASK_TASKS_V, source ")
    assert not comment.endswith(" 1-1")
    assert [o for o in _objects(connection) if o[2] != "VALID"] == []


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


def test_uninstall_stops_running_workers_and_leaves_nothing(fresh_schema: Any, schema_connect: Any) -> None:
    """Workers in the middle of their tasks: uninstall stops every instance first (no worker may
    start a replacement while the jobs are dropped), drops the jobs, and leaves no object (a job
    started behind its back would remain in USER_OBJECTS as a JOB)."""
    user, password = fresh_schema()
    connection = schema_connect(user, password)
    installer.install(connection)
    with connection.cursor() as cursor:
        instance_id = cursor.callfunc(
            "otask.create_instance", int, keyword_parameters={"p_taskspace": "UNINSTALL", "p_retries": 3}
        )
        sleep = "begin dbms_session.sleep(30); end;"
        for _ in range(4):
            cursor.callfunc(
                "otask.add_task", int, keyword_parameters={"p_instance_id": instance_id, "p_sql": sleep}
            )
        cursor.callproc("otask.start_jobs", keyword_parameters={"p_instance_id": instance_id, "p_threads": 3})
    deadline = time.monotonic() + 60
    while True:
        with connection.cursor() as cursor:
            cursor.execute("select count(*) from otask_tasks where state = 'RUNNING'")
            (running,) = cursor.fetchone()
        if running == 3:
            break
        assert time.monotonic() < deadline, "the workers never started their tasks"
        time.sleep(0.5)

    started = time.monotonic()
    installer.uninstall(connection)

    assert time.monotonic() - started < 60
    assert _objects(connection) == []
    time.sleep(3)  # a replacement worker would be created within this (the watchdog runs every 2 s)
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from user_scheduler_jobs")
        assert cursor.fetchone() == (0,)
        cursor.execute("select count(*) from user_scheduler_running_jobs")
        assert cursor.fetchone() == (0,)
    assert _objects(connection) == []


def test_grants_give_the_role_dbms_aq(fresh_schema: Any, admin_conn: Any) -> None:
    """A role holder's sensor dequeues completion events in its own session: grants.sql gives
    OTASK_USER_ROLE EXECUTE on DBMS_AQ (install adds DEQUEUE on the queue and the payload type)."""
    fresh_schema()
    with admin_conn.cursor() as cursor:
        cursor.execute(
            "select privilege from dba_tab_privs "
            "where grantee = 'OTASK_USER_ROLE' and owner = 'SYS' and table_name = 'DBMS_AQ'"
        )
        assert cursor.fetchall() == [("EXECUTE",)]


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


def _running_workers(connection: Any) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "select job_name from user_scheduler_running_jobs "
            "where job_name like 'OTASK\\_W%' escape '\\' order by 1"
        )
        return [row[0] for row in cursor.fetchall()]


def test_reinstall_while_a_worker_runs_and_a_changed_body_is_refused(
    fresh_schema: Any, schema_connect: Any
) -> None:
    """E-3 / E-50: install sits at the start of every DAG run, also while workers run.

    An identical re-install sends no PL/SQL unit (so nothing waits on the worker's library-cache
    pin); a changed unit is refused while a worker runs, naming the instance; force replaces it.
    """
    user, password = fresh_schema()
    connection = schema_connect(user, password)
    installer.install(connection)
    with connection.cursor() as cursor:
        instance_id = int(
            cursor.callfunc("otask.create_instance", int, keyword_parameters={"p_taskspace": "UPG"})
        )
        cursor.callfunc(
            "otask.add_task",
            int,
            keyword_parameters={"p_instance_id": instance_id, "p_sql": "begin dbms_session.sleep(90); end;"},
        )
        cursor.callproc("otask.start_jobs", keyword_parameters={"p_instance_id": instance_id, "p_threads": 1})
    deadline = time.monotonic() + 30
    while not _running_workers(connection):
        assert time.monotonic() < deadline, "the worker did not start within 30 s"
        time.sleep(0.5)

    started = time.monotonic()
    lines: list[str] = []
    installer.install(connection, log=lines.append)
    took = time.monotonic() - started
    assert took < 60, f"identical re-install took {took:.1f} s while a worker ran"
    assert not [line for line in lines if " plsql: create or replace package" in line]
    assert [line for line in lines if "unchanged, not replaced" in line]

    # A changed unit: OTASK_NOTIFY's body differs from the shipped one by one comment line.
    with connection.cursor() as cursor:
        cursor.execute(
            "select text from user_source where type = 'PACKAGE BODY' and name = 'OTASK_NOTIFY' order by line"
        )
        source = "".join(row[0] for row in cursor.fetchall())
        head, rest = source.split("\n", 1)
        cursor.execute("create or replace " + head + "\n  -- changed by the test\n" + rest)
    with pytest.raises(installer.EngineBusyError) as raised:
        installer.install(connection)
    message = str(raised.value)
    assert "PACKAGE BODY OTASK_NOTIFY" in message
    assert f"instances {instance_id}" in message
    assert _running_workers(connection)[0] in message
    installer.install(connection, force=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from user_source "
            "where name = 'OTASK_NOTIFY' and text like '%changed by the test%'"
        )
        assert cursor.fetchone() == (0,)
        cursor.callproc("otask.stop", keyword_parameters={"p_instance_id": instance_id, "p_mode": "HARD"})


def test_two_first_installs_at_once_both_succeed(fresh_schema: Any, schema_connect: Any) -> None:
    """E-18: two DAG runs install into the same empty schema at the same moment."""
    import threading

    user, password = fresh_schema()
    connections = [schema_connect(user, password), schema_connect(user, password)]
    errors: list[BaseException] = []

    def run(connection: Any) -> None:
        try:
            installer.install(connection)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(c,)) for c in connections]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert errors == []
    assert installer.installed_version(connections[0]) == installer.scripts_version()
    objects = _objects(connections[0])
    assert [o for o in objects if o[2] != "VALID"] == []


def test_preflight_notes_a_missing_manage_scheduler(fresh_schema: Any, schema_connect: Any) -> None:
    """E-17: grants.sql does not grant MANAGE SCHEDULER (optional): preflight says what it costs."""
    user, password = fresh_schema()
    lines: list[str] = []
    result = installer.check(schema_connect(user, password), log=lines.append)
    assert result.ok
    assert any("NOTE: without MANAGE SCHEDULER" in line for line in lines), lines
