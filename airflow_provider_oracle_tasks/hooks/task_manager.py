"""Sync hook for operators and the CLI: the ``oracle`` connection plus the engine's entry points."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import oracledb
from airflow.providers.oracle.hooks.oracle import OracleHook
from airflow.sdk.exceptions import AirflowNotFoundException

from airflow_provider_oracle_tasks.db.connection_params import build_connect_params
from airflow_provider_oracle_tasks.db.transient import describe_db_error
from airflow_provider_oracle_tasks.engine import api as engine_api
from airflow_provider_oracle_tasks.engine import status
from airflow_provider_oracle_tasks.errors import ConnectionProblem
from airflow_provider_oracle_tasks.install import installer


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
        except (oracledb.Error, OSError) as error:  # OSError: socket.gaierror is not wrapped by oracledb
            raise ConnectionProblem(
                f"cannot connect with Airflow connection '{conn_id}': {describe_db_error(error, conn_id)}"
            ) from error

    def uses_thick_mode(self) -> bool:
        """Whether this connection connects in thick mode (extra ``thick_mode`` or the hook's flag).

        The triggerer's asyncio connections need thin mode, so waiting tasks poll instead of
        deferring on such a connection (checked before anything is started).
        """
        airflow_conn = self.get_connection(self.get_conn_id())
        params = build_connect_params(airflow_conn, airflow_conn.extra_dejson, thick_mode=self.thick_mode)
        return bool(params.thick_mode)

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

    # --- engine entry points (one connection per call, closed after it) ---------------------

    def submit_batch(
        self,
        *,
        taskspace: str = "DEFAULT",
        tasks: Sequence[engine_api.TaskSpec | Mapping[str, Any] | str] = (),
        from_definitions: bool = False,
        stop_on_error: bool = True,
        retries: int = 0,
        retry_delay_seconds: int = 0,
        run_key: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        task_id: str | None = None,
    ) -> engine_api.SubmitResult:
        """Create an instance and its tasks in one commit; a repeat with the same run_key adds nothing."""
        result: engine_api.SubmitResult = self._run(
            lambda connection: engine_api.submit_batch(
                connection,
                taskspace=taskspace,
                tasks=tasks,
                from_definitions=from_definitions,
                stop_on_error=stop_on_error,
                retries=retries,
                retry_delay_seconds=retry_delay_seconds,
                run_key=run_key,
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
            )
        )
        return result

    def start_jobs(self, instance_id: int, threads: int | None = None) -> None:
        """Start the instance's workers (None = the taskspace default)."""
        self._run(lambda connection: engine_api.start_jobs(connection, instance_id, threads))

    def set_threads(self, instance_id: int, threads: int) -> None:
        """Change the target workers of a running instance (0 pauses it)."""
        self._run(lambda connection: engine_api.set_threads(connection, instance_id, threads))

    def stop(self, instance_id: int, mode: str = "SOFT") -> None:
        """Stop an instance: SOFT lets running tasks finish, HARD stops them now."""
        self._run(lambda connection: engine_api.stop(connection, instance_id, mode))

    def retry_failed(self, instance_id: int, threads: int | None = None) -> None:
        """Put failed tasks back to work and restart workers."""
        self._run(lambda connection: engine_api.retry_failed(connection, instance_id, threads))

    def purge(self, older_than_days: float) -> int:
        """Delete finished instances older than that many days; returns how many."""
        return int(self._run(lambda connection: engine_api.purge(connection, older_than_days)))

    def instance_status(self, instance_id: int) -> status.InstanceStatus:
        """Status of one instance (state MISSING when it does not exist)."""
        result: status.InstanceStatus = self._run(
            lambda connection: status.fetch_status(connection, instance_id)
        )
        return result

    def instances_status(self, instance_ids: Iterable[int]) -> dict[int, status.InstanceStatus]:
        """Status of many instances in one batched read; every requested id is a key."""
        ids = list(instance_ids)
        result: dict[int, status.InstanceStatus] = self._run(
            lambda connection: status.fetch_statuses(connection, ids)
        )
        return result

    def taskspace_status(self, taskspace: str, limit: int = 20) -> list[status.InstanceStatus]:
        """Status of the newest ``limit`` instances of a taskspace, newest first."""
        result: list[status.InstanceStatus] = self._run(
            lambda connection: status.fetch_taskspace_status(connection, taskspace, limit)
        )
        return result
