-- OTASK_WORKERS: the engine's register of its scheduler jobs, one row per worker job.
--
--   state  STARTING  job created, not yet registered by its own session (the scheduler's start
--                    delay): counted as a live worker, so a thread change never overshoots;
--          ACTIVE    the job runs its claim/run/record loop;
--          EXITED    the worker left by itself (exit_reason says why);
--          LOST      the scheduler no longer runs the job although the worker never exited
--                    (killed session, STOP_JOB by hand, database restart): its RUNNING task is
--                    an orphan (rule 7);
--          STOPPED   stopped by OTASK.STOP(p_mode => 'HARD').
-- The job name is generated (OTASK_W<instance id>_<OTASK_WORKER_SEQ>) and is the key: every
-- scheduler call of the engine names exactly these jobs, never a LIKE pattern.
begin
  otask_install.ensure_object('TABLE', 'OTASK_WORKERS', q'[
    create table otask_workers (
      job_name     varchar2(128)               not null,
      instance_id  number(19)                  not null,
      taskspace    varchar2(128)               not null,
      state        varchar2(16)   default 'STARTING' not null,
      created_at   timestamp(6) with time zone default systimestamp not null,
      started_at   timestamp(6) with time zone,
      ended_at     timestamp(6) with time zone,
      session_id   number,
      db_instance  number,
      exit_reason  varchar2(4000),
      constraint otask_workers_pk primary key (job_name),
      constraint otask_workers_instance_fk foreign key (instance_id)
        references otask_instances (instance_id) on delete cascade,
      constraint otask_workers_state_ck check (state in ('STARTING', 'ACTIVE', 'EXITED', 'LOST', 'STOPPED'))
    )]');
  -- Live workers of an instance (thread regulation, every loop of every worker) + the FK.
  otask_install.ensure_object('INDEX', 'OTASK_WORKERS_INSTANCE_IX',
    'create index otask_workers_instance_ix on otask_workers (instance_id, state)');
  -- Live workers of a taskspace (the taskspace cap).
  otask_install.ensure_object('INDEX', 'OTASK_WORKERS_TS_IX',
    'create index otask_workers_ts_ix on otask_workers (taskspace, state)');
end;
/
