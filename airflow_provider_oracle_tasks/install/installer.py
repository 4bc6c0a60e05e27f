"""Install, upgrade, check and uninstall the in-database engine with the scripts in ``sql/``.

One place for these rules, used by the install operator, the CLI and the integration tests:
the scripts decide (privileges, versions, idempotency); Python runs them, reads the results and
maps the engine's ORA-2000x codes to the provider's exception types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_oracle_tasks.errors import (
    MissingPrivilegesError,
    OracleTasksError,
    SchemaVersionError,
    WrongSchemaError,
)
from airflow_provider_oracle_tasks.install.script_runner import (
    ScriptError,
    Statement,
    parse_script,
    plsql_unit,
    run_script,
    script_defines,
    sql_root,
    stored_source,
)
from airflow_provider_oracle_tasks.validation import oracle_identifier

INSTALL_SCRIPT = "install.sql"
UNINSTALL_SCRIPT = "uninstall.sql"
PREFLIGHT_SCRIPT = "preflight.sql"
GRANTS_SCRIPT = "grants.sql"
VERSION_DEFINE = "otask_schema_version"

# ORA codes raised by sql/preflight.sql and sql/core/otask_install (documented in docs/install.md).
_ERROR_TYPES: dict[str, type[OracleTasksError]] = {
    "ORA-20001": MissingPrivilegesError,
    "ORA-20002": SchemaVersionError,
    "ORA-20005": WrongSchemaError,
}

Log = Callable[[str], None]


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found; ``problems`` is empty when install can proceed."""

    schema: str
    installed_version: int
    scripts_version: int
    problems: tuple[str, ...]
    error_code: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_failed(self) -> None:
        """Raise the provider exception that matches the preflight's ORA code."""
        if self.problems:
            raise error_for(self.error_code, "\n".join(self.problems))


def scripts_version() -> int:
    """Schema version of the scripts shipped with this package (DEFINE in install.sql)."""
    defines = script_defines(sql_root() / INSTALL_SCRIPT)
    return int(defines[VERSION_DEFINE])


def current_schema(connection: Any) -> str:
    """Schema the connection creates objects in."""
    with connection.cursor() as cursor:
        cursor.execute("select sys_context('USERENV', 'CURRENT_SCHEMA') from dual")
        return str(cursor.fetchone()[0])


def installed_version(connection: Any) -> int:
    """Installed schema version, 0 when the engine is not installed in this schema."""
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from user_tables where table_name = 'OTASK_VERSION'")
        if cursor.fetchone()[0] == 0:
            return 0
        cursor.execute("select nvl(max(version), 0) from otask_version")
        return int(cursor.fetchone()[0])


def check_expected_schema(connection: Any, expected_schema: str | None) -> str:
    """Refuse to go on when the connection points at another schema than the DAG expects."""
    schema = current_schema(connection)
    if expected_schema and schema.upper() != expected_schema.upper():
        raise WrongSchemaError(
            f"connection installs into schema {schema}, but expected_schema is {expected_schema.upper()}: "
            "fix the Airflow connection's login or the expected_schema argument."
        )
    return schema


def error_for(ora_code: str | None, message: str) -> OracleTasksError:
    """The provider exception for an engine ORA code (OracleTasksError for any other)."""
    return _ERROR_TYPES.get(ora_code or "", OracleTasksError)(message)


def _translate(error: ScriptError) -> OracleTasksError:
    return error_for(error.ora_code, str(error))


def check(connection: Any, *, log: Log | None = None) -> CheckResult:
    """Run the read-only preflight: privileges and versions. Changes nothing."""
    version = scripts_version()
    schema = current_schema(connection)
    try:
        run_script(connection, sql_root() / PREFLIGHT_SCRIPT, defines={VERSION_DEFINE: str(version)}, log=log)
    except ScriptError as error:
        return CheckResult(schema, installed_version(connection), version, (error.message,), error.ora_code)
    return CheckResult(schema, installed_version(connection), version, ())


class EngineBusyError(OracleTasksError):
    """A changed PL/SQL unit would be replaced while worker jobs execute the engine (E-3)."""


USER_SOURCE_SQL = """\
select text
  from user_source
 where type = :unit_type and name = :unit_name
 order by line"""

# Worker jobs the scheduler runs now: each one is inside a call to OTASK_WORKER for its whole
# life, so it holds a library-cache pin on the engine packages. The registry gives the instance.
RUNNING_WORKERS_SQL = """\
select r.job_name, w.instance_id
  from user_scheduler_running_jobs r
  left join otask_workers w on w.job_name = r.job_name
 where r.job_name like 'OTASK\\_W%' escape '\\'
 order by w.instance_id, r.job_name"""

ENGINE_TABLE_SQL = "select count(*) from user_tables where table_name = 'OTASK_WORKERS'"

# Units no worker executes: replacing them never waits for a worker.
_INSTALL_ONLY = frozenset({"OTASK_INSTALL"})


def _same_source(shipped: str, stored: str) -> bool:
    """Exact comparison; only whitespace at the very end may differ (clients strip it)."""
    return shipped == stored or shipped.rstrip() == stored.rstrip()


def unchanged_units(connection: Any, statements: list[Statement]) -> set[tuple[str, str]]:
    """(type, name) of the PL/SQL units whose USER_SOURCE text equals the shipped text exactly.

    Oracle recompiles a unit on CREATE OR REPLACE unless the source and the session's PLSQL_*
    settings match the last compile, and a recompile of a package that workers execute waits
    on its library-cache pin (ORA-04021 after ~15 min) while every new call queues behind it.
    Not sending unchanged units at all makes a re-install independent of both.
    """
    same: set[tuple[str, str]] = set()
    with connection.cursor() as cursor:
        for statement in statements:
            unit = plsql_unit(statement.text)
            shipped = stored_source(statement.text)
            if unit is None or shipped is None or unit.owner is not None:
                continue
            cursor.execute(USER_SOURCE_SQL, {"unit_type": unit.type, "unit_name": unit.name})
            lines = [row[0] or "" for row in cursor.fetchall()]
            if lines and _same_source(shipped, "".join(lines)):
                same.add((unit.type, unit.name))
    return same


def running_workers(connection: Any) -> list[tuple[str, int | None]]:
    """(job name, instance id) of every engine worker job the scheduler runs now."""
    with connection.cursor() as cursor:
        cursor.execute(ENGINE_TABLE_SQL)
        row = cursor.fetchone()
        if not row or not row[0]:
            return []
        cursor.execute(RUNNING_WORKERS_SQL)
        return [
            (str(name), None if instance is None else int(instance)) for name, instance in cursor.fetchall()
        ]


def _busy_message(changed: list[str], workers: list[tuple[str, int | None]]) -> str:
    instances = sorted({instance for _, instance in workers if instance is not None})
    jobs = ", ".join(name for name, _ in workers[:20]) + (" ..." if len(workers) > 20 else "")
    return (
        f"install would replace {len(changed)} changed PL/SQL unit(s) ({', '.join(changed[:8])}"
        f"{' ...' if len(changed) > 8 else ''}) while {len(workers)} worker job(s) run them "
        f"(instances {', '.join(map(str, instances)) or 'unknown'}; jobs {jobs}). Replacing a "
        "package that a worker executes waits for the worker to finish (ORA-04021 after about "
        "15 minutes) and blocks every new call into it meanwhile. Either wait until those "
        "instances finish, or stop them (OTASK.STOP / oracle-tasks stop), then install again; "
        "or, as a DBA who accepts that wait, install with force (oracle-tasks install --force)."
    )


def install(connection: Any, *, dry_run: bool = False, log: Log | None = None, force: bool = False) -> int:
    """Install or upgrade the engine; returns the installed schema version (scripts' on dry run).

    PL/SQL units whose stored source is already identical are not sent again. When a changed
    unit would be replaced while worker jobs run, :class:`EngineBusyError` names them and
    nothing is changed, unless ``force`` (the DDL then waits for the workers, see above).
    """
    path = sql_root() / INSTALL_SCRIPT
    if dry_run:
        try:
            run_script(connection, path, dry_run=True, log=log)
        except ScriptError as error:
            raise _translate(error) from error
        return scripts_version()
    try:
        statements = [item for item in parse_script(path) if isinstance(item, Statement)]
    except ScriptError as error:
        raise _translate(error) from error
    same = unchanged_units(connection, statements)
    changed = [
        f"{unit.type} {unit.name}"
        for unit in (plsql_unit(s.text) for s in statements)
        if unit is not None and (unit.type, unit.name) not in same and unit.name not in _INSTALL_ONLY
    ]
    if changed and not force:
        workers = running_workers(connection)
        if workers:
            raise EngineBusyError(_busy_message(changed, workers))

    def skip(statement: Statement) -> bool:
        unit = plsql_unit(statement.text)
        return unit is not None and (unit.type, unit.name) in same

    try:
        run_script(connection, path, log=log, skip=skip)
    except ScriptError as error:
        raise _translate(error) from error
    return installed_version(connection)


def uninstall(connection: Any, *, dry_run: bool = False, log: Log | None = None) -> None:
    """Drop every product object (OTASK, OTASK_*) from the connection's schema."""
    try:
        run_script(connection, sql_root() / UNINSTALL_SCRIPT, dry_run=dry_run, log=log)
    except ScriptError as error:
        raise _translate(error) from error


def grant(connection: Any, owner: str, *, log: Log | None = None) -> None:
    """Run sql/grants.sql as a DBA for ``owner``, a simple Oracle name checked here first.

    The define is pasted into the script's text (SQL*Plus substitution) before DBMS_ASSERT sees
    it, on a DBA connection: any caller's value is checked here, before any SQL is sent.
    """
    checked = str(oracle_identifier(owner, "owner"))
    try:
        run_script(connection, sql_root() / GRANTS_SCRIPT, defines={"otask_owner": checked}, log=log)
    except ScriptError as error:
        raise _translate(error) from error
