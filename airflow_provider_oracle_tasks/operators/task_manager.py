"""Operators for the in-database task engine."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook
from airflow_provider_oracle_tasks.validation import flag, oracle_identifier


class OracleTaskManagerInstallOperator(BaseOperator):
    """Install, upgrade or uninstall the oracle-tasks engine in the connection's schema.

    Runs the same ``sql/install.sql`` a DBA can run with SQL*Plus. Install is idempotent, so
    the task can sit at the start of every DAG run; it checks privileges first and lists every
    missing GRANT without changing anything. Returns (XCom) the installed schema version, 0
    after an uninstall.

    :param oracle_conn_id: Airflow ``oracle`` connection of the schema owner.
    :param expected_schema: refuse to run when the connection's schema is another one, a guard
        against installing into the wrong schema through a shared connection.
    :param uninstall: drop every engine object (OTASK, OTASK_*) instead of installing.
    :param dry_run: only log the statements that would run; needs no database.
    """

    template_fields: Sequence[str] = ("expected_schema",)
    ui_color = "#f4d6c6"

    def __init__(
        self,
        *,
        oracle_conn_id: str = "oracle_default",
        expected_schema: str | None = None,
        uninstall: bool = False,
        dry_run: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.oracle_conn_id = oracle_conn_id
        self.expected_schema = expected_schema
        self.uninstall = flag(uninstall, "uninstall")
        # Not self.dry_run: BaseOperator already has a dry_run() method.
        self.dry_run_only = flag(dry_run, "dry_run")
        if not isinstance(expected_schema, str) or "{{" not in expected_schema:
            oracle_identifier(expected_schema, "expected_schema", optional=True)

    def execute(self, context: Context) -> int:
        expected = oracle_identifier(self.expected_schema, "expected_schema", optional=True)
        hook = OracleTaskManagerHook(oracle_conn_id=self.oracle_conn_id)
        if self.uninstall:
            hook.uninstall_engine(expected_schema=expected, dry_run=self.dry_run_only)
            self.log.info("oracle-tasks engine removed%s", " (dry run)" if self.dry_run_only else "")
            return 0
        version = hook.install_engine(expected_schema=expected, dry_run=self.dry_run_only)
        self.log.info(
            "oracle-tasks schema version %s %s", version, "(dry run)" if self.dry_run_only else "installed"
        )
        return version
