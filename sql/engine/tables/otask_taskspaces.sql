-- OTASK_TASKSPACES: isolated namespaces. Work in one taskspace never waits for another.
--   max_threads      cap on live workers of ALL instances of the taskspace (NULL = no cap);
--                    enforced when workers are started and by running workers (they exit
--                    after their current task while the taskspace is above its cap).
--   default_threads  target threads of an instance when start_jobs gets no p_threads.
--   job_class        DBMS_SCHEDULER job class of the workers (Resource Manager consumer group,
--                    RAC service affinity); NULL = DEFAULT_JOB_CLASS.
-- Rows are created by OTASK.SET_TASKSPACE, or on first use by CREATE_INSTANCE / ADD_DEFINITION.
begin
  otask_install.ensure_object('TABLE', 'OTASK_TASKSPACES', q'[
    create table otask_taskspaces (
      taskspace        varchar2(128)               not null,
      max_threads      number(5),
      default_threads  number(5)      default 4    not null,
      job_class        varchar2(128),
      created_at       timestamp(6) with time zone default systimestamp not null,
      updated_at       timestamp(6) with time zone,
      constraint otask_taskspaces_pk primary key (taskspace),
      constraint otask_taskspaces_max_ck check (max_threads between 0 and 1000),
      constraint otask_taskspaces_def_ck check (default_threads between 0 and 1000)
    )]');
end;
/
