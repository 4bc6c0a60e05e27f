"""The trigger that waits for an engine instance to finish, for the Run operator and the sensor.

The trigger does no database work of its own: it subscribes to the connection id's shared
:class:`~airflow_provider_oracle_tasks.triggers._instance_watcher.InstanceWatcher` (one status
poller and one completion listener for every trigger of that id in the triggerer process) and
turns the readings of its instance into exactly one :class:`TriggerEvent`:

* ``{"status": "finished", "instance": InstanceStatus.to_dict()}`` - SUCCEEDED, FAILED, STOPPED,
  or MISSING (the instance does not exist: a clear failure for the task, never an endless wait);
* ``{"status": "timeout", "instance": <last status or None>, "message": ...}`` - ``timeout_at``
  (epoch seconds) passed; the task decides what a timeout means;
* ``{"status": "error", "instance_id": ..., "message": ...}`` - a non-transient database error,
  message with its ORA/DPY code. Transient errors are retried by the watcher and only logged.

``run()`` never blocks the loop and has no side effect, so the triggerer may run it twice or
restart it elsewhere. ``on_kill()`` (Airflow 3.3: a user marked/cleared the deferred task) stops
the instance when ``on_kill_mode`` is set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.db.async_connection import oracle_async_connection
from airflow_provider_oracle_tasks.db.transient import retry_async
from airflow_provider_oracle_tasks.engine.errors import from_db_error
from airflow_provider_oracle_tasks.engine.status import InstanceStatus
from airflow_provider_oracle_tasks.triggers._instance_watcher import ReadProblem, shared_watchers
from airflow_provider_oracle_tasks.waiting.progress import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PROGRESS_LOG_INTERVAL,
    ProgressLog,
    timeout_message,
)


async def stop_instance_async(conn_id: str, instance_id: int, mode: str) -> None:
    """``OTASK.STOP`` through the shared pool (idempotent: stopping a finished instance changes nothing)."""
    ident = validation.instance_id(instance_id, "instance_id")
    stop_mode = validation.stop_mode(mode, "on_kill_mode")

    async def once() -> None:
        async with oracle_async_connection(conn_id) as connection:
            with connection.cursor() as cursor:
                await cursor.callproc(
                    "otask.stop", keyword_parameters={"p_instance_id": ident, "p_mode": stop_mode}
                )

    try:
        await retry_async(once, what=f"otask.stop({ident})")
    except Exception as exc:
        mapped = from_db_error(exc)
        if mapped is not None:
            raise mapped from exc
        raise


class OracleTaskManagerInstanceTrigger(BaseTrigger):
    """Fire once when engine instance ``instance_id`` has finished (or the wait times out).

    :param instance_id: the instance to wait for.
    :param oracle_conn_id: Airflow ``oracle`` connection (thin mode); all triggers of one id share
        one status poller and one completion listener per triggerer process.
    :param poll_interval: seconds between status reads; a completion message wakes it earlier.
    :param timeout_at: epoch seconds after which a ``timeout`` event fires (None: no limit).
    :param on_kill_mode: ``SOFT`` or ``HARD`` to stop the instance when a user kills the deferred
        task; None leaves it running (a sensor waiting on somebody else's instance).
    :param progress_log_interval: seconds between progress lines in the task log.
    """

    def __init__(
        self,
        instance_id: int,
        oracle_conn_id: str = "oracle_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout_at: float | None = None,
        on_kill_mode: str | None = None,
        progress_log_interval: float = DEFAULT_PROGRESS_LOG_INTERVAL,
    ) -> None:
        super().__init__()
        self.instance_id = validation.instance_id(instance_id, "instance_id")
        self.oracle_conn_id = oracle_conn_id
        self.poll_interval = float(poll_interval)
        self.timeout_at = None if timeout_at is None else float(timeout_at)
        self.on_kill_mode = (
            None if on_kill_mode is None else validation.stop_mode(on_kill_mode, "on_kill_mode")
        )
        self.progress_log_interval = float(progress_log_interval)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "instance_id": self.instance_id,
                "oracle_conn_id": self.oracle_conn_id,
                "poll_interval": self.poll_interval,
                "timeout_at": self.timeout_at,
                "on_kill_mode": self.on_kill_mode,
                "progress_log_interval": self.progress_log_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        progress = ProgressLog(self.log, self.progress_log_interval)
        last: InstanceStatus | None = None
        async with shared_watchers.watch(self.oracle_conn_id, self.instance_id, self.poll_interval) as sub:
            while True:
                try:
                    reading = await sub.next_before(self.timeout_at)
                except TimeoutError:
                    yield TriggerEvent(self._timeout_event(last))
                    return
                if isinstance(reading, ReadProblem):
                    if reading.transient:
                        progress.problem(reading.message)
                        continue
                    self.log.error("Status read of instance %s failed: %s", self.instance_id, reading.message)
                    yield TriggerEvent(
                        {"status": "error", "instance_id": self.instance_id, "message": reading.message}
                    )
                    return
                last = reading
                progress.update(reading)
                if reading.is_finished:
                    yield TriggerEvent({"status": "finished", "instance": reading.to_dict()})
                    return

    def _timeout_event(self, last: InstanceStatus | None) -> dict[str, Any]:
        return {
            "status": "timeout",
            "instance_id": self.instance_id,
            "instance": None if last is None else last.to_dict(),
            "message": timeout_message(self.instance_id, "before the task's timeout", last),
        }

    async def on_kill(self) -> None:
        """A user killed the deferred task: stop the instance if this trigger owns that decision."""
        if self.on_kill_mode is None:
            return
        await stop_instance_async(self.oracle_conn_id, self.instance_id, self.on_kill_mode)
        self.log.info("Deferred task killed: stopped instance %s (%s)", self.instance_id, self.on_kill_mode)
