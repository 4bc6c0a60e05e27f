"""The chain spec: every validation error, rules generated from dependencies, canonical form, fingerprint.

Pure Python: nothing here touches a database (none is needed to validate a spec).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from airflow_provider_oracle_tasks.chains.analysis import analyze, find_cycles
from airflow_provider_oracle_tasks.chains.conditions import (
    ChainSpecError,
    ErrorCode,
    Not,
    end,
    error_code,
    evaluate,
    failed,
    parse_action,
    parse_condition,
    start,
    succeeded,
)
from airflow_provider_oracle_tasks.chains.spec import MARKER, Chain, ChainSpec, Rule, derived_name
from airflow_provider_oracle_tasks.chains.steps import (
    EventStep,
    NestedChainStep,
    PlsqlStep,
    ProcedureStep,
    ProgramStep,
)

NOOP = "begin null; end;"


def linear(name: str = "C") -> Chain:
    chain = Chain(name)
    a = chain.plsql("A", NOOP)
    b = chain.plsql("B", NOOP)
    c = chain.plsql("C1", NOOP)
    a >> b >> c
    return chain


def rules_of(spec: ChainSpec) -> dict[str, tuple[str, str]]:
    return {rule.name or "": (str(rule.condition), str(rule.action)) for rule in spec.rules}


# --- rule generation -----------------------------------------------------------------------------


def test_linear_dependencies_generate_start_dependency_end_and_failure_rules() -> None:
    assert rules_of(linear().build()) == {
        "C_BEGIN": ("TRUE", "START A"),
        "C_START_B": ("A SUCCEEDED", "START B"),
        "C_START_C1": ("B SUCCEEDED", "START C1"),
        "C_END_OK": ("C1 SUCCEEDED", "END 0"),
        "C_FAIL_A": ("A FAILED", "END A.ERROR_CODE"),
        "C_FAIL_B": ("B FAILED", "END B.ERROR_CODE"),
        "C_FAIL_C1": ("C1 FAILED", "END C1.ERROR_CODE"),
        "C_STOPPED": ("A STOPPED OR B STOPPED OR C1 STOPPED", "END 1"),
    }


def test_fan_out_and_fan_in_wait_for_every_upstream() -> None:
    chain = Chain("D")
    a, b, c, d = (chain.plsql(n, NOOP) for n in ("A", "B", "X", "Y"))
    a >> [b, c]
    [b, c] >> d
    rules = rules_of(chain.build())
    assert rules["D_BEGIN"] == ("TRUE", "START A")
    assert rules["D_START_Y"] == ("B SUCCEEDED AND X SUCCEEDED", "START Y")
    assert rules["D_END_OK"] == ("Y SUCCEEDED", "END 0")


def test_several_roots_start_together_and_several_sinks_must_all_succeed() -> None:
    chain = Chain("P")
    chain.plsql("A", NOOP)
    chain.plsql("B", NOOP)
    rules = rules_of(chain.build())
    assert rules["P_BEGIN"] == ("TRUE", "START A, B")
    assert rules["P_END_OK"] == ("A SUCCEEDED AND B SUCCEEDED", "END 0")


def test_dict_of_upstreams_equals_the_shift_operator() -> None:
    by_dict = ChainSpec.from_dependencies(
        "C",
        [PlsqlStep("A", plsql=NOOP), PlsqlStep("B", plsql=NOOP), PlsqlStep("C1", plsql=NOOP)],
        {"B": ["A"], "C1": "B"},
    )
    assert by_dict == linear().build()
    assert by_dict.fingerprint == linear().build().fingerprint


def test_explicit_failure_handling_replaces_the_generated_failure_rule() -> None:
    chain = linear()
    chain.plsql("ALERT", NOOP)
    chain.rule("B FAILED", "START ALERT")
    chain.rule(failed("B") & succeeded("ALERT"), end(from_step="B"))
    chain.rule("ALERT FAILED", end(9))
    rules = rules_of(chain.build())
    assert "C_FAIL_B" not in rules  # B's failure is handled explicitly
    assert "C_FAIL_A" in rules
    assert "C_START_ALERT" not in rules  # started by an explicit rule, not a dependency root
    assert rules["C_R01"] == ("B FAILED", "START ALERT")
    assert rules["C_R02"] == ("B FAILED AND ALERT SUCCEEDED", "END B.ERROR_CODE")


def test_failure_rules_can_be_switched_off_then_a_failure_stalls() -> None:
    chain = Chain("S", failure_rules=False)
    a = chain.plsql("A", NOOP)
    b = chain.plsql("B", NOOP)
    a >> b
    with pytest.raises(
        ChainSpecError, match=r"(?s)can stall.*A FAILED \(error 1\): nothing runs.*not started: B"
    ):
        chain.build()


# --- validation errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PlsqlStep("1A", plsql=NOOP), r"step name '1A' is not a valid Oracle name"),
        (lambda: PlsqlStep("END", plsql=NOOP), r"'END' is a keyword"),
        (lambda: PlsqlStep("A", plsql="  "), r"step A: plsql must be non-empty"),
        (lambda: PlsqlStep("A", plsql="x" * 4001), r"longer than 4000 bytes"),
        (lambda: ProcedureStep("A", procedure="a.b.c.d"), r"more than 3 dot-separated parts"),
        (
            lambda: ProcedureStep("A", procedure="p", arguments=(True,)),
            r"argument 1 = True must be str or int",
        ),
        (lambda: ProcedureStep("A", procedure="p", arguments=(1.5,)), r"argument 1 = 1.5"),
        (lambda: ProgramStep("A", program="x y"), r"program 'x y' is not a valid Oracle name"),
        (lambda: EventStep("E", queue="Q"), r"needs queue= and condition="),
        (lambda: EventStep("E", schedule="S", queue="Q"), r"either schedule= or queue="),
        (lambda: PlsqlStep("A", plsql=NOOP, restart_on_failure="yes"), r"restart_on_failure='yes'"),
        (lambda: Rule("A SUCEEDED", "START B"), r"after step A expected \[NOT\]"),
        (lambda: Rule("(A SUCCEEDED", "START B"), r"expected \) but found the end"),
        (lambda: Rule(":A.state = 'SUCCEEDED'", "START B"), r"uses the SQL form"),
        (lambda: Rule("A ERROR_CODE NOT = 3", "END"), r"NOT must be followed by IN"),
        (lambda: Rule("TRUE", "AFTER 00:00:10 END"), r"AFTER is only allowed before START"),
        (lambda: Rule("TRUE", "AFTER 00:61:00 START A"), r"minutes and seconds below 60"),
        (lambda: Rule("TRUE", "RUN A"), r"expected START, STOP or END"),
        (lambda: Rule("TRUE", "END -1"), r"unexpected character '-'"),
        (lambda: Chain("bad name"), r"chain name 'bad name' is not a valid Oracle name"),
    ],
)
def test_invalid_steps_rules_and_names_fail_with_the_culprit_named(make, message: str) -> None:
    with pytest.raises(ChainSpecError, match=message):
        make()


def test_unknown_step_in_a_condition_is_named_with_the_rule() -> None:
    chain = linear()
    chain.rule("LOAD FAILED", "END 3", name="ON_LOAD")
    with pytest.raises(
        ChainSpecError, match=r"rule ON_LOAD \(LOAD FAILED -> END 3\) names unknown step LOAD"
    ):
        chain.build()


@pytest.mark.parametrize("action", ["START NOPE", "STOP NOPE", "END NOPE.ERROR_CODE"])
def test_unknown_step_in_an_action_is_named(action: str) -> None:
    chain = linear()
    chain.rule("A FAILED", action)
    with pytest.raises(ChainSpecError, match=r"names unknown step NOPE; the steps are A, B, C1"):
        chain.build()


def test_unknown_step_in_a_dependency_is_named() -> None:
    chain = Chain("C")
    chain.plsql("A", NOOP)
    chain.depends({"B": ["A"]})
    with pytest.raises(ChainSpecError, match=r"dependency A >> B names unknown step B"):
        chain.build()


def test_no_starting_rule() -> None:
    steps = (PlsqlStep("A", plsql=NOOP),)
    rules = (Rule("A SUCCEEDED", "END"),)
    with pytest.raises(ChainSpecError, match=r"no rule starts the chain"):
        ChainSpec("C", steps, rules)


def test_no_end_rule_is_a_stall_risk() -> None:
    steps = (PlsqlStep("A", plsql=NOOP),)
    with pytest.raises(ChainSpecError, match=r"no rule ENDs the chain"):
        ChainSpec("C", steps, (Rule("TRUE", "START A"),))


def test_a_cycle_is_reported_in_run_order() -> None:
    chain = Chain("C")
    a, b, c = (chain.plsql(n, NOOP) for n in ("A", "B", "X"))
    a >> b >> c >> a
    with pytest.raises(ChainSpecError, match=r"cycle: A -> B -> X -> A"):
        chain.build()


def test_a_negated_reference_is_no_dependency_so_no_cycle() -> None:
    steps = (PlsqlStep("A", plsql=NOOP), PlsqlStep("B", plsql=NOOP))
    rules = (
        Rule("A NOT SUCCEEDED", "START B"),
        Rule("B SUCCEEDED", "START A"),
        Rule("A COMPLETED", "END A.ERROR_CODE"),
        Rule("B FAILED", "END B.ERROR_CODE"),
    )
    spec = ChainSpec("C", steps, rules)
    assert (
        find_cycles(["A", "B"], [(r.name or "", r.parsed_condition, r.parsed_action) for r in spec.rules])
        == []
    )


def test_duplicates_and_self_nesting_are_all_listed_at_once() -> None:
    steps = (PlsqlStep("A", plsql=NOOP), PlsqlStep("A", plsql=NOOP), NestedChainStep("N", chain="APP.C"))
    rules = (Rule("TRUE", "START A", name="R"), Rule("A SUCCEEDED", "END", name="R"))
    with pytest.raises(ChainSpecError) as caught:
        ChainSpec("C", steps, rules)
    text = str(caught.value)
    assert "has 3 problems" in text
    assert "step A is defined twice" in text
    assert "rule R is defined twice" in text
    assert "step N runs chain C inside itself" in text


def test_builder_refuses_the_same_step_twice() -> None:
    chain = Chain("C")
    chain.plsql("A", NOOP)
    with pytest.raises(ChainSpecError, match=r"step A is defined twice"):
        chain.plsql("a", NOOP)


def test_a_path_that_stalls_is_described_step_by_step() -> None:
    chain = Chain("C")
    chain.plsql("LOAD", NOOP)
    chain.plsql("NOTIFY", NOOP)
    chain.rule("LOAD ERROR_CODE = 20002", "START NOTIFY")
    chain.rule("LOAD FAILED AND LOAD ERROR_CODE != 20002", "END LOAD.ERROR_CODE")
    with pytest.raises(ChainSpecError) as caught:
        chain.build()
    assert "LOAD FAILED (error 20002) -> NOTIFY SUCCEEDED: nothing runs and no END rule fires" in str(
        caught.value
    )


def test_the_payroll_chain_of_the_example_never_stalls() -> None:
    from example_dags.payroll_chain import PAYROLL_SPEC

    assert PAYROLL_SPEC.analysis.stall_paths == ()
    assert PAYROLL_SPEC.analysis.complete
    assert PAYROLL_SPEC.analysis.never_started == ()
    assert {str(r.action) for r in PAYROLL_SPEC.rules if str(r.condition) == "NOTIFY_DBA COMPLETED"} == {
        "END VALIDATE.ERROR_CODE"
    }


def test_analysis_stops_at_its_state_budget_and_says_so() -> None:
    chain = Chain("WIDE")
    for index in range(10):
        chain.plsql(f"S{index}", NOOP)
    spec = chain.build()
    rules = [(r.name or "", r.parsed_condition, r.parsed_action) for r in spec.rules]
    partial = analyze(spec.step_names, rules, max_states=50)
    assert not partial.complete
    assert partial.states_explored == 50
    assert partial.stall_paths == ()


# --- conditions and actions ----------------------------------------------------------------------


def test_conditions_are_parsed_case_insensitively_and_rendered_canonically() -> None:
    condition = parse_condition("not (a succeeded) and (b failed or c error_code in (1,2))")
    assert str(condition) == "NOT (A SUCCEEDED) AND (B FAILED OR C ERROR_CODE IN (1, 2))"
    assert str(parse_condition(str(condition))) == str(condition)


def test_conditions_built_in_python_render_the_same() -> None:
    built = ~succeeded("a") & (failed("b") | error_code("c", in_=[1, 2]))
    assert str(built) == "NOT (A SUCCEEDED) AND (B FAILED OR C ERROR_CODE IN (1, 2))"
    assert isinstance(error_code("c", op=">=", value=20000), ErrorCode)
    with pytest.raises(ChainSpecError, match="exactly one of"):
        error_code("c")


def test_actions_round_trip() -> None:
    assert str(parse_action("after 01:02:03 start a,b")) == "AFTER 01:02:03 START A, B"
    assert str(start("a", after=timedelta(minutes=5))) == "AFTER 00:05:00 START A"
    assert str(parse_action("end")) == "END 0"
    assert str(parse_action("END 3")) == "END 3"
    assert str(parse_action("end load.error_code")) == "END LOAD.ERROR_CODE"


def test_evaluation_follows_the_scheduler_semantics() -> None:
    states = {"A": ("FAILED", 20002), "B": ("NOT_STARTED", None), "C": ("STOPPED", 0)}
    assert evaluate(parse_condition("A COMPLETED AND C COMPLETED"), states)
    assert evaluate(parse_condition("A ERROR_CODE IN (20002)"), states)
    assert not evaluate(parse_condition("B ERROR_CODE NOT IN (1)"), states)  # not completed: no code yet
    assert evaluate(parse_condition("B NOT SUCCEEDED"), states)
    assert evaluate(Not(parse_condition("B COMPLETED")), states)


# --- names, canonical form, fingerprint ----------------------------------------------------------


def test_generated_program_names_derive_from_chain_and_step() -> None:
    spec = linear("PAYROLL").build()
    assert spec.program_name("B") == "PAYROLL_S_B"
    assert list(spec.generated_programs()) == ["PAYROLL_S_A", "PAYROLL_S_B", "PAYROLL_S_C1"]


def test_long_derived_names_are_cut_to_128_with_a_stable_hash() -> None:
    base = "C" * 120
    first, second = derived_name(base, "S_STEP_ONE"), derived_name(base, "S_STEP_TWO")
    assert len(first) == len(second) == 128
    assert first != second
    assert first == derived_name(base, "S_STEP_ONE")
    assert first[:119] == f"{base}_S_STEP_O"[:119]
    assert first[119] == "_"
    assert first[120:].isalnum()


def test_order_and_spelling_do_not_change_the_fingerprint() -> None:
    one = ChainSpec(
        "C",
        (PlsqlStep("A", plsql=NOOP), ProgramStep("B", program="app.prog")),
        (
            Rule("true", "start a", name="R1"),
            Rule("a succeeded", "start b", name="R2"),
            Rule("a failed", "end a.error_code", name="R3"),
            Rule("b completed", "end"),
        ),
    )
    two = ChainSpec(
        "c",
        (ProgramStep("b", program="APP.PROG"), PlsqlStep("a", plsql=NOOP)),
        (
            Rule("B COMPLETED", "END 0", name="C_R01"),
            Rule("A  FAILED", "END A.ERROR_CODE", name="r3"),
            Rule("A SUCCEEDED", "START B", name="r2"),
            Rule("TRUE", "START A", name="r1"),
        ),
    )
    assert one == two
    assert one.fingerprint == two.fingerprint
    assert len(one.fingerprint) == 64


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.plsql("A", "begin null; null; end;"),
        lambda c: c.procedure("A", "app.p", "x"),
        lambda c: c.procedure("A", "app.p", 1),
        lambda c: c.plsql("A", NOOP, restart_on_failure=True),
    ],
)
def test_every_change_changes_the_fingerprint(change) -> None:
    base = Chain("C")
    base.plsql("A", NOOP)
    changed = Chain("C")
    change(changed)
    assert base.build().fingerprint != changed.build().fingerprint


def test_a_different_rule_changes_the_fingerprint() -> None:
    one, two = linear(), linear()
    one.rule("A FAILED", "END 7", name="X")
    two.rule("A FAILED", "END 8", name="X")
    assert one.build().fingerprint != two.build().fingerprint


def test_canonical_json_round_trips_every_step_kind() -> None:
    chain = Chain("ALL", comments="all kinds")
    chain.event("E", queue="app.q", condition="tab.user_data.name = 'X'", agent="watcher")
    chain.event("E2", schedule="app.sched")
    chain.procedure("P", "app.pkg.proc", "text", 42, restart_on_recovery=True)
    chain.program("G", "prog")
    chain.nested("N", "other_chain")
    chain.plsql("L", NOOP)
    spec = chain.build()
    text = spec.to_json()
    data = json.loads(text)
    assert data["format"] == 1
    assert [s["name"] for s in data["steps"]] == sorted(s["name"] for s in data["steps"])
    again = ChainSpec.from_json(text)
    assert again == spec
    assert again.fingerprint == spec.fingerprint
    assert again.step("e").queue_spec == "APP.Q, WATCHER"  # type: ignore[attr-defined]
    assert again.marker == f"{MARKER}{spec.fingerprint} all kinds"


def test_unknown_format_or_step_kind_is_refused() -> None:
    data = linear().build().canonical()
    with pytest.raises(ChainSpecError, match="format 2 is not supported"):
        ChainSpec.from_dict({**data, "format": 2})
    data["steps"][0]["kind"] = "shell"
    with pytest.raises(ChainSpecError, match="unknown kind 'shell'"):
        ChainSpec.from_dict(data)


def test_comments_must_leave_room_for_the_fingerprint() -> None:
    chain = Chain("C", comments="x" * 161)
    chain.plsql("A", NOOP)
    with pytest.raises(ChainSpecError, match="longer than 160 bytes"):
        chain.build()


def test_quoted_names_are_refused_not_silently_upper_cased() -> None:
    """C-8: '"lower"' is another Oracle object than LOWER, and '"A' is not a name at all."""
    for text in ('"lower" SUCCEEDED', '"A SUCCEEDED'):
        with pytest.raises(ChainSpecError):
            parse_condition(text)
    with pytest.raises(ChainSpecError, match="quoted names are not supported"):
        Chain('"lower"')


@pytest.mark.parametrize("text", ["LOAD NOT ERROR_CODE IN (20002, 3)", "load error_code not in (20002,3)"])
def test_both_spellings_of_not_in_are_accepted_and_the_documented_one_is_emitted(text: str) -> None:
    """C-3: Oracle documents 'stepname NOT ERROR_CODE IN (integer, ...)'."""
    assert str(parse_condition(text)) == "LOAD NOT ERROR_CODE IN (20002, 3)"
    assert str(error_code("load", not_in=[20002, 3])) == "LOAD NOT ERROR_CODE IN (20002, 3)"
    with pytest.raises(ChainSpecError, match="must be followed by IN"):
        parse_condition("LOAD NOT ERROR_CODE = 3")


def test_an_event_step_condition_follows_the_aq_sensor_rule() -> None:
    """C-8: the same check as the AQ sensor's condition (no ';'), when the operator gets the spec."""
    from airflow_provider_oracle_tasks.operators.chain import OracleSchedulerChainOperator

    chain = Chain("C")
    chain.add(EventStep("W", queue="Q", condition="tab.user_data.x = 1; drop table t"))
    with pytest.raises(ChainSpecError, match="step W: condition"):
        OracleSchedulerChainOperator(task_id="t", spec=chain.build())


def test_a_stopped_step_ends_the_chain_and_explicit_stop_handling_is_kept() -> None:
    """C-5: without a rule for STOPPED a stopped step would stall the chain."""
    chain = Chain("C")
    a = chain.plsql("A", NOOP)
    b = chain.plsql("B", NOOP)
    a >> b
    chain.rule("B STOPPED OR B FAILED", "END 7")
    rules = rules_of(chain.build())
    assert rules["C_STOPPED_A"] == ("A STOPPED", "END 1")
    assert "C_STOPPED" not in rules


def test_a_step_that_no_path_starts_is_found() -> None:
    """C-8 (optional part): the analysis lists steps no rule path starts; the operator warns."""
    chain = Chain("C")
    chain.plsql("A", NOOP)
    chain.plsql("B", NOOP)
    chain.rule("FALSE", "START B")
    assert chain.build().analysis.never_started == ("B",)
