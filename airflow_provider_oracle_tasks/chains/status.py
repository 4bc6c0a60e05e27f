"""What a chain job is doing: one batched read, a pure verdict, and a result that fits in XCom.

**Read** (:data:`JOBS_SQL`, :data:`STEPS_SQL`, :data:`DETAILS_SQL`): three statements for any
number of chain jobs, all bound to one JSON array ``:jobs`` of ``{"name": ..., "since": ...}``,
so a triggerer that waits for a hundred chain jobs on one connection still runs three statements
per interval. ``USER_SCHEDULER_JOBS`` says whether the job still exists and its state
(``RUNNING``, ``CHAIN_STALLED``...); ``USER_SCHEDULER_RUNNING_CHAINS`` gives each step's state
while the job runs; ``USER_SCHEDULER_JOB_RUN_DETAILS`` keeps the outcome once it is gone (a
``RUN_CHAIN`` job drops itself when it ends): the chain job's own row (``JOB_SUBNAME`` null) and
one row per step job (``JOB_SUBNAME`` = step name). ``since`` (epoch seconds, optional) ignores
older runs of a job name that runs repeatedly.

**Verdict** (:class:`ChainTracker`): the job is

* ``RUNNING`` - the job runs and some step runs, waits for its event, is scheduled or paused;
* ``STALLED`` - Oracle set ``CHAIN_STALLED`` (no step running and no rule can fire; the same
  moment the ``job_chain_stalled`` event is raised), a nested chain step is ``STALLED``, or, as a
  backstop, the job runs but no step has been active for ``stall_grace`` seconds on a chain
  without an evaluation interval;
* ``SUCCEEDED`` / ``FAILED`` / ``STOPPED`` - from the chain job's run details (``END n`` with
  n > 0 is FAILED with error n);
* ``WAITING`` - the job exists but has not run (since ``since``) or is not visible yet;
* ``MISSING`` - neither the job nor a run of it exists after ``missing_grace`` seconds.

**Result** (:class:`ChainRun`): per step state, error code, start, end, duration and the first
line of its error stack, plus the job's status - JSON-safe (``to_dict``/``from_dict``), and
printable as a table for the task log (:meth:`ChainRun.table`).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow_provider_oracle_tasks.chains.defaults import DEFAULT_MISSING_GRACE, DEFAULT_STALL_GRACE
from airflow_provider_oracle_tasks.db.binds import first_line, json_bind

RUNNING = "RUNNING"
STALLED = "STALLED"
WAITING = "WAITING"
MISSING = "MISSING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
STOPPED = "STOPPED"
FINISHED = frozenset({SUCCEEDED, FAILED, STOPPED, STALLED, MISSING})
"""Verdicts after which a waiter stops waiting (STALLED included: it never ends on its own)."""

LIVE_JOB_STATES = frozenset({"RUNNING", "CHAIN_STALLED"})
ACTIVE_STEP_STATES = frozenset({"RUNNING", "SCHEDULED", "RETRY SCHEDULED", "PAUSED"})
TERMINAL_JOB_STATES = {"SUCCEEDED": SUCCEEDED, "COMPLETED": SUCCEEDED, "FAILED": FAILED, "BROKEN": FAILED}
_MESSAGE_CHARS = 300

_JOBS = "select j.name from json_table(:jobs, '$[*]' columns (name varchar2(128) path '$.name')) j"

JOBS_SQL = f"""\
select s.job_name, s.state, s.job_action
  from user_scheduler_jobs s
 where s.job_name in ({_JOBS})"""

STEPS_SQL = f"""\
select r.job_name, r.chain_name, r.step_name, r.state, r.error_code,
       sys_extract_utc(r.start_date) as start_date, sys_extract_utc(r.end_date) as end_date,
       case when c.evaluation_interval is null then 0 else 1 end as evaluation_interval
  from user_scheduler_running_chains r
  left join user_scheduler_chains c
    on c.chain_name = r.chain_name and r.chain_owner = sys_context('USERENV', 'CURRENT_SCHEMA')
 where r.job_subname is null
   and r.job_name in ({_JOBS})
 order by r.job_name, r.step_name"""

DETAILS_SQL = """\
select d.job_name, d.job_subname, d.log_id, d.status, d.error#,
       sys_extract_utc(d.actual_start_date) as started,
       extract(day from d.run_duration) * 86400 + extract(hour from d.run_duration) * 3600
         + extract(minute from d.run_duration) * 60 + extract(second from d.run_duration) as seconds,
       substr(d.errors, 1, 1000) as errors,
       substr(d.additional_info, 1, 1000) as additional_info
  from user_scheduler_job_run_details d
  join json_table(:jobs, '$[*]' columns (name varchar2(128) path '$.name', since number path '$.since')) j
    on j.name = d.job_name
 where j.since is null
    or d.actual_start_date >= timestamp '1970-01-01 00:00:00 +00:00' + numtodsinterval(j.since, 'SECOND')
 order by d.job_name, d.log_id"""


@dataclass(frozen=True)
class JobQuery:
    """One job to read; ``since`` (epoch seconds) skips runs that started earlier."""

    name: str
    since: float | None = None


def jobs_bind(queries: Iterable[JobQuery]) -> str:
    """The ``:jobs`` bind: a compact JSON array, sorted, one entry per job name."""
    unique = {q.name: q for q in queries}
    items = [{"name": q.name, "since": q.since} for q in sorted(unique.values(), key=lambda q: q.name)]
    return json.dumps(items, separators=(",", ":"))


# --- rows -> readings (pure) ---------------------------------------------------------------------


@dataclass(frozen=True)
class StepRow:
    step: str
    state: str
    error_code: int | None
    started: datetime | None
    ended: datetime | None


@dataclass(frozen=True)
class DetailRow:
    subname: str | None
    log_id: int
    status: str
    error_code: int | None
    started: datetime | None
    seconds: float | None
    errors: str | None
    info: str | None


@dataclass(frozen=True)
class JobReading:
    """Everything one read found about one job name."""

    name: str
    job_state: str | None = None
    chain_name: str | None = None
    steps: tuple[StepRow, ...] = ()
    evaluation_interval: bool = False
    details: tuple[DetailRow, ...] = ()


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def parse_readings(
    names: Iterable[str],
    job_rows: Sequence[Sequence[Any]],
    step_rows: Sequence[Sequence[Any]],
    detail_rows: Sequence[Sequence[Any]],
) -> dict[str, JobReading]:
    """Rows of the three statements -> a reading for every requested name (empty if nothing found)."""
    jobs = {str(r[0]): (str(r[1]) if r[1] else None, r[2]) for r in job_rows}
    steps: dict[str, list[StepRow]] = {}
    chains: dict[str, str] = {}
    intervals: dict[str, bool] = {}
    for job, chain, step, state, code, started, ended, interval in step_rows:
        steps.setdefault(str(job), []).append(StepRow(str(step), str(state), _int(code), started, ended))
        chains[str(job)] = str(chain)
        intervals[str(job)] = bool(interval)
    details: dict[str, list[DetailRow]] = {}
    for job, subname, log_id, status, code, started, seconds, errors, info in detail_rows:
        details.setdefault(str(job), []).append(
            DetailRow(
                str(subname) if subname else None,
                int(log_id),
                str(status or ""),
                _int(code),
                started,
                None if seconds is None else float(seconds),
                errors,
                info,
            )
        )
    readings = {}
    for name in names:
        state, action = jobs.get(name, (None, None))
        readings[name] = JobReading(
            name=name,
            job_state=state,
            chain_name=chains.get(name) or (_chain_of(action) if action else None),
            steps=tuple(steps.get(name, ())),
            evaluation_interval=intervals.get(name, False),
            details=tuple(sorted(details.get(name, ()), key=lambda d: d.log_id)),
        )
    return readings


def _chain_of(job_action: Any) -> str:
    """``"APP"."PAYROLL"`` (a chain job's action) -> ``PAYROLL``."""
    return str(job_action).split(".")[-1].strip('"')


def read_jobs(connection: Any, queries: Sequence[JobQuery]) -> dict[str, JobReading]:
    """The batched read on a sync connection (operators, sensors' poke)."""
    if not queries:
        return {}
    text = jobs_bind(queries)
    rows = []
    with connection.cursor() as cursor:
        for sql in (JOBS_SQL, STEPS_SQL, DETAILS_SQL):
            cursor.execute(sql, {"jobs": json_bind(cursor, text)})
            rows.append(cursor.fetchall())
    return parse_readings([q.name for q in queries], *rows)


async def read_jobs_async(connection: Any, queries: Sequence[JobQuery]) -> dict[str, JobReading]:
    """The same batched read on an ``oracledb.AsyncConnection`` (triggers)."""
    if not queries:
        return {}
    text = jobs_bind(queries)
    rows = []
    with connection.cursor() as cursor:
        for sql in (JOBS_SQL, STEPS_SQL, DETAILS_SQL):
            await cursor.execute(sql, {"jobs": json_bind(cursor, text)})
            rows.append(await cursor.fetchall())
    return parse_readings([q.name for q in queries], *rows)


# --- the result ----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat()


def _epoch(value: datetime) -> float:
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return aware.timestamp()


def _first_line(text: str | None) -> str | None:
    return first_line(text, _MESSAGE_CHARS) or None


@dataclass(frozen=True)
class StepResult:
    step: str
    state: str
    error_code: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_seconds: float | None = None
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "state": self.state,
            "error_code": self.error_code,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_seconds": self.duration_seconds,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepResult:
        return cls(
            step=str(data["step"]),
            state=str(data["state"]),
            error_code=_int(data.get("error_code")),
            started_at=data.get("started_at"),
            ended_at=data.get("ended_at"),
            duration_seconds=data.get("duration_seconds"),
            message=data.get("message"),
        )


@dataclass(frozen=True)
class ChainRun:
    """A chain job at one read: the verdict, the job's outcome and every step's result."""

    job_name: str
    state: str
    chain_name: str | None = None
    job_state: str | None = None
    error_code: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    duration_seconds: float | None = None
    message: str | None = None
    steps: tuple[StepResult, ...] = ()

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.state == SUCCEEDED

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; ``from_dict(to_dict())`` gives an equal object."""
        return {
            "job_name": self.job_name,
            "state": self.state,
            "chain_name": self.chain_name,
            "job_state": self.job_state,
            "error_code": self.error_code,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_seconds": self.duration_seconds,
            "message": self.message,
            "steps": [step.to_dict() for step in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChainRun:
        return cls(
            job_name=str(data["job_name"]),
            state=str(data["state"]),
            chain_name=data.get("chain_name"),
            job_state=data.get("job_state"),
            error_code=_int(data.get("error_code")),
            started_at=data.get("started_at"),
            ended_at=data.get("ended_at"),
            duration_seconds=data.get("duration_seconds"),
            message=data.get("message"),
            steps=tuple(StepResult.from_dict(s) for s in data.get("steps") or ()),
        )

    def step_states(self) -> str:
        """``WAIT=SUCCEEDED, VALIDATE=FAILED(20001), LOAD=NOT_STARTED``: for one-line messages."""
        return ", ".join(
            f"{s.step}={s.state}" + (f"({s.error_code})" if s.error_code else "") for s in self.steps
        )

    def headline(self) -> str:
        chain = f" (chain {self.chain_name})" if self.chain_name else ""
        code = f" with error {self.error_code}" if self.error_code else ""
        took = f" after {_duration(self.duration_seconds)}" if self.duration_seconds is not None else ""
        return f"chain job {self.job_name}{chain} {self.state}{code}{took}"

    def table(self) -> str:
        """Fixed-width table of the steps and the job's final line, for the task log."""
        header = ("STEP", "STATE", "ERROR", "STARTED (UTC)", "ENDED (UTC)", "DURATION")
        rows = [
            (
                s.step,
                s.state,
                "" if s.error_code is None else str(s.error_code),
                _short_time(s.started_at),
                _short_time(s.ended_at),
                _duration(s.duration_seconds),
            )
            for s in self.steps
        ]
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        lines = [
            "  ".join(str(value).ljust(widths[i]) for i, value in enumerate(row)).rstrip()
            for row in [header, *rows]
        ]
        lines.insert(1, "  ".join("-" * width for width in widths))
        lines.append(self.headline() + (f": {self.message}" if self.message else ""))
        errors = [f"  {s.step}: {s.message}" for s in self.steps if s.message and s.state == FAILED]
        if errors:
            lines.append("step errors:")
            lines.extend(errors)
        return "\n".join(lines)


def _short_time(value: str | None) -> str:
    return value[:19].replace("T", " ") if value else ""


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    total = max(round(seconds), 0)
    if total < 120:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 120:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _from_detail(step: str, row: DetailRow) -> StepResult:
    ended = row.started + timedelta(seconds=row.seconds) if row.started and row.seconds is not None else None
    state = row.status if row.status in (SUCCEEDED, FAILED, STOPPED) else row.status or "UNKNOWN"
    return StepResult(
        step, state, row.error_code, _iso(row.started), _iso(ended), row.seconds, _first_line(row.errors)
    )


def _from_live(row: StepRow) -> StepResult:
    seconds = (row.ended - row.started).total_seconds() if row.started and row.ended else None
    return StepResult(row.step, row.state, row.error_code, _iso(row.started), _iso(row.ended), seconds)


# --- the verdict ---------------------------------------------------------------------------------


@dataclass
class ChainTracker:
    """Turns successive :class:`JobReading` s of one job into :class:`ChainRun` verdicts.

    It remembers what an instant read cannot know: the step states seen while the job ran (the
    last word on steps without a run-details row, such as event steps), since when no step has
    been active (the stall backstop) and since when the job has not been found.
    ``expected_steps`` lists steps that have not run yet, so the result shows every step.
    """

    job_name: str
    expected_steps: Sequence[str] = ()
    since: float | None = None
    """Epoch seconds: runs that started earlier are ignored (a job name that runs repeatedly)."""
    stall_grace: float | None = DEFAULT_STALL_GRACE
    missing_grace: float | None = DEFAULT_MISSING_GRACE
    clock: Callable[[], float] = time.monotonic
    seen_running: bool = False
    last_live: dict[str, StepResult] = field(default_factory=dict)
    quiet_since: float | None = None
    missing_since: float | None = None

    def update(self, reading: JobReading) -> ChainRun:
        now = self.clock()
        if self.since is not None:
            recent = tuple(d for d in reading.details if d.started and _epoch(d.started) >= self.since)
            reading = replace(reading, details=recent)
        if reading.job_state in LIVE_JOB_STATES:
            self.missing_since = None
            self.seen_running = True
            return self._live(reading, now)
        self.quiet_since = None
        chain_rows = [d for d in reading.details if d.subname is None]
        if chain_rows:
            self.missing_since = None
            return self._finished(reading, chain_rows)
        if reading.job_state in TERMINAL_JOB_STATES:
            return self._run(
                reading, TERMINAL_JOB_STATES[reading.job_state], message="no run details are logged"
            )
        if reading.job_state is not None:
            return self._run(reading, WAITING, message=f"job state {reading.job_state}; it has not run yet")
        if self.missing_since is None:
            self.missing_since = now
        if self.missing_grace is not None and now - self.missing_since >= self.missing_grace:
            where = (
                "ended without a run-details row (logging off or purged?)"
                if self.seen_running
                else "does not exist"
            )
            return self._run(
                reading, MISSING, message=f"the job {where}; checked for {self.missing_grace:g} s"
            )
        return self._run(reading, WAITING, message="the job is not visible (yet)")

    def _steps(self, overlay: Mapping[str, StepResult]) -> tuple[StepResult, ...]:
        merged: dict[str, StepResult] = {s: StepResult(s, "NOT_STARTED") for s in self.expected_steps}
        merged.update(self.last_live)
        merged.update(overlay)
        return tuple(merged.values())

    def _run(self, reading: JobReading, state: str, **values: Any) -> ChainRun:
        return ChainRun(
            job_name=self.job_name,
            state=state,
            chain_name=reading.chain_name,
            job_state=reading.job_state,
            steps=values.pop("steps", None) or self._steps({}),
            **values,
        )

    def _live(self, reading: JobReading, now: float) -> ChainRun:
        live = {row.step: _from_live(row) for row in reading.steps}
        for detail in reading.details:
            if detail.subname in live and detail.errors:
                live[detail.subname] = replace(live[detail.subname], message=_first_line(detail.errors))
        self.last_live = dict(live)
        steps = self._steps(live)
        if reading.job_state == "CHAIN_STALLED":
            return self._run(reading, STALLED, steps=steps, message="Oracle reports CHAIN_STALLED")
        stalled = [row.step for row in reading.steps if row.state == STALLED]
        if stalled:
            return self._run(
                reading, STALLED, steps=steps, message=f"nested chain step(s) {', '.join(stalled)} stalled"
            )
        quiet = bool(reading.steps) and not any(row.state in ACTIVE_STEP_STATES for row in reading.steps)
        if not quiet or reading.evaluation_interval or self.stall_grace is None:
            self.quiet_since = None
            return self._run(reading, RUNNING, steps=steps)
        if self.quiet_since is None:
            self.quiet_since = now
        if now - self.quiet_since >= self.stall_grace:
            return self._run(
                reading,
                STALLED,
                steps=steps,
                message=f"no step running and no rule fired for {self.stall_grace:g} s",
            )
        return self._run(reading, RUNNING, steps=steps)

    def _finished(self, reading: JobReading, chain_rows: Sequence[DetailRow]) -> ChainRun:
        last = chain_rows[-1]
        previous = chain_rows[-2].log_id if len(chain_rows) > 1 else -1
        overlay: dict[str, StepResult] = {}
        for detail in reading.details:
            if detail.subname is not None and previous < detail.log_id:
                overlay[detail.subname] = _from_detail(detail.subname, detail)
        for name, result in self.last_live.items():
            if name not in overlay and result.state in ACTIVE_STEP_STATES:
                overlay[name] = replace(
                    result,
                    state="UNKNOWN",
                    message="was running at the last read; the chain ended before the next",
                )
        state = last.status if last.status in (SUCCEEDED, FAILED, STOPPED) else FAILED
        if state == SUCCEEDED and last.error_code:
            state = FAILED
        ended = (
            last.started + timedelta(seconds=last.seconds)
            if last.started and last.seconds is not None
            else None
        )
        return self._run(
            reading,
            state,
            steps=self._steps(overlay),
            error_code=last.error_code,
            started_at=_iso(last.started),
            ended_at=_iso(ended),
            duration_seconds=None if last.seconds is None or math.isnan(last.seconds) else last.seconds,
            message=_first_line(last.errors) or _first_line(last.info),
        )
