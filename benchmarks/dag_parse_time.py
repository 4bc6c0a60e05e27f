"""DAG parse time: every example DAG of this provider against the same DAG built from common.sql.

The DAG processor parses every DAG file again and again, so a provider must not make parsing
slow. Each ``example_dags/*.py`` is compared with its twin in ``benchmarks/twins/`` (same tasks,
same dependencies, same database calls, written with ``SQLExecuteQueryOperator`` and ``SqlSensor``
of apache-airflow-providers-common-sql, which a user could write instead).

Per DAG and side, ``--repeat`` fresh interpreters, ours and theirs alternating:

* cold: a fresh interpreter that has imported ``airflow.sdk`` (as the DAG processor has) parses
  the file once with a DagBag, so the provider's own imports are included; also the number of
  modules that parse imported;
* warm: the same file parsed ``--warm`` times more in that process (only the file's own code
  and the operators' constructors run); the median of those.

Times are CPU seconds of the parsing process (``time.process_time``: less noisy than wall time on
a shared machine). Bytecode is fair: both sides read ``.pyc`` files from one fresh
``PYTHONPYCACHEPREFIX`` that a first untimed parse of each file filled. Each ratio is ours /
theirs, reported as min/median/max over the paired runs.

Target (issue 14): <= 1.2x for every example, cold and warm. Nothing is asserted.

    python benchmarks/dag_parse_time.py [--repeat 3] [--warm 10] [--json] [example.py ...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "example_dags"
TWINS = Path(__file__).resolve().parent / "twins"

PARSE_ONCE = textwrap.dedent(
    """
    import os, sys, time
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"
    import airflow.sdk
    from airflow.dag_processing.dagbag import DagBag
    path, warm = sys.argv[1], int(sys.argv[2])
    before = set(sys.modules)
    started = time.process_time()
    bag = DagBag(dag_folder=path)
    cold = time.process_time() - started
    assert not bag.import_errors and len(bag.dags) == 1, bag.import_errors
    modules = len(set(sys.modules) - before)
    heavy = sorted(m for m in ("oracledb", "sqlparse") if m in sys.modules)
    times = []
    for _ in range(warm):
        started = time.process_time()
        bag.process_file(path, only_if_updated=False)
        times.append(time.process_time() - started)
    times.sort()
    print(cold, times[len(times) // 2], modules, ",".join(heavy) or "-")
    """
)


def parse(path: Path, warm: int, env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", PARSE_ONCE, str(path), str(warm)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
    ).stdout.split()
    return {"cold": float(out[-4]), "warm": float(out[-3]), "modules": int(out[-2]), "heavy": out[-1]}


def quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"min": ordered[0], "median": statistics.median(ordered), "max": ordered[-1]}


FILL_CACHE = textwrap.dedent(
    """
    import os, sys
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"
    from airflow.dag_processing.dagbag import DagBag
    for path in sys.argv[1:]:
        DagBag(dag_folder=path)
    """
)


def fill_cache(paths: list[Path], env: dict[str, str]) -> None:
    """One untimed parse of every file, so both sides then read .pyc files from the same prefix."""
    subprocess.run([sys.executable, "-c", FILL_CACHE, *map(str, paths)], check=True, cwd=ROOT, env=env)


def measure(name: str, repeat: int, warm: int, env: dict[str, str]) -> dict[str, Any]:
    ours_path, theirs_path = EXAMPLES / name, TWINS / name
    ours, theirs = [], []
    for run in range(repeat):
        pair = [(ours, ours_path), (theirs, theirs_path)]
        for samples, path in pair if run % 2 == 0 else reversed(pair):
            samples.append(parse(path, warm, env))
    figures: dict[str, Any] = {}
    for kind in ("cold", "warm"):
        figures[f"ours_{kind}_ms"] = quantiles([s[kind] * 1000 for s in ours])
        figures[f"theirs_{kind}_ms"] = quantiles([s[kind] * 1000 for s in theirs])
        figures[f"{kind}_ratio"] = quantiles([o[kind] / t[kind] for o, t in zip(ours, theirs, strict=True)])
    figures["ours_modules"] = ours[0]["modules"]
    figures["theirs_modules"] = theirs[0]["modules"]
    figures["ours_heavy_imports"] = ours[0]["heavy"]
    figures["theirs_heavy_imports"] = theirs[0]["heavy"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh interpreters per DAG and side")
    parser.add_argument("--warm", type=int, default=10, help="warm re-parses per interpreter")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("dags", nargs="*", help="example file names (default: every example with a twin)")
    args = parser.parse_args()
    names = args.dags or sorted(p.name for p in EXAMPLES.glob("*.py") if (TWINS / p.name).exists())
    missing = sorted(p.name for p in EXAMPLES.glob("*.py") if not (TWINS / p.name).exists())
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTHONPYCACHEPREFIX": cache, "PYTHONPATH": str(ROOT)}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        fill_cache([folder / name for name in names for folder in (EXAMPLES, TWINS)], env)
        per_dag = {name: measure(name, args.repeat, args.warm, env) for name in names}
    worst = {
        kind: max(per_dag.values(), key=lambda f, k=kind: f[f"{k}_ratio"]["median"])[f"{kind}_ratio"]
        for kind in ("cold", "warm")
    }
    figures = {
        "config": {
            "repeat": args.repeat,
            "warm": args.warm,
            "python": sys.version.split()[0],
            "clock": "cpu",
        },
        "per_dag": per_dag,
        "examples_without_twin": missing,
        "target": {
            "limit_ratio": 1.2,
            "worst_cold_ratio_median": worst["cold"]["median"],
            "worst_warm_ratio_median": worst["warm"]["median"],
            "met": all(f[f"{k}_ratio"]["median"] <= 1.2 for f in per_dag.values() for k in ("cold", "warm")),
        },
    }
    if args.json:
        print(json.dumps(figures, indent=1, sort_keys=True))
        return
    print(
        f"CPU ms, median [min-max] of {args.repeat} fresh interpreters per side ({args.warm} warm "
        f"re-parses each), fair .pyc, Python {figures['config']['python']}"
    )
    header = f"{'example':26} {'ours cold':>20} {'common.sql cold':>20} {'ratio':>17}"
    print(header + f" {'ours warm':>17} {'common.sql warm':>17} {'ratio':>17}  modules (ours/theirs)")
    for name, f in per_dag.items():

        def cell(q: dict[str, float], digits: int = 1) -> str:
            return f"{q['median']:.{digits}f} [{q['min']:.{digits}f}-{q['max']:.{digits}f}]"

        print(
            f"{name:26} {cell(f['ours_cold_ms']):>20} {cell(f['theirs_cold_ms']):>20} "
            f"{cell(f['cold_ratio'], 2):>17} {cell(f['ours_warm_ms']):>17} {cell(f['theirs_warm_ms']):>17} "
            f"{cell(f['warm_ratio'], 2):>17}  {f['ours_modules']}/{f['theirs_modules']}"
            f" (oracledb/sqlparse: {f['ours_heavy_imports']} / {f['theirs_heavy_imports']})"
        )
    if missing:
        print(f"no twin (not measured): {', '.join(missing)}")
    target = figures["target"]
    print(f"target <= 1.2x for every example, cold and warm: {'met' if target['met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
