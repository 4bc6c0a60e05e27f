-- Surrogate keys. Sequences (not identity columns) so the packages can take a value before the
-- insert (worker job names embed one) and the cache sizes are visible here.
--   OTASK_TASK_SEQ caches 1000: bulk task creation takes thousands of values in one call.
--   OTASK_WORKER_SEQ is part of every worker job name: OTASK_W<instance id>_<worker seq>.
--   NOORDER everywhere: on RAC, ids from two nodes may interleave; the engine orders tasks by
--   (priority, task_id) only within what one caller inserted, which one session numbers in order.
begin
  otask_install.ensure_object('SEQUENCE', 'OTASK_INSTANCE_SEQ',
    'create sequence otask_instance_seq start with 1 increment by 1 cache 20 noorder nocycle');
  otask_install.ensure_object('SEQUENCE', 'OTASK_TASK_SEQ',
    'create sequence otask_task_seq start with 1 increment by 1 cache 1000 noorder nocycle');
  otask_install.ensure_object('SEQUENCE', 'OTASK_DEFINITION_SEQ',
    'create sequence otask_definition_seq start with 1 increment by 1 cache 20 noorder nocycle');
  otask_install.ensure_object('SEQUENCE', 'OTASK_WORKER_SEQ',
    'create sequence otask_worker_seq start with 1 increment by 1 cache 100 noorder nocycle');
  otask_install.ensure_object('SEQUENCE', 'OTASK_LOG_SEQ',
    'create sequence otask_log_seq start with 1 increment by 1 cache 1000 noorder nocycle');
end;
/
