"""Resuming a chain at given steps without running again the steps before them.

``DBMS_SCHEDULER.RUN_CHAIN(chain_name, start_steps, job_name)`` only replaces the *first* rule
evaluation: when the first step completes the Scheduler evaluates every rule again, and a root
rule such as ``TRUE -> START EXTRACT`` still holds while EXTRACT is NOT_STARTED, so the steps
before the resume point run again (review C-2). The other overload,
``RUN_CHAIN(chain_name, step_state_list, job_name)``, sets initial step states instead. So a
resume marks every step *before* the start steps ``SUCCEEDED`` and lets the rules start the
start steps themselves:

1. the upstream steps of each start step are found through the rules (a rule that STARTs B and
   reads A makes A upstream of B), transitively; steps downstream of a start step are never marked;
2. the first rule evaluation is simulated with :func:`~chains.conditions.evaluate`: any other
   step it would start (an independent root, say) is before the resume point too and is marked
   SUCCEEDED as well, until nothing else would start;
3. the plan is refused, before any database call, when a start step would still not start (its
   rule needs a failure, for example) or an END rule would fire at once.

Rules come from the spec, or for a chain run by name from ``USER_SCHEDULER_CHAIN_RULES`` (parsed
with the same parser; a rule in the SQL form makes a resume impossible and says so).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_oracle_tasks.chains.conditions import (
    ChainSpecError,
    Condition,
    End,
    Start,
    StepStatus,
    Stop,
    evaluate,
    parse_action,
    parse_condition,
)

SUCCEEDED = "SUCCEEDED"

Rule = tuple[str, Condition, Start | Stop | End]

RULES_SQL = """\
select r.rule_name, r.condition, r.action
  from user_scheduler_chain_rules r
 where r.chain_name = :chain
 order by r.rule_name"""

RUN_CHAIN_STATES_BLOCK = """\
declare
  l_states sys.scheduler$_step_type_list := sys.scheduler$_step_type_list();
begin
  for r in (select s.step_name, s.step_state
              from json_table(:step_states, '$[*]'
                     columns (step_name  varchar2(128) path '$.name',
                              step_state varchar2(30)  path '$.state')) s) loop
    l_states.extend;
    l_states(l_states.count) := sys.scheduler$_step_type(r.step_name, r.step_state);
  end loop;
  dbms_scheduler.run_chain(chain_name => :chain_name, step_state_list => l_states, job_name => :job_name);
end;"""
"""The ``step_state_list`` overload of RUN_CHAIN; the states are bound as one JSON array."""


@dataclass(frozen=True)
class ResumePlan:
    """Which steps start (``start_steps``) and which are marked SUCCEEDED first (``done``)."""

    start_steps: tuple[str, ...]
    done: tuple[str, ...]

    def step_states(self) -> list[dict[str, str]]:
        return [{"name": step, "state": SUCCEEDED} for step in self.done]


def _started_by(rules: Sequence[Rule], states: dict[str, StepStatus]) -> tuple[set[str], list[str]]:
    """Steps the first rule evaluation starts (NOT_STARTED ones only), and the END rules that fire."""
    started: set[str] = set()
    ending: list[str] = []
    for name, condition, action in rules:
        if not evaluate(condition, states):
            continue
        if isinstance(action, Start):
            started.update(
                step for step in action.steps if states.get(step, ("NOT_STARTED", None))[0] == "NOT_STARTED"
            )
        elif isinstance(action, End):
            ending.append(name)
    return started, ending


def plan_resume(steps: Sequence[str], rules: Sequence[Rule], start_steps: Sequence[str]) -> ResumePlan:
    """The initial states that make a run start exactly at ``start_steps`` (see the module docstring)."""
    known = set(steps)
    wanted = list(dict.fromkeys(start_steps))
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ChainSpecError(f"start_steps {unknown} are not steps of the chain ({', '.join(steps)})")
    upstream: dict[str, set[str]] = {s: set() for s in steps}
    for _, condition, action in rules:
        if isinstance(action, Start):
            read = {step for step, _ in condition.references()}
            for target in action.steps:
                upstream.setdefault(target, set()).update(read - {target})
    downstream: set[str] = set(wanted)
    changed = True
    while changed:
        changed = False
        for step, ups in upstream.items():
            if step not in downstream and ups & downstream:
                downstream.add(step)
                changed = True
    before: set[str] = set()
    pending = [u for s in wanted for u in upstream.get(s, ())]
    while pending:
        step = pending.pop()
        if step in before or step in downstream:
            continue
        before.add(step)
        pending.extend(upstream.get(step, ()))
    for _ in range(len(steps) + 1):
        states: dict[str, StepStatus] = {
            s: ((SUCCEEDED, 0) if s in before else ("NOT_STARTED", None)) for s in steps
        }
        started, ending = _started_by(rules, states)
        extra = started - set(wanted) - downstream
        if not extra:
            break
        before |= extra
    if ending:
        raise ChainSpecError(
            f"cannot resume at {', '.join(wanted)}: with the steps before them marked SUCCEEDED "
            f"({', '.join(sorted(before)) or 'none'}), rule(s) {', '.join(ending)} would END the chain "
            "at once"
        )
    missing = [s for s in wanted if s not in started]
    if missing:
        raise ChainSpecError(
            f"cannot resume at {', '.join(missing)}: with the steps before them marked SUCCEEDED "
            f"({', '.join(sorted(before)) or 'none'}) no rule starts {', '.join(missing)} (its rule needs "
            "another outcome, e.g. a FAILED step). Resume at a step that a success path starts, or run "
            "the chain from the beginning."
        )
    return ResumePlan(tuple(wanted), tuple(s for s in steps if s in before))


def rules_of_chain(connection: Any, chain: str) -> list[Rule]:
    """The rules of an existing chain, parsed; a rule in the SQL form cannot be planned."""
    with connection.cursor() as cursor:
        cursor.execute(RULES_SQL, {"chain": chain})
        rows = cursor.fetchall()
    rules: list[Rule] = []
    for name, condition, action in rows:
        try:
            rules.append((str(name), parse_condition(str(condition)), parse_action(str(action))))
        except ChainSpecError as error:
            raise ChainSpecError(
                f"cannot resume chain {chain} at given steps: its rule {name} is not in the chain rule "
                f"syntax this provider can analyse ({error}). Run it without start_steps, or define it "
                "with a spec."
            ) from None
    return rules


def run_chain_from(connection: Any, chain: str, job_name: str, plan: ResumePlan) -> None:
    """RUN_CHAIN with ``step_state_list``: the steps of ``plan.done`` SUCCEEDED, rules start the rest."""
    with connection.cursor() as cursor:
        cursor.execute(
            RUN_CHAIN_STATES_BLOCK,
            {"step_states": json.dumps(plan.step_states()), "chain_name": chain, "job_name": job_name},
        )
