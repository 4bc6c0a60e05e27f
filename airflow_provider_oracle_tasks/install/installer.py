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
    run_script,
    script_defines,
    sql_root,
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


def install(connection: Any, *, dry_run: bool = False, log: Log | None = None) -> int:
    """Install or upgrade the engine; returns the installed schema version (scripts' on dry run)."""
    try:
        run_script(connection, sql_root() / INSTALL_SCRIPT, dry_run=dry_run, log=log)
    except ScriptError as error:
        raise _translate(error) from error
    return scripts_version() if dry_run else installed_version(connection)


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
