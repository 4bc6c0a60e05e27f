create or replace package otask_worker authid definer as
  -- The worker: the body of every OTASK_W<instance>_<n> scheduler job. Not granted to anybody;
  -- only the engine's own jobs call it.
  --
  -- Loop: claim a READY task (FOR UPDATE SKIP LOCKED, priority then id, one row), check that
  -- this worker is still wanted, COMMIT the RUNNING state, run the task under a savepoint,
  -- record SUCCEEDED / READY (retry) / FAILED with the error, COMMIT; when nothing is
  -- claimable, wait, open the next group, or close the instance; leave when the instance has
  -- more live workers than its target (or its taskspace more than its cap), is stopped or is
  -- closed, or when DBMS_SCHEDULER.STOP_JOB interrupts its task (ORA-01013: the attempt is
  -- recorded, then the worker leaves). Every few seconds the worker also acts as the watchdog of
  -- its instance (rule 7).
  --
  -- What a task may do to the worker: its own COMMIT or DDL commits the worker's transaction,
  -- which is why RUNNING is committed before the task starts and the outcome is written after
  -- it. A task that commits and then fails keeps what it committed (the savepoint is gone);
  -- everything after its last commit is rolled back. ALTER SESSION SET CURRENT_SCHEMA in a
  -- task is undone before the next task; other session settings a task changes persist for
  -- the later tasks of the same worker (docs/engine.md).
  procedure run(p_instance_id number, p_job_name varchar2);
end otask_worker;
/
