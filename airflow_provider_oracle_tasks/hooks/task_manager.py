"""Sync hook for operators and the CLI: the ``oracle`` connection plus the engine's entry points."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import oracledb
from airflow.providers.oracle.hooks.oracle import OracleHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_oracle_tasks import installer
from airflow_provider_oracle_tasks.errors import ConnectionProblem
from airflow_provider_oracle_tasks.hooks.connection_params import build_connect_params
from airflow_provider_oracle_tasks.hooks.transient import describe_db_error


class OracleTaskManagerHook(OracleHook):
    """OracleHook that knows the oracle-tasks engine.

    It reuses the ``oracle`` connection type (``oracle_default``) of
    apache-airflow-providers-oracle and registers none of its own, so users keep the
    connections they have. Connection failures become :class:`ConnectionProblem` with the cause
    and the fix in the message, raised before anything is changed.
    """

    hook_name = "Oracle Tasks"

    def get_conn(self) -> oracledb.Connection:
        """Connect with the same connection mapping the async triggers use (connection_params).

        Thick mode (connection extra ``thick_mode``) is left to OracleHook, which loads the
        Oracle Client libraries; thin mode goes through :func:`build_connect_params`.
        """
        conn_id = self.get_conn_id()
        try:
            airflow_conn = self.get_connection(conn_id)
            params = build_connect_params(airflow_conn, airflow_conn.extra_dejson, thick_mode=self.thick_mode)
            if params.thick_mode:
                return super().get_conn()
            connection = oracledb.connect(**params.connect_kwargs)
            params.apply_session_settings(connection)
            return connection
        except AirflowNotFoundException as error:
            raise ConnectionProblem(
                f"Airflow connection '{conn_id}' does not exist: create it (conn type 'oracle', e.g. "
                f"`airflow connections add {conn_id} --conn-uri oracle://user:password@host:1521/SERVICE`"
                f" or the env var AIRFLOW_CONN_{conn_id.upper()}), or pass the right oracle_conn_id."
            ) from error
        except oracledb.Error as error:
            raise ConnectionProblem(
                f"cannot connect with Airflow connection '{conn_id}': {describe_db_error(error, conn_id)}"
            ) from error

    def _run(self, action: Callable[[Any], Any]) -> Any:
        connection = self.get_conn()
        try:
            return action(connection)
        finally:
            connection.close()

    def install_engine(self, *, expected_schema: str | None = None, dry_run: bool = False) -> int:
        """Install or upgrade the engine; returns the installed schema version."""
        if dry_run:
            return installer.install(None, dry_run=True, log=self.log.info)

        def action(connection: Any) -> int:
            installer.check_expected_schema(connection, expected_schema)
            return installer.install(connection, log=self.log.info)

        return int(self._run(action))

    def uninstall_engine(self, *, expected_schema: str | None = None, dry_run: bool = False) -> None:
        """Drop the engine's objects from the connection's schema."""
        if dry_run:
            installer.uninstall(None, dry_run=True, log=self.log.info)
            return

        def action(connection: Any) -> None:
            installer.check_expected_schema(connection, expected_schema)
            installer.uninstall(connection, log=self.log.info)

        self._run(action)

    def check_engine(self) -> installer.CheckResult:
        """Privileges and versions, read-only."""
        result: installer.CheckResult = self._run(lambda c: installer.check(c, log=self.log.info))
        return result

    def engine_version(self) -> int:
        """Installed schema version (0 when not installed)."""
        return int(self._run(installer.installed_version))
