"""Static parse of the engine's SQL and PL/SQL: no database, only the files.

Each script is expanded with the project's own SQL*Plus parser (``parse_script``), so the parser
sees exactly the statements Oracle would receive; every statement is then parsed on its own by
``tools/sqlparse/check.mjs`` (the ANTLR grammars-v4 PL/SQL grammar on Node). Problems come back
as ``file:line:column: message`` with positions in the original files.

Also a command for developers::

    npm ci --prefix tools/sqlparse          # once
    python -m tests.sql_static_parse        # sql/install.sql, uninstall.sql, grants.sql
    python -m tests.sql_static_parse path/to/script.sql --define name=value

See docs/development/static-parse.md for the parser choice and its known limits.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_oracle_tasks.install.script_parser import Command, ScriptError, Statement, parse_script

REPO = Path(__file__).resolve().parent.parent
TOOL_DIR = REPO / "tools" / "sqlparse"
SQL_ROOT = REPO / "sql"
INSTALL_COMMAND = "npm ci --prefix tools/sqlparse"

TOP_LEVEL_SCRIPTS = ("install.sql", "uninstall.sql", "grants.sql")
"""Scripts a DBA or the installer runs directly; every other file in sql/ must be reached from one."""

SCRIPT_DEFINES: Mapping[str, str] = {"otask_owner": "OTASK_OWNER", "otask_role": "OTASK_USER_ROLE"}
"""Values for the parameters a DBA passes (grants.sql asks for the owner schema)."""

SQL_SUFFIXES = (".sql", ".pks", ".pkb")

_REQUIRED_MODULES = ("@griffithswaite/ts-plsql-parser", "antlr4")


@dataclass(frozen=True)
class ParseProblem:
    """One statement that does not parse; ``line``/``column`` are 1-based positions in ``file``."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


@dataclass(frozen=True)
class Expansion:
    """A script expanded by ``parse_script``: its statements and commands, or why it failed."""

    script: Path
    root: Path
    items: tuple[Statement | Command, ...]
    error: ScriptError | None

    @property
    def statements(self) -> list[Statement]:
        return [item for item in self.items if isinstance(item, Statement)]

    def display(self, file: str) -> str:
        """How a ``Statement.file`` (relative to the root) is shown: relative to the repository."""
        return display_path(self.root / file)

    @property
    def files(self) -> set[Path]:
        """Every file this expansion read something from (statements or SQL*Plus commands)."""
        reached = {(self.root / item.file).resolve() for item in self.items}
        reached.update((self.root / file).resolve() for item in self.items for file, _ in item.included_from)
        return reached


class ToolError(RuntimeError):
    """``check.mjs`` could not run or returned something unusable."""


def display_path(path: Path) -> str:
    resolved = path.resolve()
    try:
        return resolved.relative_to(REPO).as_posix()
    except ValueError:
        return resolved.as_posix()


def running_in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def tool_unavailable_reason() -> str | None:
    """Why the parser cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not on PATH: install Node.js 18+ to run the static parse of sql/"
    missing = [name for name in _REQUIRED_MODULES if not (TOOL_DIR / "node_modules" / name).is_dir()]
    if missing:
        return f"tools/sqlparse/node_modules lacks {', '.join(missing)}: run `{INSTALL_COMMAND}`"
    return None


def expand(script: Path, *, root: Path | None = None, defines: Mapping[str, str] | None = None) -> Expansion:
    root = (root or script.parent).resolve()
    try:
        items = parse_script(script, root=root, defines=defines)
    except ScriptError as error:
        return Expansion(script, root, (), error)
    return Expansion(script, root, tuple(items), None)


def top_level_scripts(sql_root: Path = SQL_ROOT) -> list[Path]:
    return [sql_root / name for name in TOP_LEVEL_SCRIPTS if (sql_root / name).is_file()]


def sql_files(sql_root: Path = SQL_ROOT) -> list[Path]:
    return sorted(
        p.resolve() for p in sql_root.rglob("*") if p.is_file() and p.suffix.lower() in SQL_SUFFIXES
    )


def _first_line_indent(path: Path, line: int, text: str, cache: dict[Path, list[str]]) -> int:
    """Columns the parser strips before a statement's first line (its indentation)."""
    if path not in cache:
        try:
            cache[path] = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            cache[path] = []
    lines = cache[path]
    first = text.split("\n", 1)[0]
    if not first or not 0 < line <= len(lines):
        return 0
    return max(lines[line - 1].find(first), 0)


def check_expansions(expansions: Iterable[Expansion], *, timeout: float = 900) -> list[ParseProblem]:
    """Parse every statement of the expansions in ONE run of the parser (it warms up once)."""
    payload: list[dict[str, object]] = []
    indents: dict[tuple[str, int], int] = {}
    cache: dict[Path, list[str]] = {}
    for expansion in expansions:
        for statement in expansion.statements:
            file = expansion.display(statement.file)
            payload.append(
                {"file": file, "line": statement.line, "kind": statement.kind, "text": statement.text}
            )
            indent = _first_line_indent(
                expansion.root / statement.file, statement.line, statement.text, cache
            )
            indents[(file, statement.line)] = indent
    if not payload:
        return []
    problems = []
    for item in _run_tool(payload, timeout):
        try:
            file, line, column = str(item["file"]), int(item["line"]), int(item["column"])
            message = str(item["message"])
        except (KeyError, TypeError, ValueError) as error:
            raise ToolError(f"check.mjs returned an unexpected problem: {item!r}") from error
        problems.append(ParseProblem(file, line, column + indents.get((file, line), 0), message))
    return problems


def _run_tool(payload: Sequence[Mapping[str, object]], timeout: float) -> list[Any]:
    reason = tool_unavailable_reason()
    if reason is not None:
        raise ToolError(reason)
    node = shutil.which("node") or "node"
    try:
        completed = subprocess.run(
            [node, str(TOOL_DIR / "check.mjs")],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=timeout,
            check=False,
            cwd=TOOL_DIR,
        )
    except subprocess.TimeoutExpired as error:
        raise ToolError(f"check.mjs did not finish within {timeout:.0f} s") from error
    if completed.returncode != 0:
        raise ToolError(
            f"check.mjs failed with exit status {completed.returncode}: {completed.stderr.strip()}"
        )
    try:
        result = json.loads(completed.stdout)
    except json.JSONDecodeError as error:
        raise ToolError(
            f"check.mjs printed something that is not JSON: {completed.stdout[:500]!r}"
        ) from error
    if not isinstance(result, list):
        raise ToolError(f"check.mjs printed {type(result).__name__}, not a list")
    return result


def orphans(expansions: Iterable[Expansion], sql_root: Path = SQL_ROOT) -> list[str]:
    """Files under sql/ that no expansion reached (never run by install, uninstall or grants)."""
    reached: set[Path] = set()
    for expansion in expansions:
        reached |= expansion.files
    return [display_path(p) for p in sql_files(sql_root) if p not in reached]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.sql_static_parse",
        description="Statically parse SQL*Plus scripts (default: the top-level scripts in sql/).",
    )
    parser.add_argument("scripts", nargs="*", type=Path, help="scripts to check (default: %(default)s)")
    parser.add_argument("--root", type=Path, help="include root (default: each script's folder)")
    parser.add_argument(
        "--define", action="append", default=[], metavar="NAME=VALUE", help="substitution variable"
    )
    args = parser.parse_args(argv)
    defines = dict(SCRIPT_DEFINES)
    for pair in args.define:
        name, sep, value = pair.partition("=")
        if not sep:
            parser.error(f"--define needs NAME=VALUE, got {pair!r}")
        defines[name] = value
    default_run = not args.scripts
    scripts = top_level_scripts() if default_run else args.scripts
    if default_run:
        roots: list[Path | None] = [SQL_ROOT] * len(scripts)
    else:
        roots = [args.root] * len(scripts)
    expansions = [
        expand(script, root=root, defines=defines) for script, root in zip(scripts, roots, strict=True)
    ]
    failures = 0
    for expansion in expansions:
        if expansion.error is not None:
            failures += 1
            print(f"{display_path(expansion.script)}: cannot expand: {expansion.error}")
    try:
        problems = check_expansions(expansions)
    except ToolError as error:
        print(f"static parse did not run: {error}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    failures += len(problems)
    if default_run and all(e.error is None for e in expansions):
        for orphan in orphans(expansions):
            failures += 1
            print(f"{orphan}: not reached by any of {', '.join(TOP_LEVEL_SCRIPTS)}")
    count = sum(len(e.statements) for e in expansions)
    print(f"{count} statement(s) parsed, {failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
