"""A Scheduler chain declared in Python: typed steps and rules, checked before any database call.

Instead of dozens of hand-written ``DBMS_SCHEDULER`` calls, a DAG author writes::

    chain = Chain("PAYROLL")
    wait = chain.event("WAIT_FOR_FILE", queue="HR.FILE_ARRIVAL_Q",
                       condition="tab.user_data.file_name = 'PAYCHECKS.DAT'")
    validate = chain.procedure("VALIDATE", "HR.PAYROLL_PROCESSING.VALIDATE_FILE")
    load = chain.procedure("LOAD", "HR.PAYROLL_PROCESSING.LOAD_FILE")
    wait >> validate >> load
    chain.rule("VALIDATE FAILED", "START NOTIFY_DBA")   # explicit rules where needed
    spec = chain.build()                                # a validated, immutable ChainSpec

Steps are the types of :mod:`chains.steps`; rules are :class:`Rule` (condition -> action, see
:mod:`chains.conditions`).

**Generated rules** (``build()``): ``a >> b`` or ``chain.depends({"B": ["A"]})`` means "start B
when all its upstreams SUCCEEDED". Steps in that graph without upstream start with the chain
(``TRUE -> START ...``), and when all its last steps SUCCEEDED the chain ends with ``END 0``.
Steps that appear in no dependency and that no explicit rule starts join the graph on their own.
Every step whose failure no explicit rule looks at (FAILED, STOPPED, COMPLETED, NOT SUCCEEDED or
ERROR_CODE) gets ``S FAILED -> END S.ERROR_CODE``, so an unplanned failure ends the chain with
that step's code instead of stalling it; likewise the steps whose STOPPED state no explicit rule
looks at get ``A STOPPED OR B STOPPED ... -> END 1`` (a step stopped by STOP_JOB or
ALTER_RUNNING_CHAIN). Generated rules are named ``<CHAIN>_BEGIN``, ``<CHAIN>_START_<STEP>``,
``<CHAIN>_END_OK``, ``<CHAIN>_FAIL_<STEP>`` and ``<CHAIN>_STOPPED``; unnamed explicit rules
``<CHAIN>_R01``, ``<CHAIN>_R02``... Rules are schema objects in Oracle, so their names carry the
chain's name to stay unique in the schema.

**Validation** (constructing a :class:`ChainSpec`; each message names the step or rule): invalid
names, duplicate steps or rules, unknown steps in conditions or actions, no rule that starts the
chain, no END rule, dependency cycles, and every path on which the chain would stall
(:mod:`chain_analysis`).

**Generated programs**: a PL/SQL or procedure step runs program ``<CHAIN>_S_<STEP>``; names longer
than 128 characters are cut and end in ``_`` plus 8 hex digits of a SHA-256 of the full name, so
they stay unique and deterministic (:func:`derived_name`).

**Idempotency**: :meth:`ChainSpec.canonical` is a JSON-safe form with every name upper-cased,
every condition and action in one spelling and lists sorted; :attr:`ChainSpec.fingerprint` is
its SHA-256. The operator stores it in the chain's comments and compares it on the next run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oracle_tasks.chains.analysis import Analysis, analyze, find_cycles, fires_at_start
from airflow_provider_oracle_tasks.chains.conditions import (
    TRUE,
    AllOf,
    AnyOf,
    ChainSpecError,
    Condition,
    End,
    ErrorCode,
    Start,
    StepState,
    Stop,
    action_steps,
    as_action,
    as_condition,
    nodes,
    step_name,
    succeeded,
)
from airflow_provider_oracle_tasks.chains.steps import (
    MAX_ACTION_BYTES,
    EventStep,
    NestedChainStep,
    PlsqlStep,
    ProcedureStep,
    ProgramStep,
    Step,
    flag,
    step_from_dict,
    text,
)

SPEC_FORMAT = 1
MAX_NAME = 128
MAX_COMMENT_BYTES = 160
"""User comments on a chain: 240 bytes (USER_SCHEDULER_CHAINS.COMMENTS) minus the fingerprint marker."""
STOPPED_END_CODE = 1
"""``END`` code of the generated ``<CHAIN>_STOPPED_<STEP>`` rules: the chain ends FAILED."""
MARKER = "oracle-tasks:"
"""Start of the comments of every chain the operator manages, followed by the spec fingerprint."""


def derived_name(base: str, suffix: str) -> str:
    """``BASE_SUFFIX``, or when longer than 128: its first 119 characters + ``_`` + 8 hex of its SHA-256."""
    full = f"{base}_{suffix}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8].upper()
    return f"{full[: MAX_NAME - 9]}_{digest}"


# --- rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """``condition -> action``; text is parsed and checked at once (see :mod:`chain_conditions`)."""

    condition: Condition | str
    action: Start | Stop | End | str
    name: str | None = None
    comments: str | None = None

    def __post_init__(self) -> None:
        label = f"rule {self.name}" if self.name else "rule"
        try:
            object.__setattr__(self, "condition", as_condition(self.condition))
            object.__setattr__(self, "action", as_action(self.action))
        except ChainSpecError as error:
            raise ChainSpecError(f"{label}: {error}") from None
        if self.name is not None:
            object.__setattr__(self, "name", step_name(self.name, "rule name"))
        if self.comments is not None:
            text(self.comments, f"{label}: comments", max_bytes=MAX_ACTION_BYTES)

    @property
    def parsed_condition(self) -> Condition:
        assert isinstance(self.condition, Condition)
        return self.condition

    @property
    def parsed_action(self) -> Start | Stop | End:
        assert not isinstance(self.action, str)
        return self.action

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "condition": str(self.condition),
            "action": str(self.action),
            "comments": self.comments,
        }


# --- the spec ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ChainSpec:
    """A complete, validated chain: its steps and all its rules (explicit and generated).

    Construction validates everything and raises one :class:`ChainSpecError` listing every
    problem. Unnamed rules are named ``<CHAIN>_R01``... in the order given. Two specs are equal
    when their canonical forms are (the order of steps and rules does not matter to Oracle).
    """

    name: str
    steps: tuple[Step, ...]
    rules: tuple[Rule, ...]
    comments: str | None = None
    analysis: Analysis = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", step_name(self.name, "chain name"))
        object.__setattr__(self, "steps", tuple(self.steps))
        for item in (*self.steps, *self.rules):
            if not isinstance(item, Step | Rule):
                raise ChainSpecError(f"chain {self.name}: {item!r} is neither a step nor a Rule")
        if self.comments is not None:
            text(self.comments, f"chain {self.name}: comments", max_bytes=MAX_COMMENT_BYTES)
        named = []
        counter = 0
        for rule in self.rules:
            if rule.name is None:
                counter += 1
                rule = Rule(
                    rule.condition, rule.action, derived_name(self.name, f"R{counter:02d}"), rule.comments
                )
            named.append(rule)
        object.__setattr__(self, "rules", tuple(named))
        self._validate_structure()
        rules = [(r.name or "", r.parsed_condition, r.parsed_action) for r in self.rules]
        analysis = analyze([s.name for s in self.steps], rules)
        object.__setattr__(self, "analysis", analysis)
        if analysis.stall_paths:
            paths = "\n".join(f"  - {path}" for path in analysis.stall_paths)
            raise ChainSpecError(
                f"chain {self.name} can stall (the chain job would wait in CHAIN_STALLED forever):\n{paths}\n"
                "Add rules that END the chain on these paths (e.g. STEP COMPLETED -> END STEP.ERROR_CODE)."
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChainSpec) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    # --- validation ---

    def _validate_structure(self) -> None:
        problems: list[str] = []
        names = [step.name for step in self.steps]
        if not names:
            problems.append(f"chain {self.name} has no steps")
        problems += [f"step {n} is defined twice" for n in sorted({n for n in names if names.count(n) > 1})]
        rule_names = [rule.name or "" for rule in self.rules]
        problems += [
            f"rule {n} is defined twice" for n in sorted({n for n in rule_names if rule_names.count(n) > 1})
        ]
        known = set(names)
        for step in self.steps:
            if isinstance(step, NestedChainStep) and step.chain.split(".")[-1] == self.name:
                problems.append(f"step {step.name} runs chain {self.name} inside itself")
        for rule in self.rules:
            used = {s for s, _ in rule.parsed_condition.references()} | set(action_steps(rule.parsed_action))
            for unknown in sorted(used - known):
                problems.append(
                    f"rule {rule.name} ({rule.condition} -> {rule.action}) names unknown step {unknown}; "
                    f"the steps are {', '.join(names) or 'none'}"
                )
        if problems:
            raise ChainSpecError(_listing(self.name, problems))
        rules = [(r.name or "", r.parsed_condition, r.parsed_action) for r in self.rules]
        if not fires_at_start(names, rules):
            problems.append(
                "no rule starts the chain: when it begins no condition holds (add e.g. TRUE -> START "
                f"{names[0]}, or give the first step no upstream)"
            )
        if not any(isinstance(r.parsed_action, End) for r in self.rules):
            problems.append(
                "no rule ENDs the chain, so every run would stall (add e.g. LAST SUCCEEDED -> END)"
            )
        for cycle in find_cycles(names, rules):
            problems.append(f"steps wait for each other in a cycle: {' -> '.join(cycle)}")
        if problems:
            raise ChainSpecError(_listing(self.name, problems))

    # --- names the operator derives ---

    def program_name(self, step: Step | str) -> str:
        """Program the operator generates for a PL/SQL or procedure step: ``<CHAIN>_S_<STEP>``."""
        name = step if isinstance(step, str) else step.name
        return derived_name(self.name, f"S_{name}")

    def generated_programs(self) -> dict[str, Step]:
        """``{program name: step}`` for every step that needs a generated program."""
        return {self.program_name(step): step for step in self.steps if step.needs_program}

    def step(self, name: str) -> Step:
        wanted = step_name(name, "step")
        for step in self.steps:
            if step.name == wanted:
                return step
        raise ChainSpecError(f"chain {self.name} has no step {wanted}; the steps are {self.step_names}")

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)

    # --- canonical form ---

    def canonical(self) -> dict[str, Any]:
        """JSON-safe, order-independent form; equal specs give equal dicts (and fingerprints)."""
        return {
            "format": SPEC_FORMAT,
            "chain": self.name,
            "comments": self.comments,
            "steps": sorted((step.to_dict() for step in self.steps), key=lambda s: s["name"]),
            "rules": sorted((rule.to_dict() for rule in self.rules), key=lambda r: r["name"]),
        }

    def to_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of :meth:`to_json`: what the operator stores to recognise an unchanged spec."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @property
    def marker(self) -> str:
        """The chain's COMMENTS: ``oracle-tasks:<fingerprint>`` and the user's comments, if any."""
        return f"{MARKER}{self.fingerprint}" + (f" {self.comments}" if self.comments else "")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChainSpec:
        """Rebuild from :meth:`canonical` (or JSON-decoded equivalent); validates again."""
        if data.get("format") != SPEC_FORMAT:
            raise ChainSpecError(
                f"chain spec format {data.get('format')!r} is not supported (expected {SPEC_FORMAT})"
            )
        steps = tuple(step_from_dict(item) for item in data.get("steps", ()))
        rules = tuple(
            Rule(item["condition"], item["action"], item.get("name"), item.get("comments"))
            for item in data.get("rules", ())
        )
        return cls(str(data.get("chain")), steps, rules, data.get("comments"))

    @classmethod
    def from_json(cls, text: str) -> ChainSpec:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dependencies(
        cls,
        name: str,
        steps: Sequence[Step],
        upstream: Mapping[str, Sequence[str]] | None = None,
        rules: Sequence[Rule] = (),
        **options: Any,
    ) -> ChainSpec:
        """``ChainSpec.from_dependencies("C", [a, b, c], {"B": ["A"], "C": ["B"]})``: see :class:`Chain`."""
        chain = Chain(name, **options)
        for step in steps:
            chain.add(step)
        chain.depends(upstream or {})
        for rule in rules:
            chain.rule(rule.condition, rule.action, name=rule.name, comments=rule.comments)
        return chain.build()


def _listing(chain: str, problems: Sequence[str]) -> str:
    if len(problems) == 1:
        return f"chain {chain}: {problems[0]}"
    return f"chain {chain} has {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems)


# --- the builder ---------------------------------------------------------------------------------


class StepRef:
    """What :class:`Chain` returns for a step: ``a >> b`` (or ``a >> [b, c]``) adds dependencies."""

    def __init__(self, chain: Chain, name: str) -> None:
        self.chain = chain
        self.name = name

    def __rshift__(self, other: StepRef | Sequence[StepRef]) -> StepRef | Sequence[StepRef]:
        for target in _refs(other):
            self.chain.add_dependency(self.name, target.name)
        return other

    def __rrshift__(self, other: Sequence[StepRef]) -> StepRef:
        for source in _refs(other):
            self.chain.add_dependency(source.name, self.name)
        return self

    def __lshift__(self, other: StepRef | Sequence[StepRef]) -> StepRef | Sequence[StepRef]:
        for source in _refs(other):
            self.chain.add_dependency(source.name, self.name)
        return other

    def __repr__(self) -> str:
        return f"StepRef({self.chain.name}.{self.name})"


def _refs(value: StepRef | Iterable[StepRef]) -> list[StepRef]:
    items = [value] if isinstance(value, StepRef) else list(value)
    for item in items:
        if not isinstance(item, StepRef):
            raise ChainSpecError(f"{item!r} is not a step of a Chain (use what chain.plsql(...) etc. return)")
    return items


class Chain:
    """Builder for a :class:`ChainSpec`: add steps, dependencies and explicit rules, then ``build()``.

    :param name: the chain's name (a simple Oracle name in the connection's schema).
    :param comments: text stored after the fingerprint in the chain's comments (<= 160 bytes).
    :param failure_rules: generate ``S FAILED -> END S.ERROR_CODE`` for steps whose failure no
        explicit rule handles (default True; without them such a failure stalls the chain).
    """

    def __init__(self, name: str, *, comments: str | None = None, failure_rules: bool = True) -> None:
        self.name = step_name(name, "chain name")
        self.comments = comments
        self.failure_rules = flag(failure_rules, "failure_rules")
        self._steps: dict[str, Step] = {}
        self._edges: list[tuple[str, str]] = []
        self._rules: list[Rule] = []

    # steps
    def add(self, step: Step) -> StepRef:
        if not isinstance(step, Step):
            raise ChainSpecError(f"{step!r} is not a step (PlsqlStep, ProcedureStep, ProgramStep, ...)")
        if step.name in self._steps:
            raise ChainSpecError(f"chain {self.name}: step {step.name} is defined twice")
        self._steps[step.name] = step
        return StepRef(self, step.name)

    def plsql(self, name: str, plsql: str, **options: Any) -> StepRef:
        return self.add(PlsqlStep(name, plsql=plsql, **options))

    def procedure(self, name: str, procedure: str, *arguments: str | int, **options: Any) -> StepRef:
        return self.add(ProcedureStep(name, procedure=procedure, arguments=tuple(arguments), **options))

    def program(self, name: str, program: str, **options: Any) -> StepRef:
        return self.add(ProgramStep(name, program=program, **options))

    def nested(self, name: str, chain: str, **options: Any) -> StepRef:
        return self.add(NestedChainStep(name, chain=chain, **options))

    def event(self, name: str, **options: Any) -> StepRef:
        return self.add(EventStep(name, **options))

    # dependencies and rules
    def add_dependency(self, upstream: str, downstream: str) -> None:
        edge = (step_name(upstream, "step"), step_name(downstream, "step"))
        if edge not in self._edges:
            self._edges.append(edge)

    def depends(self, upstream: Mapping[str, Sequence[str] | str]) -> None:
        """``{"LOAD": ["VALIDATE"], "SUMMARY": "LOAD"}``: each key starts after its upstreams SUCCEEDED."""
        for downstream, ups in upstream.items():
            for up in [ups] if isinstance(ups, str) else ups:
                self.add_dependency(up, downstream)

    def rule(
        self,
        condition: Condition | str,
        action: Start | Stop | End | str,
        *,
        name: str | None = None,
        comments: str | None = None,
    ) -> None:
        self._rules.append(Rule(condition, action, name, comments))

    # build
    def build(self) -> ChainSpec:
        """All rules (generated + explicit) in a validated :class:`ChainSpec`."""
        steps = list(self._steps)
        for up, down in self._edges:
            for step in (up, down):
                if step not in self._steps:
                    raise ChainSpecError(
                        f"chain {self.name}: dependency {up} >> {down} names unknown step {step}; "
                        f"the steps are {', '.join(steps) or 'none'}"
                    )
        return ChainSpec(
            self.name, tuple(self._steps.values()), (*self._generated(), *self._rules), self.comments
        )

    def _generated(self) -> list[Rule]:
        steps = list(self._steps)
        explicitly_started = {
            s
            for rule in self._rules
            if isinstance(rule.parsed_action, Start)
            for s in rule.parsed_action.steps
        }
        in_edges = {s for edge in self._edges for s in edge}
        graph = [s for s in steps if s in in_edges or s not in explicitly_started]
        ups = {s: [u for u, d in self._edges if d == s] for s in graph}
        downs = {s: [d for u, d in self._edges if u == s] for s in graph}
        rules: list[Rule] = []
        roots = [s for s in graph if not ups[s]]
        if roots:
            rules.append(
                Rule(TRUE, Start(tuple(roots)), derived_name(self.name, "BEGIN"), "oracle-tasks: first steps")
            )
        for step in graph:
            if ups[step]:
                rules.append(
                    Rule(
                        _all(succeeded(u) for u in ups[step]),
                        Start((step,)),
                        derived_name(self.name, f"START_{step}"),
                        f"oracle-tasks: {step} after {', '.join(ups[step])}",
                    )
                )
        sinks = [s for s in graph if not downs[s]]
        if sinks:
            rules.append(
                Rule(
                    _all(succeeded(s) for s in sinks),
                    End(0),
                    derived_name(self.name, "END_OK"),
                    "oracle-tasks: success",
                )
            )
        if self.failure_rules:
            handled = self._failure_handled()
            stop_handled = self._stop_handled()
            for step in steps:
                if step not in handled:
                    rules.append(
                        Rule(
                            StepState(step, "FAILED"),
                            End(0, step),
                            derived_name(self.name, f"FAIL_{step}"),
                            f"oracle-tasks: end when {step} fails",
                        )
                    )
            unstoppable = [StepState(step, "STOPPED") for step in steps if step not in stop_handled]
            # A step stopped by STOP_JOB or ALTER_RUNNING_CHAIN ends the chain as failed (END 1:
            # a stopped step's own error code may be 0, which would read as success). One rule
            # for all steps while its condition fits the Scheduler's 4000 bytes, else one per step.
            combined = AnyOf(tuple(unstoppable)) if len(unstoppable) > 1 else None
            if combined is not None and len(str(combined).encode()) <= MAX_ACTION_BYTES:
                rules.append(
                    Rule(
                        combined,
                        End(STOPPED_END_CODE),
                        derived_name(self.name, "STOPPED"),
                        "oracle-tasks: end when a step is stopped",
                    )
                )
            else:
                for node in unstoppable:
                    rules.append(
                        Rule(
                            node,
                            End(STOPPED_END_CODE),
                            derived_name(self.name, f"STOPPED_{node.step}"),
                            f"oracle-tasks: end when {node.step} is stopped",
                        )
                    )
        return rules

    def _stop_handled(self) -> set[str]:
        """Steps an explicit rule looks at as STOPPED (STOPPED, COMPLETED, or under a negation)."""
        handled: set[str] = set()
        for rule in self._rules:
            for node in nodes(rule.parsed_condition):
                if isinstance(node, StepState) and (node.state in ("STOPPED", "COMPLETED") or node.negated):
                    handled.add(node.step)
            handled.update(step for step, negated in rule.parsed_condition.references() if negated)
        return handled

    def _failure_handled(self) -> set[str]:
        """Steps an explicit rule looks at for anything but plain success."""
        handled: set[str] = set()
        for rule in self._rules:
            for node in nodes(rule.parsed_condition):
                if isinstance(node, ErrorCode):
                    handled.add(node.step)
                if isinstance(node, StepState) and (node.state != "SUCCEEDED" or node.negated):
                    handled.add(node.step)
            handled.update(step for step, negated in rule.parsed_condition.references() if negated)
        return handled


def _all(conditions: Iterable[Condition]) -> Condition:
    items = tuple(conditions)
    return items[0] if len(items) == 1 else AllOf(items)
