"""Python calls only PL/SQL entry points that ``sql/`` declares, with those parameter names."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.plsql_contract import (
    Call,
    Contract,
    find_calls,
    load_contract,
    parse_exceptions,
    parse_spec,
    python_calls,
)

ROOT = Path(__file__).resolve().parents[2]

SPEC = """
create or replace package otask authid definer as
  -- procedure commented_out(p_x number);
  function create_instance(
    p_taskspace   varchar2,
    p_run_key     varchar2 default null,   -- a comment, with a comma
    p_dims        sys.odcinumberlist := sys.odcinumberlist(1, 2)
  ) return number;
  procedure stop(p_instance_id number, p_mode varchar2 default 'SOFT');
  procedure stop(p_taskspace varchar2);
  procedure ping;
end otask;
/
"""


def test_spec_parser_reads_names_defaults_and_overloads() -> None:
    specs = parse_spec(SPEC)
    assert set(specs) == {"otask.create_instance", "otask.stop", "otask.ping"}
    (create,) = specs["otask.create_instance"]
    assert create.params == {"p_taskspace", "p_run_key", "p_dims"}
    assert create.required == {"p_taskspace"}
    assert len(specs["otask.stop"]) == 2


def test_calls_are_found_in_callproc_callfunc_and_plsql_text() -> None:
    source = """
cursor.callfunc("otask.create_instance", int, keyword_parameters={"p_taskspace": "A", "p_run_key": k})
cursor.callproc("OTASK.STOP", keyword_parameters={"p_instance_id": 1})
cursor.callproc("dbms_scheduler.run_chain", keyword_parameters={"chain_name": "C"})
cursor.execute("begin otask.stop(p_instance_id => :i, p_mode => 'HARD'); end;", i=1)
"""
    calls = find_calls(source, "m.py")
    assert [(c.target, sorted(c.params)) for c in calls] == [
        ("otask.create_instance", ["p_run_key", "p_taskspace"]),
        ("otask.stop", ["p_instance_id"]),
        ("otask.stop", ["p_instance_id", "p_mode"]),
    ]


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (Call("m.py", 3, "otask.create_instance", frozenset({"p_taskspace"})), None),
        (Call("m.py", 3, "otask.create_instance", frozenset({"p_taskspace", "p_runkey"})), "p_runkey"),
        (Call("m.py", 3, "otask.create_instance", frozenset({"p_run_key"})), "declared"),
        (Call("m.py", 3, "otask.stop", frozenset({"p_taskspace"})), None),
        (Call("m.py", 3, "otask.start", frozenset()), "no package spec"),
    ],
)
def test_contract_rejects_unknown_names_and_missing_required(call: Call, expected: str | None) -> None:
    contract = Contract(parse_spec(SPEC))
    problem = contract.problems(call)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert expected in problem


def test_python_calls_match_the_package_specs_in_sql() -> None:
    contract = load_contract(ROOT / "sql")
    calls = python_calls(ROOT / "airflow_provider_oracle_tasks")
    problems = [p for p in (contract.problems(c) for c in calls) if p]
    assert problems == []
    # Every call the provider makes into the engine goes through the public OTASK package (or
    # the install helper), never an internal one.
    assert {c.target.split(".")[0] for c in calls} <= {"otask", "otask_install"}


def test_keyword_parameters_in_a_variable_are_reported_not_ignored() -> None:
    # verification.md V-3: a variable used to pass as "no parameters", which every default satisfies.
    calls = find_calls('cursor.callfunc("otask.create_instance", int, keyword_parameters=binds)\n', "m.py")
    problem = Contract(parse_spec(SPEC)).problems(calls[0])
    assert problem is not None
    assert "not a dict literal" in problem


def test_positional_calls_and_exception_names_in_plsql_text_are_checked() -> None:
    # verification.md V-4: a misspelt function called positionally, and a misspelt exception.
    spec = SPEC.replace("  procedure ping;", "  procedure ping;\n  e_unknown_instance exception;")
    contract = Contract(parse_spec(spec), parse_exceptions(spec))
    source = """
cursor.execute("begin :s := otask.instance_stat(:id); end;")
cursor.execute("begin otask.ping; exception when otask.e_unknown_instanc then null; end;")
cursor.execute("begin otask.ping; exception when otask.e_unknown_instance then null; end;")
log(f"otask.stop({ident})")
"""
    problems = [contract.problems(c) for c in find_calls(source, "m.py")]
    assert [p is not None for p in problems] == [True, True, False]
    assert "otask.instance_stat" in str(problems[0])
    assert "exception otask.e_unknown_instanc" in str(problems[1])
