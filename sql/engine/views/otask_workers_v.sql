-- OTASK_WORKERS_V: the engine's worker jobs (OTASK_W<instance>_<n>) with the task each one runs.
-- To see a worker in the database, join USER_SCHEDULER_RUNNING_JOBS on JOB_NAME as the owner
-- (the session to kill is SESSION_ID there; DB_INSTANCE is the RAC instance it runs on).
-- Created through otask_install.ensure_view: a second install leaves the view (and what
-- depends on it) untouched unless this text changed.
begin
  otask_install.ensure_view(p_name => 'OTASK_WORKERS_V', p_ddl => q'[
create or replace view otask_workers_v as
select w.job_name,
       w.instance_id,
       w.taskspace,
       w.state,
       w.created_at,
       w.started_at,
       w.ended_at,
       w.session_id,
       w.db_instance,
       r.running_task_id,
       w.exit_reason
  from otask_workers w
  outer apply (select t.task_id as running_task_id
                 from otask_tasks t
                where t.instance_id = w.instance_id
                  and t.state = 'RUNNING'
                  and t.worker_job = w.job_name
                fetch first 1 row only) r
]');
end;
/
