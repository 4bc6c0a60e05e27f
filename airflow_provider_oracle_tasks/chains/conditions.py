"""Oracle Scheduler chain rule syntax: conditions and actions as small typed trees.

A chain rule is a condition and an action (``DBMS_SCHEDULER.DEFINE_CHAIN_RULE``). Both are text
that Oracle parses only when the rule is defined, or worse, when the chain runs. Parsing them
here first means a misspelt step name or a missing parenthesis fails the DAG before anything in
the database changes, and every rule is stored in one canonical spelling (upper case, single
spaces), so the same spec always produces the same text and the same fingerprint.

Only the Scheduler chain condition syntax is accepted (not the SQL ``:step.state`` form)::

    condition := TRUE | FALSE | step [NOT] {SUCCEEDED | FAILED | STOPPED | COMPLETED}
               | step ERROR_CODE {= | != | <> | < | <= | > | >=} integer
               | step [NOT] ERROR_CODE IN (integer [, integer]...)
               | NOT condition | (condition) | condition AND condition | condition OR condition
    action    := [AFTER HH:MM:SS] START step [, step]...
               | STOP step [, step]...
               | END [integer | step.ERROR_CODE]

``step ERROR_CODE NOT IN (...)`` is accepted as well and stored in the documented spelling
``step NOT ERROR_CODE IN (...)`` (Administrator's Guide, "Chain Condition Syntax"). Step names
are simple names (upper-cased); quoted names are refused, as everywhere in the provider.

``COMPLETED`` means SUCCEEDED, FAILED or STOPPED. Error codes are positive numbers (20001 for
``raise_application_error(-20001, ...)``); ``END 0`` (the default) ends the chain successfully.
Conditions can also be built in Python: ``succeeded("A") & ~failed("B")``.

:func:`evaluate` decides a condition for given step states; :mod:`chain_analysis` uses it to
walk every path of a chain and find the ones that stall.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from airflow_provider_oracle_tasks.errors import OracleTasksError


class ChainSpecError(OracleTasksError, ValueError):
    """A chain spec, rule condition or action is invalid; raised before any database call."""


STATES = ("SUCCEEDED", "FAILED", "STOPPED", "COMPLETED")
COMPARISONS = ("=", "!=", "<>", "<", "<=", ">", ">=")
KEYWORDS = frozenset(
    {"TRUE", "FALSE", "AND", "OR", "NOT", "IN", "ERROR_CODE", "START", "STOP", "END", "AFTER", *STATES}
)
"""Words that cannot be step names: the rule parser would read them as syntax."""
MAX_AFTER_HOURS = 99
MAX_END_CODE = 2**31 - 1

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+)
      | (?P<quoted>"[A-Za-z][A-Za-z0-9_$#]*")
      | (?P<name>[A-Za-z][A-Za-z0-9_$#]*)
      | (?P<op><=|>=|!=|<>|[=<>(),.:])
    )""",
    re.X,
)


# --- condition trees -----------------------------------------------------------------------------


class Condition(ABC):
    """Base of condition nodes: combine with ``&``, ``|`` and ``~``; ``str()`` is Oracle's text."""

    def __and__(self, other: Condition) -> Condition:
        return AllOf((self, _as_condition(other)))

    def __or__(self, other: Condition) -> Condition:
        return AnyOf((self, _as_condition(other)))

    def __invert__(self) -> Condition:
        return Not(self)

    @abstractmethod
    def render(self, parent: str = "") -> str:
        """Oracle rule syntax of this condition (``parent`` decides the parentheses)."""

    def __str__(self) -> str:
        return self.render()

    def references(self, negated: bool = False) -> Iterator[tuple[str, bool]]:
        """(step, negated) for every step the condition reads; ``negated`` under an odd NOT."""
        return iter(())


@dataclass(frozen=True, eq=True)
class Literal(Condition):
    value: bool

    def render(self, parent: str = "") -> str:
        return "TRUE" if self.value else "FALSE"


@dataclass(frozen=True, eq=True)
class StepState(Condition):
    """``STEP [NOT] SUCCEEDED|FAILED|STOPPED|COMPLETED``."""

    step: str
    state: str
    negated: bool = False

    def render(self, parent: str = "") -> str:
        return f"{self.step} {'NOT ' if self.negated else ''}{self.state}"

    def references(self, negated: bool = False) -> Iterator[tuple[str, bool]]:
        yield self.step, negated != self.negated


@dataclass(frozen=True, eq=True)
class ErrorCode(Condition):
    """``STEP ERROR_CODE <op> n`` or ``STEP ERROR_CODE [NOT] IN (n, ...)`` (op ``IN``/``NOT IN``)."""

    step: str
    op: str
    values: tuple[int, ...]

    def render(self, parent: str = "") -> str:
        if self.op in ("IN", "NOT IN"):
            codes = ", ".join(str(v) for v in self.values)
            # Oracle's documented spelling puts NOT before ERROR_CODE: "step NOT ERROR_CODE IN (...)".
            prefix = "NOT ERROR_CODE IN" if self.op == "NOT IN" else "ERROR_CODE IN"
            return f"{self.step} {prefix} ({codes})"
        return f"{self.step} ERROR_CODE {self.op} {self.values[0]}"

    def references(self, negated: bool = False) -> Iterator[tuple[str, bool]]:
        yield self.step, negated


@dataclass(frozen=True, eq=True)
class Not(Condition):
    item: Condition

    def render(self, parent: str = "") -> str:
        return f"NOT ({self.item.render()})"

    def references(self, negated: bool = False) -> Iterator[tuple[str, bool]]:
        return self.item.references(not negated)


@dataclass(frozen=True, eq=True)
class AllOf(Condition):
    items: tuple[Condition, ...]

    def render(self, parent: str = "") -> str:
        return " AND ".join(item.render("AND") for item in self.items)

    def references(self, negated: bool = False) -> Iterator[tuple[str, bool]]:
        for item in self.items:
            yield from item.references(negated)


@dataclass(frozen=True, eq=True)
class AnyOf(Condition):
    items: tuple[Condition, ...]

    def render(self, parent: str = "") -> str:
        text = " OR ".join(item.render("OR") for item in self.items)
        return f"({text})" if parent == "AND" else text

    def references(self, negated: bool = False) -> Iterator[tuple[str, bool]]:
        for item in self.items:
            yield from item.references(negated)


TRUE = Literal(True)
FALSE = Literal(False)


def _as_condition(value: Condition | str) -> Condition:
    return value if isinstance(value, Condition) else parse_condition(value)


def _step(name: str) -> str:
    return step_name(name, "step")


def succeeded(step: str) -> Condition:
    return StepState(_step(step), "SUCCEEDED")


def failed(step: str) -> Condition:
    return StepState(_step(step), "FAILED")


def stopped(step: str) -> Condition:
    return StepState(_step(step), "STOPPED")


def completed(step: str) -> Condition:
    """SUCCEEDED, FAILED or STOPPED: the step ran to an end, whatever the outcome."""
    return StepState(_step(step), "COMPLETED")


def error_code(
    step: str,
    *,
    in_: Sequence[int] | None = None,
    not_in: Sequence[int] | None = None,
    op: str | None = None,
    value: int | None = None,
) -> Condition:
    """``error_code("LOAD", in_=[20002])`` or ``error_code("LOAD", op=">", value=20000)``."""
    name = _step(step)
    if (in_ is not None) + (not_in is not None) + (op is not None) != 1:
        raise ChainSpecError(f"error_code({step!r}): give exactly one of in_=, not_in= or op=/value=")
    if op is not None:
        if op not in COMPARISONS or value is None:
            raise ChainSpecError(
                f"error_code({step!r}): op must be one of {', '.join(COMPARISONS)} with a value"
            )
        return ErrorCode(name, op, (_code(value, f"error_code({step!r})"),))
    values = in_ if in_ is not None else not_in
    assert values is not None
    codes = tuple(_code(v, f"error_code({step!r})") for v in values)
    if not codes:
        raise ChainSpecError(f"error_code({step!r}): the list of codes is empty")
    return ErrorCode(name, "IN" if in_ is not None else "NOT IN", codes)


def _code(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_END_CODE:
        raise ChainSpecError(f"{where}: {value!r} is not an error code (a whole number >= 0, e.g. 20001)")
    return value


# --- actions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    steps: tuple[str, ...]
    after: timedelta | None = None

    def __str__(self) -> str:
        delay = f"AFTER {format_after(self.after)} " if self.after else ""
        return f"{delay}START {', '.join(self.steps)}"


@dataclass(frozen=True)
class Stop:
    steps: tuple[str, ...]

    def __str__(self) -> str:
        return f"STOP {', '.join(self.steps)}"


@dataclass(frozen=True)
class End:
    """END with a fixed code (0 = success) or with the error code of ``from_step``."""

    code: int = 0
    from_step: str | None = None

    def __str__(self) -> str:
        return f"END {self.from_step}.ERROR_CODE" if self.from_step else f"END {self.code}"


Action = Start | Stop | End


def start(*steps: str, after: timedelta | None = None) -> Start:
    if not steps:
        raise ChainSpecError("start(): name at least one step")
    if after is not None:
        format_after(after)
    return Start(tuple(_step(s) for s in steps), after if after else None)


def stop(*steps: str) -> Stop:
    if not steps:
        raise ChainSpecError("stop(): name at least one step")
    return Stop(tuple(_step(s) for s in steps))


def end(code: int = 0, *, from_step: str | None = None) -> End:
    """``end()`` succeeds the chain, ``end(3)`` fails it, ``end(from_step="LOAD")`` uses LOAD's code."""
    if from_step is not None:
        return End(0, _step(from_step))
    return End(_code(code, "end()"))


def format_after(delay: timedelta) -> str:
    """``HH:MM:SS`` for an AFTER clause: whole seconds, more than 0, below 100 hours."""
    seconds = delay.total_seconds()
    if seconds != int(seconds) or not 0 < seconds < (MAX_AFTER_HOURS + 1) * 3600:
        raise ChainSpecError(
            f"AFTER delay {delay} must be whole seconds between 1 s and {MAX_AFTER_HOURS}:59:59"
        )
    total = int(seconds)
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


# --- parsing -------------------------------------------------------------------------------------


def step_name(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ChainSpecError(f"{what} {value!r} is not a name")
    name = value.strip()
    if '"' in name:
        raise ChainSpecError(
            f"{what} {value!r}: quoted names are not supported; use a simple name (letters, digits, _, $, "
            "#, a letter first), which Oracle stores upper-cased"
        )
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_$#]{0,127}", name):
        raise ChainSpecError(
            f"{what} {value!r} is not a valid Oracle name: 1-128 characters, a letter first, then "
            "letters, digits, _, $ or #"
        )
    upper = name.upper()
    if upper in KEYWORDS:
        raise ChainSpecError(f"{what} {value!r} is a keyword of the chain rule syntax; choose another name")
    return upper


class _Tokens:
    def __init__(self, text: str, what: str) -> None:
        self.what = what
        self.text = text
        self.items: list[tuple[str, str]] = []
        position = 0
        stripped = text.rstrip()
        while position < len(stripped):
            match = _TOKEN.match(stripped, position)
            if not match or match.end() == position:
                raise self.error(f"unexpected character {stripped[position:].lstrip()[:1]!r}")
            kind = match.lastgroup or ""
            value = match.group(kind)
            if kind == "quoted":
                raise self.error(f"quoted name {value} is not supported; use a simple (unquoted) name")
            if kind == "name":
                value = value.upper()
            self.items.append((kind, value))
            position = match.end()
        self.index = 0

    def error(self, problem: str) -> ChainSpecError:
        return ChainSpecError(f"{self.what} {self.text!r}: {problem}")

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.index + offset
        return self.items[index] if index < len(self.items) else None

    def take(self) -> tuple[str, str]:
        item = self.peek()
        if item is None:
            raise self.error("ends too early")
        self.index += 1
        return item

    def accept(self, value: str) -> bool:
        item = self.peek()
        if item is not None and item[1] == value and item[0] in ("name", "op"):
            self.index += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.accept(value):
            found = self.peek()
            raise self.error(f"expected {value} but found {found[1] if found else 'the end'}")

    def name(self, role: str) -> str:
        kind, value = self.take()
        if kind != "name" or value in KEYWORDS:
            raise self.error(f"expected a step name for {role} but found {value}")
        return value

    def number(self) -> int:
        kind, value = self.take()
        if kind != "number":
            raise self.error(f"expected a number but found {value}")
        return _code(int(value), self.what)

    def done(self) -> None:
        if self.peek() is not None:
            raise self.error(f"unexpected {self.peek()[1]!r} after the end")  # type: ignore[index]


def parse_condition(text: str) -> Condition:
    """Parse and check a condition; raises :class:`ChainSpecError` naming the problem."""
    if not isinstance(text, str) or not text.strip():
        raise ChainSpecError(f"condition {text!r} is empty: use TRUE for a rule that starts the chain")
    if ":" in text:
        raise ChainSpecError(
            f"condition {text!r} uses the SQL form (:step.attribute); write it in the Scheduler chain "
            "syntax instead, e.g. 'LOAD FAILED AND LOAD ERROR_CODE IN (20002)'"
        )
    tokens = _Tokens(text, "condition")
    node = _or(tokens)
    tokens.done()
    return node


def _or(tokens: _Tokens) -> Condition:
    items = [_and(tokens)]
    while tokens.accept("OR"):
        items.append(_and(tokens))
    return items[0] if len(items) == 1 else AnyOf(tuple(items))


def _and(tokens: _Tokens) -> Condition:
    items = [_factor(tokens)]
    while tokens.accept("AND"):
        items.append(_factor(tokens))
    return items[0] if len(items) == 1 else AllOf(tuple(items))


def _factor(tokens: _Tokens) -> Condition:
    if tokens.accept("NOT"):
        return Not(_factor(tokens))
    if tokens.accept("("):
        node = _or(tokens)
        tokens.expect(")")
        return node
    if tokens.accept("TRUE"):
        return TRUE
    if tokens.accept("FALSE"):
        return FALSE
    step = tokens.name("a condition")
    if tokens.accept("ERROR_CODE"):
        return _error_code(tokens, step)
    negated = tokens.accept("NOT")
    if negated and tokens.accept("ERROR_CODE"):
        if not tokens.accept("IN"):
            raise tokens.error(f"{step} NOT ERROR_CODE must be followed by IN (...)")
        return ErrorCode(step, "NOT IN", tuple(_codes(tokens)))
    _, value = tokens.take()
    if value not in STATES:
        raise tokens.error(
            f"after step {step} expected [NOT] {'|'.join(STATES)} or ERROR_CODE, found {value}"
        )
    return StepState(step, value, negated)


def _error_code(tokens: _Tokens, step: str) -> Condition:
    negated = tokens.accept("NOT")
    if tokens.accept("IN"):
        return ErrorCode(step, "NOT IN" if negated else "IN", tuple(_codes(tokens)))
    if negated:
        raise tokens.error(f"{step} ERROR_CODE NOT must be followed by IN (...)")
    _, op = tokens.take()
    if op not in COMPARISONS:
        raise tokens.error(
            f"expected a comparison ({' '.join(COMPARISONS)}) or IN after ERROR_CODE, found {op}"
        )
    return ErrorCode(step, op, (tokens.number(),))


def _codes(tokens: _Tokens) -> list[int]:
    tokens.expect("(")
    values = [tokens.number()]
    while tokens.accept(","):
        values.append(tokens.number())
    tokens.expect(")")
    return values


def parse_action(text: str) -> Start | Stop | End:
    """Parse and check an action (START, STOP, END, AFTER ... START)."""
    if not isinstance(text, str) or not text.strip():
        raise ChainSpecError(f"action {text!r} is empty: use START <step>, STOP <step> or END [code]")
    tokens = _Tokens(text, "action")
    after: timedelta | None = None
    if tokens.accept("AFTER"):
        after = _after(tokens)
        if tokens.peek() is None or tokens.peek()[1] != "START":  # type: ignore[index]
            raise tokens.error("AFTER is only allowed before START")
    keyword = tokens.take()[1]
    action: Start | Stop | End
    if keyword in ("START", "STOP"):
        steps = [tokens.name(keyword)]
        while tokens.accept(","):
            steps.append(tokens.name(keyword))
        action = Start(tuple(steps), after) if keyword == "START" else Stop(tuple(steps))
    elif keyword == "END":
        action = _end(tokens)
    else:
        raise tokens.error(f"expected START, STOP or END, found {keyword}")
    tokens.done()
    return action


def _after(tokens: _Tokens) -> timedelta:
    parts = [tokens.number()]
    for _ in range(2):
        tokens.expect(":")
        parts.append(tokens.number())
    hours, minutes, seconds = parts
    if minutes > 59 or seconds > 59:
        raise tokens.error("AFTER needs HH:MM:SS with minutes and seconds below 60")
    delay = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    try:
        format_after(delay)
    except ChainSpecError as error:
        raise tokens.error(str(error)) from None
    return delay


def _end(tokens: _Tokens) -> End:
    item = tokens.peek()
    if item is None:
        return End(0)
    if item[0] == "number":
        return End(tokens.number())
    step = tokens.name("END")
    tokens.expect(".")
    tokens.expect("ERROR_CODE")
    return End(0, step)


def as_condition(value: Condition | str) -> Condition:
    """A condition tree from a tree or from text (parsed and checked)."""
    if isinstance(value, Condition):
        return value
    return parse_condition(value)


def as_action(value: Start | Stop | End | str) -> Start | Stop | End:
    if isinstance(value, Start | Stop | End):
        return value
    return parse_action(value)


def action_steps(action: Start | Stop | End) -> tuple[str, ...]:
    """Every step an action names."""
    if isinstance(action, End):
        return (action.from_step,) if action.from_step else ()
    return action.steps


# --- evaluation ----------------------------------------------------------------------------------

# A step's state for evaluation: ("NOT_STARTED" | "RUNNING" | "SUCCEEDED" | "FAILED" | "STOPPED", code)
StepStatus = tuple[str, int | None]
_DONE = ("SUCCEEDED", "FAILED", "STOPPED")


def evaluate(condition: Condition, states: Mapping[str, StepStatus]) -> bool:
    """Whether ``condition`` holds for ``states`` (step -> (state, error code or None)).

    Two-valued: a comparison with the error code of a step that has not completed is false,
    as SQL's NULL comparison would be, including under NOT IN.
    """
    if isinstance(condition, Literal):
        return condition.value
    if isinstance(condition, StepState):
        state = states[condition.step][0]
        hit = state in _DONE if condition.state == "COMPLETED" else state == condition.state
        return hit != condition.negated
    if isinstance(condition, ErrorCode):
        state, code = states[condition.step]
        if state not in _DONE or code is None:
            return False
        return _compare(code, condition.op, condition.values)
    if isinstance(condition, Not):
        return not evaluate(condition.item, states)
    if isinstance(condition, AllOf):
        return all(evaluate(item, states) for item in condition.items)
    if isinstance(condition, AnyOf):
        return any(evaluate(item, states) for item in condition.items)
    raise TypeError(f"not a condition node: {condition!r}")


def _compare(code: int, op: str, values: tuple[int, ...]) -> bool:
    if op == "IN":
        return code in values
    if op == "NOT IN":
        return code not in values
    value = values[0]
    return {
        "=": code == value,
        "!=": code != value,
        "<>": code != value,
        "<": code < value,
        "<=": code <= value,
        ">": code > value,
        ">=": code >= value,
    }[op]


def interesting_codes(conditions: Sequence[Condition], step: str) -> set[int]:
    """Error codes worth trying for ``step``: every boundary its ERROR_CODE tests touch, plus one
    code none of them names, so a path analysis covers each branch of every comparison."""
    codes: set[int] = set()
    for condition in conditions:
        for node in nodes(condition):
            if isinstance(node, ErrorCode) and node.step == step:
                for value in node.values:
                    codes.update({value, value + 1, max(value - 1, 1)})
    codes.discard(0)
    other = max(codes, default=0) + 1
    codes.add(other if other > 1 else 1)
    return codes


def nodes(condition: Condition) -> Iterator[Condition]:
    yield condition
    if isinstance(condition, Not):
        yield from nodes(condition.item)
    elif isinstance(condition, AllOf | AnyOf):
        for item in condition.items:
            yield from nodes(item)
