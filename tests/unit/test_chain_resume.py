"""Resuming a chain at given steps (review C-2): which steps are marked SUCCEEDED first."""

from __future__ import annotations

import itertools

import pytest

from airflow_provider_oracle_tasks.chains.conditions import ChainSpecError
from airflow_provider_oracle_tasks.chains.resume import plan_resume
from airflow_provider_oracle_tasks.chains.spec import Chain, ChainSpec

NOOP = "begin null; end;"


def rules(spec: ChainSpec) -> list:
    return [(r.name or "", r.parsed_condition, r.parsed_action) for r in spec.rules]


def linear(*names: str) -> ChainSpec:
    chain = Chain("C")
    refs = [chain.plsql(n, NOOP) for n in names]
    for up, down in itertools.pairwise(refs):
        up >> down
    return chain.build()


def test_a_resume_marks_every_step_before_the_start_step_succeeded() -> None:
    spec = linear("TRUNCATE_STAGE", "LOAD", "PUBLISH")
    plan = plan_resume(spec.step_names, rules(spec), ["PUBLISH"])
    assert plan.done == ("TRUNCATE_STAGE", "LOAD")  # TRUE -> START TRUNCATE_STAGE cannot fire again
    assert plan.step_states() == [
        {"name": "TRUNCATE_STAGE", "state": "SUCCEEDED"},
        {"name": "LOAD", "state": "SUCCEEDED"},
    ]


def test_the_payroll_example_resumes_at_load_without_waiting_for_a_file_again() -> None:
    from example_dags.payroll_chain import PAYROLL_SPEC

    plan = plan_resume(PAYROLL_SPEC.step_names, rules(PAYROLL_SPEC), ["LOAD"])
    assert plan.done == ("WAIT_FOR_FILE", "VALIDATE")  # the event step does not consume a new file
    assert "NOTIFY_DBA" not in plan.done  # a failure branch stays NOT_STARTED


def test_an_independent_root_is_marked_succeeded_too() -> None:
    chain = Chain("C")
    a, b = chain.plsql("A", NOOP), chain.plsql("B", NOOP)
    chain.plsql("Z", NOOP)  # no dependency: it starts with the chain
    a >> b
    spec = chain.build()
    assert plan_resume(spec.step_names, rules(spec), ["B"]).done == ("A", "Z")


def test_a_resume_at_the_first_step_marks_nothing() -> None:
    spec = linear("A", "B")
    assert plan_resume(spec.step_names, rules(spec), ["A"]).done == ()


def test_a_step_only_a_failure_starts_cannot_be_resumed_at() -> None:
    chain = Chain("C")
    chain.plsql("A", NOOP)
    chain.plsql("FIX", NOOP)
    chain.rule("A FAILED", "START FIX")
    chain.rule("FIX COMPLETED", "END A.ERROR_CODE")
    spec = chain.build()
    with pytest.raises(ChainSpecError, match="cannot resume at FIX"):
        plan_resume(spec.step_names, rules(spec), ["FIX"])


def test_unknown_start_steps_are_refused() -> None:
    spec = linear("A", "B")
    with pytest.raises(ChainSpecError, match=r"\['X'\] are not steps"):
        plan_resume(spec.step_names, rules(spec), ["X"])
