create or replace package body otask_logger as

  procedure write(
    p_level        varchar2,
    p_message      varchar2,
    p_instance_id  number   default null,
    p_task_id      number   default null,
    p_job_name     varchar2 default null,
    p_detail       clob     default null) is
    pragma autonomous_transaction;
  begin
    -- E-14: cut in BYTES (the columns are VARCHAR2(n BYTE)): a long multibyte message cut at
    -- 4000 characters would fail the insert, and logging swallows its own errors.
    insert into otask_log (log_id, log_level, instance_id, task_id, job_name, message, detail)
    values (otask_log_seq.nextval,
            case when p_level in ('DEBUG', 'INFO', 'WARN', 'ERROR') then p_level else 'INFO' end,
            p_instance_id, p_task_id, substrb(p_job_name, 1, 128), substrb(p_message, 1, 4000),
            p_detail);
    commit;
  exception
    when others then
      -- Rule 13: whatever went wrong here must not reach the caller (a worker recording a task,
      -- a close). The autonomous transaction has to end before returning, hence the rollback.
      begin
        rollback;
      exception
        when others then null;
      end;
  end write;

  procedure info(p_message varchar2, p_instance_id number default null,
                 p_task_id number default null, p_job_name varchar2 default null,
                 p_detail clob default null) is
  begin
    write('INFO', p_message, p_instance_id, p_task_id, p_job_name, p_detail);
  end info;

  procedure warn(p_message varchar2, p_instance_id number default null,
                 p_task_id number default null, p_job_name varchar2 default null,
                 p_detail clob default null) is
  begin
    write('WARN', p_message, p_instance_id, p_task_id, p_job_name, p_detail);
  end warn;

  procedure error(p_message varchar2, p_instance_id number default null,
                  p_task_id number default null, p_job_name varchar2 default null,
                  p_detail clob default null) is
  begin
    write('ERROR', p_message, p_instance_id, p_task_id, p_job_name, p_detail);
  end error;
end otask_logger;
/
