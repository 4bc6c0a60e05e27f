"""The semantic check of sql/ without a database (``tools/sqlcheck``); see docs/development/sqlcheck.md.

The top-level scripts are expanded with the project's own SQL*Plus parser, in the order a DBA runs
them (install, grants, uninstall), so the check sees exactly the statements Oracle receives; one
run of ``tools/sqlparse/sqlcheck.mjs`` parses every statement once and runs on the same trees the
grammar checks of the static parse and the semantic check (names, columns, calls and signatures,
spec/body agreement, install order, 19c rules) against a catalog built in install order plus
``tools/sqlparse/catalog/oracle-19c.json``. Findings print as ``path:line: CODE message``.

Files given on the command line (fixtures) are each checked on their own against the schema the
install leaves.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.sql_static_parse import (
    REPO,
    SCRIPT_DEFINES,
    SQL_ROOT,
    TOOL_DIR,
    Expansion,
    ParseProblem,
    ToolError,
    _first_line_indent,
    display_path,
    expand,
    orphans,
    tool_unavailable_reason,
)

CHECK_ORDER = ("install.sql", "grants.sql", "uninstall.sql")
"""The order the top-level scripts run on one schema: the catalog is built in this order."""

CATALOG = TOOL_DIR / "catalog" / "oracle-19c.json"
TIME_LIMIT = 60.0
"""Seconds the whole check may take on the project's 2-core build machine (issue 10)."""


@dataclass(frozen=True)
class Finding:
    """One semantic finding, with the code Oracle would raise (or CATALOG: the catalog lacks it)."""

    file: str
    line: int
    column: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.code} {self.message}"


@dataclass(frozen=True)
class Result:
    problems: tuple[ParseProblem, ...]
    findings: tuple[Finding, ...]
    summary: Mapping[str, Any]
    schema: Mapping[str, Any]
    """The catalog as sql/ leaves it: tables/views and columns, sequences, types, package members."""

    def for_file(self, file: str) -> tuple[list[ParseProblem], list[Finding]]:
        return [p for p in self.problems if p.file == file], [f for f in self.findings if f.file == file]

    def line(self) -> str:
        s = self.summary
        return (
            f"sqlcheck: {s['statements']} statement(s), {s['references']} reference(s) resolved, "
            f"{s['problems']} syntax problem(s), {s['findings']} finding(s) in {s['seconds']:.1f} s"
        )


def schema_expansions() -> list[Expansion]:
    return [expand(SQL_ROOT / name, root=SQL_ROOT, defines=SCRIPT_DEFINES) for name in CHECK_ORDER]


def payload_of(expansions: Iterable[Expansion], group: str | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cache: dict[Path, list[str]] = {}
    for expansion in expansions:
        for statement in expansion.statements:
            item: dict[str, Any] = {
                "file": expansion.display(statement.file),
                "line": statement.line,
                "kind": statement.kind,
                "text": statement.text,
                "indent": _first_line_indent(
                    expansion.root / statement.file, statement.line, statement.text, cache
                ),
            }
            if group is not None:
                item["group"] = group
            items.append(item)
    return items


def _tool_version() -> str:
    digest = hashlib.sha256()
    for name in ("lib.mjs", "facts.mjs", "semantic.mjs", "sqlcheck.mjs", "catalog/oracle-19c.json"):
        digest.update((TOOL_DIR / name).read_bytes())
    return digest.hexdigest()


_RUNS: dict[str, Result] = {}


def run(payload: Sequence[Mapping[str, Any]], *, timeout: float = 900) -> Result:
    """One run of sqlcheck.mjs over ``payload``; repeated identical runs in a process are shared."""
    key = hashlib.sha256((_tool_version() + json.dumps(payload, sort_keys=True)).encode()).hexdigest()
    if key in _RUNS:
        return _RUNS[key]
    reason = tool_unavailable_reason()
    if reason is not None:
        raise ToolError(reason)
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [shutil.which("node") or "node", str(TOOL_DIR / "sqlcheck.mjs")],
            input=json.dumps(list(payload)),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
            cwd=TOOL_DIR,
        )
    except subprocess.TimeoutExpired as error:
        raise ToolError(f"sqlcheck.mjs did not finish within {timeout:.0f} s") from error
    if completed.returncode != 0:
        raise ToolError(f"sqlcheck.mjs failed ({completed.returncode}): {completed.stderr.strip()[-2000:]}")
    try:
        raw = json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        raise ToolError(
            f"sqlcheck.mjs printed something that is not JSON: {completed.stdout[:300]!r}"
        ) from error
    indents = {(str(p["file"]), int(p["line"])): int(p.get("indent", 0)) for p in payload}
    problems = tuple(
        ParseProblem(p["file"], p["line"], p["column"] + indents.get((p["file"], p["line"]), 0), p["message"])
        for p in raw["problems"]
    )
    findings = tuple(
        Finding(f["file"], f["line"], f["column"], f["code"], f["message"])
        for f in sorted(raw["findings"], key=lambda f: (f["file"], f["line"], f["column"]))
    )
    summary = dict(raw["summary"])
    summary["seconds"] = time.monotonic() - started
    result = Result(problems, findings, summary, raw.get("schema", {}))
    _RUNS[key] = result
    return result


UNIT_FIXTURES = REPO / "tests" / "unit" / "fixtures"


def unit_payload() -> list[dict[str, Any]]:
    """sql/ plus every fixture of the static parse and of sqlcheck, each fixture its own group:
    the ONE run the unit tests share (test_sql_check.py and test_sql_static_parse.py)."""
    payload = payload_of(schema_expansions())
    static = UNIT_FIXTURES / "static_parse"
    fixtures = [
        *sorted(static.glob("*.sql")),
        *sorted(static.glob("*.pkb")),
        *sorted((UNIT_FIXTURES / "sqlcheck").glob("*.sql")),
    ]
    for path in fixtures:
        payload.extend(payload_of([expand(path)], group=display_path(path)))
    return payload


_PLSQL_UNIT = re.compile(
    r"\s*(begin|declare|create\s+(or\s+replace\s+)?(editionable\s+|noneditionable\s+)?"
    r"(package|procedure|function|trigger|type\s+body)\b)",
    re.I,
)


def recorded_payload(path: Path) -> list[dict[str, Any]]:
    """The statements of a SQLCHECK_RECORD file (JSON lines {test, text}), once each, as one group
    checked against the installed schema; a finding names the first test that sent the text."""
    seen: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        seen.setdefault(item["text"], item["test"] or "unknown test")
    return [
        {
            "file": f"recorded by {test}",
            "line": 1,
            "kind": "plsql" if _PLSQL_UNIT.match(text) else "sql",
            "text": text,
            "group": "python",
        }
        for text, test in seen.items()
    ]


def schema_catalog() -> Mapping[str, Any]:
    """The catalog of the objects the install creates (one run; later runs reuse the parse cache)."""
    return run(payload_of(schema_expansions())).schema


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tools/sqlcheck",
        description="Semantic check of sql/ (names, columns, calls, signatures, install order, 19c).",
    )
    parser.add_argument(
        "files", nargs="*", type=Path, help="extra scripts (fixtures), each checked on its own"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--recorded",
        type=Path,
        metavar="FILE",
        help="also check the SQL the unit fakes received (a SQLCHECK_RECORD=FILE run of pytest)",
    )
    args = parser.parse_args(argv)
    expansions = schema_expansions()
    failures = [f"{display_path(e.script)}: cannot expand: {e.error}" for e in expansions if e.error]
    payload = payload_of(expansions)
    for file in args.files:
        extra = expand(file)
        if extra.error:
            failures.append(f"{display_path(file)}: cannot expand: {extra.error}")
        payload.extend(payload_of([extra], group=display_path(file)))
    if args.recorded:
        payload.extend(recorded_payload(args.recorded))
    try:
        result = run(payload)
    except ToolError as error:
        print(f"sqlcheck did not run: {error}", file=sys.stderr)
        return 2
    if not failures:
        failures += [f"{o}: not reached by any of {', '.join(CHECK_ORDER)}" for o in orphans(expansions)]
    if args.json:
        print(
            json.dumps(
                {
                    "problems": [str(p) for p in result.problems],
                    "findings": [str(f) for f in result.findings],
                    "summary": result.summary,
                },
                indent=2,
            )
        )
    else:
        for line in failures:
            print(line)
        for problem in result.problems:
            print(problem)
        for finding in result.findings:
            print(finding)
        print(result.line())
    return 1 if failures or result.problems or result.findings else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
