-- OTASK_LOG: what the engine did and why (worker start/exit, group opened, orphan found, stop,
-- close, failed attempts). Written by OTASK_LOGGER in autonomous transactions, so an entry stays
-- even when the caller rolls back, and logging never fails the caller. Aged by OTASK.PURGE.
-- No foreign key to the instance: log rows outlive nothing and must never block a purge.
begin
  otask_install.ensure_object('TABLE', 'OTASK_LOG', q'[
    create table otask_log (
      log_id        number(19)                  not null,
      logged_at     timestamp(6) with time zone default systimestamp not null,
      log_level     varchar2(5)                 not null,
      instance_id   number(19),
      task_id       number(19),
      job_name      varchar2(128),
      message       varchar2(4000),
      detail        clob,
      session_user  varchar2(128)  default sys_context('USERENV', 'SESSION_USER'),
      constraint otask_log_pk primary key (log_id),
      constraint otask_log_level_ck check (log_level in ('DEBUG', 'INFO', 'WARN', 'ERROR'))
    )]');
  otask_install.ensure_object('INDEX', 'OTASK_LOG_INSTANCE_IX',
    'create index otask_log_instance_ix on otask_log (instance_id, log_id)');
  otask_install.ensure_object('INDEX', 'OTASK_LOG_TIME_IX',
    'create index otask_log_time_ix on otask_log (logged_at)');
end;
/
