-- OTASK_TASKS_V: one row per task with its instance's identity, timings and errors.
--   max_attempts     retries + 1: how many times the task may start.
--   elapsed_seconds  of the latest attempt (to now while RUNNING).
--   error_code/error_message/error_backtrace: the latest failed attempt (SQLCODE, error stack,
--   backtrace), or the engine's reason (ORA-20150 orphan, ORA-20151 hard stop, skip reasons).
-- Created through otask_install.ensure_view: a second install leaves the view (and what
-- depends on it) untouched unless this text changed.
begin
  otask_install.ensure_view(p_name => 'OTASK_TASKS_V', p_ddl => q'[
create or replace view otask_tasks_v as
select t.task_id,
       t.instance_id,
       i.taskspace,
       i.state as instance_state,
       t.name,
       t.group_no,
       t.priority,
       t.state,
       t.attempts,
       t.retries,
       t.retries + 1 as max_attempts,
       t.not_before,
       t.worker_job,
       t.created_at,
       t.started_at,
       t.ended_at,
       case
         when t.started_at is not null and (t.state = 'RUNNING' or t.ended_at is not null) then
           round(extract(day from (nvl(t.ended_at, systimestamp) - t.started_at)) * 86400
                 + extract(hour from (nvl(t.ended_at, systimestamp) - t.started_at)) * 3600
                 + extract(minute from (nvl(t.ended_at, systimestamp) - t.started_at)) * 60
                 + extract(second from (nvl(t.ended_at, systimestamp) - t.started_at)), 3)
       end as elapsed_seconds,
       t.error_code,
       t.error_message,
       t.error_backtrace,
       t.output_value,
       t.definition_id,
       t.sql_text,
       i.run_key,
       i.dag_id,
       i.run_id,
       i.airflow_task_id
  from otask_tasks t
  join otask_instances i on i.instance_id = t.instance_id
]');
end;
/
