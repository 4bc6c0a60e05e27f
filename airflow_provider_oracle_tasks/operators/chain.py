"""Define, run and wait for an Oracle Scheduler chain in one Airflow task.

:class:`OracleSchedulerChainOperator`:

1. checks the arguments when the DAG is parsed (the spec is validated as a whole: names, rules,
   start and END rules, cycles, paths that would stall - see :mod:`chain_spec`);
2. looks for a chain job of an earlier try of this task instance that still exists, and waits
   for it instead of starting a second run (see :mod:`chain_jobs` for the job names);
3. otherwise checks the privileges (:mod:`chain_privileges`) and, with a spec, makes the
   database match it (:mod:`chain_sync`: same spec = no change; a changed spec replaces the
   definition only when no job runs the chain), then starts job ``OTASK_CH_<hash>_<try>`` with
   ``DBMS_SCHEDULER.RUN_CHAIN`` (``start_steps`` for a rerun from given steps);
4. reads the job once, then waits: deferred to the triggerer by default
   (``[operators] default_deferrable``), or polling every ``poke_interval`` seconds;
5. logs a table of every step (state, error code, start, end, duration, first error line) and
   the job's outcome, returns it as XCom (``ChainRun.to_dict()`` plus ``sync``), and fails the
   task when the chain failed, was stopped, or stalled - with the step states in the message.

A stalled chain job is stopped (``stop_stalled``) so none is left behind in CHAIN_STALLED; the
message says which steps ran. Killing the task (user action, ``execution_timeout``) or the
operator's ``timeout`` stops the chain job too (``STOP_JOB``; ``force_stop`` only if asked).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseOperator, Context
from airflow.sdk.configuration import conf
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferralTimeout

from airflow_provider_oracle_tasks.aq import messages as aq_messages
from airflow_provider_oracle_tasks.chains.conditions import ChainSpecError, step_name
from airflow_provider_oracle_tasks.chains.defaults import (
    DEFAULT_MISSING_GRACE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_STALL_GRACE,
    stall_grace_seconds,
)
from airflow_provider_oracle_tasks.chains.spec import Chain, ChainSpec
from airflow_provider_oracle_tasks.chains.steps import EventStep
from airflow_provider_oracle_tasks.links import JOB_NAME_XCOM, OracleSchedulerChainLink
from airflow_provider_oracle_tasks.validation import flag

if TYPE_CHECKING:
    from airflow_provider_oracle_tasks.chains.resume import ResumePlan
    from airflow_provider_oracle_tasks.chains.status import ChainRun, ChainTracker
    from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

# oracledb, the hook, the chain SQL modules and the trigger are imported inside execute and the
# other run-time methods: a DAG file that builds this operator must parse fast (review S-5).

DEFER_TIMEOUT_MARGIN = 120.0
"""Airflow's own deferral timeout fires this much after the trigger's, as a backstop only."""


def as_spec(value: Any) -> ChainSpec:
    """A ChainSpec from a ChainSpec, a Chain builder, its canonical dict or that dict as JSON."""
    if isinstance(value, ChainSpec):
        return value
    if isinstance(value, Chain):
        return value.build()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as error:
            raise ChainSpecError(f"spec is text but not JSON: {error}") from None
    if isinstance(value, Mapping):
        return ChainSpec.from_dict(value)
    raise ChainSpecError(
        f"spec={value!r} must be a ChainSpec, a Chain, or ChainSpec.canonical() as dict/JSON"
    )


def _check_event_conditions(spec: ChainSpec) -> None:
    """An event step's AQ condition follows the AQ sensor's rule (one expression, no ';'; review C-8)."""
    for step in spec.steps:
        if isinstance(step, EventStep) and step.condition is not None:
            try:
                aq_messages.condition(step.condition, f"step {step.name}: condition")
            except ValueError as error:
                raise ChainSpecError(f"chain {spec.name}: {error}") from None


def _seconds(value: Any, argument: str, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < float("inf"):
        raise ValueError(f"{argument}={value!r} must be a number of seconds >= 0 or a timedelta")
    return float(value)


def _late(value: Any) -> bool:
    """A Jinja template: only known when the task runs."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _step_list(value: Any) -> list[str] | None:
    if value is None or value == "" or value == []:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [step_name(item, "start_steps") for item in items]


class OracleSchedulerChainOperator(BaseOperator):
    """Create or update a chain idempotently, run it, wait for it and report every step.

    Give ``spec`` (a :class:`ChainSpec`, a :class:`Chain` builder, or the canonical dict/JSON)
    to define the chain, or ``chain_name`` to run a chain that already exists.

    :param spec: the chain to define and run.
    :param chain_name: run this existing chain (no definition changes); templated.
    :param start_steps: start only these steps (RUN_CHAIN ``start_steps``), e.g. after fixing a
        failed step: ``["LOAD"]``; list or comma-separated text; templated.
    :param oracle_conn_id: Airflow ``oracle`` connection of the chain's owner.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poke_interval: seconds between status reads.
    :param timeout: seconds (or timedelta) to wait; then the job is stopped (``stop_on_timeout``)
        and the task fails without retry. None waits as long as the chain runs.
    :param stop_stalled: STOP_JOB a stalled chain job before failing (default True). False leaves
        it in CHAIN_STALLED for a DBA to repair with ALTER_RUNNING_CHAIN.
    :param stop_on_kill: STOP_JOB the chain job when the task is killed (default True).
    :param stop_on_timeout: STOP_JOB the chain job when ``timeout`` passes (default True).
    :param force_stop: stop with ``force => TRUE`` (needs MANAGE SCHEDULER).
    :param replace_unmanaged: allow replacing a chain or program of the same name that
        oracle-tasks did not create (default False: refuse, changing nothing).
    :param check_privileges: check privileges first and list the GRANTs (default True).
    :param stall_grace: seconds with no step active before a running chain counts as stalled
        even without CHAIN_STALLED from Oracle (None: trust Oracle only).
    """

    template_fields: Sequence[str] = ("chain_name", "start_steps")
    operator_extra_links = (OracleSchedulerChainLink(),)
    ui_color = "#e8d6f4"

    def __init__(
        self,
        *,
        spec: ChainSpec | Chain | Mapping[str, Any] | str | None = None,
        chain_name: str | None = None,
        start_steps: Sequence[str] | str | None = None,
        oracle_conn_id: str = "oracle_default",
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        timeout: float | timedelta | None = None,
        stop_stalled: bool = True,
        stop_on_kill: bool = True,
        stop_on_timeout: bool = True,
        force_stop: bool = False,
        replace_unmanaged: bool = False,
        check_privileges: bool = True,
        stall_grace: float | None = DEFAULT_STALL_GRACE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (spec is None) == (chain_name is None):
            raise ValueError(
                "give exactly one of spec= (define and run) or chain_name= (run an existing chain)"
            )
        self.spec = None if spec is None else as_spec(spec)
        if self.spec is not None:
            _check_event_conditions(self.spec)
        self.chain_name = chain_name
        if chain_name is not None and not _late(chain_name):
            step_name(chain_name, "chain_name")
        self.start_steps = start_steps
        if not _late(start_steps):
            self._start_steps()
        self.oracle_conn_id = oracle_conn_id
        self.deferrable = flag(deferrable, "deferrable")
        self.poke_interval = float(_seconds(poke_interval, "poke_interval") or 0.0)
        self.timeout = _seconds(timeout, "timeout", optional=True)
        self.stop_stalled = flag(stop_stalled, "stop_stalled")
        self.stop_on_kill = flag(stop_on_kill, "stop_on_kill")
        self.stop_on_timeout = flag(stop_on_timeout, "stop_on_timeout")
        self.force_stop = flag(force_stop, "force_stop")
        self.replace_unmanaged = flag(replace_unmanaged, "replace_unmanaged")
        self.check_privileges = flag(check_privileges, "check_privileges")
        self.stall_grace = stall_grace_seconds(stall_grace, self.poke_interval)
        self._job_name: str | None = None

    # --- arguments ---

    def _start_steps(self) -> list[str] | None:
        steps = _step_list(self.start_steps)
        if steps and self.spec is not None:
            unknown = [s for s in steps if s not in self.spec.step_names]
            if unknown:
                steps_text = ", ".join(self.spec.step_names)
                raise ChainSpecError(
                    f"start_steps {unknown} are not steps of chain {self.spec.name} ({steps_text})"
                )
        return steps

    def _hook(self) -> OracleTaskManagerHook:
        from airflow_provider_oracle_tasks.hooks.task_manager import OracleTaskManagerHook

        return OracleTaskManagerHook(oracle_conn_id=self.oracle_conn_id)

    # --- execute ---

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_oracle_tasks.chains.jobs import job_names_up_to
        from airflow_provider_oracle_tasks.chains.status import JobQuery, read_jobs
        from airflow_provider_oracle_tasks.triggers.chain import progress_line

        ti = context["ti"]
        map_index = -1 if ti.map_index is None else int(ti.map_index)
        names = job_names_up_to(ti.dag_id, ti.run_id, ti.task_id, map_index, ti.try_number)
        # Rendered templates are checked before the first database call (sync_chain writes).
        if self.chain_name is not None:
            step_name(self.chain_name, "chain_name")
        self._start_steps()
        if self.spec is not None and self.spec.analysis.never_started:
            self.log.warning(
                "Chain %s: no path of the rules starts step(s) %s; they will never run (review C-8)",
                self.spec.name,
                ", ".join(self.spec.analysis.never_started),
            )
        connection = self._hook().get_conn()
        try:
            job, expected, sync = self._start(connection, names)
            self._job_name = job
            ti.xcom_push(key=JOB_NAME_XCOM, value=job)
            tracker = self._tracker(job, expected)
            run = tracker.update(read_jobs(connection, [JobQuery(job)])[job])
        finally:
            connection.close()
        self.log.info("%s", progress_line(run))
        if run.finished:
            return self._finish(run, sync)
        if self.deferrable:
            self._defer(job, expected, sync)
        return self._poll(tracker, run, sync)

    def _start(self, connection: Any, names: list[str]) -> tuple[str, list[str], dict[str, Any]]:
        """Adopt an earlier try's job (still running, or already SUCCEEDED), or sync (with a spec)
        and RUN_CHAIN under this try's name."""
        from airflow_provider_oracle_tasks.aq.privileges import check_dequeue
        from airflow_provider_oracle_tasks.chains.jobs import live_jobs, run_chain, succeeded_jobs
        from airflow_provider_oracle_tasks.chains.privileges import check_chain_privileges
        from airflow_provider_oracle_tasks.chains.sync import sync_chain

        live = live_jobs(connection, names)
        if live:
            job = max(live, key=names.index)
            self.log.warning(
                "Chain job %s of an earlier try still exists (%s): waiting for it instead of starting "
                "a second run of the chain",
                job,
                live[job],
            )
            expected = list(self.spec.step_names) if self.spec else self._existing_steps(connection)
            return job, expected, {"action": "adopted", "job_name": job}
        done = succeeded_jobs(connection, names[:-1])
        if done:
            job = max(done, key=names.index)
            self.log.warning(
                "Chain job %s of an earlier try already SUCCEEDED (the task's success was not recorded): "
                "reporting that run instead of running the chain again",
                job,
            )
            expected = list(self.spec.step_names) if self.spec else self._existing_steps(connection)
            return job, expected, {"action": "already_succeeded", "job_name": job}
        if self.check_privileges:
            check = check_chain_privileges(
                connection, define=self.spec is not None, force_stop=self.force_stop
            )
            check.raise_if_missing("define and run Scheduler chains" if self.spec else "run Scheduler chains")
            if check.role_only:
                self.log.info(
                    "%s held through a role: enough for the chain calls (anonymous blocks); the engine's "
                    "packages need direct grants (sql/grants.sql)",
                    ", ".join(check.role_only),
                )
        sync: dict[str, Any]
        if self.spec is not None:
            if self.check_privileges:
                queues = [s.queue for s in self.spec.steps if isinstance(s, EventStep) and s.queue]
                check_dequeue(connection, queues, f"the event steps of chain {self.spec.name}")
            plan = sync_chain(
                connection, self.spec, replace_unmanaged=self.replace_unmanaged, log=self.log.info
            )
            chain, expected = self.spec.name, list(self.spec.step_names)
            sync = {"action": plan.action, "reason": plan.reason, "fingerprint": plan.fingerprint}
        else:
            chain = step_name(self.chain_name, "chain_name")
            expected = self._existing_steps(connection)
            sync = {"action": "by_name"}
        steps = self._start_steps()
        resume = None
        if steps:
            unknown = [s for s in steps if s not in expected]
            if unknown:
                raise ChainSpecError(
                    f"start_steps {unknown} are not steps of chain {chain} ({', '.join(expected)})"
                )
            resume = self._resume_plan(connection, chain, expected, steps)
            sync["marked_succeeded"] = list(resume.done)
        job = names[-1]
        run_chain(connection, chain, job, resume)
        self.log.info(
            "Started chain %s as job %s%s",
            chain,
            job,
            f" at step(s) {', '.join(steps)}, with {', '.join(resume.done) or 'no step'} marked SUCCEEDED"
            if steps and resume is not None
            else "",
        )
        return job, expected, sync

    def _resume_plan(self, connection: Any, chain: str, expected: list[str], steps: list[str]) -> ResumePlan:
        from airflow_provider_oracle_tasks.chains.resume import plan_resume, rules_of_chain

        if self.spec is not None:
            rules = [(r.name or "", r.parsed_condition, r.parsed_action) for r in self.spec.rules]
        else:
            rules = rules_of_chain(connection, chain)
        return plan_resume(expected, rules, steps)

    def _existing_steps(self, connection: Any) -> list[str]:
        from airflow_provider_oracle_tasks.chains.sync import read_chain

        chain = step_name(self.chain_name, "chain_name")
        existing = read_chain(connection, chain)
        if existing is None:
            raise AirflowFailException(
                f"chain {chain} does not exist in this schema: create it (or pass spec= to let the operator "
                "define it), or check chain_name and the connection's user"
            )
        if not existing.enabled:
            raise AirflowFailException(
                f"chain {chain} is disabled: enable it with DBMS_SCHEDULER.ENABLE('{chain}') once its "
                "definition is complete"
            )
        return sorted(existing.steps)

    def _tracker(self, job: str, expected: Sequence[str]) -> ChainTracker:
        from airflow_provider_oracle_tasks.chains.status import ChainTracker

        return ChainTracker(
            job,
            expected_steps=tuple(expected),
            stall_grace=self.stall_grace,
            missing_grace=DEFAULT_MISSING_GRACE,
        )

    # --- waiting ---

    def _defer(self, job: str, expected: list[str], sync: dict[str, Any]) -> NoReturn:
        from airflow_provider_oracle_tasks.triggers.chain import OracleSchedulerChainTrigger

        self.defer(
            trigger=OracleSchedulerChainTrigger(
                job_name=job,
                oracle_conn_id=self.oracle_conn_id,
                poll_interval=self.poke_interval,
                timeout_at=None if self.timeout is None else time.time() + self.timeout,
                expected_steps=expected,
                stall_grace=self.stall_grace,
                missing_grace=DEFAULT_MISSING_GRACE,
                stop_on_kill=self.stop_on_kill,
                force_stop=self.force_stop,
            ),
            method_name="execute_complete",
            kwargs={"sync": sync},
            timeout=None if self.timeout is None else timedelta(seconds=self.timeout + DEFER_TIMEOUT_MARGIN),
        )

    def _read(self, tracker: ChainTracker) -> ChainRun:
        from airflow_provider_oracle_tasks.chains.status import JobQuery, read_jobs
        from airflow_provider_oracle_tasks.db.transient import retry

        def once() -> ChainRun:
            connection = self._hook().get_conn()
            try:
                reading = read_jobs(connection, [JobQuery(tracker.job_name)])[tracker.job_name]
            finally:
                connection.close()
            return tracker.update(reading)

        logger: Any = self.log
        return retry(once, log=logger, what=f"status read of chain job {tracker.job_name}")

    def _poll(self, tracker: ChainTracker, run: ChainRun, sync: dict[str, Any]) -> dict[str, Any]:
        from airflow_provider_oracle_tasks.triggers.chain import progress_line
        from airflow_provider_oracle_tasks.waiting.progress import poll_until

        shown = [progress_line(run)]

        def show(current: ChainRun) -> None:
            line = progress_line(current)
            if line != shown[-1]:
                self.log.info("%s", line)
                shown.append(line)

        run = poll_until(
            run,
            finished=lambda current: current.finished,
            read=lambda: self._read(tracker),
            interval=self.poke_interval,
            timeout=self.timeout,
            timed_out=lambda last: self._timed_out(last.job_name, last),
            show=show,
        )
        return self._finish(run, sync)

    def execute_complete(
        self, context: Context, event: dict[str, Any], sync: dict[str, Any] | None = None
    ) -> Any:
        from airflow_provider_oracle_tasks.chains.status import ChainRun

        kind = event.get("status")
        if kind == "finished":
            return self._finish(ChainRun.from_dict(event["run"]), sync or {})
        if kind == "timeout":
            last = event.get("run")
            self._timed_out(str(event.get("job_name")), None if last is None else ChainRun.from_dict(last))
        raise AirflowException(
            f"Waiting for chain job {event.get('job_name')} failed: {event.get('message')}"
        )

    # --- outcomes ---

    def _finish(self, run: ChainRun, sync: Mapping[str, Any]) -> dict[str, Any]:
        from airflow_provider_oracle_tasks.chains.status import STALLED, SUCCEEDED

        self.log.info("Chain job result:\n%s", run.table())
        result = {**run.to_dict(), "sync": dict(sync)}
        if run.state == SUCCEEDED:
            return result
        if run.state == STALLED:
            raise AirflowException(self._stalled(run))
        raise AirflowException(f"{run.headline()}; steps: {run.step_states()}\n{run.table()}")

    def _stalled(self, run: ChainRun) -> str:
        head = (
            f"{run.headline()}: no step is running and no rule can fire ({run.message or 'CHAIN_STALLED'}). "
            f"Steps: {run.step_states()}."
        )
        if self.stop_stalled:
            self._stop(run.job_name, "stalled")
            tail = (
                "The job was stopped so that no stalled job is left behind. Fix the rules (every path needs "
                "an END) or the failing step, then clear this task; start_steps can resume at a step."
            )
        else:
            tail = (
                "The job is left in CHAIN_STALLED (stop_stalled=False): inspect "
                f"USER_SCHEDULER_RUNNING_CHAINS where job_name = '{run.job_name}', repair it with "
                "DBMS_SCHEDULER.ALTER_RUNNING_CHAIN, or "
                f"stop it with DBMS_SCHEDULER.STOP_JOB('{run.job_name}')."
            )
        return f"{head} {tail}\n{run.table()}"

    def _stop(self, job: str | None, why: str) -> None:
        if not job:
            return
        from airflow_provider_oracle_tasks.chains.jobs import stop_job

        connection = self._hook().get_conn()
        try:
            stopped = stop_job(connection, job, force=self.force_stop)
        finally:
            connection.close()
        self.log.warning("%s chain job %s (%s)", "Stopped" if stopped else "Nothing to stop:", job, why)

    def _timed_out(self, job: str, last: ChainRun | None) -> NoReturn:
        from airflow_provider_oracle_tasks.triggers.chain import progress_line

        if self.stop_on_timeout:
            self._stop(job, "timeout")
        where = progress_line(last) if last is not None else "no reading yet"
        limit = f"within {self.timeout:g} s" if self.timeout is not None else "in time"
        raise AirflowFailException(f"chain job {job} did not end {limit} ({where})")

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Airflow's deferral timeout (the backstop) fails the task without on_kill: stop the job here."""
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except TaskDeferralTimeout:
            ti = context["ti"]
            # Only this map index's job: without map_indexes a mapped task gets every sibling's
            # job names as a list (review A-5) and would stop the wrong job, or none.
            job = ti.xcom_pull(task_ids=self.task_id, key=JOB_NAME_XCOM, map_indexes=ti.map_index)
            if job and self.stop_on_timeout:
                self._stop(str(job), "deferral timeout")
            raise

    def on_kill(self) -> None:
        """Killed while polling (user action, ``execution_timeout``): stop the chain job."""
        if self.stop_on_kill and self._job_name:
            self._stop(self._job_name, "task killed")
