"""Triggerer fan-out: what N deferred waits on ONE connection id cost the triggerer and the database.

Runs N real ``OracleTaskManagerInstanceTrigger`` s in one event loop (as one triggerer process
does) with the real watcher, poller, pools and status read, against the counting fake driver of
``benchmarks/_fake_oracle.py``: every round trip (acquire, execute, each fetch of ``arraysize``
rows, each dequeue) awaits ``--latency``, and every statement is counted twice: as the client
sends it, and as the database would run it (a model of the engine's watchdog that reads the SQL
sent; see ``_fake_oracle.database_work``). No Oracle is involved.

Per N (default 1, 100, 1 000, 5 000, 10 000), ``--repeat`` runs, each reported as min/median/max:

* subscribing: loop time of the 100th and of the last trigger's start (created and subscribed in
  one loop iteration each, as the triggerer starts them);
* steady wait over whole intervals (the window starts and ends half-way between two ticks):
  sessions, status reads per interval, client round trips and statements per read, database
  statements, commits and dictionary-view probes per read (the model), CPU per interval, and the
  event-loop stall (max and p99 lateness of a 5 ms probe task);
* a completion burst of min(N, 1 000) instances closing at once: dequeue round trips and status
  reads until every trigger fired, and the time it took;
* memory per trigger (tracemalloc, a separate run so it does not slow the timed ones).

Then a soak (N = 1 000 for ``--soak-reads`` reads: an hour of 30 s intervals by default) reports
memory growth, and a contrast run with sharing defeated (every trigger on its own connection id).

Targets (issue 14): 2 sessions and 1 status read per interval up to 10 000; stall <= 100 ms at
5 000 and <= 200 ms at 10 000; a burst of 1 000 woken in <= 10 dequeue round trips; the
10 000th subscription no dearer than the 100th; <= 8 KiB per trigger, no growth. Nothing is
asserted; the figures are printed (``--json``: one JSON object).

    python benchmarks/triggerer_fanout.py [--triggers 1 100 1000 5000 10000] [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")

from benchmarks._fake_oracle import FakeOracle, Instance, install, quantiles

FIRST_ID = 1_000_000
PROBE = 0.005
BURST = 1000


def set_connection(conn_id: str) -> None:
    value = {"conn_type": "oracle", "login": "APP", "password": "bench-pw", "extra": {"dsn": "db:1521/FREE"}}
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(value)


async def wait_for(trigger: Any) -> float:
    async for _event in trigger.run():
        return time.perf_counter()
    raise RuntimeError("trigger ended without an event")


class FullCollections:
    """CPython's full (generation 2) garbage collections: when, and how long each paused the loop.

    A full collection walks every object of the process (most of them Airflow's), so its pause
    hardly depends on N; how often it runs does (each read leaves new long-lived objects).
    """

    def __init__(self) -> None:
        self.passes: list[tuple[float, float]] = []  # (start, end), time.monotonic (= loop time)
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") != 2:
            return
        if phase == "start":
            self._started = time.monotonic()
        else:
            self.passes.append((self._started, time.monotonic()))

    def __enter__(self) -> FullCollections:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)

    def overlaps(self, start: float, end: float) -> bool:
        return any(s < end and e > start for s, e in self.passes)


class Probe:
    """A task that sleeps PROBE seconds again and again and records how late it wakes."""

    def __init__(self) -> None:
        self.late: list[float] = []
        self.cpu: list[float] = []  # CPU the process used while the probe slept beyond PROBE
        self.spans: list[tuple[float, float]] = []
        self.recording = False
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started, cpu = loop.time(), time.process_time()
            await asyncio.sleep(PROBE)
            if self.recording:
                woke = loop.time()
                self.late.append(max(woke - started - PROBE, 0.0))
                self.cpu.append(max(time.process_time() - cpu - PROBE, 0.0))
                self.spans.append((started, woke))

    def late_without(self, collections: FullCollections) -> list[float]:
        """Lateness of the probe sleeps during which no full collection ran: the code's own stall."""
        pairs = zip(self.late, self.spans, strict=True)
        return [late for late, span in pairs if not collections.overlaps(*span)]

    def cpu_without(self, collections: FullCollections) -> list[float]:
        """CPU the loop spent in the late sleeps without a full collection: the stall on an idle
        machine (wall lateness also counts the time other processes had the cores)."""
        pairs = zip(self.cpu, self.spans, strict=True)
        return [cpu for cpu, span in pairs if not collections.overlaps(*span)]

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


async def wait_reads(db: FakeOracle, count: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while len(db.read_started) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(db.read_started)} of {count} status reads within {limit:g} s")
        await asyncio.sleep(0.01)


async def scenario(
    n: int, *, interval: float, intervals: int, latency: float, shared: bool, memory: bool, burst: bool
) -> dict[str, Any]:
    from airflow_provider_oracle_tasks.db.async_connection import close_all
    from airflow_provider_oracle_tasks.triggers import _instance_watcher, task_manager
    from airflow_provider_oracle_tasks.triggers.task_manager import OracleTaskManagerInstanceTrigger

    db = FakeOracle(latency)
    install(db)
    registry = _instance_watcher.WatcherRegistry()
    task_manager.shared_watchers = registry
    ids = [FIRST_ID + i for i in range(n)]
    for instance_id in ids:
        db.instances[instance_id] = Instance()
    conn_ids = ["bench"] * n if shared else [f"bench_{i}" for i in range(n)]
    for conn_id in set(conn_ids):
        set_connection(conn_id)
    loop = asyncio.get_running_loop()
    result: dict[str, Any] = {}

    gc.collect()
    if memory:
        tracemalloc.start()
        memory_before = tracemalloc.get_traced_memory()[0]
    starts: list[float] = []
    tasks = []
    deadline = time.time() + 86400  # a sensor's timeout, as deferred tasks usually have
    for i in range(n):
        began = time.perf_counter()
        trigger = OracleTaskManagerInstanceTrigger(
            instance_id=ids[i], oracle_conn_id=conn_ids[i], poll_interval=interval, timeout_at=deadline
        )
        tasks.append(asyncio.create_task(wait_for(trigger)))
        await asyncio.sleep(0)  # the trigger starts and subscribes in this iteration
        starts.append(time.perf_counter() - began)
    result["subscribe_us_at_100"] = statistics.median(starts[49:150] or starts) * 1e6
    result["subscribe_us_at_last"] = statistics.median(starts[-100:]) * 1e6
    await wait_reads(db, 2 if shared else n, limit=60 + 3 * interval)  # every id read once, steady
    if memory:
        result = {"memory_bytes_per_trigger": (tracemalloc.get_traced_memory()[0] - memory_before) / n}
        tracemalloc.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await registry.close_all()
        await close_all()
        return result

    # Steady wait: from half-way between two ticks, for whole intervals.
    await asyncio.sleep(interval / 2)
    probe = Probe()
    probe.start()
    probe.recording = True
    counts_before = db.counts.snapshot()
    reads_before = len(db.read_started)
    cpu_before, wall_before = time.process_time(), loop.time()
    with FullCollections() as collections:
        await asyncio.sleep(interval * intervals)
    cpu = time.process_time() - cpu_before
    wall = loop.time() - wall_before
    probe.recording = False
    own = sorted(probe.late_without(collections))
    own_cpu = sorted(probe.cpu_without(collections))
    pauses = [end - start for start, end in collections.passes]
    counts = {k: v - counts_before[k] for k, v in db.counts.snapshot().items()}
    reads = len(db.read_started) - reads_before
    per_read = {k: (v / reads if reads else 0.0) for k, v in counts.items() if k != "status_reads"}
    late = sorted(probe.late)
    result.update(
        {
            "sessions_pooled": db.sessions_opened["pooled"],
            "sessions_dedicated": db.sessions_opened["dedicated"],
            "max_open_sessions": db.max_open_sessions,
            "reads_per_interval": reads / (wall / interval),
            "client_round_trips_per_read": per_read["round_trips"],
            "client_statements_per_read": per_read["client_statements"],
            "fetch_round_trips_per_read": per_read["fetch_round_trips"],
            "db_statements_per_read": per_read["db_statements"],
            "db_commits_per_read": per_read["db_commits"],
            "db_view_probes_per_read": per_read["db_view_probes"],
            "cpu_ms_per_interval": cpu / (wall / interval) * 1000,
            "stall_max_ms": (late[-1] if late else 0.0) * 1000,
            "stall_p99_ms": (late[min(len(late) - 1, int(0.99 * len(late)))] if late else 0.0) * 1000,
            "stall_without_full_gc_max_ms": (own[-1] if own else 0.0) * 1000,
            "stall_cpu_without_full_gc_max_ms": (own_cpu[-1] if own_cpu else 0.0) * 1000,
            "full_gc_per_interval": len(pauses) / (wall / interval),
            "full_gc_pause_max_ms": max(pauses, default=0.0) * 1000,
        }
    )

    if burst and shared:
        closing = ids[: min(n, BURST)]
        for instance_id in closing:
            db.instances[instance_id].state = "SUCCEEDED"
        dequeues_before, reads_before = db.counts.dequeues, db.counts.status_reads
        started = time.perf_counter()
        db.publish(closing)
        fired = await asyncio.wait_for(asyncio.gather(*tasks[: len(closing)]), 120)
        result["burst_size"] = len(closing)
        result["burst_all_fired_after_ms"] = (max(fired) - started) * 1000
        result["burst_dequeue_round_trips"] = db.counts.dequeues - dequeues_before
        result["burst_status_reads"] = db.counts.status_reads - reads_before

    await probe.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await registry.close_all()
    await close_all()
    return result


async def subscribe_calls(n: int) -> dict[str, float]:
    """The bookkeeping alone: ``InstanceWatcher.subscribe`` timed call by call (no trigger, no read)."""
    from airflow_provider_oracle_tasks.triggers._instance_watcher import InstanceWatcher

    async def never(conn_id: str, ids: list[int]) -> dict[int, Any]:
        await asyncio.sleep(3600)
        return {}

    watcher = InstanceWatcher("calls", read=never, listen=False)
    calls = []
    for i in range(n):
        began = time.perf_counter_ns()
        watcher.subscribe(FIRST_ID + i, 30)
        calls.append(time.perf_counter_ns() - began)
    await watcher.aclose()
    return {
        "subscribe_call_ns_at_100": statistics.median(calls[49:150] or calls),
        "subscribe_call_ns_at_last": statistics.median(calls[-100:]),
    }


async def soak(n: int, reads: int, latency: float) -> dict[str, Any]:
    """Memory of N waiting triggers over ``reads`` status reads (one per interval)."""
    from airflow_provider_oracle_tasks.db.async_connection import close_all
    from airflow_provider_oracle_tasks.triggers import _instance_watcher, task_manager
    from airflow_provider_oracle_tasks.triggers.task_manager import OracleTaskManagerInstanceTrigger

    db = FakeOracle(latency)
    install(db)
    registry = _instance_watcher.WatcherRegistry()
    task_manager.shared_watchers = registry
    set_connection("soak")
    for i in range(n):
        db.instances[FIRST_ID + i] = Instance()
    tracemalloc.start()
    tasks = [
        asyncio.create_task(
            wait_for(
                OracleTaskManagerInstanceTrigger(
                    instance_id=FIRST_ID + i, oracle_conn_id="soak", poll_interval=0.05
                )
            )
        )
        for i in range(n)
    ]
    await wait_reads(db, 10, limit=120)
    gc.collect()
    early = tracemalloc.get_traced_memory()[0]
    await wait_reads(db, 10 + reads, limit=600)
    gc.collect()
    late = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await registry.close_all()
    await close_all()
    return {
        "triggers": n,
        "reads": reads,
        "memory_bytes_per_trigger_after_10_reads": early / n,
        "growth_bytes_total": late - early,
        "growth_bytes_per_trigger": (late - early) / n,
    }


def spread(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    keys = sorted({k for run in runs for k in run})
    return {k: quantiles([float(run[k]) for run in runs if k in run]) for k in keys}


def fmt(q: dict[str, float], scale: float = 1.0, digits: int = 1) -> str:
    return f"{q['median'] * scale:.{digits}f} [{q['min'] * scale:.{digits}f}-{q['max'] * scale:.{digits}f}]"


def targets(per_n: dict[int, dict[str, Any]], soak_figures: dict[str, Any] | None) -> dict[str, Any]:
    def med(n: int, key: str) -> float | None:
        figures = per_n.get(n, {})
        return figures[key]["median"] if key in figures else None

    out: dict[str, Any] = {}
    largest = max(per_n)
    sessions_ok = all(f["max_open_sessions"]["max"] <= 2 for f in per_n.values())
    reads_ok = all(round(f["reads_per_interval"]["max"], 2) <= 1.0 for f in per_n.values())
    out["sessions_and_reads"] = {"largest_n": largest, "met": sessions_ok and reads_ok}
    for n, limit in ((5000, 100.0), (10000, 200.0)):
        value = med(n, "stall_max_ms")
        if value is not None:
            worst = per_n[n]["stall_max_ms"]["max"]
            own = per_n[n]["stall_without_full_gc_max_ms"]["max"]
            own_cpu = per_n[n]["stall_cpu_without_full_gc_max_ms"]["max"]
            out[f"stall_at_{n}"] = {
                "limit_ms": limit,
                "median_ms": value,
                "max_ms": worst,
                "max_without_full_gc_ms": own,
                "cpu_max_without_full_gc_ms": own_cpu,
                "met": worst <= limit,
                "met_without_full_gc": own <= limit,
                "met_in_cpu_without_full_gc": own_cpu <= limit,
            }
    burst_n = next((n for n in sorted(per_n) if n >= BURST), None)
    if burst_n is not None:
        trips = per_n[burst_n]["burst_dequeue_round_trips"]["max"]
        out["burst_of_1000"] = {"n": burst_n, "dequeue_round_trips": trips, "limit": 10, "met": trips <= 10}
    if largest >= 1000:
        at_100 = per_n[largest]["subscribe_us_at_100"]["median"]
        at_last = per_n[largest]["subscribe_us_at_last"]["median"]
        call_100 = per_n[largest]["subscribe_call_ns_at_100"]["median"]
        call_last = per_n[largest]["subscribe_call_ns_at_last"]["median"]
        out["subscription_cost"] = {
            "n": largest,
            "trigger_start_us_at_100": at_100,
            "trigger_start_us_at_last": at_last,
            "subscribe_call_ns_at_100": call_100,
            "subscribe_call_ns_at_last": call_last,
            "met": call_last <= call_100 * 1.2 and at_last <= at_100 * 1.2,  # 20 %: this machine's noise
        }
    memory = [
        f["memory_bytes_per_trigger"]["max"]
        for n, f in per_n.items()
        if n >= 1000 and "memory_bytes_per_trigger" in f
    ]
    if memory:
        growth = soak_figures["growth_bytes_per_trigger"] if soak_figures else None
        out["memory"] = {
            "max_bytes_per_trigger": max(memory),
            "soak_growth_bytes_per_trigger": growth,
            "met": max(memory) <= 8192 and (growth is None or growth < 100),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--triggers", type=int, nargs="+", default=[1, 100, 1000, 5000, 10000])
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per N")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval in seconds")
    parser.add_argument("--intervals", type=int, default=2, help="whole intervals in the steady window")
    parser.add_argument("--latency", type=float, default=0.002, help="simulated round trip in seconds")
    parser.add_argument("--soak-reads", type=int, default=120, help="reads of the soak (0: skip)")
    parser.add_argument("--contrast", type=int, default=100, help="triggers of the unshared run (0: skip)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()

    per_n: dict[int, dict[str, Any]] = {}
    for n in args.triggers:
        runs: list[dict[str, Any]] = [asyncio.run(subscribe_calls(n)) for _ in range(args.repeat)]
        runs += [
            asyncio.run(
                scenario(
                    n,
                    interval=args.interval,
                    intervals=args.intervals,
                    latency=args.latency,
                    shared=True,
                    memory=False,
                    burst=True,
                )
            )
            for _ in range(args.repeat)
        ]
        runs.append(
            asyncio.run(
                scenario(
                    n,
                    interval=args.interval,
                    intervals=args.intervals,
                    latency=args.latency,
                    shared=True,
                    memory=True,
                    burst=False,
                )
            )
        )
        per_n[n] = spread(runs)
        if not args.json:
            print(f"N={n} done", file=sys.stderr)
    soak_figures = asyncio.run(soak(1000, args.soak_reads, args.latency)) if args.soak_reads else None
    contrast = None
    if args.contrast:
        contrast = asyncio.run(
            scenario(
                args.contrast,
                interval=args.interval,
                intervals=args.intervals,
                latency=args.latency,
                shared=False,
                memory=False,
                burst=False,
            )
        )
    figures = {
        "config": {
            "interval_s": args.interval,
            "intervals": args.intervals,
            "latency_s": args.latency,
            "repeat": args.repeat,
            "python": sys.version.split()[0],
            "database": "fake driver; database statements from the model in benchmarks/_fake_oracle.py",
        },
        "per_n": per_n,
        "soak": soak_figures,
        "contrast_unshared": contrast,
        "targets": targets(per_n, soak_figures),
    }
    if args.json:
        print(json.dumps(figures, indent=1, sort_keys=True))
        return
    report(figures)


def report(figures: dict[str, Any]) -> None:
    config = figures["config"]
    print(
        f"fake driver, one connection id, poll interval {config['interval_s']:g} s, round trip "
        f"{config['latency_s'] * 1000:g} ms, {config['repeat']} runs per N: median [min-max]"
    )
    rows = [
        ("sessions open at most", "max_open_sessions", 1, 0),
        ("status reads per interval", "reads_per_interval", 1, 2),
        ("client round trips per read", "client_round_trips_per_read", 1, 1),
        ("  of which fetches", "fetch_round_trips_per_read", 1, 1),
        ("client statements per read", "client_statements_per_read", 1, 1),
        ("db statements per read (model)", "db_statements_per_read", 1, 0),
        ("db commits per read (model)", "db_commits_per_read", 1, 0),
        ("db view probes per read (model)", "db_view_probes_per_read", 1, 0),
        ("CPU ms per interval", "cpu_ms_per_interval", 1, 1),
        ("loop stall max ms", "stall_max_ms", 1, 1),
        ("loop stall p99 ms", "stall_p99_ms", 1, 1),
        ("stall max without full GC ms", "stall_without_full_gc_max_ms", 1, 1),
        ("  its CPU part (idle machine) ms", "stall_cpu_without_full_gc_max_ms", 1, 1),
        ("full GC passes per interval", "full_gc_per_interval", 1, 2),
        ("full GC pause max ms", "full_gc_pause_max_ms", 1, 1),
        ("subscribe us, 100th", "subscribe_us_at_100", 1, 0),
        ("subscribe us, last", "subscribe_us_at_last", 1, 0),
        ("subscribe() call ns, 100th", "subscribe_call_ns_at_100", 1, 0),
        ("subscribe() call ns, last", "subscribe_call_ns_at_last", 1, 0),
        ("burst: dequeue round trips", "burst_dequeue_round_trips", 1, 0),
        ("burst: status reads", "burst_status_reads", 1, 0),
        ("burst: all fired after ms", "burst_all_fired_after_ms", 1, 0),
        ("memory KiB per trigger", "memory_bytes_per_trigger", 1 / 1024, 1),
    ]
    per_n = figures["per_n"]
    ns = list(per_n)
    print(f"{'':34}" + "".join(f"{'N=' + str(n):>24}" for n in ns))
    for label, key, scale, digits in rows:
        cells = [fmt(per_n[n][key], scale, digits) if key in per_n[n] else "-" for n in ns]
        print(f"{label:34}" + "".join(f"{cell:>24}" for cell in cells))
    soak_figures = figures["soak"]
    if soak_figures:
        print(
            f"\nsoak: {soak_figures['triggers']} triggers, {soak_figures['reads']} reads: "
            f"{soak_figures['memory_bytes_per_trigger_after_10_reads'] / 1024:.1f} KiB per trigger, "
            f"growth {soak_figures['growth_bytes_total'] / 1024:+.1f} KiB in total "
            f"({soak_figures['growth_bytes_per_trigger']:+.1f} B per trigger)"
        )
    contrast = figures["contrast_unshared"]
    if contrast:
        print(
            f"contrast, one connection id per trigger: {contrast['sessions_pooled']} pooled + "
            f"{contrast['sessions_dedicated']} listener sessions, "
            f"{contrast['reads_per_interval']:.1f} status reads per interval"
        )
    print("\ntargets:")
    for name, target in figures["targets"].items():
        details = ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in target.items())
        print(f"  {name:22} {details}")


if __name__ == "__main__":
    main()
