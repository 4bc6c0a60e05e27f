"""Enqueue-to-event latency of the AQ trigger (blocking dequeue) against a 60 s poke interval.

    python benchmarks/aq_latency.py [--runs 20] [--wait-seconds 30]

Fake run (always): the real ``OracleAQMessageTrigger`` against the fake broker of
tests/unit/aq_fakes.py with an unscaled server-side wait, so the figure is the Python side's own
overhead: the trigger sits in a blocking dequeue and the enqueue wakes it.

Real run (when ORACLE_TASKS_TEST_DSN / _USER / _PASSWORD are set): the same trigger on a real
database; a sync session enqueues and commits, and the time to the trigger's event is measured.

Baseline: a sensor that pokes every 60 s sees a message after 30 s on average (uniform arrival)
and 60 s at worst, plus the poke itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.unit fakes

POKE_INTERVAL = 60.0


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{name:<28} n={len(samples):<3} median={statistics.median(samples) * 1000:8.1f} ms  "
        f"p95={p95 * 1000:8.1f} ms  max={ordered[-1] * 1000:8.1f} ms"
    )


async def _one(trigger: Any, enqueue: Any, settle: float) -> float:
    gen = trigger.run()
    waiting = asyncio.ensure_future(gen.__anext__())
    await asyncio.sleep(settle)  # the trigger is inside its blocking dequeue now
    started = time.perf_counter()
    await enqueue()
    event = await waiting
    elapsed = time.perf_counter() - started
    await gen.aclose()
    assert event.payload["status"] == "message", event.payload
    return elapsed


def fake_run(runs: int, wait_seconds: float) -> list[float]:
    import oracledb

    from airflow_provider_oracle_tasks.triggers.aq import OracleAQMessageTrigger
    from tests.unit.aq_fakes import AsyncAQConnection, FakeBroker

    broker = FakeBroker().add_queue("BENCH_Q", ["BENCH"])
    broker.wait_scale = 1.0
    os.environ["AIRFLOW_CONN_ORACLE_DEFAULT"] = json.dumps(
        {"conn_type": "oracle", "login": "APP", "password": "bench-pw", "extra": {"dsn": "db:1521/FREEPDB1"}}
    )

    async def connect_async(**kwargs: Any) -> AsyncAQConnection:
        return AsyncAQConnection(broker)

    oracledb.connect_async = connect_async  # type: ignore[assignment]

    async def main() -> list[float]:
        samples = []
        for _ in range(runs):
            trigger = OracleAQMessageTrigger(
                queue="BENCH_Q", consumer="BENCH", wait_seconds=wait_seconds, timeout_at=time.time() + 600
            )

            async def enqueue() -> None:
                broker.publish("BENCH_Q", b"GO")

            samples.append(await _one(trigger, enqueue, settle=0.05))
            broker.messages["BENCH_Q"][-1].removed_for.add("BENCH")  # the task took it
        return samples

    return asyncio.run(main())


def real_run(runs: int, wait_seconds: float) -> list[float] | None:
    dsn, user, password = (os.environ.get(f"ORACLE_TASKS_TEST_{k}") for k in ("DSN", "USER", "PASSWORD"))
    if not (dsn and user and password):
        return None
    import oracledb

    from airflow_provider_oracle_tasks.aq.queues import ensure_queue
    from airflow_provider_oracle_tasks.triggers.aq import OracleAQMessageTrigger

    os.environ["AIRFLOW_CONN_ORACLE_DEFAULT"] = json.dumps(
        {"conn_type": "oracle", "login": user, "password": password, "extra": {"dsn": dsn}}
    )
    name = f"OTASK_BENCH_{secrets.token_hex(3).upper()}"
    producer = oracledb.connect(user=user, password=password, dsn=dsn)
    ensure_queue(producer, queue=name, queue_table=f"{name}_QT", payload_type="RAW", subscribers=["BENCH"])
    queue = producer.queue(name)
    queue.enqoptions.visibility = oracledb.ENQ_ON_COMMIT
    taker = producer.queue(name)
    taker.deqoptions.consumername = "BENCH"
    taker.deqoptions.wait = oracledb.DEQ_NO_WAIT

    async def main() -> list[float]:
        samples = []
        for _ in range(runs):
            trigger = OracleAQMessageTrigger(
                queue=name, consumer="BENCH", wait_seconds=wait_seconds, timeout_at=time.time() + 600
            )

            async def enqueue() -> None:
                def send() -> None:
                    queue.enqone(producer.msgproperties(payload=b"GO"))
                    producer.commit()

                await asyncio.to_thread(send)

            samples.append(await _one(trigger, enqueue, settle=1.0))
            await asyncio.to_thread(lambda: (taker.deqone(), producer.commit()))
        return samples

    try:
        return asyncio.run(main())
    finally:
        with producer.cursor() as cursor:
            cursor.execute(
                "begin dbms_aqadm.drop_queue_table(queue_table => :qt, force => true); end;", qt=f"{name}_QT"
            )
        producer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--wait-seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(f"AQ enqueue-to-event latency ({args.runs} runs, dequeue wait {args.wait_seconds:g} s)")
    print(summary("fake broker (Python side)", fake_run(args.runs, args.wait_seconds)))
    real = real_run(args.runs, args.wait_seconds)
    if real is None:
        print("real Oracle                  skipped: set ORACLE_TASKS_TEST_DSN, _USER, _PASSWORD")
    else:
        print(summary("real Oracle", real))
    print(
        f"{'poke_interval=60 s baseline':<28} mean={POKE_INTERVAL / 2 * 1000:8.1f} ms  "
        f"worst={POKE_INTERVAL * 1000:8.1f} ms (uniform arrival, poke cost not counted)"
    )


if __name__ == "__main__":
    main()
