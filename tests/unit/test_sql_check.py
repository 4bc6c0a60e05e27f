"""tools/sqlcheck: the semantic check of sql/ finds nothing on the tree, and each error class it
claims is proven by a fixture that it rejects with Oracle's code on the exact line.

One run of ``tools/sqlparse/sqlcheck.mjs`` per session covers sql/, these fixtures and the
static-parse fixtures (tests/unit/test_sql_static_parse.py reads its syntax problems from the same
run). See docs/development/sqlcheck.md.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.sql_static_parse import REPO, display_path, running_in_ci, tool_unavailable_reason
from tests.sqlcheck import CATALOG, Result, run, unit_payload

FIXTURES = Path(__file__).parent / "fixtures" / "sqlcheck"
BROKEN = sorted(FIXTURES.glob("broken_*.sql"))
_EXPECT = re.compile(r"--\s*expect:\s*([A-Z]+(?:-\d+)?)\b")

# Every error class the check claims, and the code a fixture must prove it with.
ERROR_CLASSES = {
    "unknown table or view": "ORA-00942",
    "unknown column (view, UPDATE, qualified)": "ORA-00904",
    "not enough values (INSERT, SELECT INTO)": "ORA-00947",
    "too many values (INSERT)": "ORA-00913",
    "unknown package member, record field, %TYPE column, exception": "PLS-00302",
    "missing mandatory argument or unknown parameter name": "PLS-00306",
    "positional after named argument": "PLS-00312",
    "duplicate named argument": "PLS-00703",
    "spec subprogram without a matching body": "PLS-00323",
    "default differs between spec and body": "PLS-00593",
    "private function used in SQL": "PLS-00231",
    "undeclared exception": "PLS-00201",
    "unknown sequence": "ORA-02289",
    "19c: SELECT without FROM": "ORA-00923",
    "19c: JSON data type": "ORA-00902",
    "19c: BOOLEAN in SQL": "PLS-00382",
    "supplied object missing from the catalog": "CATALOG",
    "19c: IF NOT EXISTS (the grammar rejects it)": "SYNTAX",
}


def _require_tool() -> None:
    reason = tool_unavailable_reason()
    if reason is None:
        return
    if running_in_ci():
        pytest.fail(f"CI must run tools/sqlcheck, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def result() -> Result:
    _require_tool()
    return run(unit_payload())


def _expected(path: Path) -> dict[int, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {n: m.group(1) for n, line in enumerate(lines, 1) if (m := _EXPECT.search(line))}


def test_the_tree_has_no_finding(result: Result) -> None:
    found = [f for f in result.findings if f.file.startswith("sql/")]
    assert not found, "tools/sqlcheck findings in sql/:\n" + "\n".join(map(str, found))
    assert not [p for p in result.problems if p.file.startswith("sql/")]
    # It resolved something: a check that resolves nothing finds nothing.
    assert result.summary["references"] > 1000, result.summary


def test_the_tree_parses_without_the_slow_full_ll_stage(result: Result) -> None:
    # Stage 3 (unmodified LL prediction) is what made the parse take minutes; a valid tree never needs it.
    slow = [file for file in result.summary["full_ll"] if file.startswith("sql/")]
    assert not slow, f"statements that needed the slow full-LL stage: {slow}"


def test_every_error_class_has_a_fixture() -> None:
    codes = {code for path in BROKEN for code in _expected(path).values()}
    missing = {name: code for name, code in ERROR_CLASSES.items() if code not in codes}
    assert not missing, f"no fixture proves: {missing}"


@pytest.mark.parametrize("path", BROKEN, ids=[p.name for p in BROKEN])
def test_fixture_is_rejected_with_the_code_on_its_line(path: Path, result: Result) -> None:
    problems, findings = result.for_file(display_path(path))
    got: dict[int, set[str]] = {}
    for problem in problems:
        got.setdefault(problem.line, set()).add("SYNTAX")
    for finding in findings:
        got.setdefault(finding.line, set()).add(finding.code)
    expected = {line: {code} for line, code in _expected(path).items()}
    report = "\n".join([*map(str, problems), *map(str, findings)]) or "(none)"
    assert got == expected, f"expected {expected}, got:\n{report}"


def test_catalog_entries_name_their_19c_reference() -> None:
    catalog = json.loads(CATALOG.read_text(encoding="utf-8"))
    entries = [*catalog["packages"].items(), *catalog["types"].items(), *catalog["views"].items()]
    assert len(entries) > 40
    unnamed = [name for name, entry in entries if "19c" not in entry.get("reference", "")]
    assert not unnamed, f"catalog entries without their 19c reference page: {unnamed}"


def test_catalog_entries_are_used(result: Result) -> None:
    """Conservative: every supplied object in the catalog is used by sql/ (or, for DBMS_SCHEDULER
    chain calls, by the Python side, which the strict fakes check against the same catalog)."""
    catalog = json.loads(CATALOG.read_text(encoding="utf-8"))
    used = set(result.summary["supplied_used"])
    python_only = {"DBMS_RULE_ADM", "SESSION_ROLES", "JSON_OBJECT_T", "JSON_ARRAY_T"}
    python_side = {
        "USER_SCHEDULER_CHAIN_STEPS",
        "USER_SCHEDULER_CHAIN_RULES",
        "USER_SCHEDULER_RUNNING_CHAINS",
        "ALL_SCHEDULER_RUNNING_CHAINS",
        "USER_SCHEDULER_JOB_RUN_DETAILS",
        "ALL_SCHEDULER_JOBS",
        "USER_ERRORS",
        "ALL_ERRORS",
        "USER_SOURCE",
        "USER_TAB_PARTITIONS",
        "ALL_OBJECTS",
    }
    unused = set(catalog["packages"]) | set(catalog["types"]) | set(catalog["views"])
    unused -= used | python_only | python_side
    assert not unused, f"catalog entries nothing uses (remove them, or say who uses them): {sorted(unused)}"


def test_the_command_runs_clean_and_prints_its_summary() -> None:
    _require_tool()
    completed = subprocess.run(
        [str(REPO / "tools" / "sqlcheck")], capture_output=True, text=True, cwd=REPO, check=False, timeout=900
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    last = completed.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"sqlcheck: \d+ statement\(s\), \d+ reference\(s\) resolved, "
        r"0 syntax problem\(s\), 0 finding\(s\) in [\d.]+ s",
        last,
    ), last


def test_the_command_exits_1_on_a_finding() -> None:
    _require_tool()
    fixture = FIXTURES / "broken_install_order.sql"
    completed = subprocess.run(
        [str(REPO / "tools" / "sqlcheck"), str(fixture)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
        timeout=900,
    )
    assert completed.returncode == 1, completed.stdout + completed.stderr
    assert f"{display_path(fixture)}:3: ORA-00942 table or view FX_LATE does not exist" in completed.stdout
