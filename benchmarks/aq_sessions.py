"""AQ sensor fan-out: what N deferred ``OracleAQEventSensor`` waits on one queue cost the database.

Runs N ``OracleAQMessageTrigger`` s (the sensor's trigger) concurrently in one event loop, as one
triggerer process does, against the fake AQ broker of ``tests/unit/aq_fakes.py`` (a pooled fake
session per login; every dequeue counted). No Oracle is involved: the figures are about the
provider's Python side - how many sessions it opens and how many dequeue round trips it makes.

Phases, for each N:

1. steady wait: N triggers wait on one (queue, consumer) for ``--seconds``; reported: sessions
   opened (pooled / dedicated), dequeue round trips in total and per second;
2. arrival: one message is enqueued; reported: how long until a trigger fired, and how many fired
   (one: a message resumes one waiting sensor, the one that can take it);
3. contrast (``--contrast``): the same wait with every trigger on its own consumer, so no two share
   a browse: round trips grow with N (sessions stay one pooled session).

Before this change every waiting sensor held one dedicated session in a blocking dequeue
(N sessions, about N round trips per ``wait_seconds``). Nothing is asserted; figures are printed.

    python benchmarks/aq_sessions.py --sensors 1 100 1000 --seconds 3 [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.unit fakes

os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

import pytest

from airflow_provider_oracle_tasks.db.async_connection import close_all
from airflow_provider_oracle_tasks.triggers._aq_listener import shared_aq_listeners
from airflow_provider_oracle_tasks.triggers.aq import OracleAQMessageTrigger
from tests.unit.aq_fakes import FakeBroker, install_aq

QUEUE = "BENCH_Q"


async def first_event(trigger: OracleAQMessageTrigger) -> Any:
    gen = trigger.run()
    try:
        return await gen.__anext__()
    finally:
        await gen.aclose()


async def phase(sensors: int, seconds: float, *, shared: bool) -> dict[str, Any]:
    consumers = ["WATCH"] if shared else [f"WATCH_{n}" for n in range(sensors)]
    broker = FakeBroker().add_queue(QUEUE, consumers)
    patch = pytest.MonkeyPatch()
    install_aq(patch, broker)
    conn = {
        "conn_type": "oracle",
        "login": "APP",
        "password": "not-a-secret",
        "extra": {"dsn": "db/FREEPDB1"},
    }
    patch.setenv("AIRFLOW_CONN_ORACLE_DEFAULT", json.dumps(conn))  # long enough to be masked quietly
    try:
        triggers = [
            OracleAQMessageTrigger(
                queue=QUEUE,
                consumer=consumers[0] if shared else consumers[n],
                wait_seconds=30,
                timeout_at=time.time() + 3600,
            )
            for n in range(sensors)
        ]
        tasks = [asyncio.create_task(first_event(t)) for t in triggers]
        await asyncio.sleep(seconds)
        steady = len(broker.dequeues)
        started = time.perf_counter()
        broker.publish(QUEUE, b"GO", recipients=[consumers[0]])
        fired_at = None
        while fired_at is None and time.perf_counter() - started < 10:
            await asyncio.sleep(0.005)
            if any(task.done() for task in tasks):
                fired_at = time.perf_counter() - started
        await asyncio.sleep(0.2)
        fired = sum(1 for task in tasks if task.done())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await shared_aq_listeners.close_all()
        await close_all()
        return {
            "sensors": sensors,
            "shared_consumer": shared,
            "sessions_pooled": broker.sessions_by_kind["pooled"],
            "sessions_dedicated": broker.sessions_by_kind["dedicated"],
            "dequeues_during_wait": steady,
            "dequeues_per_second": round(steady / seconds, 1),
            "seconds_to_first_event": None if fired_at is None else round(fired_at, 3),
            "triggers_fired": fired,
        }
    finally:
        patch.undo()


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for sensors in args.sensors:
        results.append(await phase(sensors, args.seconds, shared=True))
        if args.contrast:
            results.append(await phase(sensors, args.seconds, shared=False))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the steady wait")
    parser.add_argument("--contrast", action="store_true", help="also run with one consumer per sensor")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{'sensors':>8} {'consumers':>10} {'pooled':>7} {'dedicated':>10} {'deq/s':>7} "
        f"{'first event s':>14} {'fired':>6}"
    )
    for row in results:
        print(
            f"{row['sensors']:>8} {'1' if row['shared_consumer'] else 'N':>10} {row['sessions_pooled']:>7} "
            f"{row['sessions_dedicated']:>10} {row['dequeues_per_second']:>7} "
            f"{row['seconds_to_first_event']!s:>14} {row['triggers_fired']:>6}"
        )


if __name__ == "__main__":
    main()
