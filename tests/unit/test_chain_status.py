"""Reading chain jobs: the batched statements, the verdicts of ChainTracker, the result table.

Pure Python and the sync fake: no database. tests/integration/test_chains.py checks the views
really answer this way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from airflow_provider_oracle_tasks.chains.privileges import parse_privilege_rows
from airflow_provider_oracle_tasks.chains.status import (
    ChainRun,
    ChainTracker,
    DetailRow,
    JobQuery,
    JobReading,
    StepRow,
    jobs_bind,
    read_jobs,
)
from tests.unit.chain_fakes import DETAILS, JOBS, STEPS, JobState, status_answers
from tests.unit.engine_fakes import EngineFakeConnection

T0 = datetime(2025, 3, 1, 12, 0, 0)
T1 = datetime(2025, 3, 1, 12, 0, 5)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def live(*steps: tuple[str, str], state: str = "RUNNING", interval: bool = False) -> JobReading:
    return JobReading(
        "J",
        job_state=state,
        chain_name="C",
        steps=tuple(StepRow(step, st, None, T0, None) for step, st in steps),
        evaluation_interval=interval,
    )


def detail(
    subname: str | None,
    status: str,
    code: int | None = 0,
    *,
    log_id: int,
    seconds: float = 5.0,
    errors: str | None = None,
    started: datetime = T0,
) -> DetailRow:
    return DetailRow(subname, log_id, status, code, started, seconds, errors, None)


def states(run: ChainRun) -> dict[str, str]:
    return {step.step: step.state for step in run.steps}


# --- the read ------------------------------------------------------------------------------------


def test_one_batched_read_of_three_statements_covers_every_job() -> None:
    db = EngineFakeConnection()
    status_answers(db, "J1", JobState(steps=[("A", "RUNNING", None)]))
    readings = read_jobs(db, [JobQuery("J2", since=10.0), JobQuery("J1")])
    assert len(db.calls()) == 3
    assert {json.dumps(b, sort_keys=True) for _, b in db.calls()} == {
        json.dumps({"jobs": '[{"name":"J1","since":null},{"name":"J2","since":10.0}]'})
    }
    assert readings["J1"].job_state == "RUNNING"
    assert readings["J1"].chain_name == "C"
    assert readings["J1"].steps[0].state == "RUNNING"
    assert readings["J2"] == JobReading("J2")


def test_the_statements_read_the_scheduler_views_by_bound_names_only() -> None:
    db = EngineFakeConnection().on(JOBS, []).on(STEPS, []).on(DETAILS, [])
    read_jobs(db, [JobQuery("J1")])
    sql = [s for s, _ in db.calls()]
    assert "user_scheduler_jobs" in sql[0]
    assert "user_scheduler_running_chains" in sql[1]
    assert "user_scheduler_job_run_details" in sql[2]
    assert all("J1" not in s for s in sql)


def test_jobs_bind_is_sorted_and_unique() -> None:
    assert jobs_bind([JobQuery("B"), JobQuery("A", 1.5), JobQuery("B")]) == (
        '[{"name":"A","since":1.5},{"name":"B","since":null}]'
    )


# --- verdicts ------------------------------------------------------------------------------------


def test_a_running_chain_lists_every_step_including_those_not_started() -> None:
    tracker = ChainTracker("J", expected_steps=("A", "B", "C1"))
    run = tracker.update(live(("A", "SUCCEEDED"), ("B", "RUNNING")))
    assert run.state == "RUNNING"
    assert not run.finished
    assert states(run) == {"A": "SUCCEEDED", "B": "RUNNING", "C1": "NOT_STARTED"}


def test_oracles_chain_stalled_state_is_a_stall() -> None:
    run = ChainTracker("J").update(live(("A", "FAILED"), ("B", "NOT_STARTED"), state="CHAIN_STALLED"))
    assert run.state == "STALLED"
    assert run.finished
    assert run.message == "Oracle reports CHAIN_STALLED"


def test_a_stalled_nested_chain_step_is_a_stall() -> None:
    run = ChainTracker("J").update(live(("SUB", "STALLED")))
    assert run.state == "STALLED"
    assert "SUB" in (run.message or "")


def test_no_active_step_for_the_grace_period_is_a_stall_even_without_oracles_word() -> None:
    clock = Clock()
    tracker = ChainTracker("J", stall_grace=60, clock=clock)
    quiet = live(("A", "FAILED"), ("B", "NOT_STARTED"))
    assert tracker.update(quiet).state == "RUNNING"
    clock.now = 59
    assert tracker.update(quiet).state == "RUNNING"
    clock.now = 61
    run = tracker.update(quiet)
    assert run.state == "STALLED"
    assert run.message == "no step running and no rule fired for 60 s"


def test_an_active_step_resets_the_stall_clock() -> None:
    clock = Clock()
    tracker = ChainTracker("J", stall_grace=60, clock=clock)
    tracker.update(live(("A", "SUCCEEDED"), ("B", "NOT_STARTED")))
    clock.now = 50
    tracker.update(live(("A", "SUCCEEDED"), ("B", "RUNNING")))
    clock.now = 100
    assert tracker.update(live(("A", "SUCCEEDED"), ("B", "SUCCEEDED"))).state == "RUNNING"


@pytest.mark.parametrize("reading", [live(("A", "SUCCEEDED"), interval=True), live(("A", "SUCCEEDED"))])
def test_the_stall_backstop_is_off_for_interval_chains_or_when_disabled(reading: JobReading) -> None:
    clock = Clock()
    tracker = ChainTracker("J", stall_grace=None if not reading.evaluation_interval else 1.0, clock=clock)
    tracker.update(reading)
    clock.now = 10_000
    assert tracker.update(reading).state == "RUNNING"


def test_a_finished_job_is_judged_by_its_run_details_with_each_steps_result() -> None:
    tracker = ChainTracker("J", expected_steps=("A", "B", "C1"))
    tracker.update(live(("A", "RUNNING"), ("B", "NOT_STARTED"), ("C1", "NOT_STARTED")))
    reading = JobReading(
        "J",
        details=(
            detail("A", "SUCCEEDED", log_id=11, seconds=2),
            detail("B", "FAILED", 20001, log_id=12, errors="ORA-20001: bad file\nORA-06512: at line 3"),
            detail(None, "FAILED", 20001, log_id=13, seconds=7.5),
        ),
    )
    run = tracker.update(reading)
    assert run.state == "FAILED"
    assert run.error_code == 20001
    assert run.duration_seconds == 7.5
    assert run.started_at == "2025-03-01T12:00:00+00:00"
    assert run.ended_at == "2025-03-01T12:00:07.500000+00:00"
    assert states(run) == {"A": "SUCCEEDED", "B": "FAILED", "C1": "NOT_STARTED"}
    b = run.steps[1]
    assert b.error_code == 20001
    assert b.message == "ORA-20001: bad file"
    assert b.ended_at == "2025-03-01T12:00:05+00:00"


def test_end_with_a_code_fails_even_if_the_status_says_succeeded() -> None:
    run = ChainTracker("J").update(JobReading("J", details=(detail(None, "SUCCEEDED", 3, log_id=1),)))
    assert run.state == "FAILED"


def test_a_stopped_job_is_stopped() -> None:
    run = ChainTracker("J").update(JobReading("J", details=(detail(None, "STOPPED", 27370, log_id=1),)))
    assert run.state == "STOPPED"


def test_a_step_running_at_the_last_read_without_details_is_unknown_not_running() -> None:
    tracker = ChainTracker("J")
    tracker.update(live(("WAIT", "RUNNING"), ("LOAD", "NOT_STARTED")))
    run = tracker.update(JobReading("J", details=(detail(None, "SUCCEEDED", log_id=5),)))
    assert states(run) == {"WAIT": "UNKNOWN", "LOAD": "NOT_STARTED"}
    assert "ended before the next" in (run.steps[0].message or "")


def test_only_the_latest_run_of_a_job_name_counts() -> None:
    reading = JobReading(
        "J",
        details=(
            detail("A", "FAILED", 1, log_id=1),
            detail(None, "FAILED", 1, log_id=2),
            detail("A", "SUCCEEDED", log_id=3),
            detail(None, "SUCCEEDED", log_id=4),
        ),
    )
    run = ChainTracker("J").update(reading)
    assert run.state == "SUCCEEDED"
    assert states(run) == {"A": "SUCCEEDED"}


def test_runs_before_since_are_ignored() -> None:
    old = detail(None, "FAILED", 1, log_id=1, started=T0)
    tracker = ChainTracker("J", since=T1.replace(tzinfo=UTC).timestamp())
    assert tracker.update(JobReading("J", job_state="SCHEDULED", details=(old,))).state == "WAITING"
    new = detail(None, "SUCCEEDED", log_id=2, started=T1)
    assert tracker.update(JobReading("J", job_state="SCHEDULED", details=(old, new))).state == "SUCCEEDED"


def test_a_job_that_is_not_found_is_missing_after_the_grace_period() -> None:
    clock = Clock()
    tracker = ChainTracker("J", missing_grace=120, clock=clock)
    assert tracker.update(JobReading("J")).state == "WAITING"
    clock.now = 121
    run = tracker.update(JobReading("J"))
    assert run.state == "MISSING"
    assert "does not exist" in (run.message or "")


def test_without_a_missing_grace_the_tracker_waits_for_the_job() -> None:
    clock = Clock()
    tracker = ChainTracker("J", missing_grace=None, clock=clock)
    clock.now = 10**6
    assert tracker.update(JobReading("J")).state == "WAITING"


def test_a_terminal_job_without_logged_runs_is_judged_by_its_state() -> None:
    run = ChainTracker("J").update(JobReading("J", job_state="BROKEN"))
    assert run.state == "FAILED"
    assert run.message == "no run details are logged"


# --- the result ----------------------------------------------------------------------------------


def finished_run() -> ChainRun:
    tracker = ChainTracker("OTASK_CH_1_1", expected_steps=("VALIDATE", "LOAD"))
    return tracker.update(
        JobReading(
            "OTASK_CH_1_1",
            chain_name="PAYROLL",
            details=(
                detail(
                    "VALIDATE", "FAILED", 20001, log_id=1, seconds=3, errors="ORA-20001: 7 checks invalid"
                ),
                detail(None, "FAILED", 20001, log_id=2, seconds=4),
            ),
        )
    )


def test_the_result_is_json_safe_and_round_trips() -> None:
    run = finished_run()
    data = json.loads(json.dumps(run.to_dict()))
    assert ChainRun.from_dict(data) == run


def test_the_result_table_shows_every_step_and_the_job() -> None:
    table = finished_run().table().splitlines()
    assert table[0].split() == ["STEP", "STATE", "ERROR", "STARTED", "(UTC)", "ENDED", "(UTC)", "DURATION"]
    assert table[1].startswith("--------")
    assert table[2].split()[:3] == ["VALIDATE", "FAILED", "20001"]
    assert "2025-03-01 12:00:00" in table[2]
    assert table[2].endswith("3 s")
    assert table[3].split() == ["LOAD", "NOT_STARTED"]
    assert table[4] == "chain job OTASK_CH_1_1 (chain PAYROLL) FAILED with error 20001 after 4 s"
    assert table[5:] == ["step errors:", "  VALIDATE: ORA-20001: 7 checks invalid"]


def test_step_states_for_one_line_messages() -> None:
    assert finished_run().step_states() == "VALIDATE=FAILED(20001), LOAD=NOT_STARTED"


# --- privileges (pure part) ----------------------------------------------------------------------


def test_privilege_rows_separate_missing_from_role_only_grants() -> None:
    check = parse_privilege_rows(
        [
            ("APP", "APP", "CREATE JOB", 1, 1),
            ("APP", "APP", "CREATE RULE", 0, 1),
            ("APP", "APP", "CREATE RULE SET", 0, 0),
        ],
        roles_count=False,
    )
    assert not check.ok
    assert check.missing == (
        ("CREATE RULE", "granted only through a role; grant it directly"),
        ("CREATE RULE SET", "not granted"),
    )
    assert check.grants == (
        "EXEC DBMS_RULE_ADM.GRANT_SYSTEM_PRIVILEGE(DBMS_RULE_ADM.CREATE_RULE_OBJ, 'APP');",
        "EXEC DBMS_RULE_ADM.GRANT_SYSTEM_PRIVILEGE(DBMS_RULE_ADM.CREATE_RULE_SET_OBJ, 'APP');",
    )


def test_for_the_chain_calls_a_role_grant_is_enough_and_only_advice() -> None:
    check = parse_privilege_rows([("APP", "APP", "CREATE JOB", 0, 1), ("APP", "APP", "CREATE RULE", 0, 0)])
    assert check.missing == (("CREATE RULE", "not granted"),)
    assert check.role_only == ("CREATE JOB",)


def test_a_long_job_list_is_bound_as_a_clob() -> None:
    import oracledb

    from tests.unit.engine_fakes import TypedVar

    db = EngineFakeConnection().on(JOBS, []).on(STEPS, []).on(DETAILS, [])
    names = [f"OTASK_CH_{index:016X}_1" for index in range(120)]
    readings = read_jobs(db, [JobQuery(name) for name in names])
    assert set(readings) == set(names)
    binds = [b["jobs"] for _, b in db.calls()]
    assert len(binds) == 3
    assert all(isinstance(b, TypedVar) and b.type is oracledb.DB_TYPE_CLOB for b in binds)
    assert json.loads(binds[0].getvalue())[0] == {"name": names[0], "since": None}
