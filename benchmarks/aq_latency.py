"""AQ waits: enqueue-to-event latency of the AQ trigger, and the sessions N waiting AQ sensors hold.

    python benchmarks/aq_latency.py [--runs 20] [--wait-seconds 30] [--latency 0.002] [--json]

**Latency, fake broker (always).** The real ``OracleAQMessageTrigger`` (it waits through the
shared AQ listener: one browse per queue and consumer per tick on a pooled session) against the
fake broker of tests/unit/aq_fakes.py; every dequeue call costs ``--latency`` (half on the way
out, half for the reply) and every login one round trip. The message is enqueued at a random
moment, so the figure is the time from the enqueue to the trigger's event: mostly the wait for
the next shared browse, plus the Python side and the round trips. It is not enqueue-to-resume:
the triggerer storing the event, the scheduler, the executor and the worker that resumes the
task add seconds on a real deployment (measure that with a real scheduler and triggerer; see
docs/performance.md).

**Latency, real Oracle** (when ORACLE_TASKS_TEST_DSN / _USER / _PASSWORD are set): the same
trigger on a real database; a sync session enqueues and commits, and the time to the trigger's
event is measured (still not the task's resume).

**Sessions.** N = 1, 100, 1 000 sensors' triggers wait on ONE queue and consumer; reported: the
database sessions they hold at once (connects and the most open at the same time). DESIGN.md asks
for one shared session; the figure shows what the code does now.

Baseline: a sensor that pokes every 60 s sees a message after 30 s on average (uniform arrival)
and 60 s at worst, plus the poke itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: tests.unit fakes

os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

POKE_INTERVAL = 60.0


def quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "min": ordered[0],
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max": ordered[-1],
    }


def summary(name: str, q: dict[str, float], n: int) -> str:
    return (
        f"{name:<34} n={n:<3} min={q['min'] * 1000:7.1f} median={q['median'] * 1000:7.1f} "
        f"p95={q['p95'] * 1000:7.1f} max={q['max'] * 1000:7.1f} ms"
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


class Sessions:
    """Counts the fake sessions opened and open at once."""

    def __init__(self) -> None:
        self.opened = 0
        self.open = 0
        self.most = 0

    def opening(self) -> None:
        self.opened += 1
        self.open += 1
        self.most = max(self.most, self.open)

    def closing(self) -> None:
        self.open -= 1


def install_fake(latency: float, sessions: Sessions) -> Any:
    """The fake broker behind ``oracledb.connect_async``, with a round-trip latency per call."""
    import oracledb

    from tests.unit import aq_fakes

    broker = aq_fakes.FakeBroker().add_queue("BENCH_Q", ["BENCH"])
    broker.wait_scale = 1.0
    os.environ["AIRFLOW_CONN_ORACLE_DEFAULT"] = json.dumps(
        {"conn_type": "oracle", "login": "APP", "password": "bench-pw", "extra": {"dsn": "db:1521/FREEPDB1"}}
    )

    class LatentQueue(aq_fakes.AsyncQueue):
        async def deqone(self) -> Any:
            await asyncio.sleep(latency / 2)  # the request
            found = await super().deqone()
            await asyncio.sleep(latency / 2)  # the reply
            return found

        async def deqmany(self, max_num_messages: int) -> list[Any]:
            found = await self.deqone()
            return [] if found is None else [found]

    class LatentConnection(aq_fakes.AsyncAQConnection):
        def queue(self, name: str, payload_type: Any = None) -> Any:
            return LatentQueue(self, name, payload_type)

        async def commit(self) -> None:
            await asyncio.sleep(latency)
            await super().commit()

        async def close(self) -> None:
            if not getattr(self, "_counted_closed", False):
                self._counted_closed = True
                sessions.closing()
            await super().close()

    async def connect_async(**kwargs: Any) -> Any:
        await asyncio.sleep(latency)
        sessions.opening()
        return LatentConnection(broker)

    class LatentPool(aq_fakes.FakeAQPool):
        async def acquire(self) -> Any:
            if self.idle:
                return self.idle.pop()
            await asyncio.sleep(latency)  # a new pooled session: a login
            self.broker.login("pooled")
            sessions.opening()
            session = LatentConnection(self.broker)
            self.sessions.append(session)
            return session

    oracledb.connect_async = connect_async  # type: ignore[assignment]
    oracledb.create_pool_async = lambda **kwargs: LatentPool(broker, [])  # type: ignore[assignment]
    return broker


def fake_run(runs: int, wait_seconds: float, latency: float) -> list[float]:
    from airflow_provider_oracle_tasks.triggers.aq import OracleAQMessageTrigger

    broker = install_fake(latency, Sessions())

    async def main() -> list[float]:
        samples = []
        for _ in range(runs):
            trigger = OracleAQMessageTrigger(
                queue="BENCH_Q", consumer="BENCH", wait_seconds=wait_seconds, timeout_at=time.time() + 600
            )

            async def enqueue() -> None:
                broker.publish("BENCH_Q", b"GO")

            # at a random moment of a second: the shared browse looks at least once a second
            settle = 0.05 + 2 * latency + random.uniform(0, 1.0)
            samples.append(await _one(trigger, enqueue, settle=settle))
            broker.messages["BENCH_Q"][-1].removed_for.add("BENCH")  # the task took it
        return samples

    return asyncio.run(main())


def sessions_for(n: int, latency: float) -> dict[str, int]:
    """Sessions that ``n`` triggers waiting on one queue and consumer hold (fake broker)."""
    from airflow_provider_oracle_tasks.triggers.aq import OracleAQMessageTrigger

    sessions = Sessions()
    install_fake(latency, sessions)

    async def wait_all() -> None:
        triggers = [
            OracleAQMessageTrigger(
                queue="BENCH_Q", consumer="BENCH", wait_seconds=30, timeout_at=time.time() + 600
            )
            for _ in range(n)
        ]
        generators = [t.run() for t in triggers]
        waits = [asyncio.ensure_future(g.__anext__()) for g in generators]
        deadline = time.monotonic() + 30
        settled = 0
        while time.monotonic() < deadline:  # until the count has not moved for 0.3 s
            before = sessions.opened
            await asyncio.sleep(0.3)
            settled = settled + 1 if sessions.opened == before and sessions.opened else 0
            if settled >= 1:
                break
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        for generator in generators:
            with contextlib.suppress(Exception):
                await generator.aclose()

    asyncio.run(wait_all())
    return {"sensors": n, "sessions_opened": sessions.opened, "most_open_at_once": sessions.most}


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
    parser.add_argument("--wait-seconds", type=float, default=30.0, help="the trigger's wait_seconds")
    parser.add_argument("--latency", type=float, default=0.002, help="fake round trip in seconds")
    parser.add_argument("--sensors", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    fake = fake_run(args.runs, args.wait_seconds, args.latency)
    real = real_run(args.runs, args.wait_seconds)
    sessions = [sessions_for(n, args.latency) for n in args.sensors]
    figures: dict[str, Any] = {
        "config": {"runs": args.runs, "wait_seconds": args.wait_seconds, "latency_s": args.latency},
        "enqueue_to_event_fake_s": quantiles(fake),
        "enqueue_to_event_real_s": quantiles(real) if real else None,
        "sessions": sessions,
        "poke_baseline_s": {"mean": POKE_INTERVAL / 2, "worst": POKE_INTERVAL},
        "target_one_session": {
            "sensors": sessions[-1]["sensors"],
            "most_open_at_once": sessions[-1]["most_open_at_once"],
            "met": all(s["most_open_at_once"] <= 1 for s in sessions),
        },
    }
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    print(
        f"AQ enqueue-to-event latency ({args.runs} runs, dequeue wait {args.wait_seconds:g} s, "
        f"fake round trip {args.latency * 1000:g} ms)"
    )
    print(summary("fake broker (to the next browse)", figures["enqueue_to_event_fake_s"], len(fake)))
    if real is None:
        print(f"{'real Oracle':<34} skipped: set ORACLE_TASKS_TEST_DSN, _USER, _PASSWORD")
    else:
        print(summary("real Oracle", figures["enqueue_to_event_real_s"], len(real)))
    print(
        f"{'poke_interval=60 s baseline':<34} mean={POKE_INTERVAL / 2 * 1000:8.1f} ms  "
        f"worst={POKE_INTERVAL * 1000:8.1f} ms (uniform arrival, poke cost not counted)"
    )
    print("not measured here: the resume (triggerer stores the event, scheduler, executor, worker)")
    print("\nsessions held by N triggers waiting on one queue and consumer (target: 1):")
    for row in sessions:
        print(
            f"  {row['sensors']:>5} sensors: {row['most_open_at_once']:>5} open at once, "
            f"{row['sessions_opened']} opened"
        )


if __name__ == "__main__":
    main()
