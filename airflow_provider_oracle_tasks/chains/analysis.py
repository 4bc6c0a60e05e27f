"""Find the ways a chain can stall before Oracle does: dependency cycles and dead-end paths.

A chain job that reaches a point where no step runs and no rule fires does not fail: it sits in
state ``CHAIN_STALLED`` until somebody notices. Most such chains are wrong on paper already -
a failure nobody handles, a notification step after which nothing ends the chain - so the spec
is checked here by walking every path it can take:

* the Scheduler evaluates all rules when the chain starts and whenever a step completes; every
  rule whose condition holds fires (``START`` only affects steps that have not started, ``STOP``
  completes running steps as STOPPED, ``END`` ends the chain);
* any running step may complete next, as SUCCEEDED or FAILED with each error code the rules
  test for that step (see :func:`chain_conditions.interesting_codes`) plus one they do not;
* a state where nothing runs and the chain has not ended is a stall; the path to it is reported
  step by step, e.g. ``VALIDATE FAILED (error 20001) -> NOTIFY_DBA SUCCEEDED``.

Event steps are modelled as steps that complete (the event arrives) or fail; waiting forever is
not a stall (the step runs). Exploration stops after :data:`MAX_STATES` distinct states and says
so, so a very wide chain is checked partly rather than slowly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from airflow_provider_oracle_tasks.chains.conditions import (
    Condition,
    End,
    Start,
    StepStatus,
    Stop,
    evaluate,
    interesting_codes,
)

MAX_STATES = 20_000
MAX_REPORTED_PATHS = 3

Rule = tuple[str, Condition, Start | Stop | End]
"""(rule name, condition, action) - the shape this module needs, independent of chain_spec."""
State = tuple[tuple[StepStatus, ...], bool]


@dataclass(frozen=True)
class Analysis:
    """What walking the chain found; ``stall_paths`` are readable descriptions, shortest first."""

    stall_paths: tuple[str, ...]
    never_started: tuple[str, ...]
    states_explored: int
    complete: bool


def find_cycles(steps: Sequence[str], rules: Sequence[Rule]) -> list[list[str]]:
    """Cycles among START dependencies: B depends on A when a rule that STARTs B needs A completed.

    Only positive references count (``A SUCCEEDED``, ``A ERROR_CODE ...``); ``A NOT SUCCEEDED``
    holds before A runs, so it orders nothing. A completed step is never restarted by a rule, so
    any cycle means its steps wait for each other forever.
    """
    graph: dict[str, set[str]] = {step: set() for step in steps}
    for _, condition, action in rules:
        if not isinstance(action, Start):
            continue
        needed = {step for step, negated in condition.references() if not negated}
        for target in action.steps:
            graph.setdefault(target, set()).update(needed - {target})
    cycles: list[list[str]] = []
    color: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        color[node] = 1
        stack.append(node)
        for upstream in sorted(graph.get(node, ())):
            if color.get(upstream, 0) == 0:
                visit(upstream)
            elif color.get(upstream) == 1:
                needs = [*stack[stack.index(upstream) :], upstream]  # each needs the next
                cycles.append(list(reversed(needs)))  # in the order the steps would run
        stack.pop()
        color[node] = 2

    for node in sorted(graph):
        if color.get(node, 0) == 0:
            visit(node)
    return cycles


class _Walker:
    def __init__(self, steps: Sequence[str], rules: Sequence[Rule], max_states: int) -> None:
        self.steps = list(steps)
        self.index = {step: i for i, step in enumerate(self.steps)}
        self.rules = list(rules)
        self.max_states = max_states
        conditions = [condition for _, condition, _ in self.rules]
        self.codes = {step: sorted(interesting_codes(conditions, step)) for step in self.steps}

    def as_map(self, statuses: tuple[StepStatus, ...]) -> Mapping[str, StepStatus]:
        return dict(zip(self.steps, statuses, strict=True))

    def settle(self, statuses: tuple[StepStatus, ...]) -> State:
        """Fire every rule that holds until nothing changes (STOP completes steps, which re-evaluates)."""
        current = list(statuses)
        for _ in range(len(self.steps) * 2 + 2):
            view = self.as_map(tuple(current))
            changed = False
            for _, condition, action in self.rules:
                if not evaluate(condition, view):
                    continue
                if isinstance(action, End):
                    return tuple(current), True
                for step in action.steps:
                    i = self.index[step]
                    if isinstance(action, Start) and current[i][0] == "NOT_STARTED":
                        current[i] = ("RUNNING", None)
                        changed = True
                    elif isinstance(action, Stop) and current[i][0] == "RUNNING":
                        current[i] = ("STOPPED", 0)
                        changed = True
            if not changed:
                break
        return tuple(current), False

    def outcomes(self, step: str) -> list[StepStatus]:
        return [("SUCCEEDED", 0), *(("FAILED", code) for code in self.codes[step])]

    def walk(self) -> Analysis:
        initial = self.settle(tuple(("NOT_STARTED", None) for _ in self.steps))
        parents: dict[State, tuple[State, str] | None] = {initial: None}
        queue: deque[State] = deque([initial])
        stalls: list[State] = []
        started: set[str] = set()
        complete = True
        while queue:
            state = queue.popleft()
            statuses, ended = state
            started.update(s for s, (st, _) in zip(self.steps, statuses, strict=True) if st != "NOT_STARTED")
            if ended:
                continue
            running = [s for s, (st, _) in zip(self.steps, statuses, strict=True) if st == "RUNNING"]
            if not running:
                stalls.append(state)
                continue
            for step in running:
                for outcome in self.outcomes(step):
                    after = list(statuses)
                    after[self.index[step]] = outcome
                    following = self.settle(tuple(after))
                    if following in parents:
                        continue
                    if len(parents) >= self.max_states:
                        complete = False
                        queue.clear()
                        break
                    parents[following] = (state, _describe(step, outcome))
                    queue.append(following)
        paths = tuple(self.describe_path(parents, stall) for stall in stalls[:MAX_REPORTED_PATHS])
        never = tuple(s for s in self.steps if s not in started) if complete else ()
        return Analysis(paths, never, len(parents), complete)

    def describe_path(self, parents: Mapping[State, tuple[State, str] | None], stall: State) -> str:
        moves: list[str] = []
        node: State | None = stall
        while node is not None and parents.get(node) is not None:
            parent = parents[node]
            assert parent is not None
            moves.append(parent[1])
            node = parent[0]
        path = " -> ".join(reversed(moves)) if moves else "at the start"
        statuses = self.as_map(stall[0])
        waiting = [s for s, (st, _) in statuses.items() if st == "NOT_STARTED"]
        tail = f"; not started: {', '.join(waiting)}" if waiting else ""
        return f"{path}: nothing runs and no END rule fires{tail}"


def _describe(step: str, outcome: StepStatus) -> str:
    state, code = outcome
    return f"{step} {state}" + (f" (error {code})" if state == "FAILED" else "")


def fires_at_start(steps: Sequence[str], rules: Sequence[Rule]) -> bool:
    """Whether some rule starts a step (or ends the chain) when the chain begins."""
    statuses, ended = _Walker(steps, rules, 1).settle(tuple(("NOT_STARTED", None) for _ in steps))
    return ended or any(state != "NOT_STARTED" for state, _ in statuses)


def analyze(steps: Sequence[str], rules: Sequence[Rule], *, max_states: int = MAX_STATES) -> Analysis:
    """Walk every path of the chain; see the module docstring for the model."""
    return _Walker(steps, rules, max_states).walk()
