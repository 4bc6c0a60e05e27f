"""The trigger that waits for a Scheduler chain job to end, stall or vanish.

It does no database work of its own while waiting: it subscribes its job to the connection id's
shared :class:`~airflow_provider_oracle_tasks.triggers._chain_watcher.ChainJobWatcher` (one batched
read per interval for every chain job of that id in the triggerer process) and feeds the readings
to a :class:`~airflow_provider_oracle_tasks.chains.status.ChainTracker`. It fires exactly once:

* ``{"status": "finished", "run": ChainRun.to_dict()}`` - the run's ``state`` is SUCCEEDED,
  FAILED, STOPPED, STALLED or MISSING; the task decides what each means;
* ``{"status": "timeout", "run": <last run or None>, "message": ...}`` - ``timeout_at`` passed;
* ``{"status": "error", "job_name": ..., "message": ...}`` - a non-transient database error,
  with its ORA/DPY code. Transient errors are retried by the watcher and only logged.

``run()`` never blocks the event loop and changes nothing in the database, so the triggerer may
run it twice or move it. ``on_kill()`` (a user marked or cleared the deferred task) stops the
chain job when ``stop_on_kill`` is set - the operator sets it for the job it started, the sensor
does not, because the job belongs to somebody else.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_oracle_tasks.chains.defaults import DEFAULT_POLL_INTERVAL
from airflow_provider_oracle_tasks.chains.jobs import stop_job_async
from airflow_provider_oracle_tasks.chains.status import (
    DEFAULT_MISSING_GRACE,
    DEFAULT_STALL_GRACE,
    ChainRun,
    ChainTracker,
    JobQuery,
)
from airflow_provider_oracle_tasks.db.async_connection import oracle_async_connection
from airflow_provider_oracle_tasks.db.transient import retry_async
from airflow_provider_oracle_tasks.triggers._chain_watcher import ReadProblem, shared_chain_watchers

HEARTBEAT_SECONDS = 600.0
"""An unchanged running chain is still logged this often, so a quiet task log is not a dead one."""


def progress_line(run: ChainRun) -> str:
    """``chain job OTASK_CH_..._1 (chain PAYROLL) RUNNING: WAIT=SUCCEEDED, VALIDATE=RUNNING``."""
    states = run.step_states()
    return (
        f"{run.headline()}" + (f": {states}" if states else "") + (f" - {run.message}" if run.message else "")
    )


class OracleSchedulerChainTrigger(BaseTrigger):
    """Fire once when chain job ``job_name`` has ended, stalled or cannot be found.

    :param job_name: the chain job (``RUN_CHAIN``'s job, or any job that runs a chain).
    :param oracle_conn_id: Airflow ``oracle`` connection (thin mode); all chain triggers of one id
        share one poller per triggerer process.
    :param poll_interval: seconds between reads.
    :param timeout_at: epoch seconds after which a ``timeout`` event fires (None: no limit).
    :param expected_steps: step names to list as NOT_STARTED until they run.
    :param since: epoch seconds; runs of the job that started earlier are ignored.
    :param stall_grace: seconds without any active step before a running chain counts as stalled
        even if Oracle has not said CHAIN_STALLED (None: trust Oracle only).
    :param missing_grace: seconds the job may be invisible before MISSING (None: wait for it).
    :param stop_on_kill: STOP_JOB the chain job when a user kills the deferred task.
    :param force_stop: stop with ``force => TRUE`` (needs MANAGE SCHEDULER).
    """

    def __init__(
        self,
        job_name: str,
        oracle_conn_id: str = "oracle_default",
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout_at: float | None = None,
        expected_steps: Sequence[str] = (),
        since: float | None = None,
        stall_grace: float | None = DEFAULT_STALL_GRACE,
        missing_grace: float | None = DEFAULT_MISSING_GRACE,
        stop_on_kill: bool = False,
        force_stop: bool = False,
    ) -> None:
        super().__init__()
        self.job_name = str(job_name)
        self.oracle_conn_id = oracle_conn_id
        self.poll_interval = float(poll_interval)
        self.timeout_at = None if timeout_at is None else float(timeout_at)
        self.expected_steps = [str(step) for step in expected_steps]
        self.since = None if since is None else float(since)
        self.stall_grace = None if stall_grace is None else float(stall_grace)
        self.missing_grace = None if missing_grace is None else float(missing_grace)
        self.stop_on_kill = bool(stop_on_kill)
        self.force_stop = bool(force_stop)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_name": self.job_name,
                "oracle_conn_id": self.oracle_conn_id,
                "poll_interval": self.poll_interval,
                "timeout_at": self.timeout_at,
                "expected_steps": list(self.expected_steps),
                "since": self.since,
                "stall_grace": self.stall_grace,
                "missing_grace": self.missing_grace,
                "stop_on_kill": self.stop_on_kill,
                "force_stop": self.force_stop,
            },
        )

    def tracker(self) -> ChainTracker:
        return ChainTracker(
            self.job_name,
            expected_steps=tuple(self.expected_steps),
            since=self.since,
            stall_grace=self.stall_grace,
            missing_grace=self.missing_grace,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        tracker = self.tracker()
        last: ChainRun | None = None
        logged: tuple[str, float] | None = None
        query = JobQuery(self.job_name, self.since)
        async with shared_chain_watchers.watch(self.oracle_conn_id, query, self.poll_interval) as sub:
            while True:
                try:
                    reading = await sub.next_before(self.timeout_at)
                except TimeoutError:
                    yield TriggerEvent(self._timeout_event(last))
                    return
                if isinstance(reading, ReadProblem):
                    if reading.transient:
                        self.log.warning("Chain job read failed, retrying (transient): %s", reading.message)
                        continue
                    self.log.error("Chain job read of %s failed: %s", self.job_name, reading.message)
                    yield TriggerEvent(
                        {"status": "error", "job_name": self.job_name, "message": reading.message}
                    )
                    return
                last = tracker.update(reading)
                logged = self._log_progress(last, logged)
                if last.finished:
                    yield TriggerEvent({"status": "finished", "run": last.to_dict()})
                    return

    def _log_progress(self, run: ChainRun, logged: tuple[str, float] | None) -> tuple[str, float]:
        line = progress_line(run)
        now = time.monotonic()
        if logged is None or logged[0] != line or now - logged[1] >= HEARTBEAT_SECONDS:
            self.log.info("%s", line)
            return line, now
        return logged

    def _timeout_event(self, last: ChainRun | None) -> dict[str, Any]:
        where = progress_line(last) if last is not None else "no reading yet"
        return {
            "status": "timeout",
            "job_name": self.job_name,
            "run": None if last is None else last.to_dict(),
            "message": f"chain job {self.job_name} did not end before the task's timeout ({where})",
        }

    async def on_kill(self) -> None:
        """A user killed the deferred task: stop the chain job if this task started it."""
        if not self.stop_on_kill:
            return

        async def once() -> bool:
            async with oracle_async_connection(self.oracle_conn_id) as connection:
                return await stop_job_async(connection, self.job_name, force=self.force_stop)

        stopped = await retry_async(once, what=f"STOP_JOB {self.job_name}")
        self.log.info(
            "%s chain job %s because its deferred task was killed",
            "Stopped" if stopped else "Nothing to stop:",
            self.job_name,
        )
