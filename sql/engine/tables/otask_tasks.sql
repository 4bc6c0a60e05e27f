-- OTASK_TASKS: the tasks of every instance (the claim table: the hot path of the engine).
--
--   state        WAITING (group not open) | READY | RUNNING | SUCCEEDED | FAILED | SKIPPED | STOPPED
--   retries      this task's retry budget (from add_task / the definition / the instance default);
--                attempts counts starts, so a task may start at most retries + 1 times.
--   not_before   a retried task is READY but not claimable before this time (retry delay).
--   worker_job   the scheduler job (OTASK_W<instance>_<n>) that runs / ran the latest attempt.
--   error_*      SQLCODE, SQLERRM (full error stack) and backtrace of the latest failed attempt,
--                or the engine's reason (orphan ORA-20150, hard stop ORA-20151, skip reason).
--   output_value what the task assigned to the out bind :otask_output (seed 000's :vvlog).
--
-- The claim query reads READY tasks of one instance in (priority, task_id) order and locks the
-- first one it can (FOR UPDATE SKIP LOCKED): OTASK_TASKS_CLAIM_IX serves it without a sort, and
-- also every "count by state" / "exists RUNNING" probe of the views and the workers. It leads
-- with instance_id, so it also covers the foreign key (no table lock on delete of an instance).
begin
  otask_install.ensure_object('TABLE', 'OTASK_TASKS', q'[
    create table otask_tasks (
      task_id          number(19)                  not null,
      instance_id      number(19)                  not null,
      definition_id    number(19),
      name             varchar2(256),
      sql_text         clob                        not null,
      group_no         number(9)      default 1    not null,
      priority         number(9)      default 0    not null,
      state            varchar2(16)   default 'WAITING' not null,
      retries          number(4)      default 0    not null,
      attempts         number(4)      default 0    not null,
      not_before       timestamp(6) with time zone,
      worker_job       varchar2(128),
      created_at       timestamp(6) with time zone default systimestamp not null,
      started_at       timestamp(6) with time zone,
      ended_at         timestamp(6) with time zone,
      error_code       number(10),
      error_message    varchar2(4000),
      error_backtrace  varchar2(4000),
      output_value     varchar2(4000),
      constraint otask_tasks_pk primary key (task_id),
      constraint otask_tasks_instance_fk foreign key (instance_id)
        references otask_instances (instance_id) on delete cascade,
      constraint otask_tasks_state_ck check (state in ('WAITING', 'READY', 'RUNNING', 'SUCCEEDED',
                                                      'FAILED', 'SKIPPED', 'STOPPED')),
      constraint otask_tasks_group_ck check (group_no >= 0),
      constraint otask_tasks_retries_ck check (retries between 0 and 100)
    )]');
  otask_install.ensure_object('INDEX', 'OTASK_TASKS_CLAIM_IX',
    'create index otask_tasks_claim_ix on otask_tasks (instance_id, state, priority, task_id)');
end;
/
