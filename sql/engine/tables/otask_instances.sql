-- OTASK_INSTANCES: one execution of a set of tasks, kept as history until OTASK.PURGE.
--
--   state           CREATED -> RUNNING -> SUCCEEDED | FAILED ; RUNNING -> STOPPING -> STOPPED
--                   (CREATED -> STOPPED on a stop before start; retry_failed reopens a FAILED
--                   or STOPPED instance to RUNNING).
--   target_threads  the workers wanted now (0 = paused: nothing new starts, groups stay shut).
--   requested_threads  the last non-zero target, restored by retry_failed after a stop.
--   current_group   the open group: tasks of later groups are WAITING.
--   failure_seen    'Y' once a task FAILED for good; with stop_on_error 'Y' nothing new starts
--                   from then on, with 'N' the current group finishes and later ones are skipped.
--   run_key         idempotency key (Airflow dag_id/run_id/task_id...): UNIQUE, so concurrent
--                   create_instance calls with one key get one instance (the second insert
--                   waits for the first transaction and then finds its row).
--   closed_*        counts written once by the close (the views show live counts).
--   close_count     how many times the instance was closed (retry_failed reopens it); part of
--                   the completion event so a listener can tell the closes apart.
--   last_watch_at   when the watchdog last healed it: throttles the heals of idle workers and
--                   of the schema watchdog job to one per interval (OTASK_ENGINE.HEAL).
begin
  otask_install.ensure_object('TABLE', 'OTASK_INSTANCES', q'[
    create table otask_instances (
      instance_id          number(19)                  not null,
      taskspace            varchar2(128)               not null,
      state                varchar2(16)   default 'CREATED' not null,
      stop_on_error        varchar2(1)    default 'Y'  not null,
      default_retries      number(4)      default 0    not null,
      retry_delay_seconds  number(9)      default 0    not null,
      target_threads       number(5)      default 0    not null,
      requested_threads    number(5),
      current_group        number(9),
      failure_seen         varchar2(1)    default 'N'  not null,
      first_failed_task_id number(19),
      stop_mode            varchar2(4),
      run_key              varchar2(512),
      dag_id               varchar2(250),
      run_id               varchar2(250),
      airflow_task_id      varchar2(250),
      created_by           varchar2(128)  default sys_context('USERENV', 'SESSION_USER') not null,
      created_at           timestamp(6) with time zone default systimestamp not null,
      started_at           timestamp(6) with time zone,
      ended_at             timestamp(6) with time zone,
      close_count          number(9)      default 0    not null,
      closed_total         number(9),
      closed_succeeded     number(9),
      closed_failed        number(9),
      closed_skipped       number(9),
      closed_stopped       number(9),
      last_watch_at        timestamp(6) with time zone,
      constraint otask_instances_pk primary key (instance_id),
      constraint otask_instances_run_key_uk unique (run_key),
      constraint otask_instances_ts_fk foreign key (taskspace) references otask_taskspaces (taskspace),
      constraint otask_instances_state_ck check (state in ('CREATED', 'RUNNING', 'STOPPING',
                                                          'SUCCEEDED', 'FAILED', 'STOPPED')),
      constraint otask_instances_soe_ck check (stop_on_error in ('Y', 'N')),
      constraint otask_instances_fail_ck check (failure_seen in ('Y', 'N')),
      constraint otask_instances_stop_ck check (stop_mode in ('SOFT', 'HARD')),
      constraint otask_instances_retries_ck check (default_retries between 0 and 100),
      constraint otask_instances_delay_ck check (retry_delay_seconds between 0 and 86400),
      constraint otask_instances_threads_ck check (target_threads between 0 and 1000)
    )]');
  -- Taskspace first: the foreign key lookup, the taskspace cap and "what runs in space X".
  otask_install.ensure_object('INDEX', 'OTASK_INSTANCES_TS_IX',
    'create index otask_instances_ts_ix on otask_instances (taskspace, state)');
  -- Purge and "what finished when": finished instances by end time.
  otask_install.ensure_object('INDEX', 'OTASK_INSTANCES_STATE_IX',
    'create index otask_instances_state_ix on otask_instances (state, ended_at)');
end;
/
