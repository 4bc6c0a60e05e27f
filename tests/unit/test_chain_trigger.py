"""OracleSchedulerChainTrigger and the shared chain job watcher, with fake reads (no database).

The readings are scripted per batched read; the async fake driver of engine_fakes stands in for
python-oracledb's pools in the test that proves one pooled session per connection id.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from airflow_provider_oracle_tasks.chains.status import (
    DetailRow,
    JobQuery,
    JobReading,
    StepRow,
    read_jobs_async,
)
from airflow_provider_oracle_tasks.db.async_connection import close_all
from airflow_provider_oracle_tasks.triggers import chain as chain_trigger
from airflow_provider_oracle_tasks.triggers._chain_watcher import ChainWatcherRegistry, shared_chain_watchers
from airflow_provider_oracle_tasks.triggers.chain import OracleSchedulerChainTrigger
from tests.unit.chain_fakes import T0, JobState, static_status, status_answers
from tests.unit.engine_fakes import AsyncFakeConnection, AsyncFakeDriver, EngineFakeConnection, patch_connect
from tests.unit.fakes import db_error

Script = list[Any]  # JobReading | Exception per read, for one job; the last one repeats


def running(*steps: tuple[str, str], state: str = "RUNNING") -> JobReading:
    return JobReading("J", state, "C", tuple(StepRow(s, st, None, T0, None) for s, st in steps))


def ended(status: str, code: int = 0, **steps: str) -> JobReading:
    rows = [
        DetailRow(name, i + 1, st, 0 if st == "SUCCEEDED" else 1, T0, 1.0, None, None)
        for i, (name, st) in enumerate(steps.items())
    ]
    rows.append(DetailRow(None, 99, status, code, T0, 2.0, None, None))
    return JobReading("J", details=tuple(rows))


class ScriptedRead:
    """A watcher read: per call, the next scripted reading (or error) of every job asked for."""

    def __init__(self, scripts: dict[str, Script]) -> None:
        self.scripts = scripts
        self.calls: list[list[str]] = []

    async def __call__(self, conn_id: str, queries: list[JobQuery]) -> dict[str, JobReading]:
        self.calls.append([q.name for q in queries])
        result = {}
        for query in queries:
            script = self.scripts[query.name]
            item = script.pop(0) if len(script) > 1 else script[0]
            if isinstance(item, Exception):
                raise item
            result[query.name] = JobReading(
                query.name, item.job_state, item.chain_name, item.steps, False, item.details
            )
        return result


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ScriptedRead]:
    def install(scripts: dict[str, Script], **options: Any) -> ScriptedRead:
        read = ScriptedRead(scripts)
        registry = ChainWatcherRegistry(read=read, base_delay=0.0, max_delay=0.0, **options)
        monkeypatch.setattr(chain_trigger, "shared_chain_watchers", registry)
        return read

    return install


def trigger(job: str = "J", **overrides: Any) -> OracleSchedulerChainTrigger:
    values: dict[str, Any] = {"job_name": job, "poll_interval": 0.01, "expected_steps": ["A", "B"]}
    values.update(overrides)
    return OracleSchedulerChainTrigger(**values)


async def first_event(t: OracleSchedulerChainTrigger, limit: float = 5.0) -> dict[str, Any]:
    async with asyncio.timeout(limit):
        async for event in t.run():
            return event.payload
    raise AssertionError("the trigger ended without an event")


# --- serialize -----------------------------------------------------------------------------------


def test_serialize_round_trips_with_json_safe_values() -> None:
    original = OracleSchedulerChainTrigger(
        job_name="OTASK_CH_ABC_2",
        oracle_conn_id="ora",
        poll_interval=15,
        timeout_at=1_700_000_000.5,
        expected_steps=("A", "B"),
        since=1_699_999_000.0,
        stall_grace=None,
        missing_grace=30,
        stop_on_kill=True,
        force_stop=True,
    )
    path, kwargs = original.serialize()
    assert path == "airflow_provider_oracle_tasks.triggers.chain.OracleSchedulerChainTrigger"
    again = OracleSchedulerChainTrigger(**json.loads(json.dumps(kwargs)))
    assert again.serialize() == (path, kwargs)
    assert kwargs["expected_steps"] == ["A", "B"]
    assert kwargs["stall_grace"] is None


# --- run -----------------------------------------------------------------------------------------


async def test_success(scripted: Callable[..., ScriptedRead]) -> None:
    read = scripted({"J": [running(("A", "RUNNING")), ended("SUCCEEDED", A="SUCCEEDED", B="SUCCEEDED")]})
    event = await first_event(trigger())
    assert event["status"] == "finished"
    assert event["run"]["state"] == "SUCCEEDED"
    assert [s["state"] for s in event["run"]["steps"]] == ["SUCCEEDED", "SUCCEEDED"]
    assert len(read.calls) == 2


async def test_failure_carries_the_end_code_and_the_step_states(
    scripted: Callable[..., ScriptedRead],
) -> None:
    scripted({"J": [ended("FAILED", 20001, A="SUCCEEDED", B="FAILED")]})
    event = await first_event(trigger())
    assert event["run"]["state"] == "FAILED"
    assert event["run"]["error_code"] == 20001
    assert {s["step"]: s["state"] for s in event["run"]["steps"]} == {"A": "SUCCEEDED", "B": "FAILED"}


async def test_stall(scripted: Callable[..., ScriptedRead]) -> None:
    scripted(
        {
            "J": [
                running(("A", "RUNNING")),
                running(("A", "FAILED"), ("B", "NOT_STARTED"), state="CHAIN_STALLED"),
            ]
        }
    )
    event = await first_event(trigger())
    assert event["status"] == "finished"
    assert event["run"]["state"] == "STALLED"
    assert event["run"]["job_state"] == "CHAIN_STALLED"


async def test_transient_errors_are_retried_then_the_wait_goes_on(
    scripted: Callable[..., ScriptedRead],
) -> None:
    lost = db_error("ORA-03113: end-of-file on communication channel")
    read = scripted(
        {"J": [lost, lost, lost, ended("SUCCEEDED", A="SUCCEEDED", B="SUCCEEDED")]},
        attempts=2,
    )
    event = await first_event(trigger())
    assert event["run"]["state"] == "SUCCEEDED"
    assert len(read.calls) == 4  # 2 attempts failed (a transient problem), 1 more failed, then success


async def test_a_non_transient_error_ends_the_wait_with_its_code(
    scripted: Callable[..., ScriptedRead],
) -> None:
    scripted({"J": [db_error("ORA-00942: table or view does not exist")]})
    event = await first_event(trigger())
    assert event["status"] == "error"
    assert event["job_name"] == "J"
    assert "ORA-00942" in event["message"]


async def test_timeout_reports_the_last_reading(scripted: Callable[..., ScriptedRead]) -> None:
    scripted({"J": [running(("A", "RUNNING"))]})
    event = await first_event(trigger(timeout_at=time.time() + 0.1))
    assert event["status"] == "timeout"
    assert event["run"]["state"] == "RUNNING"
    assert "did not end before the task's timeout" in event["message"]


async def test_triggers_of_one_connection_share_one_batched_read(
    scripted: Callable[..., ScriptedRead],
) -> None:
    done = ended("SUCCEEDED", A="SUCCEEDED")
    read = scripted({"J1": [running(("A", "RUNNING")), done], "J2": [running(("A", "RUNNING")), done]})
    events = await asyncio.gather(first_event(trigger("J1")), first_event(trigger("J2")))
    assert [e["run"]["state"] for e in events] == ["SUCCEEDED", "SUCCEEDED"]
    assert ["J1", "J2"] in read.calls
    assert all(len(call) <= 2 for call in read.calls)
    assert len(read.calls) < 4  # not one read per trigger per tick


async def test_the_real_pool_path_uses_one_session_for_many_chain_triggers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = EngineFakeConnection()
    patch_connect(monkeypatch, db)
    driver = AsyncFakeDriver(db).install(monkeypatch)
    static_status(
        db, {job: JobState(state=None, details=[(None, "SUCCEEDED", 0, 1.0)]) for job in ("J1", "J2", "J3")}
    )
    try:
        events = await asyncio.gather(*(first_event(trigger(job)) for job in ("J1", "J2", "J3")))
    finally:
        await shared_chain_watchers.close_all()
        await close_all()
    assert {e["run"]["job_name"]: e["run"]["state"] for e in events} == {
        j: "SUCCEEDED" for j in ("J1", "J2", "J3")
    }
    assert driver.sessions_opened == {"pooled": 1, "dedicated": 0}
    assert len(db.calls()) == 3  # one batched read (three statements) for the three triggers


async def test_the_async_read_sends_the_same_three_statements() -> None:
    db = EngineFakeConnection()
    status_answers(db, "J", JobState(steps=[("A", "RUNNING", None)]))
    readings = await read_jobs_async(AsyncFakeConnection(db), [JobQuery("J")])
    assert readings["J"].steps[0].step == "A"
    assert len(db.calls()) == 3


# --- on_kill -------------------------------------------------------------------------------------


class StopRecorder:
    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.error = error

    def cursor(self) -> StopRecorder:
        return self

    def __enter__(self) -> StopRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    async def callproc(self, name: str, keyword_parameters: dict[str, Any]) -> None:
        self.calls.append((name, keyword_parameters))
        if self.error is not None:
            raise self.error


def patch_connection(monkeypatch: pytest.MonkeyPatch, recorder: StopRecorder) -> None:
    @asynccontextmanager
    async def connection(conn_id: str, **kwargs: Any) -> AsyncIterator[StopRecorder]:
        yield recorder

    monkeypatch.setattr(chain_trigger, "oracle_async_connection", connection)


async def test_on_kill_stops_the_job_the_operator_started(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = StopRecorder()
    patch_connection(monkeypatch, recorder)
    await trigger(stop_on_kill=True, force_stop=True).on_kill()
    assert recorder.calls == [("dbms_scheduler.stop_job", {"job_name": "J", "force": True})]


async def test_on_kill_of_a_sensor_leaves_the_job_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = StopRecorder()
    patch_connection(monkeypatch, recorder)
    await trigger(stop_on_kill=False).on_kill()
    assert recorder.calls == []


async def test_on_kill_of_a_job_that_already_ended_is_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = StopRecorder(db_error('ORA-27366: job "APP"."J" is not running'))
    patch_connection(monkeypatch, recorder)
    await trigger(stop_on_kill=True).on_kill()
    assert len(recorder.calls) == 1
