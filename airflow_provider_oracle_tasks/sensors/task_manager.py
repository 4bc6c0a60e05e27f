"""Wait for an engine instance that another task created and started."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, Context, PokeReturnValue, conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.hooks import task_manager_hook
from airflow_provider_oracle_tasks.links import INSTANCE_ID_XCOM, OracleTaskManagerInstanceLink
from airflow_provider_oracle_tasks.waiting.arguments import (
    check_now,
    poll_interval,
    rendered_int,
    seconds,
    stop_mode_or_none,
    wait_failed,
)
from airflow_provider_oracle_tasks.waiting.deferral import (
    StopsOnDeferralTimeout,
    can_defer,
    instance_status,
    read_status,
)
from airflow_provider_oracle_tasks.waiting.progress import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PROGRESS_LOG_INTERVAL,
    DEFER_TIMEOUT_MARGIN,
    ProgressLog,
)

if TYPE_CHECKING:
    from airflow_provider_oracle_tasks.engine.status import InstanceStatus
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook


class OracleTaskManagerInstanceSensor(BaseSensorOperator, StopsOnDeferralTimeout):
    """Wait until instance ``instance_id`` finishes; returns (XCom) its summary.

    SUCCEEDED succeeds. FAILED or STOPPED fails the task (no retry: the instance stays failed
    until somebody retries it) with the failed tasks' names, ORA codes and first error lines,
    or returns the summary when ``fail_on_task_error=False``. A MISSING instance always fails.
    With ``soft_fail`` the task is skipped instead of failing, as for any Airflow sensor.

    ``deferrable`` (default ``[operators] default_deferrable``): one status read, then the wait
    moves to the triggerer (no worker slot); ``timeout`` is passed to ``defer`` and to the
    trigger. Otherwise the usual ``poke``/``reschedule`` modes apply, with ``poke_interval``.

    :param instance_id: the instance (templated, or an XComArg such as ``create.output``).
    :param on_kill_mode: None (default) leaves the instance running when this sensor is killed
        or times out - clearing a sensor to wait again must not stop somebody else's batch;
        'soft' or 'hard' stops it then.
    :param progress_log_interval: seconds between progress lines while something changes.
    """

    template_fields: Sequence[str] = ("instance_id", "oracle_conn_id")
    operator_extra_links = (OracleTaskManagerInstanceLink(),)
    ui_color = "#c6e2ec"

    def __init__(
        self,
        *,
        instance_id: Any,
        oracle_conn_id: str = "oracle_default",
        fail_on_task_error: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        on_kill_mode: str | None = None,
        poke_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        progress_log_interval: float = DEFAULT_PROGRESS_LOG_INTERVAL,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.instance_id = instance_id
        self.oracle_conn_id = oracle_conn_id
        self.fail_on_task_error = validation.flag(fail_on_task_error, "fail_on_task_error")
        self.deferrable = validation.flag(deferrable, "deferrable")
        self.on_kill_mode = stop_mode_or_none(on_kill_mode, "on_kill_mode")
        self.progress_log_interval = seconds(progress_log_interval, "progress_log_interval")
        poll_interval(self.poke_interval, "poke_interval")
        check_now(instance_id, "instance_id", validation.instance_id)
        self._progress: ProgressLog | None = None
        self._waiting = False

    def _instance(self) -> int:
        return int(rendered_int(self.instance_id, "instance_id", validation.instance_id))

    def _hook(self) -> OracleTaskManagerHook:
        return task_manager_hook(self.oracle_conn_id)

    def execute(self, context: Context) -> Any:
        if "ti" in context:  # the extra link reads it
            context["ti"].xcom_push(key=INSTANCE_ID_XCOM, value=self._instance())
        if not (self.deferrable and can_defer(self._hook(), self.poke_interval, self.log)):
            try:
                return super().execute(context)
            except (AirflowSensorTimeout, AirflowSkipException):
                if self._waiting:  # the last poke saw it unfinished: this is the timeout
                    self.stop_for_timeout(self._instance())
                raise
        try:
            done = self.poke(context)
        except (AirflowFailException, AirflowSensorTimeout) as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping: {exc}") from exc
            raise
        if done:
            return done.xcom_value if isinstance(done, PokeReturnValue) else None
        from airflow_provider_oracle_tasks.triggers.task_manager import OracleTaskManagerInstanceTrigger

        self.defer(
            trigger=OracleTaskManagerInstanceTrigger(
                instance_id=self._instance(),
                oracle_conn_id=self.oracle_conn_id,
                poll_interval=self.poke_interval,
                timeout_at=time.time() + self.timeout,
                on_kill_mode=self.on_kill_mode,
                progress_log_interval=self.progress_log_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + DEFER_TIMEOUT_MARGIN),
        )

    def poke(self, context: Context) -> PokeReturnValue | bool:
        current = read_status(self._hook(), self._instance(), self.log)
        if self._progress is None:
            self._progress = ProgressLog(self.log, self.progress_log_interval)
        self._progress.update(current)
        self._waiting = not current.is_finished
        if self._waiting:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._outcome(current))

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        kind = event.get("status")
        if kind == "finished":
            return self._outcome(instance_status(event["instance"]))
        if kind == "timeout":
            self.stop_for_timeout(int(event["instance_id"]))
            raise AirflowSensorTimeout(str(event.get("message")))
        raise AirflowException(wait_failed(event))

    def _outcome(self, current: InstanceStatus) -> dict[str, Any]:
        summary = current.to_dict()
        if current.succeeded:
            return summary
        message = current.failure_message()
        if current.state == "MISSING" or self.fail_on_task_error:
            raise AirflowFailException(message)
        self.log.warning("%s\n(fail_on_task_error=False: returning the summary)", message)
        return summary

    def awaited_instance(self, context: Context) -> int | None:
        return self._instance()

    def on_kill(self) -> None:
        """Killed while poking in a worker: stop the instance only when ``on_kill_mode`` says so."""
        if self.on_kill_mode is None:
            return
        instance = self._instance()
        self._hook().stop(instance, self.on_kill_mode)
        self.log.warning("Sensor killed: stopped instance %s (%s)", instance, self.on_kill_mode)
