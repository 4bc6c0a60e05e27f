"""Operators for the in-database task engine.

Each operator checks its arguments before the first database call (again at run time for
templated and XCom values), makes one ``OTASK`` call per action through
:class:`OracleTaskManagerHook`, and returns the instance id (XCom) so the next task can take it:

* :class:`OracleTaskManagerInstallOperator` - install / upgrade / uninstall the engine;
* :class:`OracleTaskManagerCreateInstanceOperator` - an instance from ad-hoc tasks and/or the
  taskspace's task definitions, idempotent on the Airflow run key;
* :class:`OracleTaskManagerStartJobsOperator`, :class:`OracleTaskManagerSetThreadsOperator`,
  :class:`OracleTaskManagerStopOperator`, :class:`OracleTaskManagerRetryOperator` - control;
* :class:`OracleTaskManagerRunOperator` - create, start and wait in one task, deferrable.

The run key is ``dag_id/run_id/task_id/map_index`` (plus ``/c<N>`` after the DAG run was cleared
N times): an Airflow retry of the same task instance gets the same engine instance back and never
adds its tasks twice (``engine_api.submit_batch``); a clear starts a new instance.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.sdk import BaseOperator, Context, conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    TaskDeferralTimeout,
)

from airflow_provider_oracle_tasks import validation
from airflow_provider_oracle_tasks.hooks import task_manager_hook
from airflow_provider_oracle_tasks.links import INSTANCE_ID_XCOM, OracleTaskManagerInstanceLink
from airflow_provider_oracle_tasks.validation import flag, oracle_identifier
from airflow_provider_oracle_tasks.waiting.arguments import (
    check_now,
    is_late,
    optional_seconds,
    poll_interval,
    rendered_int,
    seconds,
    stop_mode_or_none,
    wait_failed,
)
from airflow_provider_oracle_tasks.waiting.deferral import (
    StopsOnDeferralTimeout,
    can_defer,
    duration,
    instance_status,
    read_status,
)
from airflow_provider_oracle_tasks.waiting.progress import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PROGRESS_LOG_INTERVAL,
    DEFER_TIMEOUT_MARGIN,
    ProgressLog,
    poll_until,
    timeout_message,
)

if TYPE_CHECKING:
    from airflow_provider_oracle_tasks.engine.api import SubmitResult
    from airflow_provider_oracle_tasks.engine.status import InstanceStatus
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

# DAG files import this module while they are parsed, again and again. The hook, engine_api,
# status and the trigger import python-oracledb (~0.1 s), so they are imported where they are
# used, at run time (benchmarks/dag_parse_time.py).

MAX_RUN_KEY = 512
"""engine_api.MAX_RUN_KEY (OTASK_INSTANCES.RUN_KEY varchar2(512)); a unit test keeps them equal."""
OVER_STATES = frozenset({"STOPPING", "SUCCEEDED", "FAILED", "STOPPED", "MISSING"})
"""Instance states in which start and set_threads have nothing left to act on."""


def run_key(context: Context) -> str:
    """``dag_id/run_id/task_id/map_index``, plus ``/c<N>`` once the DAG run was cleared N times.

    A retry keeps the key (same try of the same run: it re-attaches to its instance); a clear
    bumps ``dag_run.clear_number``, so a cleared task starts a new instance, as users expect.
    Beyond 512 bytes (the column) the key is cut and ends in its SHA-256.
    """
    ti = context["ti"]
    clears = getattr(context.get("dag_run"), "clear_number", 0) or 0
    key = f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index}" + (f"/c{clears}" if clears else "")
    raw = key.encode("utf-8")
    if len(raw) <= MAX_RUN_KEY:
        return key
    digest = hashlib.sha256(raw).hexdigest()
    head = raw[: MAX_RUN_KEY - len(digest) - 1].decode("utf-8", errors="ignore")
    return f"{head}#{digest}"


def _check_tasks(tasks: Any, from_definitions: bool) -> list[Any]:
    """The ad-hoc tasks as a checked list (TaskSpec objects allowed); empty only with definitions."""
    if tasks is None or (isinstance(tasks, list | tuple) and not tasks):
        if not from_definitions:
            raise ValueError(
                "tasks is empty: give at least one task (a SQL string or a dict with 'sql'), "
                "or set from_definitions=True to use the taskspace's task definitions."
            )
        return []
    items = tasks
    if isinstance(tasks, list | tuple) and not all(isinstance(task, str | Mapping) for task in tasks):
        from airflow_provider_oracle_tasks.engine.api import TaskSpec

        items = [task.to_dict() if isinstance(task, TaskSpec) else task for task in tasks]
    return validation.task_list(items, "tasks")


class _BatchArguments:
    """What an instance is built from; shared by the CreateInstance and Run operators."""

    def _init_batch(self, **arguments: Any) -> None:
        tasks = self.tasks = arguments["tasks"]
        self.from_definitions = flag(arguments["from_definitions"], "from_definitions")
        taskspace = self.taskspace = arguments["taskspace"]
        self.stop_on_error = flag(arguments["stop_on_error"], "stop_on_error")
        # Not "retries": that is BaseOperator's (Airflow's) retry count, also filled by default_args.
        self.task_retries = validation.retries(arguments["task_retries"], "task_retries")
        self.task_retry_delay_seconds = validation.retry_delay_seconds(
            arguments["task_retry_delay_seconds"], "task_retry_delay_seconds"
        )
        run_key = self.run_key = arguments["run_key"]
        if not is_late(tasks):
            _check_tasks(tasks, self.from_definitions)
        check_now(taskspace, "taskspace", oracle_identifier)
        check_now(run_key, "run_key", lambda v, a: validation.text(v, a, max_length=MAX_RUN_KEY))

    def _submit(self, hook: OracleTaskManagerHook, context: Context) -> SubmitResult:
        tasks = _check_tasks(self.tasks, self.from_definitions)
        space = oracle_identifier(self.taskspace, "taskspace")
        key = validation.text(self.run_key, "run_key", max_length=MAX_RUN_KEY) or run_key(context)
        ti = context["ti"]
        return hook.submit_batch(
            taskspace=str(space),
            tasks=tasks,
            from_definitions=self.from_definitions,
            stop_on_error=self.stop_on_error,
            retries=self.task_retries,
            retry_delay_seconds=self.task_retry_delay_seconds,
            run_key=key,
            dag_id=ti.dag_id,
            run_id=ti.run_id,
            task_id=ti.task_id,
        )


# --- install -----------------------------------------------------------------------------------


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

    template_fields: Sequence[str] = ("expected_schema", "oracle_conn_id")
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
        hook = task_manager_hook(self.oracle_conn_id)
        if self.uninstall:
            hook.uninstall_engine(expected_schema=expected, dry_run=self.dry_run_only)
            self.log.info("oracle-tasks engine removed%s", " (dry run)" if self.dry_run_only else "")
            return 0
        version = hook.install_engine(expected_schema=expected, dry_run=self.dry_run_only)
        self.log.info(
            "oracle-tasks schema version %s %s", version, "(dry run)" if self.dry_run_only else "installed"
        )
        return version


# --- building and control ----------------------------------------------------------------------


class OracleTaskManagerCreateInstanceOperator(_BatchArguments, BaseOperator):
    """Create an instance with its tasks in one commit; returns its id. Does not start it.

    Idempotent across Airflow retries: the run key (``dag_id/run_id/task_id/map_index``, plus
    ``/c<N>`` after N clears of the DAG run, unless ``run_key`` is given) finds the instance of an
    earlier try, whose tasks are not added again; clearing the task creates a new instance.
    Pushes XComs ``created`` (False when an earlier try made it) and ``tasks_added``.

    :param tasks: SQL strings or dicts ``{"sql", "name", "group", "priority", "retries",
        "binds"}``; templated, may be an XComArg or mapped (``.expand(tasks=...)``).
        ``binds`` fill ``:name`` placeholders: values are bound, never pasted into the SQL.
    :param from_definitions: also add one task per enabled definition of the taskspace (per row
        of its source query).
    :param taskspace: the taskspace (its own thread cap; created on first use).
    :param stop_on_error: True: nothing new starts after the first final failure; False: the
        current group runs to its end, later groups are skipped.
    :param task_retries: the engine's retry budget of each task (0-100), with
        ``task_retry_delay_seconds`` between attempts (named so because ``retries`` is Airflow's).
    :param run_key: override the derived run key (templated), e.g. to share one instance.
    """

    template_fields: Sequence[str] = ("tasks", "taskspace", "run_key", "oracle_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"tasks": "json"}
    operator_extra_links = (OracleTaskManagerInstanceLink(),)
    ui_color = "#f9e3b4"

    def __init__(
        self,
        *,
        tasks: Any = None,
        from_definitions: bool = False,
        taskspace: str = "DEFAULT",
        stop_on_error: bool = True,
        task_retries: int = 0,
        task_retry_delay_seconds: int = 0,
        run_key: str | None = None,
        oracle_conn_id: str = "oracle_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.oracle_conn_id = oracle_conn_id
        self._init_batch(
            tasks=tasks,
            from_definitions=from_definitions,
            taskspace=taskspace,
            stop_on_error=stop_on_error,
            task_retries=task_retries,
            task_retry_delay_seconds=task_retry_delay_seconds,
            run_key=run_key,
        )

    def execute(self, context: Context) -> int:
        result = self._submit(task_manager_hook(self.oracle_conn_id), context)
        if result.created:
            self.log.info("Created instance %s with %s task(s)", result.instance_id, result.tasks_added)
        else:
            self.log.info(
                "Instance %s exists for this run key (earlier try): nothing added", result.instance_id
            )
        ti = context["ti"]
        ti.xcom_push(key=INSTANCE_ID_XCOM, value=result.instance_id)
        ti.xcom_push(key="created", value=result.created)
        ti.xcom_push(key="tasks_added", value=result.tasks_added)
        return result.instance_id


class _InstanceControl(BaseOperator):
    """One control call on ``instance_id`` (templated or an XComArg, e.g. ``create.output``)."""

    template_fields: Sequence[str] = ("instance_id", "oracle_conn_id")
    operator_extra_links = (OracleTaskManagerInstanceLink(),)
    ui_color = "#e8d5f2"

    def __init__(self, *, instance_id: Any, oracle_conn_id: str = "oracle_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance_id = instance_id
        self.oracle_conn_id = oracle_conn_id
        check_now(instance_id, "instance_id", validation.instance_id)

    def _instance(self, context: Context | None = None) -> int:
        """The checked instance id; with ``context`` also pushed as XCom ``instance_id`` (the link)."""
        instance = int(rendered_int(self.instance_id, "instance_id", validation.instance_id))
        if context is not None:
            context["ti"].xcom_push(key=INSTANCE_ID_XCOM, value=instance)
        return instance

    def _hook(self) -> OracleTaskManagerHook:
        return task_manager_hook(self.oracle_conn_id)

    def _unless_over(self, instance: int, action: str, call: Callable[[], None]) -> bool:
        """Make the call; an instance that is over (stopping or finished) is logged, not an error.

        A throttle or start task that runs after its batch already ended (a fast batch, an
        Airflow retry) has nothing left to act on; the waiting task reports the outcome.
        """
        from airflow_provider_oracle_tasks.engine.errors import InvalidStateError

        try:
            call()
            return True
        except InvalidStateError as error:
            state = read_status(self._hook(), instance, self.log).state
            if state not in OVER_STATES:
                raise
            self.log.warning("Instance %s is %s: nothing to %s (%s)", instance, state, action, error)
            return False


class OracleTaskManagerStartJobsOperator(_InstanceControl):
    """Start an instance's workers (``threads`` None = the taskspace default); returns the id.

    Safe to repeat: on a running instance it only starts missing workers (and sets the target
    when ``threads`` is given); on an instance that is already over it logs and does nothing.
    """

    template_fields: Sequence[str] = ("instance_id", "threads", "oracle_conn_id")

    def __init__(self, *, instance_id: Any, threads: Any = None, **kwargs: Any) -> None:
        super().__init__(instance_id=instance_id, **kwargs)
        self.threads = threads
        check_now(threads, "threads", validation.optional_threads)

    def execute(self, context: Context) -> int:
        instance = self._instance(context)
        threads = rendered_int(self.threads, "threads", validation.optional_threads)
        if self._unless_over(instance, "start", lambda: self._hook().start_jobs(instance, threads)):
            self.log.info(
                "Started instance %s with %s thread(s)", instance, threads or "the taskspace's default"
            )
        return instance


class OracleTaskManagerSetThreadsOperator(_InstanceControl):
    """Change a running instance's target threads (0 pauses it); returns the id.

    "Watch and regulate" from a DAG: fewer threads in business hours, more at night. Raising
    the target starts workers at once; lowering it lets workers exit after their current task.
    An instance that is already over (stopping or finished) is logged, not an error.
    """

    template_fields: Sequence[str] = ("instance_id", "threads", "oracle_conn_id")

    def __init__(self, *, instance_id: Any, threads: Any, **kwargs: Any) -> None:
        super().__init__(instance_id=instance_id, **kwargs)
        self.threads = threads
        check_now(threads, "threads", validation.threads)

    def execute(self, context: Context) -> int:
        instance = self._instance(context)
        threads = int(rendered_int(self.threads, "threads", validation.threads))
        if self._unless_over(instance, "throttle", lambda: self._hook().set_threads(instance, threads)):
            self.log.info("Instance %s now targets %s thread(s)", instance, threads)
        return instance


class OracleTaskManagerStopOperator(_InstanceControl):
    """Stop an instance; returns the id. ``mode`` 'soft': running tasks finish, nothing new
    starts; 'hard': its worker jobs are stopped now and their tasks marked STOPPED."""

    template_fields: Sequence[str] = ("instance_id", "mode", "oracle_conn_id")

    def __init__(self, *, instance_id: Any, mode: str = "soft", **kwargs: Any) -> None:
        super().__init__(instance_id=instance_id, **kwargs)
        self.mode = mode
        check_now(mode, "mode", validation.stop_mode)

    def execute(self, context: Context) -> int:
        instance = self._instance(context)
        mode = validation.stop_mode(self.mode, "mode")
        self._hook().stop(instance, mode)
        self.log.info("Stopped instance %s (%s)", instance, mode)
        return instance


class OracleTaskManagerRetryOperator(_InstanceControl):
    """Put the FAILED tasks (and those skipped or stopped because of them) back to work and
    restart workers (``threads`` None = the last target); returns the id."""

    template_fields: Sequence[str] = ("instance_id", "threads", "oracle_conn_id")

    def __init__(self, *, instance_id: Any, threads: Any = None, **kwargs: Any) -> None:
        super().__init__(instance_id=instance_id, **kwargs)
        self.threads = threads
        check_now(threads, "threads", validation.optional_threads)

    def execute(self, context: Context) -> int:
        instance = self._instance(context)
        threads = rendered_int(self.threads, "threads", validation.optional_threads)
        self._hook().retry_failed(instance, threads)
        self.log.info("Retrying the failed tasks of instance %s", instance)
        return instance


class OracleTaskManagerRunOperator(_BatchArguments, StopsOnDeferralTimeout):
    """The common case in one task: create an instance, start it, wait until it finishes.

    Returns (XCom) the summary ``InstanceStatus.to_dict()``: state, counts by task state,
    elapsed seconds, tasks/s and the failed tasks with their ORA codes and first error lines;
    XCom ``instance_id`` holds the id.

    Idempotent on the run key. An Airflow retry re-attaches to the instance of the earlier try:
    CREATED -> started, RUNNING -> waited for, SUCCEEDED -> its summary is returned, FAILED or
    STOPPED -> ``OTASK.RETRY_FAILED`` reruns only the failed and skipped tasks (unless
    ``rerun_failed_tasks=False``, which waits on it as it is).

    Waiting: ``deferrable`` (default ``[operators] default_deferrable``) hands the wait to the
    triggerer after one status read, so no worker slot is held; otherwise the task polls every
    ``poke_interval`` seconds. Progress lines (counts by state) are logged at most every
    ``progress_log_interval`` seconds while something changes.

    :param threads: workers to start (0-1000; None = the taskspace default); templated.
    :param fail_on_task_error: False returns the summary of a FAILED/STOPPED instance instead of
        failing the task (a missing instance always fails).
    :param timeout: seconds (or timedelta) to wait; then the instance is stopped (``on_kill_mode``)
        and the task fails without retry, or is skipped with ``soft_fail``.
    :param soft_fail: skip instead of failing when the batch fails or the wait times out.
    :param on_kill_mode: 'soft' (default) or 'hard': how the instance is stopped when the task is
        killed (user action, ``execution_timeout``) or times out; None leaves it running.
    See :class:`OracleTaskManagerCreateInstanceOperator` for the batch arguments.
    """

    template_fields: Sequence[str] = ("tasks", "taskspace", "threads", "run_key", "oracle_conn_id")
    template_fields_renderers: ClassVar[dict[str, str]] = {"tasks": "json"}
    operator_extra_links = (OracleTaskManagerInstanceLink(),)
    ui_color = "#d6ecc6"

    def __init__(
        self,
        *,
        tasks: Any = None,
        from_definitions: bool = False,
        taskspace: str = "DEFAULT",
        threads: Any = None,
        stop_on_error: bool = True,
        task_retries: int = 0,
        task_retry_delay_seconds: int = 0,
        run_key: str | None = None,
        fail_on_task_error: bool = True,
        rerun_failed_tasks: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta | None = None,
        soft_fail: bool = False,
        on_kill_mode: str | None = "soft",
        progress_log_interval: float = DEFAULT_PROGRESS_LOG_INTERVAL,
        oracle_conn_id: str = "oracle_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.oracle_conn_id = oracle_conn_id
        self._init_batch(
            tasks=tasks,
            from_definitions=from_definitions,
            taskspace=taskspace,
            stop_on_error=stop_on_error,
            task_retries=task_retries,
            task_retry_delay_seconds=task_retry_delay_seconds,
            run_key=run_key,
        )
        self.threads = threads
        check_now(threads, "threads", validation.optional_threads)
        self.fail_on_task_error = flag(fail_on_task_error, "fail_on_task_error")
        self.rerun_failed_tasks = flag(rerun_failed_tasks, "rerun_failed_tasks")
        self.deferrable = flag(deferrable, "deferrable")
        self.poke_interval = poll_interval(poke_interval, "poke_interval")
        self.timeout = optional_seconds(timeout, "timeout")
        self.soft_fail = flag(soft_fail, "soft_fail")
        self.on_kill_mode = stop_mode_or_none(on_kill_mode, "on_kill_mode")
        self.progress_log_interval = seconds(progress_log_interval, "progress_log_interval")
        self._instance_id: int | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        threads = rendered_int(self.threads, "threads", validation.optional_threads)
        hook = task_manager_hook(self.oracle_conn_id)
        deferrable = self.deferrable and can_defer(hook, self.poke_interval, self.log)
        result = self._submit(hook, context)
        instance = self._instance_id = result.instance_id
        context["ti"].xcom_push(key=INSTANCE_ID_XCOM, value=instance)
        self._start(hook, result, threads)
        current = read_status(hook, instance, self.log)
        if current.is_finished:
            ProgressLog(self.log).update(current)
            return self._finish(current)
        if deferrable:
            self._defer(current)
        return self._poll(hook, current)

    def _start(self, hook: OracleTaskManagerHook, result: SubmitResult, threads: int | None) -> None:
        instance = result.instance_id
        if result.created:
            hook.start_jobs(instance, threads)
            self.log.info("Instance %s: %s task(s) added and started", instance, result.tasks_added)
            return
        state = read_status(hook, instance, self.log).state
        if state == "CREATED":
            hook.start_jobs(instance, threads)
            self.log.info("Instance %s (from an earlier try) started", instance)
        elif state in ("FAILED", "STOPPED") and self.rerun_failed_tasks:
            hook.retry_failed(instance, threads)
            self.log.info("Instance %s was %s in an earlier try: rerunning its failed tasks", instance, state)
        else:
            self.log.info("Attached to instance %s (%s) of an earlier try", instance, state)

    def _defer(self, current: InstanceStatus) -> NoReturn:
        from airflow_provider_oracle_tasks.triggers.task_manager import OracleTaskManagerInstanceTrigger

        ProgressLog(self.log).update(current)
        self.defer(
            trigger=OracleTaskManagerInstanceTrigger(
                instance_id=current.instance_id,
                oracle_conn_id=self.oracle_conn_id,
                poll_interval=self.poke_interval,
                timeout_at=None if self.timeout is None else time.time() + self.timeout,
                on_kill_mode=self.on_kill_mode,
                progress_log_interval=self.progress_log_interval,
            ),
            method_name="execute_complete",
            timeout=None if self.timeout is None else timedelta(seconds=self.timeout + DEFER_TIMEOUT_MARGIN),
        )

    def _poll(self, hook: OracleTaskManagerHook, current: InstanceStatus) -> dict[str, Any]:
        progress = ProgressLog(self.log, self.progress_log_interval)
        progress.update(current)
        instance = current.instance_id
        current = poll_until(
            current,
            finished=lambda status: status.is_finished,
            read=lambda: read_status(hook, instance, self.log),
            interval=self.poke_interval,
            timeout=self.timeout,
            timed_out=lambda last: self._timed_out(instance, last),
            show=progress.update,
        )
        return self._finish(current)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        kind = event.get("status")
        if kind == "finished":
            return self._finish(instance_status(event["instance"]))
        if kind == "timeout":
            last = event.get("instance")
            self._timed_out(int(event["instance_id"]), None if last is None else instance_status(last))
        raise AirflowException(wait_failed(event))

    def _finish(self, current: InstanceStatus) -> dict[str, Any]:
        summary = current.to_dict()
        if current.succeeded:
            return summary
        message = current.failure_message()
        if current.state == "MISSING":
            self._give_up(AirflowFailException(message))
        if not self.fail_on_task_error:
            self.log.warning("%s\n(fail_on_task_error=False: returning the summary)", message)
            return summary
        # Retryable on purpose: the next try reruns only the failed tasks (rerun_failed_tasks).
        self._give_up(AirflowException(message))

    def _timed_out(self, instance_id: int, last: InstanceStatus | None) -> NoReturn:
        self.stop_for_timeout(instance_id)
        limit = "in time" if self.timeout is None else f"within {duration(self.timeout)}"
        self._give_up(AirflowFailException(timeout_message(instance_id, limit, last)))

    def _give_up(self, error: AirflowException) -> NoReturn:
        if self.soft_fail:
            raise AirflowSkipException(f"soft_fail: {error}") from error
        raise error

    def awaited_instance(self, context: Context) -> int | None:
        ti = context["ti"]
        value = ti.xcom_pull(task_ids=self.task_id, key=INSTANCE_ID_XCOM, map_indexes=ti.map_index)
        return None if value is None else int(value)

    def deferral_timed_out(self, exc: TaskDeferralTimeout) -> None:
        limit = "in time" if self.timeout is None else f"within {duration(self.timeout)}"
        self._give_up(AirflowFailException(f"the batch did not finish {limit} ({exc})"))

    def on_kill(self) -> None:
        """Killed while polling (user action, ``execution_timeout``): stop the instance."""
        if self._instance_id is None or self.on_kill_mode is None:
            return
        task_manager_hook(self.oracle_conn_id).stop(self._instance_id, self.on_kill_mode)
        self.log.warning("Task killed: stopped instance %s (%s)", self._instance_id, self.on_kill_mode)
