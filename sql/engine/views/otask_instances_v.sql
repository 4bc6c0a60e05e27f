-- OTASK_INSTANCES_V: one row per instance with live counts by task state, workers, timings,
-- throughput and the latest error (DESIGN rule 12: watch and regulate from SQL alone).
--   paused            'Y' when RUNNING at 0 target threads (set_threads(..., 0)).
--   live_workers      workers that are STARTING (job created, not yet running) or ACTIVE.
--   elapsed_seconds   from start to end (or to now while it runs).
--   tasks_per_second  finished tasks (SUCCEEDED + FAILED) per elapsed second.
-- Each OUTER APPLY reads one instance's rows through an index (OTASK_TASKS_CLAIM_IX,
-- OTASK_WORKERS_INSTANCE_IX), so filtering on instance_id or state stays cheap.
-- Created through otask_install.ensure_view: a second install leaves the view (and what
-- depends on it) untouched unless this text changed.
begin
  otask_install.ensure_view(p_name => 'OTASK_INSTANCES_V', p_ddl => q'[
create or replace view otask_instances_v as
select i.instance_id,
       i.taskspace,
       i.state,
       case when i.state = 'RUNNING' and i.target_threads = 0 then 'Y' else 'N' end as paused,
       i.stop_on_error,
       i.stop_mode,
       i.default_retries,
       i.retry_delay_seconds,
       i.target_threads,
       w.live_workers,
       w.starting_workers,
       i.current_group,
       c.total_tasks,
       c.waiting_tasks,
       c.ready_tasks,
       c.running_tasks,
       c.succeeded_tasks,
       c.failed_tasks,
       c.skipped_tasks,
       c.stopped_tasks,
       i.run_key,
       i.dag_id,
       i.run_id,
       i.airflow_task_id,
       i.created_by,
       i.created_at,
       i.started_at,
       i.ended_at,
       case
         when i.started_at is not null then
           round(extract(day from (nvl(i.ended_at, systimestamp) - i.started_at)) * 86400
                 + extract(hour from (nvl(i.ended_at, systimestamp) - i.started_at)) * 3600
                 + extract(minute from (nvl(i.ended_at, systimestamp) - i.started_at)) * 60
                 + extract(second from (nvl(i.ended_at, systimestamp) - i.started_at)), 3)
       end as elapsed_seconds,
       case
         when i.started_at is not null then
           round((c.succeeded_tasks + c.failed_tasks)
                 / nullif(extract(day from (nvl(i.ended_at, systimestamp) - i.started_at)) * 86400
                          + extract(hour from (nvl(i.ended_at, systimestamp) - i.started_at)) * 3600
                          + extract(minute from (nvl(i.ended_at, systimestamp) - i.started_at)) * 60
                          + extract(second from (nvl(i.ended_at, systimestamp) - i.started_at)), 0), 3)
       end as tasks_per_second,
       e.last_error_task_id,
       e.last_error_code,
       e.last_error_message,
       i.close_count
  from otask_instances i
  outer apply (select count(*) as total_tasks,
                      count(case when t.state = 'WAITING' then 1 end) as waiting_tasks,
                      count(case when t.state = 'READY' then 1 end) as ready_tasks,
                      count(case when t.state = 'RUNNING' then 1 end) as running_tasks,
                      count(case when t.state = 'SUCCEEDED' then 1 end) as succeeded_tasks,
                      count(case when t.state = 'FAILED' then 1 end) as failed_tasks,
                      count(case when t.state = 'SKIPPED' then 1 end) as skipped_tasks,
                      count(case when t.state = 'STOPPED' then 1 end) as stopped_tasks
                 from otask_tasks t
                where t.instance_id = i.instance_id) c
  outer apply (select count(case when ws.state in ('STARTING', 'ACTIVE') then 1 end) as live_workers,
                      count(case when ws.state = 'STARTING' then 1 end) as starting_workers
                 from otask_workers ws
                where ws.instance_id = i.instance_id) w
  outer apply (select f.task_id as last_error_task_id,
                      f.error_code as last_error_code,
                      f.error_message as last_error_message
                 from otask_tasks f
                where f.instance_id = i.instance_id
                  and f.state = 'FAILED'
                order by f.ended_at desc, f.task_id desc
                fetch first 1 row only) e
]');
end;
/
