-- OTASK_TASK_BINDS: bind values of a task, bound at run time with DBMS_SQL (never pasted into
-- the SQL text). bind_no gives the positional name :p<bind_no>; bind_name (when set) the
-- named one :<bind_name>. Values are VARCHAR2(4000), NULL allowed; a template converts them
-- explicitly where it needs another type (to_date(:p1, 'YYYY-MM-DD')).
-- The primary key leads with task_id, so it covers the cascading foreign key.
begin
  otask_install.ensure_object('TABLE', 'OTASK_TASK_BINDS', q'[
    create table otask_task_binds (
      task_id     number(19)      not null,
      bind_no     number(4)       not null,
      bind_name   varchar2(128),
      bind_value  varchar2(4000),
      constraint otask_task_binds_pk primary key (task_id, bind_no),
      constraint otask_task_binds_task_fk foreign key (task_id)
        references otask_tasks (task_id) on delete cascade
    )]');
end;
/
