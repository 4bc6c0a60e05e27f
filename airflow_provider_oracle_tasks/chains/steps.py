"""The step types of a Scheduler chain: what each step runs, checked when it is constructed.

:class:`PlsqlStep` (an anonymous block; the operator creates a program for it),
:class:`ProcedureStep` (a stored procedure with fixed arguments; also a generated program),
:class:`ProgramStep` (an existing program), :class:`NestedChainStep` (another chain) and
:class:`EventStep` (waits for a message on an AQ queue that matches a condition, or for an event
schedule). :func:`step_from_dict` rebuilds a step from its canonical dict. How steps are wired
together (rules, the spec, the builder) is :mod:`chains.spec`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from airflow_provider_oracle_tasks.chains.conditions import ChainSpecError, step_name

MAX_ACTION_BYTES = 4000
MAX_ARGUMENTS = 255


def _qualified(value: object, what: str, *, parts: int) -> str:
    """``NAME`` or ``SCHEMA.NAME`` (up to ``parts`` dot-separated simple names), upper-cased."""
    if not isinstance(value, str) or not value.strip():
        raise ChainSpecError(f"{what} {value!r} must be a name like NAME or SCHEMA.NAME")
    pieces = value.strip().split(".")
    if len(pieces) > parts:
        raise ChainSpecError(f"{what} {value!r} has more than {parts} dot-separated parts")
    return ".".join(step_name(piece, what) for piece in pieces)


def text(value: object, what: str, *, max_bytes: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ChainSpecError(f"{what} must be non-empty text")
    if len(value.encode("utf-8")) > max_bytes:
        raise ChainSpecError(f"{what} is longer than {max_bytes} bytes (the Scheduler's limit)")
    return value


def flag(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise ChainSpecError(f"{what}={value!r} must be True or False")
    return value


@dataclass(frozen=True)
class Step:
    """Common part of every step. ``restart_on_failure`` / ``restart_on_recovery`` are the step
    attributes of ``DBMS_SCHEDULER.ALTER_CHAIN`` (retry a failed step; restart after a database
    recovery)."""

    name: str
    restart_on_failure: bool = field(default=False, kw_only=True)
    restart_on_recovery: bool = field(default=False, kw_only=True)
    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", step_name(self.name, "step name"))
        flag(self.restart_on_failure, f"step {self.name}: restart_on_failure")
        flag(self.restart_on_recovery, f"step {self.name}: restart_on_recovery")

    @property
    def needs_program(self) -> bool:
        """Whether the operator creates a program for this step."""
        return False

    def fields(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, **self.fields()}
        if self.restart_on_failure:
            data["restart_on_failure"] = True
        if self.restart_on_recovery:
            data["restart_on_recovery"] = True
        return data


@dataclass(frozen=True)
class PlsqlStep(Step):
    """Run an anonymous PL/SQL block (``begin ... end;``), at most 4000 bytes."""

    plsql: str = ""
    kind: ClassVar[str] = "plsql"

    def __post_init__(self) -> None:
        super().__post_init__()
        text(self.plsql, f"step {self.name}: plsql", max_bytes=MAX_ACTION_BYTES)

    @property
    def needs_program(self) -> bool:
        return True

    def fields(self) -> dict[str, Any]:
        return {"plsql": self.plsql}


@dataclass(frozen=True)
class ProcedureStep(Step):
    """Call ``[schema.][package.]procedure`` with fixed positional arguments (str or int).

    The values become the generated program's argument defaults (DEFINE_PROGRAM_ARGUMENT), bound,
    never pasted into PL/SQL: chain steps cannot pass job arguments, so defaults are the only way.
    """

    procedure: str = ""
    arguments: tuple[str | int, ...] = ()
    kind: ClassVar[str] = "procedure"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(
            self, "procedure", _qualified(self.procedure, f"step {self.name}: procedure", parts=3)
        )
        arguments = tuple(self.arguments)
        if len(arguments) > MAX_ARGUMENTS:
            raise ChainSpecError(f"step {self.name}: at most {MAX_ARGUMENTS} arguments")
        for position, value in enumerate(arguments, start=1):
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise ChainSpecError(
                    f"step {self.name}: argument {position} = {value!r} must be str or int (dates and "
                    "decimals as text, converted inside the procedure with an explicit format)"
                )
            if isinstance(value, str) and len(value.encode("utf-8")) > MAX_ACTION_BYTES:
                raise ChainSpecError(f"step {self.name}: argument {position} is longer than 4000 bytes")
        object.__setattr__(self, "arguments", arguments)

    @property
    def needs_program(self) -> bool:
        return True

    def fields(self) -> dict[str, Any]:
        return {"procedure": self.procedure, "arguments": list(self.arguments)}


@dataclass(frozen=True)
class ProgramStep(Step):
    """Run an existing Scheduler program ``[schema.]program`` (it must be enabled)."""

    program: str = ""
    kind: ClassVar[str] = "program"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "program", _qualified(self.program, f"step {self.name}: program", parts=2))

    def fields(self) -> dict[str, Any]:
        return {"program": self.program}


@dataclass(frozen=True)
class NestedChainStep(Step):
    """Run another chain ``[schema.]chain`` as one step (it must exist and be enabled)."""

    chain: str = ""
    kind: ClassVar[str] = "chain"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "chain", _qualified(self.chain, f"step {self.name}: chain", parts=2))

    def fields(self) -> dict[str, Any]:
        return {"chain": self.chain}


@dataclass(frozen=True)
class EventStep(Step):
    """Wait for an event: a message on ``queue`` (``[schema.]queue``; ``agent`` for a secure queue)
    for which ``condition`` holds (an AQ rule on ``tab.user_data``), or an existing event
    ``schedule``. The step runs (waits) until the event arrives, then SUCCEEDED."""

    queue: str | None = None
    condition: str | None = None
    agent: str | None = None
    schedule: str | None = None
    kind: ClassVar[str] = "event"

    def __post_init__(self) -> None:
        super().__post_init__()
        where = f"step {self.name}"
        if self.schedule is not None:
            if self.queue is not None or self.condition is not None or self.agent is not None:
                raise ChainSpecError(f"{where}: give either schedule= or queue= with condition=, not both")
            object.__setattr__(self, "schedule", _qualified(self.schedule, f"{where}: schedule", parts=2))
            return
        if self.queue is None or self.condition is None:
            raise ChainSpecError(f"{where}: an event step needs queue= and condition= (or schedule=)")
        object.__setattr__(self, "queue", _qualified(self.queue, f"{where}: queue", parts=2))
        text(self.condition, f"{where}: condition", max_bytes=MAX_ACTION_BYTES)
        if self.agent is not None:
            object.__setattr__(self, "agent", step_name(self.agent, f"{where}: agent"))

    @property
    def queue_spec(self) -> str | None:
        """The ``queue_spec`` argument of DEFINE_CHAIN_EVENT_STEP: ``QUEUE`` or ``QUEUE, AGENT``."""
        if self.queue is None:
            return None
        return f"{self.queue}, {self.agent}" if self.agent else self.queue

    def fields(self) -> dict[str, Any]:
        if self.schedule is not None:
            return {"schedule": self.schedule}
        return {"queue": self.queue, "condition": self.condition, "agent": self.agent}


STEP_TYPES: dict[str, type[Step]] = {
    cls.kind: cls for cls in (PlsqlStep, ProcedureStep, ProgramStep, NestedChainStep, EventStep)
}


def step_from_dict(data: Mapping[str, Any]) -> Step:
    values = dict(data)
    kind = values.pop("kind", None)
    cls = STEP_TYPES.get(str(kind))
    if cls is None:
        raise ChainSpecError(f"step {values.get('name')!r}: unknown kind {kind!r} ({', '.join(STEP_TYPES)})")
    if "arguments" in values:
        values["arguments"] = tuple(values["arguments"])
    try:
        return cls(**values)
    except TypeError as error:
        raise ChainSpecError(f"step {values.get('name')!r}: {error}") from None
