"""Answers of the Scheduler dictionary views for the chain tests, on the fakes of fakes.py.

They prove the Python side only (which statements and DBMS_SCHEDULER calls are sent, with which
binds, and how rows are understood); tests/integration/test_chains.py runs the real thing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.unit.engine_fakes import EngineFakeConnection

PRIVILEGES = r"from json_table\(:privileges"
LIVE_JOBS = r"select s\.job_name, s\.state\n  from user_scheduler_jobs s"
SUCCEEDED_RUNS = r"select distinct d\.job_name\n  from user_scheduler_job_run_details d"
RULES_WITH_TEXT = r"select r\.rule_name, r\.condition, r\.action\n  from user_scheduler_chain_rules r"
CHAIN = r"from user_scheduler_chains c\n where c\.chain_name = :chain"
CHAIN_STEPS = r"from user_scheduler_chain_steps s"
CHAIN_RULES = r"from user_scheduler_chain_rules r"
RUNNING = r"from all_scheduler_running_chains r"
PROGRAMS = r"from user_scheduler_programs p"
JOBS = r"select s\.job_name, s\.state, s\.job_action"
STEPS = r"from user_scheduler_running_chains r"
DETAILS = r"from user_scheduler_job_run_details d"

T0 = datetime(2025, 3, 1, 12, 0, 0)  # naive UTC, as sys_extract_utc returns it


def privilege_rows(missing: Iterable[str] = (), role_only: Iterable[str] = (), *, user: str = "APP"):
    """An answer for PRIVILEGES_SQL: every asked privilege granted directly unless listed."""
    missing, role_only = set(missing), set(role_only)

    def answer(sql: str, binds: dict[str, Any]) -> list[tuple[Any, ...]]:
        rows = []
        for privilege in json.loads(binds["privileges"]):
            direct = 0 if privilege in missing | role_only else 1
            session = 1 if privilege in role_only or direct else 0
            rows.append((user, user, privilege, direct, session))
        return rows

    return answer


def names_of(binds: dict[str, Any]) -> list[str]:
    """Job names in a ``:jobs`` (objects) or ``:names`` (strings) JSON bind."""
    items = json.loads(binds.get("jobs") or binds.get("names"))
    return [item["name"] if isinstance(item, dict) else item for item in items]


@dataclass
class JobState:
    """What the three status statements return for one job at one read."""

    state: str | None = "RUNNING"  # USER_SCHEDULER_JOBS.STATE, None = no row
    chain: str = "C"
    steps: Sequence[tuple[str, str, int | None]] = ()  # (step, state, error code)
    details: Sequence[tuple[str | None, str, int | None, float]] = ()  # (subname, status, error#, seconds)
    errors: dict[str, str] = field(default_factory=dict)


def status_answers(db: EngineFakeConnection, job: str | None, *states: JobState) -> list[JobState]:
    """The job goes through ``states``, one per batched read (the last one repeats).

    ``job=None`` answers for whatever job is asked (its name depends on a run id not known yet).
    Returns the list of states served so far (one per read), for assertions.
    """

    def target(binds: dict[str, Any]) -> str | None:
        names = names_of(binds)
        if job is None:
            return names[0] if names else None
        return job if job in names else None

    pending = list(states)
    reads: list[JobState] = []

    def jobs(sql: str, binds: dict[str, Any]) -> list[tuple[Any, ...]]:
        state = pending.pop(0) if len(pending) > 1 else pending[0]
        reads.append(state)
        name = target(binds)
        if name is None or state.state is None:
            return []
        return [(name, state.state, f'"APP"."{state.chain}"')]

    def steps(sql: str, binds: dict[str, Any]) -> list[tuple[Any, ...]]:
        state, name = reads[-1], target(binds)
        if name is None or state.state is None:
            return []
        return [(name, state.chain, s, st, code, T0, None, 0) for s, st, code in state.steps]

    def details(sql: str, binds: dict[str, Any]) -> list[tuple[Any, ...]]:
        state, name = reads[-1], target(binds)
        if name is None:
            return []
        return [
            (name, sub, index + 1, status, code, T0, seconds, state.errors.get(sub or ""), None)
            for index, (sub, status, code, seconds) in enumerate(state.details)
        ]

    db.on(JOBS, jobs).on(STEPS, steps).on(DETAILS, details)
    return reads


@dataclass
class FakeTI:
    """The parts of a RuntimeTaskInstance the chain operator uses."""

    dag_id: str = "payroll"
    run_id: str = "manual__2025-03-01"
    task_id: str = "run_chain"
    map_index: int = -1
    try_number: int = 1
    xcoms: dict[str, Any] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str | None = None, key: str = "return_value", **kwargs: Any) -> Any:
        """Like the task SDK: without ``map_indexes`` a mapped task gets every map index's value."""
        self.pulls.append({"task_ids": task_ids, "key": key, **kwargs})
        if self.map_index >= 0 and "map_indexes" not in kwargs:
            return [self.xcoms.get(key), "SIBLING_JOB"]
        return self.xcoms.get(key)


def context(ti: FakeTI | None = None) -> dict[str, Any]:
    return {"ti": ti or FakeTI()}


def callprocs(db: EngineFakeConnection, prefix: str = "callproc ") -> list[tuple[str, dict[str, Any]]]:
    """(procedure, binds) of every callproc, in order."""
    return [(sql[len(prefix) :], binds) for sql, binds in db.calls() if sql.startswith(prefix)]


def static_status(db: EngineFakeConnection, jobs: dict[str, JobState]) -> None:
    """Several jobs, each in one fixed state, answered by the same three batched statements."""

    def wanted(binds: dict[str, Any]) -> list[tuple[str, JobState]]:
        return [(name, jobs[name]) for name in names_of(binds) if name in jobs]

    db.on(
        JOBS,
        lambda sql, binds: [
            (n, s.state, f'"APP"."{s.chain}"') for n, s in wanted(binds) if s.state is not None
        ],
    )
    db.on(
        STEPS,
        lambda sql, binds: [
            (n, s.chain, step, st, code, T0, None, 0)
            for n, s in wanted(binds)
            if s.state is not None
            for step, st, code in s.steps
        ],
    )
    db.on(
        DETAILS,
        lambda sql, binds: [
            (n, sub, index + 1, status, code, T0, seconds, None, None)
            for n, s in wanted(binds)
            for index, (sub, status, code, seconds) in enumerate(s.details)
        ],
    )
