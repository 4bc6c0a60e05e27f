"""Scheduler chains on a REAL Oracle: define, run, read step states, stall, rerun, start at a step.

Skipped without ORACLE_TASKS_TEST_DSN / _USER / _PASSWORD (see conftest.py). The user needs the
chain privileges of sql/grants.sql (CREATE JOB and the Rules Engine privileges); the test says
which GRANTs are missing otherwise. Only Airflow's task instance is stubbed (the operator reads
dag_id, run_id, task_id, map_index and try_number from it); every database call is real.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_oracle_tasks.chains.jobs import job_name_for, run_chain, stop_job
from airflow_provider_oracle_tasks.chains.privileges import check_chain_privileges
from airflow_provider_oracle_tasks.chains.spec import Chain, ChainSpec
from airflow_provider_oracle_tasks.chains.status import ChainRun, ChainTracker, JobQuery, read_jobs
from airflow_provider_oracle_tasks.chains.sync import program_marker, sync_chain
from airflow_provider_oracle_tasks.operators.chain import OracleSchedulerChainOperator

from .conftest import DSN, PASSWORD, USER, wait_for

NOOP = "begin null; end;"
FAIL = "begin raise_application_error(-20001, 'step failed on purpose'); end;"
SLOW = "begin dbms_session.sleep(10); end;"


def unique(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4).upper()}"


@dataclass
class StubTaskInstance:
    dag_id: str = "it_chains"
    run_id: str = field(default_factory=lambda: unique("run"))
    task_id: str = "chain"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **kwargs: Any) -> Any:
        return self.xcoms.get(key)


def context(ti: StubTaskInstance) -> Any:
    """The task context the operator reads: only ``ti``."""
    return {"ti": ti}


@dataclass
class Owner:
    """The schema owner's connection and the chains a test made (dropped afterwards)."""

    conn: Any
    chains: list[str] = field(default_factory=list)

    def chain_name(self, prefix: str) -> str:
        name = unique(prefix)
        self.chains.append(name)
        return name


@pytest.fixture
def owner(connect: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Owner]:
    """Owner connection with the chain privileges; ``oracle_default`` points at the same user."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_ORACLE_DEFAULT",
        json.dumps({"conn_type": "oracle", "login": USER, "password": PASSWORD, "extra": {"dsn": DSN}}),
    )
    connection = connect()
    check_chain_privileges(connection, define=True).raise_if_missing("run the chain integration tests")
    made = Owner(connection)
    yield made
    with connection.cursor() as cursor:
        for chain in made.chains:
            cursor.execute(
                "select job_name from user_scheduler_running_chains where chain_name = :c", c=chain
            )
            for (job,) in cursor.fetchall():
                stop_job(connection, job, force=False)
            try:
                cursor.callproc(
                    "dbms_scheduler.drop_chain", keyword_parameters={"chain_name": chain, "force": True}
                )
            except Exception as error:  # already gone
                print(f"drop_chain {chain}: {error}")
            cursor.execute(
                "select program_name from user_scheduler_programs where comments = :m",
                m=program_marker(chain),
            )
            for (program,) in cursor.fetchall():
                cursor.callproc(
                    "dbms_scheduler.drop_program", keyword_parameters={"program_name": program, "force": True}
                )


def run_and_wait(connection: Any, spec_name: str, steps: tuple[str, ...]) -> ChainRun:
    job = unique("OTASK_CH_IT")
    run_chain(connection, spec_name, job)  # C-1: start_steps => NULL, the argument has no default
    tracker = ChainTracker(job, expected_steps=steps, stall_grace=30)

    def finished() -> ChainRun | None:
        run = tracker.update(read_jobs(connection, [JobQuery(job)])[job])
        return run if run.finished else None

    run = wait_for(finished, timeout=180, interval=0.5)
    assert run is not None
    return run


def objects(connection: Any, chain: str) -> list[tuple[Any, ...]]:
    """(type, name, object_id, last DDL time) of the chain and its programs: any re-creation shows."""
    with connection.cursor() as cursor:
        cursor.execute(
            """select o.object_type, o.object_name, o.object_id, o.last_ddl_time
                 from user_objects o
                where (o.object_type = 'CHAIN' and o.object_name = :c)
                   or (o.object_type = 'PROGRAM'
                       and o.object_name in (select p.program_name from user_scheduler_programs p
                                              where p.comments = :m))
                order by 1, 2""",
            c=chain,
            m=program_marker(chain),
        )
        return cursor.fetchall()


def three_steps_with_failure_branch(name: str, middle: str = FAIL) -> ChainSpec:
    chain = Chain(name)
    first = chain.plsql("EXTRACT", NOOP)
    second = chain.plsql("TRANSFORM", middle)
    third = chain.plsql("PUBLISH", NOOP)
    chain.plsql("ALERT", NOOP)
    first >> second >> third
    chain.rule("TRANSFORM FAILED", "START ALERT")
    chain.rule("ALERT COMPLETED", "END TRANSFORM.ERROR_CODE")
    return chain.build()


def test_the_privilege_check_passes_for_a_granted_owner(owner: Owner) -> None:
    assert check_chain_privileges(owner.conn, define=True, force_stop=False).ok


def test_a_three_step_chain_takes_its_failure_branch_and_reports_every_step(owner: Owner) -> None:
    spec = three_steps_with_failure_branch(owner.chain_name("ITCH"))
    assert sync_chain(owner.conn, spec).action == "create"
    run = run_and_wait(owner.conn, spec.name, spec.step_names)
    assert run.state == "FAILED"
    assert run.error_code == 20001
    steps = {s.step: s for s in run.steps}
    assert steps["EXTRACT"].state == "SUCCEEDED"
    assert steps["TRANSFORM"].state == "FAILED"
    assert steps["TRANSFORM"].error_code == 20001
    assert "ORA-20001" in (steps["TRANSFORM"].message or "")
    assert steps["ALERT"].state == "SUCCEEDED"
    assert steps["PUBLISH"].state == "NOT_STARTED"
    assert steps["EXTRACT"].started_at is not None
    assert steps["EXTRACT"].ended_at is not None


def test_the_operator_runs_the_same_spec_again_without_changing_anything(owner: Owner) -> None:
    spec = three_steps_with_failure_branch(owner.chain_name("ITCH"), middle=NOOP)
    ti = StubTaskInstance()
    first = OracleSchedulerChainOperator(task_id="chain", spec=spec, deferrable=False, poke_interval=0.5)
    result = first.execute(context(ti))
    assert result["state"] == "SUCCEEDED"
    assert result["sync"]["action"] == "create"
    assert {s["step"]: s["state"] for s in result["steps"]} == {
        "EXTRACT": "SUCCEEDED",
        "TRANSFORM": "SUCCEEDED",
        "PUBLISH": "SUCCEEDED",
        "ALERT": "NOT_STARTED",
    }
    before = objects(owner.conn, spec.name)
    assert len(before) == 1 + 4  # the chain and one generated program per step
    again = OracleSchedulerChainOperator(task_id="chain", spec=spec, deferrable=False, poke_interval=0.5)
    second = again.execute(context(StubTaskInstance(run_id=unique("run"))))
    assert second["sync"]["action"] == "unchanged"
    assert second["state"] == "SUCCEEDED"
    assert objects(owner.conn, spec.name) == before  # same object ids, no DDL since the first run


def test_a_changed_spec_replaces_the_definition(owner: Owner) -> None:
    name = owner.chain_name("ITCH")
    sync_chain(owner.conn, three_steps_with_failure_branch(name, middle=NOOP))
    changed = three_steps_with_failure_branch(name, middle="begin dbms_session.sleep(0.1); end;")
    assert sync_chain(owner.conn, changed).action == "replace"
    assert sync_chain(owner.conn, changed).action == "unchanged"
    assert run_and_wait(owner.conn, name, changed.step_names).state == "SUCCEEDED"


def test_a_stalling_chain_is_reported_as_stalled_and_stopped(owner: Owner) -> None:
    name = owner.chain_name("ITST")
    program = f"{name}_P"
    with owner.conn.cursor() as cursor:
        # Built by hand on purpose: ChainSpec refuses a chain that can stall.
        for proc, params in [
            (
                "create_program",
                {
                    "program_name": program,
                    "program_type": "PLSQL_BLOCK",
                    "program_action": FAIL,
                    "enabled": True,
                    "comments": program_marker(name),
                },
            ),
            ("create_chain", {"chain_name": name}),
            ("define_chain_step", {"chain_name": name, "step_name": "ONLY", "program_name": program}),
            ("define_chain_rule", {"chain_name": name, "condition": "TRUE", "action": "START ONLY"}),
            ("define_chain_rule", {"chain_name": name, "condition": "ONLY SUCCEEDED", "action": "END"}),
            ("enable", {"name": name}),
        ]:
            cursor.callproc(f"dbms_scheduler.{proc}", keyword_parameters=params)
    ti = StubTaskInstance()
    operator = OracleSchedulerChainOperator(
        task_id="chain", chain_name=name, deferrable=False, poke_interval=0.5, stall_grace=20
    )
    with pytest.raises(AirflowException) as caught:
        operator.execute(context(ti))
    message = str(caught.value)
    assert "STALLED" in message
    assert "ONLY=FAILED(20001)" in message
    assert "The job was stopped" in message
    job = ti.xcoms["job_name"]
    with owner.conn.cursor() as cursor:
        cursor.execute("select count(*) from user_scheduler_jobs where job_name = :j", j=job)
        assert cursor.fetchone()[0] == 0  # nothing left behind in CHAIN_STALLED


def step_runs(connection: Any, job: str) -> list[str]:
    """Steps of ``job`` that really ran (they have a run-details row)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select job_subname from user_scheduler_job_run_details"
            " where job_name = :j and job_subname is not null",
            j=job,
        )
        return sorted(str(name) for (name,) in cursor.fetchall())


def test_start_at_a_step_does_not_run_the_steps_before_it(owner: Owner) -> None:
    """C-2: resumed with step_state_list, EXTRACT is marked SUCCEEDED and never runs again."""
    spec = three_steps_with_failure_branch(owner.chain_name("ITCH"), middle=NOOP)
    sync_chain(owner.conn, spec)
    ti = StubTaskInstance()
    operator = OracleSchedulerChainOperator(
        task_id="chain", chain_name=spec.name, start_steps=["TRANSFORM"], deferrable=False, poke_interval=0.5
    )
    result = operator.execute(context(ti))
    assert result["state"] == "SUCCEEDED"
    assert result["sync"]["marked_succeeded"] == ["EXTRACT"]
    states = {s["step"]: s["state"] for s in result["steps"]}
    assert states["TRANSFORM"] == "SUCCEEDED"
    assert states["PUBLISH"] == "SUCCEEDED"
    assert states["ALERT"] == "NOT_STARTED"
    assert "EXTRACT" not in step_runs(owner.conn, ti.xcoms["job_name"])


def test_the_documented_not_error_code_in_spelling_is_accepted_by_oracle(owner: Owner) -> None:
    """C-3: DEFINE_CHAIN_RULE with 'A NOT ERROR_CODE IN (20002)' and a run that takes it."""
    chain = Chain(owner.chain_name("ITNI"))
    first = chain.plsql("A", FAIL)
    second = chain.plsql("B", NOOP)
    first >> second
    chain.rule("A FAILED AND A NOT ERROR_CODE IN (20002)", "END 7", name=f"{chain.name}_OTHER")
    chain.rule("A ERROR_CODE IN (20002)", "END 8", name=f"{chain.name}_DML")
    spec = chain.build()
    assert "A FAILED AND A NOT ERROR_CODE IN (20002)" in [str(r.condition) for r in spec.rules]
    sync_chain(owner.conn, spec)
    run = run_and_wait(owner.conn, spec.name, spec.step_names)
    assert (run.state, run.error_code) == ("FAILED", 7)


def test_a_stopped_step_ends_the_chain_instead_of_stalling_it(owner: Owner) -> None:
    """C-5: the generated STOPPED rule ends the chain with END 1."""
    chain = Chain(owner.chain_name("ITSP"))
    slow = chain.plsql("SLOW", "begin dbms_session.sleep(60); end;")
    after = chain.plsql("AFTER", NOOP)
    slow >> after
    spec = chain.build()
    sync_chain(owner.conn, spec)
    job = unique("OTASK_CH_IT")
    run_chain(owner.conn, spec.name, job)
    tracker = ChainTracker(job, expected_steps=spec.step_names, stall_grace=120)

    def slow_running() -> bool | None:
        run = tracker.update(read_jobs(owner.conn, [JobQuery(job)])[job])
        return True if any(s.step == "SLOW" and s.state == "RUNNING" for s in run.steps) else None

    assert wait_for(slow_running, timeout=60, interval=0.5)
    stop_job(owner.conn, f"{job}.SLOW")

    def finished() -> ChainRun | None:
        run = tracker.update(read_jobs(owner.conn, [JobQuery(job)])[job])
        return run if run.finished else None

    run = wait_for(finished, timeout=120, interval=0.5)
    assert run is not None
    assert run.state in ("FAILED", "STOPPED")
    assert run.state != "STALLED"


def test_a_retry_after_the_chain_succeeded_does_not_run_it_again(owner: Owner) -> None:
    """C-4: try 1 succeeded but its success was not recorded; try 2 reports try 1's run."""
    spec = three_steps_with_failure_branch(owner.chain_name("ITOK"), middle=NOOP)
    ti = StubTaskInstance()
    first = OracleSchedulerChainOperator(task_id="chain", spec=spec, deferrable=False, poke_interval=0.5)
    assert first.execute(context(ti))["state"] == "SUCCEEDED"
    try_1 = ti.xcoms["job_name"]
    ti.try_number = 2
    again = OracleSchedulerChainOperator(task_id="chain", spec=spec, deferrable=False, poke_interval=0.5)
    result = again.execute(context(ti))
    assert result["sync"] == {"action": "already_succeeded", "job_name": try_1}
    assert result["state"] == "SUCCEEDED"
    try_2 = job_name_for(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, 2)
    assert step_runs(owner.conn, try_2) == []


def test_a_retry_waits_for_the_running_job_of_the_first_try(owner: Owner) -> None:
    chain = Chain(owner.chain_name("ITRT"))
    chain.plsql("SLOW", SLOW)
    spec = chain.build()
    ti = StubTaskInstance()
    first = OracleSchedulerChainOperator(task_id="chain", spec=spec, deferrable=False, poke_interval=0.5)
    sync_chain(owner.conn, spec)
    job_of_try_1 = job_name_for(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, 1)
    run_chain(owner.conn, spec.name, job_of_try_1)  # as if try 1's worker died after RUN_CHAIN
    ti.try_number = 2
    result = first.execute(context(ti))
    assert result["job_name"] == job_of_try_1
    assert result["sync"]["action"] == "adopted"
    assert result["state"] == "SUCCEEDED"
