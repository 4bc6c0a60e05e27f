"""Create, keep or replace a chain so that the database matches a :class:`ChainSpec`, idempotently.

Three steps, the first two read-only:

1. :func:`read_chain` reads what exists: the chain (``USER_SCHEDULER_CHAINS``), its steps and
   rules (``USER_SCHEDULER_CHAIN_STEPS`` / ``_RULES``), the jobs running it
   (``ALL_SCHEDULER_RUNNING_CHAINS``, so jobs of other users count too) and the generated programs
   (``USER_SCHEDULER_PROGRAMS``).
2. :func:`plan_sync` decides, without side effects:

   * no chain -> ``create``;
   * the chain's comments carry this spec's fingerprint, its step and rule names match and every
     generated program exists, is ours and is enabled -> ``unchanged`` (no call that changes
     anything; ``enable`` only if somebody disabled the chain);
   * anything else -> ``replace``, but never while a job runs the chain
     (:class:`ChainConflictError` naming the jobs), and never over a chain or program that
     oracle-tasks did not create (comments without the marker) unless ``replace_unmanaged``.

   The fingerprint decides rather than a comparison of rule texts, because the views return
   the texts the way Oracle stores them; the name checks catch a chain edited by hand.
3. :func:`apply_plan` runs the plan's calls: one ``DBMS_SCHEDULER`` procedure per call through
   ``cursor.callproc`` with keyword parameters, so every value - PL/SQL text, conditions,
   argument defaults, names - is a bind; names were validated by the spec anyway.

``DBMS_SCHEDULER`` commits every call, so a sync cannot be atomic. Instead the chain is marked
``oracle-tasks:incomplete`` first and gets its fingerprint only as the last change before
``ENABLE``: a sync that dies half-way leaves a chain that the next run recognises and rebuilds.
Replacement keeps the chain object (rules and steps are dropped and defined again), so jobs and
schedules that point at the chain stay valid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_oracle_tasks.chains.spec import MARKER, ChainSpec
from airflow_provider_oracle_tasks.chains.steps import (
    EventStep,
    NestedChainStep,
    PlsqlStep,
    ProcedureStep,
    ProgramStep,
    Step,
)
from airflow_provider_oracle_tasks.db.transient import describe_db_error, error_codes
from airflow_provider_oracle_tasks.errors import OracleTasksError

INCOMPLETE = f"{MARKER}incomplete"
"""Comments of a chain whose definition is being written (or was left half-written)."""
ALREADY_EXISTS = "ORA-27477"
"""A Scheduler object of that name exists: another task created it between our read and write."""
FINGERPRINT_CHARS = 64

CHAIN_SQL = """\
select c.enabled, c.comments
  from user_scheduler_chains c
 where c.chain_name = :chain"""

STEPS_SQL = """\
select s.step_name, s.program_owner, s.program_name
  from user_scheduler_chain_steps s
 where s.chain_name = :chain
 order by s.step_name"""

RULES_SQL = """\
select r.rule_name
  from user_scheduler_chain_rules r
 where r.chain_name = :chain
 order by r.rule_name"""

RUNNING_SQL = """\
select distinct r.owner, r.job_name
  from all_scheduler_running_chains r
 where r.chain_owner = sys_context('USERENV', 'CURRENT_SCHEMA')
   and r.chain_name = :chain
 order by r.owner, r.job_name"""

PROGRAMS_SQL = """\
select p.program_name, p.enabled, p.comments
  from user_scheduler_programs p
 where p.program_name in (select n.name
                            from json_table(:names, '$[*]' columns (name varchar2(128) path '$')) n)"""


class ChainConflictError(OracleTasksError):
    """The database holds something the spec may not overwrite now; nothing was changed."""


class ChainSyncError(OracleTasksError):
    """A DBMS_SCHEDULER call failed half-way; the chain is marked incomplete and rebuilt next time."""


def program_marker(chain: str) -> str:
    """Comments of every program generated for ``chain``: how a later run knows they are ours."""
    return f"oracle-tasks chain {chain}"


def fingerprint_of(comments: str | None) -> str | None:
    """The spec fingerprint stored in a chain's comments (None: not managed, or incomplete)."""
    if not comments or not comments.startswith(MARKER):
        return None
    candidate = comments[len(MARKER) : len(MARKER) + FINGERPRINT_CHARS]
    if len(candidate) == FINGERPRINT_CHARS and all(ch in "0123456789abcdef" for ch in candidate):
        return candidate
    return None


# --- what exists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgramInfo:
    name: str
    enabled: bool
    comments: str | None


@dataclass(frozen=True)
class ExistingChain:
    """A chain as the dictionary views show it."""

    name: str
    enabled: bool
    comments: str | None
    steps: Mapping[str, str | None] = field(default_factory=dict)
    """step name -> program (or nested chain) name it runs; None for event steps."""
    rules: tuple[str, ...] = ()
    running_jobs: tuple[str, ...] = ()

    @property
    def managed(self) -> bool:
        """Created by oracle-tasks (complete or not)."""
        return bool(self.comments) and str(self.comments).startswith(MARKER)

    @property
    def fingerprint(self) -> str | None:
        return fingerprint_of(self.comments)


def _flag(value: Any) -> bool:
    return str(value).upper() == "TRUE"


def read_chain(connection: Any, chain: str) -> ExistingChain | None:
    """The chain ``chain`` of the session's schema, or None if there is none."""
    with connection.cursor() as cursor:
        cursor.execute(CHAIN_SQL, {"chain": chain})
        row = cursor.fetchone()
        if row is None:
            return None
        cursor.execute(STEPS_SQL, {"chain": chain})
        steps = {str(name): (str(program) if program else None) for name, _, program in cursor.fetchall()}
        cursor.execute(RULES_SQL, {"chain": chain})
        rules = tuple(str(name) for (name,) in cursor.fetchall())
        cursor.execute(RUNNING_SQL, {"chain": chain})
        running = tuple(f"{owner}.{job}" for owner, job in cursor.fetchall())
    return ExistingChain(chain, _flag(row[0]), row[1], steps, rules, running)


def read_programs(connection: Any, names: Iterable[str]) -> dict[str, ProgramInfo]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(PROGRAMS_SQL, {"names": json.dumps(wanted)})
        rows = cursor.fetchall()
    return {str(name): ProgramInfo(str(name), _flag(enabled), comments) for name, enabled, comments in rows}


# --- the calls -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One ``DBMS_SCHEDULER`` procedure call; every parameter is passed as a bind."""

    procedure: str
    params: Mapping[str, Any]

    def describe(self, limit: int = 60) -> str:
        """For logs: values shortened, so a long PL/SQL block does not flood the task log."""
        parts = []
        for key, value in self.params.items():
            text = repr(value)
            parts.append(f"{key} => {text if len(text) <= limit else text[: limit - 4] + '...' + text[-1]}")
        return f"{self.procedure}({', '.join(parts)})"


def _sched(procedure: str, /, **params: Any) -> Call:
    return Call(f"dbms_scheduler.{procedure}", params)


def _argument_type(value: str | int) -> str:
    return "NUMBER" if isinstance(value, int) else "VARCHAR2"


def program_calls(spec: ChainSpec) -> list[Call]:
    """Create every generated program; a procedure's arguments are defaults of the program."""
    calls: list[Call] = []
    comments = program_marker(spec.name)
    for program, step in spec.generated_programs().items():
        if isinstance(step, PlsqlStep):
            calls.append(
                _sched(
                    "create_program",
                    program_name=program,
                    program_type="PLSQL_BLOCK",
                    program_action=step.plsql,
                    number_of_arguments=0,
                    enabled=True,
                    comments=comments,
                )
            )
        elif isinstance(step, ProcedureStep):
            count = len(step.arguments)
            calls.append(
                _sched(
                    "create_program",
                    program_name=program,
                    program_type="STORED_PROCEDURE",
                    program_action=step.procedure,
                    number_of_arguments=count,
                    enabled=count == 0,
                    comments=comments,
                )
            )
            for position, value in enumerate(step.arguments, start=1):
                calls.append(
                    _sched(
                        "define_program_argument",
                        program_name=program,
                        argument_position=position,
                        argument_type=_argument_type(value),
                        default_value=str(value),
                    )
                )
            if count:
                calls.append(_sched("enable", name=program))
    return calls


def step_calls(spec: ChainSpec, step: Step) -> list[Call]:
    chain = spec.name
    calls: list[Call] = []
    if isinstance(step, EventStep):
        if step.schedule is not None:
            calls.append(
                _sched(
                    "define_chain_event_step",
                    chain_name=chain,
                    step_name=step.name,
                    event_schedule_name=step.schedule,
                )
            )
        else:
            calls.append(
                _sched(
                    "define_chain_event_step",
                    chain_name=chain,
                    step_name=step.name,
                    event_condition=step.condition,
                    queue_spec=step.queue_spec,
                )
            )
    else:
        target = (
            step.program
            if isinstance(step, ProgramStep)
            else step.chain
            if isinstance(step, NestedChainStep)
            else spec.program_name(step)
        )
        calls.append(_sched("define_chain_step", chain_name=chain, step_name=step.name, program_name=target))
    for attribute, wanted in (
        ("RESTART_ON_FAILURE", step.restart_on_failure),
        ("RESTART_ON_RECOVERY", step.restart_on_recovery),
    ):
        if wanted:
            calls.append(
                _sched("alter_chain", chain_name=chain, step_name=step.name, attribute=attribute, value=True)
            )
    return calls


def definition_calls(spec: ChainSpec) -> list[Call]:
    """Steps, step attributes, rules, the fingerprint, ENABLE - in that order."""
    calls = [call for step in spec.steps for call in step_calls(spec, step)]
    for rule in spec.rules:
        calls.append(
            _sched(
                "define_chain_rule",
                chain_name=spec.name,
                condition=str(rule.condition),
                action=str(rule.action),
                rule_name=rule.name,
                comments=rule.comments,
            )
        )
    calls.append(_sched("set_attribute", name=spec.name, attribute="comments", value=spec.marker))
    calls.append(_sched("enable", name=spec.name))
    return calls


# --- the decision --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncPlan:
    """What :func:`apply_plan` will do: ``create``, ``unchanged``, ``enable`` or ``replace``."""

    action: str
    reason: str
    calls: tuple[Call, ...]
    fingerprint: str

    @property
    def changes(self) -> bool:
        return bool(self.calls)


def _differences(spec: ChainSpec, existing: ExistingChain, programs: Mapping[str, ProgramInfo]) -> list[str]:
    found: list[str] = []
    if existing.fingerprint != spec.fingerprint:
        stored = existing.fingerprint or ("incomplete" if existing.comments == INCOMPLETE else "none")
        found.append(f"spec fingerprint {spec.fingerprint[:12]} differs from the stored {stored[:12]}")
    if set(existing.steps) != set(spec.step_names):
        found.append(f"steps {sorted(existing.steps)} differ from the spec's {sorted(spec.step_names)}")
    wanted_rules = sorted(rule.name or "" for rule in spec.rules)
    if sorted(existing.rules) != wanted_rules:
        found.append(f"rules {sorted(existing.rules)} differ from the spec's {wanted_rules}")
    for program in spec.generated_programs():
        info = programs.get(program)
        if info is None:
            found.append(f"program {program} is missing")
        elif not info.enabled:
            found.append(f"program {program} is disabled")
    return found


def _check_programs(spec: ChainSpec, programs: Mapping[str, ProgramInfo], replace_unmanaged: bool) -> None:
    mine = program_marker(spec.name)
    for program in spec.generated_programs():
        info = programs.get(program)
        if info is not None and info.comments != mine and not replace_unmanaged:
            raise ChainConflictError(
                f"program {program} exists but was not generated by oracle-tasks for chain {spec.name} "
                f"(its comments are {info.comments!r}). Nothing was changed. Rename the step, drop the "
                "program, or pass replace_unmanaged=True to let the operator replace it."
            )


def _drop_calls(
    spec: ChainSpec, existing: ExistingChain | None, programs: Mapping[str, ProgramInfo]
) -> list[Call]:
    calls: list[Call] = []
    if existing is not None:
        calls.append(_sched("set_attribute", name=spec.name, attribute="comments", value=INCOMPLETE))
        calls.append(_sched("disable", name=spec.name, force=True))
        calls += [
            _sched("drop_chain_rule", chain_name=spec.name, rule_name=r, force=True) for r in existing.rules
        ]
        calls += [
            _sched("drop_chain_step", chain_name=spec.name, step_name=s, force=True) for s in existing.steps
        ]
    mine = program_marker(spec.name)
    old = set(existing.steps.values()) if existing is not None else set()
    for program in sorted({*spec.generated_programs(), *(p for p in old if p)}):
        info = programs.get(program)
        if info is not None and (info.comments == mine or program in spec.generated_programs()):
            calls.append(_sched("drop_program", program_name=program, force=False))
    return calls


def plan_sync(
    spec: ChainSpec,
    existing: ExistingChain | None,
    programs: Mapping[str, ProgramInfo],
    *,
    replace_unmanaged: bool = False,
) -> SyncPlan:
    """Decide what to do (pure). Raises :class:`ChainConflictError` when the spec may not be applied."""
    _check_programs(spec, programs, replace_unmanaged)
    if existing is None:
        calls = [*_drop_calls(spec, None, programs), *program_calls(spec)]
        calls.append(_sched("create_chain", chain_name=spec.name, comments=INCOMPLETE))
        return SyncPlan(
            "create", "the chain does not exist", tuple(calls + definition_calls(spec)), spec.fingerprint
        )
    if not existing.managed and not replace_unmanaged:
        raise ChainConflictError(
            f"chain {spec.name} exists but was not created by oracle-tasks (its comments do not start with "
            f"{MARKER!r}). Nothing was changed. Use another chain name, drop the chain, run it by name "
            "without a spec, or pass replace_unmanaged=True to replace its definition."
        )
    differences = _differences(spec, existing, programs)
    if not differences:
        if existing.enabled:
            return SyncPlan("unchanged", "the stored definition matches the spec", (), spec.fingerprint)
        return SyncPlan(
            "enable",
            "the definition matches but the chain was disabled",
            (_sched("enable", name=spec.name),),
            spec.fingerprint,
        )
    reason = "; ".join(differences)
    if existing.running_jobs:
        raise ChainConflictError(
            f"chain {spec.name} differs from the spec ({reason}), but job(s) "
            f"{', '.join(existing.running_jobs)} run it now, and a running chain's definition is never "
            "replaced. Nothing was changed. Wait for them to finish (or stop them), then run the task again."
        )
    calls = [*_drop_calls(spec, existing, programs), *program_calls(spec), *definition_calls(spec)]
    return SyncPlan("replace", reason, tuple(calls), spec.fingerprint)


# --- doing it ------------------------------------------------------------------------------------

Log = Callable[[str], None]


def apply_plan(connection: Any, plan: SyncPlan, *, log: Log | None = None) -> None:
    """Run the plan's calls in order; a failure names the call and what state it leaves."""
    with connection.cursor() as cursor:
        for call in plan.calls:
            if log:
                log(f"  {call.describe()}")
            try:
                cursor.callproc(call.procedure, keyword_parameters=dict(call.params))
            except Exception as error:
                if ALREADY_EXISTS in error_codes(error):
                    raise
                raise ChainSyncError(
                    f"{call.describe()} failed: {describe_db_error(error)}. The chain is left marked "
                    f"{INCOMPLETE!r} (or not created) and is rebuilt on the next run once the cause is fixed."
                ) from error


def sync_chain(
    connection: Any,
    spec: ChainSpec,
    *,
    replace_unmanaged: bool = False,
    log: Log | None = None,
) -> SyncPlan:
    """Read, plan and apply; returns the plan that was applied.

    If another task created one of the objects between our read and our write (ORA-27477), the
    state is read again and planned once more, so two DAG runs starting together both succeed.
    """
    for attempt in (1, 2):
        existing = read_chain(connection, spec.name)
        old_programs = [p for p in (existing.steps.values() if existing else ()) if p]
        programs = read_programs(connection, [*spec.generated_programs(), *old_programs])
        plan = plan_sync(spec, existing, programs, replace_unmanaged=replace_unmanaged)
        if log:
            log(f"chain {spec.name}: {plan.action} ({plan.reason}); {len(plan.calls)} DBMS_SCHEDULER call(s)")
        try:
            apply_plan(connection, plan, log=log)
        except ChainSyncError:
            raise
        except Exception as error:
            if attempt == 1 and ALREADY_EXISTS in error_codes(error):
                if log:
                    log(f"chain {spec.name}: created concurrently ({ALREADY_EXISTS}); reading again")
                continue
            raise ChainSyncError(f"chain {spec.name}: {describe_db_error(error)}") from error
        return plan
    raise AssertionError("unreachable")  # pragma: no cover
