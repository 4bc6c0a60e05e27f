"""A counting fake of python-oracledb's asyncio API for the triggerer benchmarks.

It stands where ``oracledb.create_pool_async`` / ``oracledb.connect_async`` stand, so the real
provider code (trigger, watcher, poller, pools, status read) runs unchanged. Every call that would
be a network round trip awaits ``latency`` seconds: pool acquire, connect, ``execute``, each fetch
of ``arraysize`` rows beyond the rows prefetched with the execute, ``gettype``, and each dequeue
(``deqone`` or ``deqmany``). It counts:

* **round trips** and **client statements**: what the code sends;
* **database statements** and **commits**: what the database would run for those statements,
  from :func:`database_work`, a model of the engine's PL/SQL described there. The model reads the
  SQL text the code sends, so when the watchdog statement changes (one set-based statement instead
  of a call per id) the figure changes with it, without touching this file.

No Oracle is involved: figures about the database side are the model's, not measurements.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# --- the model of the database work behind one statement ---------------------------------------

HEALED_ID_STATEMENTS = 12
"""SQL statements the database runs for one RUNNING/STOPPING id in ``otask.instance_state`` at the
reviewed commit (sql/engine/otask.pkb ``instance_state`` -> otask_engine.pkb ``heal``), with live
workers and nothing to repair: the state select; ``try_lock_instance`` (select for update); in
``reconcile_locked``: ``otask_jobs.mark_lost`` (one UPDATE of otask_workers probing
USER_SCHEDULER_RUNNING_JOBS and USER_SCHEDULER_JOBS), the instance select, the orphan cursor;
``live_workers``; ``try_lock_taskspace``; in ``spawn_missing_locked``: the instance and taskspace
selects, ``live_workers``, ``pending_tasks``; and the state select after the heal."""
HEALED_ID_COMMITS = 1
"""``heal`` is an autonomous transaction that commits (the try-locks generate redo)."""
VIEW_PROBES_PER_WORKER = 2
"""``mark_lost`` probes USER_SCHEDULER_RUNNING_JOBS and USER_SCHEDULER_JOBS per live worker row."""
FINISHED_ID_STATEMENTS = 1
"""A finished instance costs ``instance_state`` one select (no heal)."""

_PER_ID_LOOP = re.compile(
    r"for\s+\w+\s+in\s*\(\s*select\s[^;]*?json_table\s*\(\s*:ids[^;]*?\)\s*loop(?P<body>.*?)end\s+loop",
    re.IGNORECASE | re.DOTALL,
)
_SET_BASED_CALL = re.compile(r"\botask\.heal_instances\s*\(", re.IGNORECASE)
SET_BASED_STATEMENTS = 2
"""``otask.heal_instances`` (the set-based watchdog of the engine's issue): the JSON check and ONE
select over all ids that finds the suspects (otask_engine ``find_and_heal``); each suspect then
costs a heal (HEALED_ID_STATEMENTS, one commit). The fake's workers are all alive and at their
target, so it has no suspects; the select's anti-join is modelled as the pessimistic nested-loop
plan: VIEW_PROBES_PER_WORKER dictionary-view probes per live worker of the ids read."""
_PER_ID_CALL = re.compile(r"\b(otask\.instance_state|otask_engine\.heal)\s*\(", re.IGNORECASE)
_STATEMENT_START = re.compile(
    r"(?:^|;|\bbegin\b|\bloop\b|\bthen\b|\belse\b)\s*(select|insert|update|delete|merge)\b",
    re.IGNORECASE,
)


@dataclass
class Work:
    """What the database runs for one statement the client sent (the model's estimate)."""

    statements: int = 0
    commits: int = 0
    view_probes: int = 0


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.DOTALL)


def database_work(sql: str, ids: list[int], instances: dict[int, Instance]) -> Work:
    """The model: the work behind ``sql`` sent with ``:ids`` (see the module docstring).

    * A PL/SQL block with a cursor loop over ``json_table(:ids ...)`` whose body calls
      ``otask.instance_state`` or ``otask_engine.heal`` (the watchdog at the reviewed commit)
      costs, per id, :data:`HEALED_ID_STATEMENTS` statements, :data:`HEALED_ID_COMMITS` commit and
      :data:`VIEW_PROBES_PER_WORKER` dictionary-view probes per live worker for a RUNNING or
      STOPPING instance, and :data:`FINISHED_ID_STATEMENTS` for another one, plus the loop's cursor.
    * A block calling ``otask.heal_instances`` (the set-based watchdog) costs
      :data:`SET_BASED_STATEMENTS` whatever the number of ids, no commit (no suspects: the fake's
      workers are all alive), and the view probes of its anti-join (see the constant).
    * Any other statement costs the SQL statements written in it, each counted once.
    """
    text = _strip_comments(sql)
    work = Work()
    if _SET_BASED_CALL.search(text):
        work.statements = SET_BASED_STATEMENTS + len(_STATEMENT_START.findall(text))
        for instance_id in dict.fromkeys(ids):
            instance = instances.get(instance_id)
            if instance is not None and instance.state in ("RUNNING", "STOPPING"):
                work.view_probes += VIEW_PROBES_PER_WORKER * instance.live_workers
        return work
    loop = _PER_ID_LOOP.search(text)
    if loop is not None and _PER_ID_CALL.search(loop.group("body")):
        work.statements += 1  # the cursor over the ids
        for instance_id in dict.fromkeys(ids):
            instance = instances.get(instance_id)
            if instance is not None and instance.state in ("RUNNING", "STOPPING"):
                work.statements += HEALED_ID_STATEMENTS
                work.commits += HEALED_ID_COMMITS
                work.view_probes += VIEW_PROBES_PER_WORKER * instance.live_workers
            else:
                work.statements += FINISHED_ID_STATEMENTS
        rest = text[: loop.start()] + text[loop.end() :]
        work.statements += len(_STATEMENT_START.findall(rest))
        return work
    work.statements = max(len(_STATEMENT_START.findall(text)), 1)
    return work


# --- the engine's data as the fake sees it ------------------------------------------------------


@dataclass
class Instance:
    state: str = "RUNNING"
    live_workers: int = 4


@dataclass
class Counts:
    round_trips: int = 0
    client_statements: int = 0
    fetch_round_trips: int = 0
    dequeues: int = 0
    db_statements: int = 0
    db_commits: int = 0
    db_view_probes: int = 0
    status_reads: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)

    def snapshot(self) -> dict[str, int]:
        return {
            "round_trips": self.round_trips,
            "client_statements": self.client_statements,
            "fetch_round_trips": self.fetch_round_trips,
            "dequeues": self.dequeues,
            "db_statements": self.db_statements,
            "db_commits": self.db_commits,
            "db_view_probes": self.db_view_probes,
            "status_reads": self.status_reads,
        }


STATUS_MARK = re.compile(r"from\s+otask_instances_v\s+i\s+where\s+i\.instance_id\s+in", re.IGNORECASE)
FAILED_MARK = re.compile(r"t\.state\s*=\s*'FAILED'", re.IGNORECASE)
SETUP_MARK = re.compile(r"sys_context\('USERENV',\s*'CURRENT_SCHEMA'\)", re.IGNORECASE)
PREFETCH_ROWS = 2
"""python-oracledb's default ``prefetchrows``: rows that come back with the execute itself."""


class RowSource:
    """Rows made as they are fetched: a real driver decodes each fetch's rows when they arrive, so
    the fake must not build 10 000 rows in one synchronous step the real one never takes."""

    def __init__(self, ids: list[int], make: Any) -> None:
        self.ids = ids
        self.make = make

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, start: int, stop: int) -> list[tuple[Any, ...]]:
        return [self.make(i) for i in self.ids[start:stop]]


class FakeClob:
    def __init__(self) -> None:
        self.value = ""

    def setvalue(self, position: int, value: str) -> None:
        self.value = value

    def getvalue(self) -> str:
        return self.value


class FakeOracle:
    """The database: instances, the completion queue, latency and the counters."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.instances: dict[int, Instance] = {}
        self.counts = Counts()
        self.messages: list[str] = []  # correlations (instance ids) on OTASK_EVENTS, in order
        self._published = asyncio.Event()
        self.sessions_opened = {"pooled": 0, "dedicated": 0}
        self.open_sessions = 0
        self.max_open_sessions = 0
        self.read_started: list[float] = []  # loop time of each STATUS_SQL statement

    async def round_trip(self) -> None:
        self.counts.round_trips += 1
        await asyncio.sleep(self.latency)

    def publish(self, instance_ids: list[int]) -> None:
        """The engine closed these instances and enqueued their completion messages."""
        self.messages.extend(str(i) for i in instance_ids)
        self._published.set()
        self._published = asyncio.Event()

    async def wait_published(self, seconds: float) -> None:
        """Return when messages are published, or after ``seconds`` (the server-side dequeue wait)."""
        event = self._published
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    # --- statements -----------------------------------------------------------------------------

    def answer(self, sql: str, binds: dict[str, Any]) -> list[tuple[Any, ...]] | RowSource:
        ids_bind = binds.get("ids")
        text = ids_bind.getvalue() if isinstance(ids_bind, FakeClob) else ids_bind
        ids = json.loads(text) if text else []
        work = database_work(sql, ids, self.instances)
        self.counts.client_statements += 1
        self.counts.db_statements += work.statements
        self.counts.db_commits += work.commits
        self.counts.db_view_probes += work.view_probes
        if SETUP_MARK.search(sql):
            self.counts.by_kind["listener setup"] += 1
            return [("APP", "2025-03-01 11:50:00.000000")]
        if STATUS_MARK.search(sql):
            self.counts.by_kind["status"] += 1
            self.counts.status_reads += 1
            self.read_started.append(asyncio.get_running_loop().time())
            return RowSource([i for i in ids if i in self.instances], self._status_row)
        if FAILED_MARK.search(sql):
            self.counts.by_kind["failed tasks"] += 1
            return []
        self.counts.by_kind["watchdog" if ids else "other"] += 1
        return []

    def _status_row(self, instance_id: int) -> tuple[Any, ...]:
        from datetime import datetime

        instance = self.instances[instance_id]
        running = instance.state == "RUNNING"
        counts = (0, 6, 4, 0, 0, 0, 0) if running else (0, 0, 0, 10, 0, 0, 0)
        created = datetime(2025, 3, 1, 11, 59, 58, instance_id % 1_000_000)
        started = datetime(2025, 3, 1, 12, 0, 0, instance_id % 1_000_000)
        ended = None if running else datetime(2025, 3, 1, 12, 0, 40)
        return (
            instance_id,
            instance.state,
            "ETL",
            None,
            4,
            instance.live_workers if running else 0,
            created,
            started,
            ended,
            40.0,
            0.25 if not running else 0.0,
            *counts,
        )

    # --- the driver's entry points --------------------------------------------------------------

    def open(self, kind: str) -> Session:
        self.sessions_opened[kind] += 1
        self.open_sessions += 1
        self.max_open_sessions = max(self.max_open_sessions, self.open_sessions)
        return Session(self, kind)

    def create_pool_async(self, **kwargs: Any) -> Pool:
        return Pool(self)

    async def connect_async(self, **kwargs: Any) -> Session:
        await self.round_trip()
        return self.open("dedicated")


class Pool:
    def __init__(self, db: FakeOracle) -> None:
        self.db = db
        self.idle: list[Session] = []

    async def acquire(self) -> Session:
        if self.idle:
            return self.idle.pop()
        await self.db.round_trip()  # a new session: connect
        return self.db.open("pooled")

    async def release(self, session: Session) -> None:
        self.idle.append(session)

    async def drop(self, session: Session) -> None:
        await session.close()

    async def close(self, force: bool = False) -> None:
        for session in self.idle:
            await session.close()
        self.idle = []


class Session:
    def __init__(self, db: FakeOracle, kind: str) -> None:
        self.db = db
        self.kind = kind
        self.call_timeout = 0
        self.module = ""
        self.current_schema = ""
        self.closed = False

    def cursor(self) -> Cursor:
        return Cursor(self)

    async def gettype(self, name: str) -> str:
        await self.db.round_trip()
        return f"type {name}"

    def queue(self, name: str, payload_type: Any = None) -> Queue:
        return Queue(self.db)

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.db.open_sessions -= 1


class Cursor:
    arraysize = 100
    prefetchrows = PREFETCH_ROWS

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows: list[tuple[Any, ...]] | RowSource = []

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def var(self, typ: Any = None, **kwargs: Any) -> FakeClob:
        return FakeClob()

    async def execute(self, sql: str, parameters: dict[str, Any] | None = None, **kwargs: Any) -> None:
        db = self.session.db
        await db.round_trip()
        self.rows = db.answer(sql, {**(parameters or {}), **kwargs})

    async def fetchall(self) -> list[tuple[Any, ...]]:
        source, self.rows = self.rows, []
        if not isinstance(source, RowSource):
            return list(source)
        rows = source.take(0, self.prefetchrows)  # came back with the execute
        while len(rows) < len(source):
            self.session.db.counts.fetch_round_trips += 1
            await self.session.db.round_trip()
            rows.extend(source.take(len(rows), len(rows) + max(self.arraysize, 1)))
        return rows

    async def callproc(self, name: str, keyword_parameters: dict[str, Any] | None = None) -> None:
        await self.session.db.round_trip()
        self.session.db.counts.client_statements += 1


class DeqOptions:
    consumername: str | None = None
    mode: int | None = None
    navigation: int | None = None
    wait: int | None = None
    condition: str | None = None


class Message:
    __slots__ = ("correlation", "payload")

    def __init__(self, correlation: str) -> None:
        self.correlation = correlation
        self.payload = None


class Queue:
    """OTASK_EVENTS in BROWSE mode: one round trip per dequeue call, waiting up to ``wait``."""

    def __init__(self, db: FakeOracle) -> None:
        self.db = db
        self.deqoptions = DeqOptions()
        self.position = 0

    async def _take(self, most: int) -> list[Message]:
        self.db.counts.dequeues += 1
        if self.position >= len(self.db.messages):
            await self.db.wait_published(float(self.deqoptions.wait or 0))
        await self.db.round_trip()
        taken = self.db.messages[self.position : self.position + most]
        self.position += len(taken)
        return [Message(correlation) for correlation in taken]

    async def deqone(self) -> Message | None:
        taken = await self._take(1)
        return taken[0] if taken else None

    async def deqmany(self, max_num_messages: int) -> list[Message]:
        return await self._take(max_num_messages)


def install(db: FakeOracle) -> None:
    """Put the fake where python-oracledb's asyncio entry points are."""
    import oracledb

    oracledb.create_pool_async = db.create_pool_async  # type: ignore[assignment]
    oracledb.connect_async = db.connect_async  # type: ignore[assignment]


def quantiles(samples: list[float]) -> dict[str, float]:
    """min, median, max (and p99 when there are enough samples) of ``samples``."""
    if not samples:
        return {"min": 0.0, "median": 0.0, "max": 0.0}
    ordered = sorted(samples)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {"min": ordered[0], "median": median, "max": ordered[-1]}
