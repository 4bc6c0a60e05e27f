"""Triggerer fan-out: what N deferred waits on ONE connection id cost the database.

Runs N ``OracleTaskManagerInstanceTrigger`` s concurrently in one event loop (as one triggerer
process does) against the counting fake async driver of ``tests/unit/engine_fakes.py``: every
session it opens and every statement it answers is counted, and each round trip takes
``--latency`` seconds. No Oracle is involved, so the figures are about the provider's Python
side: how many sessions and status reads the shared watcher makes, and what a waiting trigger
costs the triggerer in CPU and memory.

Phases:

1. steady wait: N triggers wait on N RUNNING instances for ``--intervals`` poll intervals;
   reported: sessions opened (pooled + dedicated listener), status reads per interval (each read
   is the batched three-statement read of all N ids), CPU and memory per trigger;
2. completion: every instance closes and the engine enqueues N completion messages; reported:
   time until all N triggers fired, and how many reads that took;
3. for contrast, the same steady wait with sharing defeated (every trigger on its own
   connection id, so each gets its own watcher): sessions and reads per interval.

Targets (DESIGN.md, Performance): <= 2 sessions and 1 status read per interval for all N.
Nothing is asserted; the figures are printed for the run at hand.

    python benchmarks/triggerer_fanout.py --triggers 1000 --interval 1 --intervals 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.unit fakes

os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

import oracledb

from airflow_provider_oracle_tasks.triggers import _instance_watcher as instance_watcher
from airflow_provider_oracle_tasks.triggers import task_manager
from airflow_provider_oracle_tasks.triggers.task_manager import OracleTaskManagerInstanceTrigger
from tests.unit.engine_fakes import AsyncFakeDriver, EngineFakeConnection, engine_answers, status_row
from tests.unit.fakes import FakeVar

FIRST_ID = 1_000_000


class Engine:
    """Answers the status read for whatever ids are asked: RUNNING until ``finish()``."""

    def __init__(self, triggers: int) -> None:
        self.state = "RUNNING"
        self.reads: list[int] = []  # ids per STATUS statement
        self.warm = asyncio.Event()  # set once every trigger's instance was read
        self.triggers = triggers

    def finish(self) -> None:
        self.state = "SUCCEEDED"

    def statuses(self, sql: str, binds: dict[str, Any]) -> list[tuple[Any, ...]]:
        ids = binds["ids"]
        requested = json.loads(ids.getvalue() if isinstance(ids, FakeVar) else ids)
        self.reads.append(len(requested))
        if sum(self.reads) >= self.triggers:
            self.warm.set()
        counts = {"RUNNING": 4, "READY": 6} if self.state == "RUNNING" else {"SUCCEEDED": 10}
        return [status_row(i, self.state, counts=counts) for i in requested]


def set_connection(conn_id: str) -> None:
    value = {"conn_type": "oracle", "login": "APP", "password": "bench-pw", "extra": {"dsn": "db:1521/FREE"}}
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(value)


async def wait_for(trigger: OracleTaskManagerInstanceTrigger) -> float:
    async for _event in trigger.run():
        return time.perf_counter()
    raise RuntimeError("trigger ended without an event")


async def steady(n: int, interval: float, intervals: int, latency: float, shared: bool) -> dict[str, Any]:
    engine = Engine(n)
    connection = EngineFakeConnection()
    engine_answers(connection, engine.statuses)
    driver = AsyncFakeDriver(connection, latency=latency)
    oracledb.create_pool_async = driver.create_pool_async  # type: ignore[assignment]
    oracledb.connect_async = driver.connect_async  # type: ignore[assignment]
    registry = instance_watcher.WatcherRegistry()
    task_manager.shared_watchers = registry
    conn_ids = ["bench"] * n if shared else [f"bench_{i}" for i in range(n)]
    for conn_id in set(conn_ids):
        set_connection(conn_id)

    gc.collect()
    tracemalloc.start()
    before_memory = tracemalloc.get_traced_memory()[0]
    triggers = [
        OracleTaskManagerInstanceTrigger(
            instance_id=FIRST_ID + i,
            oracle_conn_id=conn_ids[i],
            poll_interval=interval,
            progress_log_interval=3600,
        )
        for i in range(n)
    ]
    tasks = [asyncio.create_task(wait_for(t)) for t in triggers]
    await engine.warm.wait()  # warm-up: every trigger subscribed and read once
    await asyncio.sleep(interval / 2)
    memory_per_trigger = (tracemalloc.get_traced_memory()[0] - before_memory) / n
    tracemalloc.stop()

    reads_before = len(engine.reads)
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    await asyncio.sleep(interval * intervals)
    cpu = time.process_time() - cpu_before
    wall = time.perf_counter() - wall_before
    reads = len(engine.reads) - reads_before
    result: dict[str, Any] = {
        "sessions_opened": dict(driver.sessions_opened),
        "max_open_sessions": driver.max_open_sessions,
        "reads_per_interval": reads / (wall / interval),
        "ids_per_read": sum(engine.reads[reads_before:]) / reads if reads else 0,
        "statements_per_read": 3,
        "cpu_us_per_trigger_per_interval": cpu / n / (wall / interval) * 1e6,
        "memory_bytes_per_trigger": memory_per_trigger,
    }

    if shared:
        reads_before = len(engine.reads)
        started = time.perf_counter()
        engine.finish()
        for i in range(n):
            driver.events.publish(FIRST_ID + i)
        fired = await asyncio.gather(*tasks)
        result["all_fired_after_s"] = max(fired) - started
        result["reads_to_finish"] = len(engine.reads) - reads_before
    else:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await registry.close_all()
    from airflow_provider_oracle_tasks.db.async_connection import close_all

    await close_all()
    return result


def report(title: str, figures: dict[str, Any], n: int) -> None:
    print(f"\n{title}")
    sessions = figures["sessions_opened"]
    print(
        f"  sessions opened           {sessions['pooled']} pooled + {sessions['dedicated']} listener "
        f"(max open at once: {figures['max_open_sessions']})"
    )
    print(
        f"  status reads per interval {figures['reads_per_interval']:.2f} "
        f"({figures['ids_per_read']:.0f} ids each, {figures['statements_per_read']} statements per read)"
    )
    print(
        f"  CPU per trigger           {figures['cpu_us_per_trigger_per_interval']:.1f} us per poll interval"
    )
    print(f"  memory per trigger        {figures['memory_bytes_per_trigger'] / 1024:.1f} KiB (tracemalloc)")
    if "all_fired_after_s" in figures:
        print(
            f"  completion                all {n} fired {figures['all_fired_after_s'] * 1000:.0f} ms after "
            f"the messages, in {figures['reads_to_finish']} read(s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triggers", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval in seconds")
    parser.add_argument("--intervals", type=int, default=5, help="intervals measured in the steady phase")
    parser.add_argument("--latency", type=float, default=0.002, help="simulated round trip in seconds")
    parser.add_argument("--skip-unshared", action="store_true", help="skip the contrast run")
    args = parser.parse_args()
    n = args.triggers
    print(
        f"{n} triggers, one connection id, poll interval {args.interval:g} s, "
        f"round trip {args.latency * 1000:g} ms (fake driver), Python {sys.version.split()[0]}"
    )
    shared = asyncio.run(steady(n, args.interval, args.intervals, args.latency, shared=True))
    report("shared watcher (the provider)", shared, n)
    if not args.skip_unshared:
        unshared = asyncio.run(steady(n, args.interval, args.intervals, args.latency, shared=False))
        report("contrast: one connection id per trigger (no sharing possible)", unshared, n)
    ok = shared["max_open_sessions"] <= 2 and round(shared["reads_per_interval"]) <= 1
    print(f"\ntarget <= 2 sessions and 1 status read per interval: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
