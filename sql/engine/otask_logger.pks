create or replace package otask_logger authid definer as
  -- Engine log, written to table OTASK_LOG. (The package cannot be called OTASK_LOG too: tables
  -- and packages share one namespace, so CREATE PACKAGE would fail with ORA-00955.) Every entry
  -- is written in its own autonomous transaction, so it survives a rollback of the caller, and a
  -- failure to log (full tablespace, ...) is swallowed: logging never fails the caller (DESIGN
  -- rule 13).
  procedure write(
    p_level        varchar2,
    p_message      varchar2,
    p_instance_id  number   default null,
    p_task_id      number   default null,
    p_job_name     varchar2 default null,
    p_detail       clob     default null);

  procedure info(p_message varchar2, p_instance_id number default null,
                 p_task_id number default null, p_job_name varchar2 default null,
                 p_detail clob default null);
  procedure warn(p_message varchar2, p_instance_id number default null,
                 p_task_id number default null, p_job_name varchar2 default null,
                 p_detail clob default null);
  procedure error(p_message varchar2, p_instance_id number default null,
                  p_task_id number default null, p_job_name varchar2 default null,
                  p_detail clob default null);
end otask_logger;
/
