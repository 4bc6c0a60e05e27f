"""The OTASK API on a real Oracle: idempotent creation, transactions, task generation, the
completion event, logging, purge and every documented error code (DESIGN rules 3, 10, 11, 13, 14).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .engine_support import (
    NOOP,
    Engine,
    open_engine,
    ora_code,
    ora_message,
    owner_name,
    sleep_sql,
    wait_until,
)


@pytest.fixture(name="engine")
def engine_fixture(engine_conn: Any) -> Iterator[Engine]:
    with open_engine(engine_conn) as helper:
        yield helper


@pytest.fixture(name="owner")
def owner_fixture(engine_conn: Any) -> str:
    return owner_name(engine_conn)


def expect_error(code: int, call: Callable[[], Any], *fragments: str) -> str:
    """Run ``call``; it must fail with ORA-<code> and a message containing every fragment."""
    import oracledb

    with pytest.raises(oracledb.DatabaseError) as caught:
        call()
    assert ora_code(caught.value) == code, ora_message(caught.value)
    message = ora_message(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ---------------------------------------------------------------------------------------------
# Creation, run keys, transactions
# ---------------------------------------------------------------------------------------------


def test_create_instance_twice_with_one_run_key_returns_one_instance(engine: Engine) -> None:
    taskspace = engine.taskspace("KEY")
    run_key = f"dag.run.{secrets.token_hex(6)}"
    first = engine.create_instance(taskspace, run_key=run_key, dag_id="dag", run_id="run", task_id="t")
    engine.add_task(first, NOOP)
    engine.start(first, 1)
    second = engine.create_instance(taskspace, run_key=run_key, dag_id="dag", run_id="run", task_id="t")
    assert second == first
    with engine.conn.cursor() as cursor:
        cursor.execute("select count(*) from otask_instances where run_key = :k", k=run_key)
        assert cursor.fetchone() == (1,)
    assert engine.wait_closed(first) == "SUCCEEDED"
    assert len(engine.tasks(first)) == 1  # the second call added nothing
    expect_error(
        20107,
        lambda: engine.create_instance(engine.taskspace("OTHER"), run_key=run_key),
        str(first),
        taskspace,
        "Use another run key",
    )


def test_concurrent_create_instance_with_one_run_key_gives_one_instance(engine: Engine, connect: Any) -> None:
    """The second caller waits on the unique run key until the first commits, then gets its id."""
    taskspace = engine.taskspace("RACE")
    run_key = f"race.{secrets.token_hex(6)}"
    first_conn, second_conn = connect(), connect()
    params = {"p_taskspace": taskspace, "p_run_key": run_key}
    with first_conn.cursor() as cursor:
        first = int(cursor.callfunc("otask.create_instance", int, keyword_parameters=params))
    engine.instances.append(first)
    result: dict[str, Any] = {}

    def second_caller() -> None:
        try:
            with second_conn.cursor() as cursor:
                result["id"] = int(cursor.callfunc("otask.create_instance", int, keyword_parameters=params))
            second_conn.commit()
        except BaseException as error:  # reported below
            result["error"] = error

    thread = threading.Thread(target=second_caller)
    thread.start()
    time.sleep(1.5)
    assert thread.is_alive(), f"the second create_instance did not wait: {result}"
    first_conn.commit()
    thread.join(timeout=30)
    assert "error" not in result, result
    assert result["id"] == first
    with engine.conn.cursor() as cursor:
        cursor.execute("select count(*) from otask_instances where run_key = :k", k=run_key)
        assert cursor.fetchone() == (1,)


def test_building_calls_leave_the_transaction_to_the_caller(engine: Engine, connect: Any) -> None:
    """create_instance/add_task do not commit (rule 3: nothing is committed behind the caller's
    back); start_jobs commits the whole set at once."""
    taskspace = engine.taskspace("TXN")
    observer = connect()
    instance_id = engine.create_instance(taskspace)
    engine.add_task(instance_id, NOOP)
    with observer.cursor() as cursor:
        cursor.execute("select count(*) from otask_instances where instance_id = :i", i=instance_id)
        assert cursor.fetchone() == (0,)  # not visible to others: not committed
    engine.conn.rollback()
    with engine.conn.cursor() as cursor:
        cursor.execute("select count(*) from otask_instances where instance_id = :i", i=instance_id)
        assert cursor.fetchone() == (0,)

    instance_id = engine.create_instance(taskspace)
    engine.add_task(instance_id, NOOP)
    engine.start(instance_id, 1)
    with observer.cursor() as cursor:
        cursor.execute("select count(*) from otask_tasks where instance_id = :i", i=instance_id)
        assert cursor.fetchone() == (1,)
    assert engine.wait_closed(instance_id) == "SUCCEEDED"


def test_an_instance_without_tasks_closes_at_once(engine: Engine) -> None:
    instance_id = engine.run(engine.taskspace("EMPTY"), [], threads=4)
    assert engine.state(instance_id) == "SUCCEEDED"
    assert engine.workers(instance_id) == []
    assert [(e["state"], e["total_tasks"]) for e in engine.events(instance_id)] == [("SUCCEEDED", 0)]


# ---------------------------------------------------------------------------------------------
# Task generation (rule 10)
# ---------------------------------------------------------------------------------------------


def test_source_query_values_are_bound_with_quotes_and_nulls(engine: Engine) -> None:
    taskspace = engine.taskspace("SRC")
    source = (
        "select q'[O'Brien]' as name, cast(null as varchar2(10)) as note, 1 as n from dual union all "
        "select 'semi;colon --dash', 'x''y', 2 from dual union all "
        "select ':p1 '' or 1=1 --', null, 3 from dual"
    )
    template = (
        "begin :otask_output := nvl(:p1, '<null>') || '|' || nvl(:p2, '<null>') || '|' "
        "|| :n || '|' || :name; end;"
    )
    engine.add_definition(taskspace, "quotes", template, source_query=source)
    engine.add_definition(taskspace, "empty", NOOP, source_query="select 1 as a from dual where 1 = 0")
    engine.add_definition(taskspace, "single", "begin :otask_output := 'single'; end;")
    engine.add_definition(taskspace, "off", NOOP, enabled="N")
    instance_id = engine.create_instance(taskspace, from_definitions="Y")
    engine.start(instance_id, 2)
    assert engine.wait_closed(instance_id) == "SUCCEEDED"

    rows = engine.tasks(instance_id)
    assert [r["name"] for r in rows] == ["quotes#1", "quotes#2", "quotes#3", "single"]  # no doubled row
    assert [r["output_value"] for r in rows] == [
        "O'Brien|<null>|1|O'Brien",
        "semi;colon --dash|x'y|2|semi;colon --dash",
        ":p1 ' or 1=1 --|<null>|3|:p1 ' or 1=1 --",
        "single",
    ]
    # The values were bound: every generated task runs the template text unchanged.
    assert all(r["sql_text"] == template for r in rows[:3])
    with engine.conn.cursor() as cursor:
        cursor.execute(
            "select b.bind_no, b.bind_name, b.bind_value from otask_task_binds b "
            "where b.task_id = :t order by b.bind_no",
            t=rows[0]["task_id"],
        )
        assert cursor.fetchall() == [(1, "NAME", "O'Brien"), (2, "NOTE", None), (3, "N", "1")]


def test_source_query_aliases_shaped_like_positions_do_not_clash(engine: Engine) -> None:
    """An alias P2 on column 1 is not bound by name: :p1/:p2 stay the values of columns 1/2."""
    taskspace = engine.taskspace("PNAME")
    engine.add_definition(
        taskspace,
        "swap",
        "begin :otask_output := :p1 || '|' || :p2 || '|' || :other; end;",
        source_query="select 'first' as p2, 'second' as p1, 'x' as other from dual",
    )
    instance_id = engine.create_instance(taskspace, from_definitions="Y")
    engine.start(instance_id, 1)
    assert engine.wait_closed(instance_id) == "SUCCEEDED"
    (row,) = engine.tasks(instance_id)
    assert row["output_value"] == "first|second|x"
    with engine.conn.cursor() as cursor:
        cursor.execute(
            "select bind_no, bind_name from otask_task_binds where task_id = :t order by bind_no",
            t=row["task_id"],
        )
        assert cursor.fetchall() == [(1, None), (2, None), (3, "OTHER")]


def test_start_jobs_keeps_the_target_set_while_created(engine: Engine) -> None:
    """set_threads on a CREATED instance, then start_jobs without p_threads: that target wins
    over the taskspace default (4)."""
    taskspace = engine.taskspace("PRESET")
    instance_id = engine.create_instance(taskspace)
    engine.add_tasks(instance_id, [{"sql": sleep_sql(0.5)} for _ in range(6)])
    engine.set_threads(instance_id, 2)  # commits
    engine.start(instance_id, None)
    view = engine.instance(instance_id)
    assert (view["state"], view["target_threads"]) == ("RUNNING", 2)
    assert len(engine.workers(instance_id)) == 2
    assert engine.wait_closed(instance_id) == "SUCCEEDED"
    assert len(engine.workers(instance_id)) == 2


def test_bulk_add_tasks_json_with_thousands_of_tasks(engine: Engine) -> None:
    taskspace = engine.taskspace("BULK")
    instance_id = engine.create_instance(taskspace)
    tasks = [
        {
            "sql": "begin :otask_output := :v; end;",
            "name": f"n{i}",
            "priority": i % 3,
            "binds": {"v": f"it's {i}"},
        }
        for i in range(2000)
    ]
    started = time.monotonic()
    assert engine.add_tasks(instance_id, tasks) == 2000
    assert time.monotonic() - started < 60
    engine.start(instance_id, 8)
    assert engine.wait_closed(instance_id, timeout=240) == "SUCCEEDED"
    rows = engine.tasks(instance_id)
    assert len(rows) == 2000
    assert {r["output_value"] for r in rows} == {f"it's {i}" for i in range(2000)}
    assert all(r["attempts"] == 1 for r in rows)


def test_identifiers_from_callers_are_checked(engine: Engine) -> None:
    """Rule 10: taskspace, job class and bind names go through DBMS_ASSERT; nothing is created."""
    for bad in ("bad name", "X; drop table otask_tasks", '"Quoted"', "a" * 129):
        expect_error(20103, lambda b=bad: engine.create_instance(b), "not a valid name", "simple SQL name")
    instance_id = engine.create_instance(engine.taskspace("IDENT"))
    expect_error(
        20103, lambda: engine.add_task(instance_id, NOOP, binds={"bad key": 1}), "bad key", "simple SQL name"
    )
    expect_error(20103, lambda: engine.add_task(instance_id, NOOP, binds={"otask_attempt": 1}), "reserved")
    expect_error(20103, lambda: engine.set_taskspace("IT_X", job_class="a.b.c"), "job class")
    assert engine.tasks(instance_id) == []


# ---------------------------------------------------------------------------------------------
# Completion event (rule 11) and logging (rule 13)
# ---------------------------------------------------------------------------------------------


def _dequeue(conn: Any, instance_id: int) -> dict[str, Any]:
    with conn.cursor() as cursor:
        state, total, ident = cursor.var(str), cursor.var(int), cursor.var(int)
        cursor.execute(
            """
            declare
              l_options dbms_aq.dequeue_options_t;
              l_props   dbms_aq.message_properties_t;
              l_event   otask_event_t;
              l_msgid   raw(16);
            begin
              l_options.consumer_name := 'OTASK_WATCH';
              l_options.correlation   := :corr;
              l_options.wait          := dbms_aq.no_wait;
              l_options.navigation    := dbms_aq.first_message;
              dbms_aq.dequeue(queue_name => 'OTASK_EVENTS', dequeue_options => l_options,
                              message_properties => l_props, payload => l_event, msgid => l_msgid);
              :state := l_event.state;
              :total := l_event.total_tasks;
              :ident := l_event.instance_id;
            end;""",
            corr=str(instance_id),
            state=state,
            total=total,
            ident=ident,
        )
    conn.commit()
    return {"state": state.getvalue(), "total": total.getvalue(), "instance_id": ident.getvalue()}


def test_completion_event_is_enqueued_exactly_once(engine: Engine) -> None:
    """Rule 11: eight workers finish together; one of them closes the instance, once, and one
    event is enqueued in that transaction (none before the close)."""
    taskspace = engine.taskspace("EVT")
    slow = engine.run(taskspace, [{"sql": sleep_sql(6)}], threads=1)
    # E-36: checked while its task really runs, just before it ends: nothing is announced
    # before the close.
    engine.wait_view(slow, lambda v: v["running_tasks"] == 1, 30, "slow task running")
    wait_until(
        lambda: (t := engine.tasks(slow)[0])["elapsed_seconds"] is not None and t["elapsed_seconds"] >= 4,
        30,
        what="slow task near its end",
    )
    assert engine.instance(slow)["state"] == "RUNNING"
    assert engine.events(slow) == []

    instance_id = engine.run(taskspace, [{"sql": sleep_sql(0.3)} for _ in range(16)], threads=8)
    assert engine.wait_closed(instance_id) == "SUCCEEDED"
    for _ in range(3):
        assert engine.state(instance_id) == "SUCCEEDED"  # status reads never close twice
    view = engine.instance(instance_id)
    assert view["close_count"] == 1
    events = engine.events(instance_id)
    assert len(events) == 1, events
    assert (events[0]["state"], events[0]["total_tasks"], events[0]["close_count"]) == ("SUCCEEDED", 16, 1)
    assert events[0]["msg_state"] == "READY"
    assert events[0]["expiration"] == 86400

    assert _dequeue(engine.conn, instance_id) == {
        "state": "SUCCEEDED",
        "total": 16,
        "instance_id": instance_id,
    }
    expect_error(25228, lambda: _dequeue(engine.conn, instance_id))  # no second message
    assert engine.wait_closed(slow) == "SUCCEEDED"


def test_logging_is_autonomous_and_never_fails_the_caller(engine: Engine) -> None:
    """Rule 13: a log entry survives the caller's rollback; a failing log write is swallowed."""
    tag = secrets.token_hex(8)
    instance_id = engine.create_instance(engine.taskspace("LOG"))  # uncommitted work of the caller
    with engine.conn.cursor() as cursor:
        # instance_id 1e25 does not fit NUMBER(19): the log insert fails inside OTASK_LOGGER.
        cursor.execute(
            "begin otask_logger.write('INFO', 'it-broken ' || :t, p_instance_id => 1e25); end;", t=tag
        )
        cursor.execute("begin otask_logger.warn('it-kept ' || :t); end;", t=tag)
        cursor.execute("select count(*) from otask_instances where instance_id = :i", i=instance_id)
        assert cursor.fetchone() == (1,)  # the caller's transaction is intact
    engine.conn.rollback()
    with engine.conn.cursor() as cursor:
        cursor.execute("select message from otask_log where message like '%' || :t order by log_id", t=tag)
        assert cursor.fetchall() == [(f"it-kept {tag}",)]


# ---------------------------------------------------------------------------------------------
# Purge
# ---------------------------------------------------------------------------------------------


def test_purge_removes_finished_history_only(engine: Engine) -> None:
    taskspace = engine.taskspace("PURGE")
    done = engine.run(taskspace, [{"sql": NOOP, "binds": {"a": 1}}], threads=1)
    assert engine.wait_closed(done) == "SUCCEEDED"
    paused = engine.run(taskspace, [{"sql": NOOP}], threads=0)
    # A submitted instance between its commit and start_jobs (the provider's submit_batch):
    # even purge(0) must leave it, or the start_jobs that follows finds nothing.
    submitted = engine.create_instance(taskspace)
    engine.add_task(submitted, NOOP)
    engine.conn.commit()
    with engine.conn.cursor() as cursor:
        # E-36: nothing of this test is a day old; older instances of other runs may be purged.
        cursor.callfunc("otask.purge", int, keyword_parameters={"p_older_than": 1})
        cursor.execute("select count(*) from otask_instances where instance_id = :i", i=done)
        assert cursor.fetchone() == (1,)  # younger than a day: kept
        purged = int(cursor.callfunc("otask.purge", int, keyword_parameters={"p_older_than": 0}))
        assert purged >= 1
        for table in ("otask_instances", "otask_tasks", "otask_workers"):
            cursor.execute(f"select count(*) from {table} where instance_id = :i", i=done)
            assert cursor.fetchone() == (0,), table
        cursor.execute("select count(*) from otask_instances where instance_id = :i", i=paused)
        assert cursor.fetchone() == (1,)  # RUNNING (paused): never purged
        cursor.execute("select count(*) from otask_log where instance_id = :i", i=paused)
        assert cursor.fetchone()[0] > 0  # the log of an unfinished instance stays
        cursor.execute("select count(*) from otask_instances where instance_id = :i", i=submitted)
        assert cursor.fetchone() == (1,)  # CREATED less than an hour ago: kept
    engine.start(submitted, 1)
    assert engine.wait_closed(submitted) == "SUCCEEDED"
    expect_error(20100, lambda: engine.state(done), str(done))
    expect_error(
        20102,
        lambda: engine.conn.cursor().callproc(
            "otask.purge_instance", keyword_parameters={"p_instance_id": paused}
        ),
        str(paused),
        "stop it first",
    )


# ---------------------------------------------------------------------------------------------
# Every error code (rule 14): the message names the object and the fix; nothing changes
# ---------------------------------------------------------------------------------------------


def test_error_codes_name_the_object_and_the_fix(engine: Engine) -> None:
    taskspace = engine.taskspace("ERR")
    finished = engine.run(taskspace, [{"sql": NOOP}], threads=1)
    assert engine.wait_closed(finished) == "SUCCEEDED"
    created = engine.create_instance(taskspace, commit=True)
    engine.add_task(created, NOOP)
    engine.conn.commit()

    # 20100 unknown instance
    expect_error(
        20100, lambda: engine.set_threads(10**12, 1), "1000000000000", "does not exist", "OTASK_INSTANCES_V"
    )
    expect_error(20100, lambda: engine.state(-1), "does not exist")
    # 20101 bad thread count; the target is unchanged afterwards
    for threads in (-1, 1.5, 1001):
        expect_error(
            20101, lambda t=threads: engine.set_threads(created, t), "p_threads", str(created), "0 to 1000"
        )
    expect_error(20101, lambda: engine.set_taskspace(taskspace, max_threads=-2), "p_max_threads", taskspace)
    assert engine.instance(created)["target_threads"] == 0
    # 20102 bad state transition
    expect_error(20102, lambda: engine.start(finished, 2), str(finished), "SUCCEEDED", "RETRY_FAILED")
    expect_error(20102, lambda: engine.add_task(finished, NOOP), str(finished), "Create a new instance")
    expect_error(20102, lambda: engine.set_threads(finished, 2), str(finished), "CREATED or RUNNING")
    expect_error(20102, lambda: engine.retry_failed(created), str(created), "START_JOBS")
    expect_error(
        20102,
        lambda: engine.conn.cursor().callproc(
            "otask.drop_taskspace", keyword_parameters={"p_taskspace": taskspace}
        ),
        taskspace,
        "purge the instances",
    )
    # 20105 invalid argument
    expect_error(20105, lambda: engine.stop(created, "NOW"), "p_mode", str(created), "'SOFT'")
    expect_error(20105, lambda: engine.stop(created, "IMMEDIATELY_PLEASE"), "p_mode", "'HARD'")
    expect_error(
        20105, lambda: engine.create_instance(taskspace, stop_on_error="X"), "p_stop_on_error", "'Y' or 'N'"
    )
    expect_error(20105, lambda: engine.create_instance(taskspace, retries=101), "p_retries", "0 to 100")
    expect_error(20105, lambda: engine.add_task(created, "   "), "p_sql", "empty")
    expect_error(
        20105,
        lambda: engine.add_definition(taskspace, "bad", NOOP, source_query="delete from dual"),
        "p_source_query",
        "SELECT or WITH",
    )
    expect_error(
        20105,
        lambda: engine.conn.cursor().callfunc("otask.purge", int, keyword_parameters={"p_older_than": -1}),
        "p_older_than",
        "days",
    )
    # 20106 unknown job class
    expect_error(
        20106,
        lambda: engine.set_taskspace(taskspace, job_class="OTASK_NO_SUCH_CLASS"),
        "SYS.OTASK_NO_SUCH_CLASS",
        "GRANT EXECUTE",
    )
    # 20107 run key conflict: see test_create_instance_twice_with_one_run_key_returns_one_instance
    # 20108 source query failed: the instance is not created
    failing_space = engine.taskspace("SRCERR")
    definition = engine.add_definition(
        failing_space, "divide", NOOP, source_query="select 1/0 as x from dual"
    )
    expect_error(
        20108,
        lambda: engine.create_instance(failing_space, from_definitions="Y"),
        str(definition),
        "divide",
        "ORA-01476",
        "ENABLE_DEFINITION",
    )
    with engine.conn.cursor() as cursor:
        cursor.execute("select count(*) from otask_instances where taskspace = :t", t=failing_space)
        assert cursor.fetchone() == (0,)
    engine.conn.rollback()
    # 20109 invalid JSON: all or nothing
    for document, fragment in (
        ("not json", "not valid JSON"),
        ("{}", "not a JSON array"),
        ("[1]", "p_tasks[0]"),
        ('[{"sql": "begin null; end;"}, {"sql": "begin null; end;", "grp": 2}]', 'unknown key "grp"'),
        ('[{"name": "no sql"}]', '"sql" is missing'),
        ('[{"sql": "begin null; end;", "binds": [1]}]', '"binds" must be a JSON object'),
    ):
        expect_error(
            20109, lambda d=document: engine.add_tasks(created, d), fragment, "Expected a JSON array"
        )
    for binds, fragment in (("[x", "not valid JSON"), ("[1]", '"binds" must be a JSON object')):
        expect_error(
            20109,
            lambda b=binds: engine.conn.cursor().callfunc(
                "otask.add_task",
                int,
                keyword_parameters={"p_instance_id": created, "p_sql": NOOP, "p_binds": b},
            ),
            "p_binds",
            fragment,
        )
    assert len(engine.tasks(created)) == 1  # only the task added in the setup: all or nothing
    # 20110 unknown definition
    expect_error(
        20110,
        lambda: engine.conn.cursor().callproc(
            "otask.remove_definition", keyword_parameters={"p_definition_id": -5}
        ),
        "-5",
        "ADD_DEFINITION",
    )
    expect_error(
        20110,
        lambda: engine.conn.cursor().callproc(
            "otask.enable_definition", keyword_parameters={"p_definition_id": -5, "p_enabled": "N"}
        ),
        "-5",
    )
    # 20111 unknown taskspace
    missing = f"NO_SUCH_{secrets.token_hex(4).upper()}"
    expect_error(
        20111,
        lambda: engine.conn.cursor().callproc(
            "otask.drop_taskspace", keyword_parameters={"p_taskspace": missing}
        ),
        missing,
    )


def test_missing_create_job_privilege_is_named_and_nothing_changes(
    engine: Engine, admin_conn: Any, owner: str, connect: Any
) -> None:
    """20104: without CREATE JOB, start_jobs says which GRANT fixes it; the caller's transaction is
    neither committed nor lost, no worker row or job exists (rule 3)."""
    with engine.conn.cursor() as cursor:
        cursor.execute("select count(*) from user_sys_privs where privilege = 'CREATE ANY JOB'")
        if cursor.fetchone()[0]:
            pytest.skip(f"{owner} holds CREATE ANY JOB: revoking CREATE JOB would not remove the privilege")
    taskspace = engine.taskspace("PRIV")
    with admin_conn.cursor() as cursor:
        cursor.execute(f"revoke create job from {owner}")  # owner: the connected user name
    try:
        instance_id = engine.create_instance(taskspace)
        engine.add_task(instance_id, NOOP)
        expect_error(
            20104, lambda: engine.start(instance_id, 2), "CREATE JOB", f"GRANT CREATE JOB TO {owner}"
        )
        with engine.conn.cursor() as cursor:
            cursor.execute("select state from otask_instances where instance_id = :i", i=instance_id)
            assert cursor.fetchone() == ("CREATED",)
            cursor.execute("select count(*) from otask_workers where instance_id = :i", i=instance_id)
            assert cursor.fetchone() == (0,)
            cursor.execute(
                "select count(*) from user_scheduler_jobs where job_name like :p escape '\\'",
                p=f"OTASK\\_W{instance_id}\\_%",
            )
            assert cursor.fetchone() == (0,)
        with connect().cursor() as cursor:  # not committed by the failed call
            cursor.execute("select count(*) from otask_instances where instance_id = :i", i=instance_id)
            assert cursor.fetchone() == (0,)
        engine.conn.rollback()
    finally:
        with admin_conn.cursor() as cursor:
            cursor.execute(f"grant create job to {owner}")


def test_job_class_per_taskspace(engine: Engine, admin_conn: Any, owner: str) -> None:
    """Workers run in the taskspace's job class (Resource Manager / RAC service affinity); a class
    the owner may not use is refused with 20106 before anything starts."""
    job_class = f"OTASK_IT_JC_{secrets.token_hex(3).upper()}"
    with admin_conn.cursor() as cursor:
        cursor.execute(
            "begin dbms_scheduler.create_job_class(job_class_name => :c, "
            "comments => 'oracle-tasks integration test'); end;",
            c=job_class,
        )
    try:
        taskspace = engine.taskspace("JC")
        with engine.conn.cursor() as cursor:
            cursor.execute(
                "select count(*) from all_scheduler_job_classes where job_class_name = :c", c=job_class
            )
            visible_without_grant = cursor.fetchone()[0] > 0
        if not visible_without_grant:  # (an owner with EXECUTE ANY CLASS may use every class)
            expect_error(
                20106,
                lambda: engine.set_taskspace(taskspace, job_class=job_class),
                job_class,
                f"GRANT EXECUTE ON SYS.{job_class} TO {owner}",
            )
        with admin_conn.cursor() as cursor:
            cursor.execute(f"grant execute on sys.{job_class} to {owner}")
        engine.set_taskspace(taskspace, job_class=job_class.lower())
        instance_id = engine.run(taskspace, [{"sql": sleep_sql(1.5)} for _ in range(2)], threads=2)
        with engine.conn.cursor() as cursor:
            cursor.execute(
                "select j.job_class from user_scheduler_jobs j "
                "join otask_workers w on w.job_name = j.job_name "
                "where w.instance_id = :i",
                i=instance_id,
            )
            classes = {row[0] for row in cursor.fetchall()}
        assert classes == {job_class}
        assert engine.wait_closed(instance_id) == "SUCCEEDED"
    finally:
        engine.cleanup()
        engine.instances.clear()
        engine.taskspaces.clear()
        with admin_conn.cursor() as cursor:
            cursor.execute(
                "begin dbms_scheduler.drop_job_class(job_class_name => :c, force => true); end;", c=job_class
            )
