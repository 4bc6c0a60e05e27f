"""What a task that waits for an instance needs on the worker: one retried status read, the
trigger event turned back into a status, and the stop on Airflow's deferral timeout.

The hook and the engine's status module import python-oracledb, so they are imported where they
are used (DAG files import the operators and sensors that use this module).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import TaskDeferralTimeout

from airflow_provider_oracle_tasks.hooks import task_manager_hook

if TYPE_CHECKING:
    from airflow_provider_oracle_tasks.engine.status import InstanceStatus
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook


def instance_status(data: Mapping[str, Any]) -> InstanceStatus:
    """An InstanceStatus from a trigger event's ``to_dict()``."""
    from airflow_provider_oracle_tasks.engine.status import InstanceStatus

    return InstanceStatus.from_dict(data)


def duration(value: float) -> str:
    """``4 min 05 s`` (status.format_duration, imported on first use)."""
    from airflow_provider_oracle_tasks.engine.status import format_duration

    return format_duration(value)


def read_status(hook: OracleTaskManagerHook, instance_id: int, logger: Any) -> InstanceStatus:
    """One status read from a worker, transient errors retried with backoff."""
    from airflow_provider_oracle_tasks.db.transient import retry

    what = f"status of instance {instance_id}"
    return retry(lambda: hook.instance_status(instance_id), log=logger, what=what)


def can_defer(hook: OracleTaskManagerHook, poke_interval: float, logger: Any) -> bool:
    """False (with a warning) for a thick-mode connection: the triggerer can only use thin mode.

    Deferring anyway would start the batch and then fail every deferral while it runs on
    unobserved; polling in the worker works in both modes.
    """
    if not hook.uses_thick_mode():
        return True
    logger.warning(
        "Connection '%s' uses thick mode, and the triggerer's asyncio connections need thin mode: "
        "this task waits in the worker instead of deferring, reading the status every %s s. "
        "Use a thin-mode connection for deferrable tasks (see docs/operators/waiting.md).",
        hook.get_conn_id(),
        f"{poke_interval:g}",
    )
    return False


class StopsOnDeferralTimeout(BaseOperator):
    """Mixin: stop the awaited instance when Airflow's trigger timeout fails the deferred task.

    On that timeout the scheduler resumes the task with ``__fail__`` and Airflow raises
    ``TaskDeferralTimeout`` without calling ``on_kill``; this hook in ``resume_execution`` is
    the only place a worker sees it. Placed before BaseOperator in the MRO, so a sensor's own
    conversion to ``AirflowSensorTimeout`` (and soft_fail) still applies afterwards.
    """

    on_kill_mode: str | None
    oracle_conn_id: str

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout as exc:
            self.stop_for_timeout(self.awaited_instance(context))
            self.deferral_timed_out(exc)
            raise

    def awaited_instance(self, context: Context) -> int | None:
        """The instance this task waits for; every subclass (Run operator, sensor) overrides it.

        Not an abc.abstractmethod: BaseOperator's metaclass does not combine with ABCMeta.
        """
        raise NotImplementedError(f"{type(self).__name__} must say which instance it awaits")

    def deferral_timed_out(self, exc: TaskDeferralTimeout) -> None:
        """Raise the task's own timeout outcome; the default keeps Airflow's exception."""

    def stop_for_timeout(self, instance_id: int | None) -> None:
        """Stop the instance on a timeout; a failed stop is logged, never raised.

        Timeouts fire when the database is in trouble, so the stop may fail. Raising its error
        would replace the timeout outcome (fail without retry, or skip under ``soft_fail``) by
        a retryable error, and each retry would wait a whole new ``timeout`` on the same
        instance. Transient errors are retried first.
        """
        if instance_id is None or self.on_kill_mode is None:
            return
        from airflow_provider_oracle_tasks.db.transient import describe_db_error, retry

        mode = self.on_kill_mode
        logger: Any = self.log  # structlog's BoundLogger has the warning() that retry() calls
        try:
            retry(
                lambda: task_manager_hook(self.oracle_conn_id).stop(instance_id, mode),
                log=logger,
                what=f"stop of instance {instance_id}",
            )
        except Exception as error:
            self.log.warning(
                "Timed out, and stopping instance %s (%s) failed: %s. The instance may still run: "
                "stop it with `oracle-tasks stop %s` (or OTASK.STOP) once the database answers.",
                instance_id,
                mode,
                describe_db_error(error, self.oracle_conn_id),
                instance_id,
            )
            return
        self.log.warning("Timed out: stopped instance %s (%s)", instance_id, mode)
