"""Wait for a chain job that something else started: a scheduled job, a DBA, another DAG."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import Context
from airflow.sdk.bases.sensor import BaseSensorOperator, PokeReturnValue
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
)

from airflow_provider_oracle_tasks.chains.conditions import step_name
from airflow_provider_oracle_tasks.chains.defaults import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_STALL_GRACE,
    stall_grace_seconds,
)
from airflow_provider_oracle_tasks.validation import flag

if TYPE_CHECKING:
    from airflow_provider_oracle_tasks.chains.status import ChainRun, ChainTracker

# oracledb, the hook, the status SQL and the trigger are imported where they are used, so that
# parsing a DAG file with this sensor stays cheap (review S-5).


def epoch_seconds(value: Any) -> float | None:
    """``started_after`` as epoch seconds: a datetime, an ISO-8601 text (rendered template) or a number."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"started_after={value!r} must be a datetime, ISO-8601 text or epoch seconds")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(
                f"started_after={value!r} is not ISO-8601, e.g. 2025-03-01T00:00:00+00:00"
            ) from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"started_after={value!r} needs a time zone (e.g. +00:00)")
        return value.timestamp()
    raise ValueError(f"started_after={value!r} must be a datetime, ISO-8601 text or epoch seconds")


class OracleSchedulerChainSensor(BaseSensorOperator):
    """Wait until chain job ``job_name`` ends; returns (XCom) ``ChainRun.to_dict()``.

    A job that runs repeatedly (e.g. the seed's ``CHN_START_PAYROLL_PROCESSING``) is waited for
    until a run that started at or after ``started_after`` has ended; while it is scheduled but has
    not run yet, the sensor keeps waiting. SUCCEEDED succeeds; FAILED or STOPPED fails the task
    unless ``fail_on_failure=False``; a stalled chain always fails it, with the step states - the
    sensor never stops the job (it is not its job). ``soft_fail`` skips instead of failing.

    ``deferrable`` (default ``[operators] default_deferrable``): one read, then the wait moves to
    the triggerer; otherwise ``poke``/``reschedule`` as for any sensor.

    :param job_name: the chain job's name (in the connection user's schema); templated.
    :param started_after: ignore runs that started earlier (datetime, ISO-8601 text such as
        ``"{{ data_interval_start }}"``, or epoch seconds); templated. None: the latest run.
    :param fail_on_failure: False returns the result of a FAILED/STOPPED run instead of failing.
    :param stall_grace: seconds with no step active before a running chain counts as stalled
        even without CHAIN_STALLED from Oracle (None: trust Oracle only).
    """

    template_fields: Sequence[str] = ("job_name", "started_after")
    ui_color = "#d6d6f4"

    def __init__(
        self,
        *,
        job_name: str,
        oracle_conn_id: str = "oracle_default",
        started_after: Any = None,
        fail_on_failure: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        stall_grace: float | None = DEFAULT_STALL_GRACE,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.job_name = job_name
        self.started_after = started_after
        if "{{" not in str(job_name):
            step_name(job_name, "job_name")
        if not (isinstance(started_after, str) and "{{" in started_after):
            epoch_seconds(started_after)
        self.oracle_conn_id = oracle_conn_id
        self.fail_on_failure = flag(fail_on_failure, "fail_on_failure")
        self.deferrable = flag(deferrable, "deferrable")
        self.stall_grace = stall_grace_seconds(stall_grace, float(self.poke_interval))
        self._tracker: ChainTracker | None = None

    def _job(self) -> str:
        return step_name(self.job_name, "job_name")

    def tracker(self) -> ChainTracker:
        from airflow_provider_oracle_tasks.chains.status import ChainTracker

        if self._tracker is None:
            self._tracker = ChainTracker(
                self._job(),
                since=epoch_seconds(self.started_after),
                stall_grace=self.stall_grace,
                missing_grace=None,
            )
        return self._tracker

    def poke(self, context: Context) -> PokeReturnValue | bool:
        from airflow_provider_oracle_tasks.chains.status import JobQuery, read_jobs
        from airflow_provider_oracle_tasks.db.transient import retry
        from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook
        from airflow_provider_oracle_tasks.triggers.chain import progress_line

        tracker = self.tracker()

        def once() -> ChainRun:
            connection = OracleTaskManagerHook(oracle_conn_id=self.oracle_conn_id).get_conn()
            try:
                reading = read_jobs(connection, [JobQuery(tracker.job_name, tracker.since)])[tracker.job_name]
            finally:
                connection.close()
            return tracker.update(reading)

        logger: Any = self.log
        run = retry(once, log=logger, what=f"status read of chain job {tracker.job_name}")
        self.log.info("%s", progress_line(run))
        if not run.finished:
            return False
        return PokeReturnValue(is_done=True, xcom_value=self._outcome(run))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        try:
            done = self.poke(context)
        except AirflowFailException as exc:
            if self.soft_fail or self.never_fail:
                raise AirflowSkipException(f"Skipping: {exc}") from exc
            raise
        if done:
            return done.xcom_value if isinstance(done, PokeReturnValue) else None
        from airflow_provider_oracle_tasks.triggers.chain import OracleSchedulerChainTrigger

        tracker = self.tracker()
        self.defer(
            trigger=OracleSchedulerChainTrigger(
                job_name=tracker.job_name,
                oracle_conn_id=self.oracle_conn_id,
                poll_interval=self.poke_interval,
                timeout_at=time.time() + self.timeout,
                since=tracker.since,
                stall_grace=self.stall_grace,
                missing_grace=None,
                stop_on_kill=False,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from airflow_provider_oracle_tasks.chains.status import ChainRun

        kind = event.get("status")
        if kind == "finished":
            return self._outcome(ChainRun.from_dict(event["run"]))
        if kind == "timeout":
            raise AirflowSensorTimeout(str(event.get("message")))
        raise AirflowException(
            f"Waiting for chain job {event.get('job_name')} failed: {event.get('message')}"
        )

    def _outcome(self, run: ChainRun) -> dict[str, Any]:
        from airflow_provider_oracle_tasks.chains.status import MISSING, STALLED, SUCCEEDED

        self.log.info("Chain job result:\n%s", run.table())
        result = run.to_dict()
        if run.state == SUCCEEDED:
            return result
        message = f"{run.headline()}; steps: {run.step_states()}"
        if run.state == STALLED:
            raise AirflowFailException(
                f"{message}. The job is left as it is (this sensor did not start it): repair it with "
                "DBMS_SCHEDULER.ALTER_RUNNING_CHAIN or stop it with "
                f"DBMS_SCHEDULER.STOP_JOB('{run.job_name}')."
            )
        if run.state == MISSING or self.fail_on_failure:
            raise AirflowFailException(message)
        self.log.warning("%s (fail_on_failure=False: returning the result)", message)
        return result
