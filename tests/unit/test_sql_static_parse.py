"""Static parse of sql/: every statement the scripts send to Oracle is valid Oracle SQL/PL/SQL.

No database: each top-level script is expanded with the project's SQL*Plus parser and every
statement is parsed by tools/sqlparse (grammars-v4 PL/SQL grammar on Node, installed with
``npm ci --prefix tools/sqlparse``). Without node_modules the parse tests skip locally and FAIL
under CI (CI=true), so a missing install step cannot turn them green. The broken fixtures prove
the check can fail. See docs/development/static-parse.md.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import sqlcheck
from tests.sql_static_parse import (
    SCRIPT_DEFINES,
    SQL_ROOT,
    TOP_LEVEL_SCRIPTS,
    Expansion,
    ParseProblem,
    display_path,
    expand,
    orphans,
    running_in_ci,
    sql_files,
    tool_unavailable_reason,
    top_level_scripts,
)

FIXTURES = Path(__file__).parent / "fixtures" / "static_parse"
CONSTRUCTS = FIXTURES / "constructs.sql"
BROKEN = sorted(FIXTURES.glob("broken_*"))
_EXPECT = re.compile(r"--\s*expect:\s*(.+?)\s*$")

# Every construct the engine relies on, and a pattern proving constructs.sql still contains it.
REQUIRED_CONSTRUCTS = {
    "package spec with AUTHID DEFINER": r"create\s+or\s+replace\s+package\s+\w+\s+authid\s+definer",
    "package body": r"create\s+or\s+replace\s+package\s+body",
    "constant": r"\w+\s+constant\s+\w+",
    "subtype": r"\bsubtype\s+\w+\s+is\b",
    "record type": r"\bis\s+record\s*\(",
    "PRAGMA EXCEPTION_INIT": r"\w+\s+exception;\s+pragma\s+exception_init\s*\(",
    "PRAGMA AUTONOMOUS_TRANSACTION": r"pragma\s+autonomous_transaction",
    "cursor FOR UPDATE SKIP LOCKED": r"cursor\s+\w+\s+is[^;]*for\s+update\s+skip\s+locked",
    "WHERE CURRENT OF": r"where\s+current\s+of\s+\w+",
    "SAVEPOINT": r"\bsavepoint\s+\w+;",
    "ROLLBACK TO": r"rollback\s+to\s+(savepoint\s+)?\w+;",
    "EXECUTE IMMEDIATE ... USING ... RETURNING INTO": (
        r"execute\s+immediate\s+\w+\s+using\s+[^;]+returning\s+into"
    ),
    "DBMS_SQL": r"dbms_sql\.(open_cursor|parse|bind_variable|execute|close_cursor)",
    "q-quoted string": r"\bq'\[.*?\]'",
    "RAISE_APPLICATION_ERROR": r"raise_application_error\s*\(\s*-20\d{3}",
    "DBMS_UTILITY.FORMAT_ERROR_BACKTRACE": r"dbms_utility\.format_error_backtrace",
    "FORALL": r"\bforall\s+\w+\s+in\b",
    "BULK COLLECT": r"bulk\s+collect\s+into",
    "MERGE": r"^merge\s+into\b",
    "identity column": r"generated\s+(always|by\s+default(\s+on\s+null)?)\s+as\s+identity",
    "check constraint": r"constraint\s+\w+\s+check\s*\(",
    "view with analytic function": r"create\s+or\s+replace\s+view[^;]*\bover\s*\(",
    "count(case when ...)": r"count\s*\(\s*case\s+when\b",
    "CREATE SEQUENCE": r"^create\s+sequence\b",
    "CREATE TYPE ... AS OBJECT": r"create\s+or\s+replace\s+type\s+\w+\s+as\s+object",
    "JSON_OBJECT": r"json_object\s*\(\s*'\w+'\s+value\b",
    "DBMS_AQ.ENQUEUE": r"dbms_aq\.enqueue\s*\(",
    "DBMS_AQ.ENQUEUE_OPTIONS_T record": r"\w+\s+dbms_aq\.enqueue_options_t;",
    "anonymous DECLARE block": r"^declare\b.*\bbegin\b.*\bend;$",
    "GRANT": r"^grant\s+\w+",
    "REVOKE": r"^revoke\s+\w+",
    "CREATE ROLE": r"^create\s+role\s+\w+",
    "sys_context('USERENV','CURRENT_SCHEMA')": r"sys_context\s*\(\s*'USERENV'\s*,\s*'CURRENT_SCHEMA'\s*\)",
    "FETCH FIRST n ROWS ONLY": r"fetch\s+first\s+\d+\s+rows?\s+only",
    "LISTAGG ... WITHIN GROUP": r"listagg\s*\([^)]*\)\s*within\s+group",
    "TIMESTAMP WITH TIME ZONE": r"timestamp(\s*\(\d\))?\s+with\s+time\s+zone",
    "INTERVAL DAY TO SECOND": r"interval\s+day\s+to\s+second",
}


def _require_parser() -> None:
    reason = tool_unavailable_reason()
    if reason is None:
        return
    if running_in_ci():
        pytest.fail(f"CI must run the static parse of sql/, but {reason}")
    pytest.skip(reason)


def _expand_sql(script: Path) -> Expansion:
    return expand(script, root=SQL_ROOT, defines=SCRIPT_DEFINES)


@pytest.fixture(scope="module")
def sql_expansions() -> dict[str, Expansion]:
    return {script.name: _expand_sql(script) for script in top_level_scripts()}


@pytest.fixture(scope="module")
def fixture_expansions() -> dict[Path, Expansion]:
    return {path: expand(path) for path in [CONSTRUCTS, *BROKEN]}


@pytest.fixture(scope="module")
def problems(
    sql_expansions: dict[str, Expansion], fixture_expansions: dict[Path, Expansion]
) -> dict[str, list[ParseProblem]]:
    """All problems by file, from the ONE parse of sql/ and all fixtures that tools/sqlcheck makes
    for the unit tests (test_sql_check.py reads its semantic findings from the same run)."""
    _require_parser()
    found: dict[str, list[ParseProblem]] = {}
    for problem in sqlcheck.run(sqlcheck.unit_payload()).problems:
        found.setdefault(problem.file, []).append(problem)
    return found


def _report(problems: list[ParseProblem]) -> str:
    return "\n".join(str(p) for p in problems)


def test_install_script_exists() -> None:
    # Guards the parametrised checks below against passing on an empty list.
    assert (SQL_ROOT / "install.sql").is_file()


@pytest.mark.parametrize("script", [p.name for p in top_level_scripts()])
def test_top_level_script_parses(
    script: str, sql_expansions: dict[str, Expansion], problems: dict[str, list[ParseProblem]]
) -> None:
    expansion = sql_expansions[script]
    assert expansion.error is None, f"sql/{script} cannot be expanded: {expansion.error}"
    assert expansion.statements, f"sql/{script} sends no statement to Oracle"
    reached = {display_path(path) for path in expansion.files}
    found = [p for file in sorted(reached) for p in problems.get(file, [])]
    assert not found, f"statements run by sql/{script} do not parse:\n{_report(found)}"


def test_every_sql_file_is_reached(sql_expansions: dict[str, Expansion]) -> None:
    failed = {name: str(e.error) for name, e in sql_expansions.items() if e.error is not None}
    assert not failed, f"cannot tell which files are reached: {failed}"
    assert sql_files(), "no .sql/.pks/.pkb file under sql/"
    orphaned = orphans(sql_expansions.values())
    assert not orphaned, (
        f"files under sql/ that none of {', '.join(TOP_LEVEL_SCRIPTS)} runs (include them with @@, "
        f"or delete them; a file holding only comments counts as not run): {orphaned}"
    )


def test_orphan_detection_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "install.sql").write_text("@@core/used.sql\n", encoding="utf-8")
    (tmp_path / "core" / "used.sql").write_text("create sequence otask_a_seq;\n", encoding="utf-8")
    (tmp_path / "core" / "forgotten.pkb").write_text("begin null; end;\n/\n", encoding="utf-8")
    expansion = expand(tmp_path / "install.sql", root=tmp_path)
    assert expansion.error is None
    assert orphans([expansion], tmp_path) == [display_path(tmp_path / "core" / "forgotten.pkb")]


def test_every_required_construct_parses(
    fixture_expansions: dict[Path, Expansion], problems: dict[str, list[ParseProblem]]
) -> None:
    expansion = fixture_expansions[CONSTRUCTS]
    assert expansion.error is None, str(expansion.error)
    texts = [s.text for s in expansion.statements]
    absent = [
        name
        for name, pattern in REQUIRED_CONSTRUCTS.items()
        if not any(re.search(pattern, text, re.I | re.S | re.M) for text in texts)
    ]
    assert not absent, f"{display_path(CONSTRUCTS)} no longer contains: {absent}"
    found = problems.get(display_path(CONSTRUCTS), [])
    assert not found, f"valid Oracle constructs rejected:\n{_report(found)}"


def _expected(path: Path) -> dict[int, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {n: m.group(1) for n, line in enumerate(lines, 1) if (m := _EXPECT.search(line))}


def test_broken_fixtures_exist() -> None:
    names = {p.name for p in BROKEN}
    assert {"broken_missing_end.pkb", "broken_keyword.pkb", "broken_sql.sql"} <= names, names
    assert all(_expected(p) for p in BROKEN), "every broken fixture marks its error with '-- expect:'"


@pytest.mark.parametrize("path", BROKEN, ids=[p.name for p in BROKEN])
def test_broken_input_is_rejected_at_its_line(
    path: Path, fixture_expansions: dict[Path, Expansion], problems: dict[str, list[ParseProblem]]
) -> None:
    expansion = fixture_expansions[path]
    assert expansion.error is None, f"the fixture must be valid SQL*Plus: {expansion.error}"
    expected = _expected(path)
    found = problems.get(display_path(path), [])
    assert {p.line: p.message for p in found}.keys() == expected.keys(), (
        f"expected errors on lines {sorted(expected)}, got:\n{_report(found) or '(none)'}"
    )
    for problem in found:
        assert problem.file == display_path(path)
        assert expected[problem.line] in problem.message, str(problem)
