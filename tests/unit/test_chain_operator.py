"""Chain sync and OracleSchedulerChainOperator against fakes at the oracledb boundary.

Proves the Python side only: the exact DBMS_SCHEDULER calls and binds for a spec, the decisions
create / unchanged / replace / refuse, privileges checked before any change, retries that adopt
the earlier try's job, deferral, outcomes and on_kill. tests/integration/test_chains.py runs the
same operations on a real Oracle.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferralTimeout, TaskDeferred

from airflow_provider_oracle_tasks.chains.conditions import ChainSpecError
from airflow_provider_oracle_tasks.chains.jobs import JOB_PREFIX, job_name_for, job_names_up_to
from airflow_provider_oracle_tasks.chains.spec import Chain, ChainSpec
from airflow_provider_oracle_tasks.chains.sync import (
    INCOMPLETE,
    ChainConflictError,
    ChainSyncError,
    plan_sync,
    program_marker,
    read_chain,
    read_programs,
    sync_chain,
)
from airflow_provider_oracle_tasks.errors import MissingPrivilegesError, WrongSchemaError
from airflow_provider_oracle_tasks.operators.chain import JOB_NAME_XCOM, OracleSchedulerChainOperator
from airflow_provider_oracle_tasks.triggers.chain import OracleSchedulerChainTrigger
from tests.unit.chain_fakes import (
    CHAIN,
    CHAIN_RULES,
    CHAIN_STEPS,
    LIVE_JOBS,
    PRIVILEGES,
    PROGRAMS,
    RULES_WITH_TEXT,
    RUNNING,
    SUCCEEDED_RUNS,
    FakeTI,
    JobState,
    callprocs,
    context,
    privilege_rows,
    status_answers,
)
from tests.unit.engine_fakes import EngineFakeConnection, patch_connect, sequence
from tests.unit.fakes import db_error

NOOP = "begin null; end;"
JOB = job_name_for("payroll", "manual__2025-03-01", "run_chain", -1, 1)


def small_spec(plsql: str = NOOP) -> ChainSpec:
    chain = Chain("C")
    a = chain.plsql("A", plsql, restart_on_failure=True)
    b = chain.procedure("B", "app.pkg.load", "X", 5)
    a >> b
    return chain.build()


def absent(db: EngineFakeConnection) -> EngineFakeConnection:
    return db.on(CHAIN, []).on(PROGRAMS, [])


def existing(
    db: EngineFakeConnection,
    spec: ChainSpec,
    *,
    comments: str | None = None,
    steps: dict[str, str | None] | None = None,
    rules: list[str] | None = None,
    running: list[str] = (),  # type: ignore[assignment]
    enabled: str = "TRUE",
    programs: dict[str, tuple[str, str | None]] | None = None,
) -> EngineFakeConnection:
    """The chain as the views show it; defaults: exactly what ``spec`` defines, managed, idle."""
    steps = (
        steps
        if steps is not None
        else {s.name: (spec.program_name(s) if s.needs_program else None) for s in spec.steps}
    )
    rules = rules if rules is not None else [r.name or "" for r in spec.rules]
    if programs is None:
        programs = {name: ("TRUE", program_marker(spec.name)) for name in spec.generated_programs()}
    return (
        db.on(CHAIN, [(enabled, spec.marker if comments is None else comments)])
        .on(CHAIN_STEPS, [(name, "APP", program) for name, program in steps.items()])
        .on(CHAIN_RULES, [(name,) for name in rules])
        .on(RUNNING, [("APP", job) for job in running])
        .on(PROGRAMS, [(name, flag, text) for name, (flag, text) in programs.items()])
    )


def create_calls(spec: ChainSpec) -> list[tuple[str, dict[str, Any]]]:
    """The exact calls that define ``small_spec()`` from nothing."""
    marker = program_marker("C")
    return [
        (
            "dbms_scheduler.create_program",
            {
                "program_name": "C_S_A",
                "program_type": "PLSQL_BLOCK",
                "program_action": spec.step("A").plsql,  # type: ignore[attr-defined]
                "number_of_arguments": 0,
                "enabled": True,
                "comments": marker,
            },
        ),
        (
            "dbms_scheduler.create_program",
            {
                "program_name": "C_S_B",
                "program_type": "STORED_PROCEDURE",
                "program_action": "APP.PKG.LOAD",
                "number_of_arguments": 2,
                "enabled": False,
                "comments": marker,
            },
        ),
        (
            "dbms_scheduler.define_program_argument",
            {
                "program_name": "C_S_B",
                "argument_position": 1,
                "argument_type": "VARCHAR2",
                "default_value": "X",
            },
        ),
        (
            "dbms_scheduler.define_program_argument",
            {
                "program_name": "C_S_B",
                "argument_position": 2,
                "argument_type": "NUMBER",
                "default_value": "5",
            },
        ),
        ("dbms_scheduler.enable", {"name": "C_S_B"}),
        ("dbms_scheduler.create_chain", {"chain_name": "C", "comments": INCOMPLETE}),
        ("dbms_scheduler.define_chain_step", {"chain_name": "C", "step_name": "A", "program_name": "C_S_A"}),
        (
            "dbms_scheduler.alter_chain",
            {"chain_name": "C", "step_name": "A", "attribute": "RESTART_ON_FAILURE", "value": True},
        ),
        ("dbms_scheduler.define_chain_step", {"chain_name": "C", "step_name": "B", "program_name": "C_S_B"}),
        *[
            (
                "dbms_scheduler.define_chain_rule",
                {
                    "chain_name": "C",
                    "condition": cond,
                    "action": action,
                    "rule_name": name,
                    "comments": comments,
                },
            )
            for name, cond, action, comments in [
                ("C_BEGIN", "TRUE", "START A", "oracle-tasks: first steps"),
                ("C_START_B", "A SUCCEEDED", "START B", "oracle-tasks: B after A"),
                ("C_END_OK", "B SUCCEEDED", "END 0", "oracle-tasks: success"),
                ("C_FAIL_A", "A FAILED", "END A.ERROR_CODE", "oracle-tasks: end when A fails"),
                ("C_FAIL_B", "B FAILED", "END B.ERROR_CODE", "oracle-tasks: end when B fails"),
                ("C_STOPPED", "A STOPPED OR B STOPPED", "END 1", "oracle-tasks: end when a step is stopped"),
            ]
        ],
        ("dbms_scheduler.set_attribute", {"name": "C", "attribute": "comments", "value": spec.marker}),
        ("dbms_scheduler.enable", {"name": "C"}),
    ]


# --- sync: the exact calls -----------------------------------------------------------------------


def test_create_sends_one_bound_dbms_scheduler_call_per_object() -> None:
    spec = small_spec()
    db = absent(EngineFakeConnection())
    plan = sync_chain(db, spec)
    assert plan.action == "create"
    assert callprocs(db) == create_calls(spec)
    # The PL/SQL text and every value travel as binds: no statement text contains them.
    assert all(NOOP not in sql and "APP.PKG" not in sql for sql, _ in db.calls())


def test_event_nested_and_program_steps_map_to_their_procedures() -> None:
    chain = Chain("EV")
    wait = chain.event("WAIT", queue="hr.file_q", condition="tab.user_data.file_name = 'X'", agent="agt")
    sched = chain.event("SCHED", schedule="hr.monitor")
    nested = chain.nested("SUB", "other")
    prog = chain.program("PROG", "hr.existing_prog")
    wait >> sched >> nested >> prog
    db = absent(EngineFakeConnection())
    sync_chain(db, chain.build())
    steps = [c for c in callprocs(db) if c[0].startswith("dbms_scheduler.define_chain_")][:4]
    assert steps == [
        (
            "dbms_scheduler.define_chain_event_step",
            {
                "chain_name": "EV",
                "step_name": "WAIT",
                "event_condition": "tab.user_data.file_name = 'X'",
                "queue_spec": "HR.FILE_Q, AGT",
            },
        ),
        (
            "dbms_scheduler.define_chain_event_step",
            {"chain_name": "EV", "step_name": "SCHED", "event_schedule_name": "HR.MONITOR"},
        ),
        (
            "dbms_scheduler.define_chain_step",
            {"chain_name": "EV", "step_name": "SUB", "program_name": "OTHER"},
        ),
        (
            "dbms_scheduler.define_chain_step",
            {"chain_name": "EV", "step_name": "PROG", "program_name": "HR.EXISTING_PROG"},
        ),
    ]
    assert not [c for c in callprocs(db) if c[0] == "dbms_scheduler.create_program"]


def test_the_reads_are_bound_to_the_chain_name() -> None:
    spec = small_spec()
    db = existing(EngineFakeConnection(), spec, running=["J1"])
    found = read_chain(db, "C")
    assert found is not None
    assert found.running_jobs == ("APP.J1",)
    assert found.fingerprint == spec.fingerprint
    assert {binds["chain"] for sql, binds in db.calls()} == {"C"}
    programs = read_programs(db, ["C_S_B", "C_S_A"])
    assert set(programs) == {"C_S_A", "C_S_B"}
    assert db.calls()[-1][1] == {"names": '["C_S_A", "C_S_B"]'}


# --- sync: idempotency decisions -----------------------------------------------------------------


def test_the_same_spec_twice_changes_nothing() -> None:
    spec = small_spec()
    db = existing(EngineFakeConnection(), spec)
    plan = sync_chain(db, spec)
    assert plan.action == "unchanged"
    assert callprocs(db) == []
    assert [sql for sql, _ in db.calls() if not sql.lstrip().startswith("select")] == []


def test_a_disabled_but_unchanged_chain_is_only_enabled() -> None:
    spec = small_spec()
    db = existing(EngineFakeConnection(), spec, enabled="FALSE")
    assert sync_chain(db, spec).action == "enable"
    assert callprocs(db) == [("dbms_scheduler.enable", {"name": "C"})]


def test_a_changed_spec_replaces_the_definition_in_place() -> None:
    old = small_spec()
    new = small_spec("begin app.pkg.prepare; end;")
    db = existing(
        EngineFakeConnection(),
        old,
        steps={"A": "C_S_A", "B": "C_S_B", "GONE": "C_S_GONE"},
        programs={
            "C_S_A": ("TRUE", program_marker("C")),
            "C_S_B": ("TRUE", program_marker("C")),
            "C_S_GONE": ("TRUE", program_marker("C")),
        },
    )
    plan = sync_chain(db, new)
    assert plan.action == "replace"
    assert "fingerprint" in plan.reason
    assert "steps ['A', 'B', 'GONE'] differ" in plan.reason
    calls = callprocs(db)
    rules = [r.name for r in old.rules]
    assert calls[: 2 + len(rules) + 3 + 3] == [
        ("dbms_scheduler.set_attribute", {"name": "C", "attribute": "comments", "value": INCOMPLETE}),
        ("dbms_scheduler.disable", {"name": "C", "force": True}),
        *[
            ("dbms_scheduler.drop_chain_rule", {"chain_name": "C", "rule_name": r, "force": True})
            for r in rules
        ],
        *[
            ("dbms_scheduler.drop_chain_step", {"chain_name": "C", "step_name": s, "force": True})
            for s in ("A", "B", "GONE")
        ],
        *[
            ("dbms_scheduler.drop_program", {"program_name": p, "force": False})
            for p in ("C_S_A", "C_S_B", "C_S_GONE")
        ],
    ]
    rebuild = calls[2 + len(rules) + 6 :]
    assert rebuild == [c for c in create_calls(new) if c[0] != "dbms_scheduler.create_chain"]


def test_a_changed_spec_while_a_job_runs_the_chain_is_refused_and_changes_nothing() -> None:
    db = existing(EngineFakeConnection(), small_spec(), running=["OTASK_CH_X_1", "NIGHTLY"])
    with pytest.raises(ChainConflictError) as caught:
        sync_chain(db, small_spec("begin app.pkg.other; end;"))
    assert "job(s) APP.OTASK_CH_X_1, APP.NIGHTLY run it now" in str(caught.value)
    assert "Nothing was changed" in str(caught.value)
    assert callprocs(db) == []


def test_an_unchanged_spec_runs_alongside_running_jobs() -> None:
    spec = small_spec()
    db = existing(EngineFakeConnection(), spec, running=["NIGHTLY"])
    assert sync_chain(db, spec).action == "unchanged"


def test_a_half_written_chain_is_rebuilt() -> None:
    spec = small_spec()
    db = existing(EngineFakeConnection(), spec, comments=INCOMPLETE)
    plan = sync_chain(db, spec)
    assert plan.action == "replace"
    assert "stored incomplete" in plan.reason


def test_a_missing_or_disabled_program_triggers_a_rebuild() -> None:
    spec = small_spec()
    plan = plan_sync(
        spec,
        read_chain(existing(EngineFakeConnection(), spec), "C"),
        {"C_S_A": read_programs(existing(EngineFakeConnection(), spec), ["C_S_A"])["C_S_A"]},
    )
    assert plan.action == "replace"
    assert "program C_S_B is missing" in plan.reason


def test_a_chain_not_created_by_oracle_tasks_is_not_touched() -> None:
    spec = small_spec()
    db = existing(EngineFakeConnection(), spec, comments="payroll chain by the DBA")
    with pytest.raises(ChainConflictError, match=r"exists but was not created by oracle-tasks"):
        sync_chain(db, spec)
    assert callprocs(db) == []
    assert sync_chain(db, spec, replace_unmanaged=True).action == "replace"


def test_a_foreign_program_with_a_generated_name_is_not_touched() -> None:
    spec = small_spec()
    db = absent(EngineFakeConnection()).on(PROGRAMS, [("C_S_A", "TRUE", "hand-made")])
    db.rules.reverse()  # the foreign program answer wins over absent()'s empty one
    with pytest.raises(ChainConflictError, match=r"program C_S_A exists but was not generated"):
        sync_chain(db, spec)
    assert callprocs(db) == []


def test_a_chain_created_concurrently_is_read_again() -> None:
    spec = small_spec()
    db = EngineFakeConnection()
    db.on(CHAIN, sequence([], [("TRUE", spec.marker)]))
    db.on(CHAIN_STEPS, [(s.name, "APP", spec.program_name(s)) for s in spec.steps])
    db.on(CHAIN_RULES, [(r.name,) for r in spec.rules]).on(RUNNING, [])
    db.on(PROGRAMS, sequence([], [(p, "TRUE", program_marker("C")) for p in spec.generated_programs()]))
    db.on("callproc dbms_scheduler.create_program", db_error('ORA-27477: "APP"."C_S_A" already exists'))
    plan = sync_chain(db, spec)
    assert plan.action == "unchanged"
    assert [name for name, _ in callprocs(db)] == ["dbms_scheduler.create_program"]


def test_a_failing_call_names_itself_and_the_state_it_leaves() -> None:
    db = absent(EngineFakeConnection())
    db.on(
        "callproc dbms_scheduler.define_chain_rule", db_error("ORA-24150: evaluation context does not exist")
    )
    with pytest.raises(ChainSyncError) as caught:
        sync_chain(db, small_spec())
    assert "dbms_scheduler.define_chain_rule(chain_name => 'C'" in str(caught.value)
    assert "ORA-24150" in str(caught.value)
    assert "incomplete" in str(caught.value)


# --- the operator: arguments ---------------------------------------------------------------------


def test_arguments_are_checked_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="exactly one of spec="):
        OracleSchedulerChainOperator(task_id="t")
    with pytest.raises(ValueError, match="exactly one of spec="):
        OracleSchedulerChainOperator(task_id="t", spec=small_spec(), chain_name="C")
    with pytest.raises(ChainSpecError, match=r"start_steps \['X'\] are not steps of chain C"):
        OracleSchedulerChainOperator(task_id="t", spec=small_spec(), start_steps=["x"])
    with pytest.raises(ChainSpecError, match="chain_name 'a b'"):
        OracleSchedulerChainOperator(task_id="t", chain_name="a b")
    with pytest.raises(ChainSpecError, match="not JSON"):
        OracleSchedulerChainOperator(task_id="t", spec="{nope")
    with pytest.raises(ValueError, match="poke_interval"):
        OracleSchedulerChainOperator(task_id="t", chain_name="C", poke_interval=-1)
    templated = OracleSchedulerChainOperator(
        task_id="t", chain_name="{{ params.chain }}", start_steps="{{ x }}"
    )
    assert templated.chain_name == "{{ params.chain }}"


def test_a_spec_is_accepted_as_object_builder_dict_or_json() -> None:
    spec = small_spec()
    for value in (spec, spec.canonical(), spec.to_json()):
        assert OracleSchedulerChainOperator(task_id="t", spec=value).spec == spec


# --- the operator: running -----------------------------------------------------------------------


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> EngineFakeConnection:
    connection = EngineFakeConnection()
    patch_connect(monkeypatch, connection)
    return connection


def ready_to_create(db: EngineFakeConnection, *, live: list[tuple[str, str]] = ()) -> EngineFakeConnection:  # type: ignore[assignment]
    return absent(db.on(PRIVILEGES, privilege_rows()).on(LIVE_JOBS, list(live)))


DONE = JobState(
    state=None,
    details=[("A", "SUCCEEDED", 0, 1.0), ("B", "SUCCEEDED", 0, 2.0), (None, "SUCCEEDED", 0, 3.5)],
)
RUNNING_A = JobState(steps=[("A", "RUNNING", None), ("B", "NOT_STARTED", None)])


def test_execute_defines_runs_polls_and_returns_every_step(db: EngineFakeConnection) -> None:
    ready_to_create(db)
    reads = status_answers(db, JOB, RUNNING_A, DONE)
    ti = FakeTI()
    operator = OracleSchedulerChainOperator(
        task_id="run_chain", spec=small_spec(), deferrable=False, poke_interval=0
    )
    result = operator.execute(context(ti))
    assert len(reads) == 2
    # C-1: start_steps has no default in either RUN_CHAIN overload, so it is always passed (NULL)
    assert (
        "dbms_scheduler.run_chain",
        {"chain_name": "C", "start_steps": None, "job_name": JOB},
    ) in callprocs(db)
    assert ti.xcoms[JOB_NAME_XCOM] == JOB
    assert result["state"] == "SUCCEEDED"
    assert result["job_name"] == JOB
    assert [(s["step"], s["state"]) for s in result["steps"]] == [("A", "SUCCEEDED"), ("B", "SUCCEEDED")]
    assert result["duration_seconds"] == 3.5
    assert result["sync"]["action"] == "create"
    assert result["sync"]["fingerprint"] == small_spec().fingerprint


def test_execute_defers_after_one_read(db: EngineFakeConnection) -> None:
    ready_to_create(db)
    status_answers(db, JOB, RUNNING_A)
    operator = OracleSchedulerChainOperator(
        task_id="run_chain", spec=small_spec(), deferrable=True, poke_interval=15, timeout=timedelta(hours=2)
    )
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, OracleSchedulerChainTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["job_name"] == JOB
    assert kwargs["expected_steps"] == ["A", "B"]
    assert kwargs["poll_interval"] == 15.0
    assert kwargs["stop_on_kill"] is True
    assert kwargs["timeout_at"] is not None
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.kwargs["sync"]["action"] == "create"
    assert deferred.value.timeout == timedelta(hours=2, seconds=120)


def test_a_chain_that_ends_before_the_first_read_returns_at_once(db: EngineFakeConnection) -> None:
    ready_to_create(db)
    status_answers(db, JOB, DONE)
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec(), deferrable=True)
    assert operator.execute(context())["state"] == "SUCCEEDED"


def test_a_retry_waits_for_the_job_of_the_earlier_try_instead_of_starting_another(
    db: EngineFakeConnection,
) -> None:
    first_try = job_name_for("payroll", "manual__2025-03-01", "run_chain", -1, 1)
    db.on(LIVE_JOBS, [(first_try, "RUNNING")])
    status_answers(db, first_try, RUNNING_A)
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec(), deferrable=True)
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context(FakeTI(try_number=2)))
    assert deferred.value.trigger.serialize()[1]["job_name"] == first_try
    assert deferred.value.kwargs["sync"] == {"action": "adopted", "job_name": first_try}
    assert callprocs(db) == []  # no sync, no RUN_CHAIN
    assert not [sql for sql, _ in db.calls() if "json_table(:privileges" in sql]


def test_run_an_existing_chain_by_name_from_given_steps(db: EngineFakeConnection) -> None:
    """C-2: a resume marks the steps before LOAD SUCCEEDED (step_state_list), never start_steps."""
    db.on(PRIVILEGES, privilege_rows()).on(LIVE_JOBS, []).on(SUCCEEDED_RUNS, [])
    db.on(CHAIN, [("TRUE", None)]).on(CHAIN_STEPS, [("LOAD", "APP", "P1"), ("CHECK", "APP", "P2")])
    db.on(
        RULES_WITH_TEXT,
        [
            ("R1", "TRUE", "START CHECK"),
            ("R2", "CHECK SUCCEEDED", "START LOAD"),
            ("R3", "LOAD SUCCEEDED", "END"),
        ],
    )
    db.on(CHAIN_RULES, []).on(RUNNING, [])
    status_answers(db, JOB, DONE)
    operator = OracleSchedulerChainOperator(task_id="run_chain", chain_name="nightly", start_steps="load")
    result = operator.execute(context())
    assert callprocs(db) == []
    [(sql, binds)] = [(sql, b) for sql, b in db.calls() if "step_state_list" in sql]
    assert "dbms_scheduler.run_chain(chain_name => :chain_name, step_state_list => l_states" in sql
    assert binds == {
        "step_states": '[{"name": "CHECK", "state": "SUCCEEDED"}]',
        "chain_name": "NIGHTLY",
        "job_name": JOB,
    }
    assert result["sync"] == {"action": "by_name", "marked_succeeded": ["CHECK"]}
    privileges = [b for sql, b in db.calls() if "json_table(:privileges" in sql]
    assert privileges == [{"privileges": '["CREATE JOB"]'}]  # running needs no rule privileges


def test_a_resume_at_the_first_step_runs_the_chain_from_the_beginning(db: EngineFakeConnection) -> None:
    ready_to_create(db)
    status_answers(db, JOB, DONE)
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec(), start_steps=["A"])
    assert operator.execute(context())["sync"]["marked_succeeded"] == []
    assert (
        "dbms_scheduler.run_chain",
        {"chain_name": "C", "start_steps": None, "job_name": JOB},
    ) in callprocs(db)


def test_a_resume_at_a_later_step_of_a_spec_marks_its_upstream_succeeded(db: EngineFakeConnection) -> None:
    ready_to_create(db)
    status_answers(db, JOB, DONE)
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec(), start_steps=["B"])
    operator.execute(context())
    assert not [p for p, _ in callprocs(db) if p == "dbms_scheduler.run_chain"]
    [binds] = [b for sql, b in db.calls() if "step_state_list" in sql]
    assert binds["step_states"] == '[{"name": "A", "state": "SUCCEEDED"}]'


def test_a_retry_after_the_chain_already_succeeded_does_not_run_it_again(db: EngineFakeConnection) -> None:
    """C-4: try 1's job is gone (run-once jobs are dropped) but its run details say SUCCEEDED."""
    first_try = job_name_for("payroll", "manual__2025-03-01", "run_chain", -1, 1)
    db.on(LIVE_JOBS, []).on(SUCCEEDED_RUNS, [(first_try,)])
    status_answers(db, first_try, DONE)
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec(), deferrable=True)
    result = operator.execute(context(FakeTI(try_number=2)))
    assert result["state"] == "SUCCEEDED"
    assert result["sync"] == {"action": "already_succeeded", "job_name": first_try}
    assert callprocs(db) == []  # no sync, no RUN_CHAIN


@pytest.mark.parametrize(
    ("chain_row", "message"),
    [([], "does not exist in this schema"), ([("FALSE", None)], r"is disabled: enable it")],
)
def test_running_a_missing_or_disabled_chain_by_name_fails_clearly(
    db: EngineFakeConnection, chain_row: list[Any], message: str
) -> None:
    db.on(PRIVILEGES, privilege_rows()).on(LIVE_JOBS, []).on(CHAIN, chain_row)
    db.on(CHAIN_STEPS, []).on(CHAIN_RULES, []).on(RUNNING, [])
    with pytest.raises(AirflowFailException, match=message):
        OracleSchedulerChainOperator(task_id="run_chain", chain_name="nightly").execute(context())
    assert callprocs(db) == []


def test_unknown_start_steps_of_a_chain_run_by_name_fail_before_run_chain(db: EngineFakeConnection) -> None:
    db.on(PRIVILEGES, privilege_rows()).on(LIVE_JOBS, [])
    db.on(CHAIN, [("TRUE", None)]).on(CHAIN_STEPS, [("LOAD", "APP", "P1")]).on(CHAIN_RULES, []).on(
        RUNNING, []
    )
    with pytest.raises(
        ChainSpecError, match=r"start_steps \['NOPE'\] are not steps of chain NIGHTLY \(LOAD\)"
    ):
        OracleSchedulerChainOperator(task_id="run_chain", chain_name="nightly", start_steps=["nope"]).execute(
            context()
        )
    assert callprocs(db) == []


def test_missing_rule_privileges_are_reported_with_the_grants_before_any_change(
    db: EngineFakeConnection,
) -> None:
    db.on(PRIVILEGES, privilege_rows(missing={"CREATE RULE"}, role_only={"CREATE JOB"})).on(LIVE_JOBS, [])
    with pytest.raises(MissingPrivilegesError) as caught:
        OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec()).execute(context())
    text = str(caught.value)
    assert "EXEC DBMS_RULE_ADM.GRANT_SYSTEM_PRIVILEGE(DBMS_RULE_ADM.CREATE_RULE_OBJ, 'APP');" in text
    assert "CREATE JOB" not in text  # C-6: through a role is enough for the anonymous blocks
    assert "CREATE RULE SET" not in text
    assert "Nothing was changed" in text
    assert callprocs(db) == []


def test_privileges_held_through_a_role_are_enough_for_the_chain_calls(db: EngineFakeConnection) -> None:
    """C-6: the operator calls DBMS_SCHEDULER from anonymous blocks, where enabled roles count."""
    db.on(PRIVILEGES, privilege_rows(role_only={"CREATE JOB", "CREATE RULE"})).on(LIVE_JOBS, [])
    db.on(CHAIN, []).on(PROGRAMS, [])
    status_answers(db, JOB, DONE)
    result = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec()).execute(context())
    assert result["state"] == "SUCCEEDED"


def test_a_force_stop_needs_manage_scheduler(db: EngineFakeConnection) -> None:
    db.on(PRIVILEGES, privilege_rows(missing={"MANAGE SCHEDULER"})).on(LIVE_JOBS, [])
    with pytest.raises(MissingPrivilegesError, match="GRANT MANAGE SCHEDULER TO APP;"):
        OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec(), force_stop=True).execute(
            context()
        )


def test_another_current_schema_is_refused(db: EngineFakeConnection) -> None:
    db.on(PRIVILEGES, lambda sql, binds: [("APP", "OTHER", p, 1, 1) for p in ("CREATE JOB",)]).on(
        LIVE_JOBS, []
    )
    with pytest.raises(WrongSchemaError, match="current schema OTHER differs from the session user APP"):
        OracleSchedulerChainOperator(task_id="run_chain", chain_name="C").execute(context())


# --- the operator: outcomes ----------------------------------------------------------------------


def run_event(state: str, **extra: Any) -> dict[str, Any]:
    steps = [
        {"step": "A", "state": "SUCCEEDED", "error_code": 0},
        {"step": "B", "state": "FAILED" if state == "FAILED" else "NOT_STARTED", "error_code": 20001},
    ]
    return {
        "status": "finished",
        "run": {"job_name": JOB, "state": state, "chain_name": "C", "steps": steps, **extra},
    }


def test_execute_complete_returns_the_result_on_success() -> None:
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec())
    result = operator.execute_complete(context(), run_event("SUCCEEDED"), sync={"action": "unchanged"})
    assert result["state"] == "SUCCEEDED"
    assert result["sync"] == {"action": "unchanged"}


def test_a_failed_chain_fails_the_task_with_every_step_state() -> None:
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec())
    with pytest.raises(AirflowException) as caught:
        operator.execute_complete(context(), run_event("FAILED", error_code=20001))
    assert f"chain job {JOB} (chain C) FAILED with error 20001; steps: A=SUCCEEDED, B=FAILED(20001)" in str(
        caught.value
    )


def test_a_stalled_chain_is_stopped_and_reported(db: EngineFakeConnection) -> None:
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec())
    with pytest.raises(AirflowException) as caught:
        operator.execute_complete(context(), run_event("STALLED", message="Oracle reports CHAIN_STALLED"))
    assert "no step is running and no rule can fire (Oracle reports CHAIN_STALLED)" in str(caught.value)
    assert "Steps: A=SUCCEEDED, B=NOT_STARTED(20001)" in str(caught.value)
    assert "The job was stopped" in str(caught.value)
    assert callprocs(db) == [("dbms_scheduler.stop_job", {"job_name": JOB, "force": False})]


def test_a_stalled_chain_can_be_left_for_a_dba(db: EngineFakeConnection) -> None:
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec(), stop_stalled=False)
    with pytest.raises(AirflowException, match=r"left in CHAIN_STALLED.*ALTER_RUNNING_CHAIN"):
        operator.execute_complete(context(), run_event("STALLED"))
    assert callprocs(db) == []


def test_the_operators_timeout_stops_the_job(db: EngineFakeConnection) -> None:
    operator = OracleSchedulerChainOperator(
        task_id="run_chain", spec=small_spec(), timeout=60, force_stop=True
    )
    event = {"status": "timeout", "job_name": JOB, "run": run_event("RUNNING")["run"], "message": "late"}
    with pytest.raises(AirflowFailException, match=rf"chain job {JOB} did not end within 60 s"):
        operator.execute_complete(context(), event)
    assert callprocs(db) == [("dbms_scheduler.stop_job", {"job_name": JOB, "force": True})]


def test_a_trigger_error_fails_the_task_with_its_message() -> None:
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec())
    with pytest.raises(AirflowException, match="ORA-00942"):
        operator.execute_complete(
            context(), {"status": "error", "job_name": JOB, "message": "ORA-00942: no view"}
        )


def test_airflows_deferral_timeout_stops_the_job_named_in_xcom(db: EngineFakeConnection) -> None:
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec())
    ti = FakeTI(xcoms={JOB_NAME_XCOM: JOB})
    with pytest.raises(TaskDeferralTimeout):
        operator.resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context(ti)
        )
    assert callprocs(db) == [("dbms_scheduler.stop_job", {"job_name": JOB, "force": False})]


def test_on_kill_stops_the_job_it_started_and_tolerates_a_finished_one(db: EngineFakeConnection) -> None:
    ready_to_create(db)
    status_answers(db, JOB, RUNNING_A)
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec(), deferrable=True)
    with pytest.raises(TaskDeferred):
        operator.execute(context())
    db.on(
        "callproc dbms_scheduler.stop_job", sequence([], db_error('ORA-27366: job "APP"."X" is not running'))
    )
    operator.on_kill()
    operator.on_kill()  # the job has ended meanwhile: not an error
    assert [c for c in callprocs(db) if c[0] == "dbms_scheduler.stop_job"] == [
        ("dbms_scheduler.stop_job", {"job_name": JOB, "force": False})
    ] * 2


def test_on_kill_before_anything_started_does_nothing(db: EngineFakeConnection) -> None:
    OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec()).on_kill()
    assert db.calls() == []


# --- job names -----------------------------------------------------------------------------------


def test_job_names_are_per_task_instance_and_try() -> None:
    one = job_name_for("d", "r", "t", -1, 1)
    assert one.startswith(JOB_PREFIX)
    assert one.endswith("_1")
    assert len(one) <= 30
    assert one == job_name_for("d", "r", "t", -1, 1)
    assert one != job_name_for("d", "r", "t", 0, 1)
    assert one != job_name_for("d", "r2", "t", -1, 1)
    assert job_names_up_to("d", "r", "t", -1, 3) == [job_name_for("d", "r", "t", -1, n) for n in (1, 2, 3)]
    with pytest.raises(ValueError, match="try_number"):
        job_name_for("d", "r", "t", -1, 0)


# --- the example DAG -----------------------------------------------------------------------------


def test_the_payroll_example_dag_parses_in_a_dagbag() -> None:
    from airflow.dag_processing.dagbag import DagBag

    path = Path(__file__).resolve().parents[2] / "example_dags" / "payroll_chain.py"
    bag = DagBag(dag_folder=path)
    assert bag.import_errors == {}
    dag = bag.dags["oracle_tasks_payroll_chain"]
    operator = dag.get_task("process_payroll_file")
    assert isinstance(operator, OracleSchedulerChainOperator)
    assert operator.spec is not None
    assert operator.spec.name == "PAYROLL_CHECKS"
    assert operator.timeout == 48 * 3600
    assert len(dag.doc_md or "") > 300


def test_a_program_left_over_from_an_earlier_chain_of_the_same_name_is_recreated() -> None:
    spec = small_spec()
    db = EngineFakeConnection().on(CHAIN, []).on(PROGRAMS, [("C_S_A", "TRUE", program_marker("C"))])
    plan = sync_chain(db, spec)
    assert plan.action == "create"
    assert callprocs(db)[0] == ("dbms_scheduler.drop_program", {"program_name": "C_S_A", "force": False})
    assert callprocs(db)[1:] == create_calls(spec)


def test_rendered_arguments_are_checked_before_any_database_call(db: EngineFakeConnection) -> None:
    """A templated start_steps that renders to a step the spec lacks must not sync the chain first."""
    ready_to_create(db)
    operator = OracleSchedulerChainOperator(
        task_id="run_chain", spec=small_spec(), start_steps="{{ params.steps }}", deferrable=False
    )
    operator.start_steps = "nope"  # what the template rendered to
    with pytest.raises(ChainSpecError, match=r"start_steps \['NOPE'\] are not steps of chain C"):
        operator.execute(context(FakeTI()))
    assert db.executed == []
    bad_name = OracleSchedulerChainOperator(task_id="run_chain", chain_name="{{ params.chain }}")
    bad_name.chain_name = "a b"
    with pytest.raises(ChainSpecError, match="chain_name 'a b'"):
        bad_name.execute(context(FakeTI()))
    assert db.executed == []


def test_a_mapped_tasks_deferral_timeout_stops_only_its_own_map_indexs_job(db: EngineFakeConnection) -> None:
    """A-5: without map_indexes the SDK returns every map index's job (FakeTI mimics it)."""
    operator = OracleSchedulerChainOperator(task_id="run_chain", spec=small_spec())
    ti = FakeTI(map_index=3, xcoms={JOB_NAME_XCOM: JOB})
    with pytest.raises(TaskDeferralTimeout):
        operator.resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context(ti)
        )
    assert ti.pulls[-1]["map_indexes"] == 3
    assert callprocs(db) == [("dbms_scheduler.stop_job", {"job_name": JOB, "force": False})]


@pytest.mark.parametrize("grace", [0, -5, "abc", 2, True])
def test_stall_grace_below_the_floor_or_not_a_number_is_refused(grace: Any) -> None:
    """A-13: a grace of 0 judges the quiet moment between two steps a stall and stops the chain."""
    with pytest.raises(ValueError, match="stall_grace"):
        OracleSchedulerChainOperator(task_id="t", spec=small_spec(), stall_grace=grace)


def test_stall_grace_must_cover_the_poke_interval() -> None:
    with pytest.raises(ValueError, match=r">= 60"):
        OracleSchedulerChainOperator(task_id="t", spec=small_spec(), poke_interval=60, stall_grace=30)
    assert OracleSchedulerChainOperator(task_id="t", spec=small_spec(), stall_grace=None).stall_grace is None


def test_parsing_a_dag_with_the_chain_operator_imports_no_driver() -> None:
    """S-5: oracledb, OracleHook (and sqlparse) are imported only when the task runs."""
    import subprocess
    import sys

    code = (
        "import sys, airflow.sdk\n"
        "import airflow_provider_oracle_tasks.operators.chain, airflow_provider_oracle_tasks.sensors.chain\n"
        "names = ('oracledb', 'sqlparse', 'airflow.providers.oracle.hooks.oracle')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_an_event_step_on_another_owners_queue_needs_dequeue_before_any_change(
    db: EngineFakeConnection,
) -> None:
    """Q-9: the DEQUEUE grant is checked before the chain is defined, and named."""
    from airflow_provider_oracle_tasks.chains.steps import EventStep

    chain = Chain("C")
    wait = chain.add(EventStep("W", queue="HR.FILES_Q", condition="tab.user_data.f = 'X'"))
    run = chain.plsql("A", NOOP)
    wait >> run
    db.on(PRIVILEGES, privilege_rows()).on(LIVE_JOBS, [])
    db.on(r"from all_tab_privs p", [("APP", "HR", "FILES_Q", 0)])
    with pytest.raises(
        MissingPrivilegesError, match=r"DBMS_AQADM.GRANT_QUEUE_PRIVILEGE\('DEQUEUE', 'HR.FILES_Q', 'APP'\)"
    ):
        OracleSchedulerChainOperator(task_id="run_chain", spec=chain.build()).execute(context())
    assert callprocs(db) == []
