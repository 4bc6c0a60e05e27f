-- OTASK_TASK_DEFS: reusable task definitions (seed 000's task definitions, without pasting
-- values into SQL). CREATE_INSTANCE(p_from_definitions => 'Y') turns every enabled definition
-- of the instance's taskspace into tasks:
--   * no source_query: one task running sql_text;
--   * a source_query: one task per row it returns; the row's values are BOUND to sql_text as
--     :p1 .. :pn (by position) and as :<column alias> (by name). No row, no task.
-- retries NULL = the instance's default retry budget.
begin
  otask_install.ensure_object('TABLE', 'OTASK_TASK_DEFS', q'[
    create table otask_task_defs (
      definition_id  number(19)                  not null,
      taskspace      varchar2(128)               not null,
      name           varchar2(128)               not null,
      sql_text       clob                        not null,
      source_query   clob,
      group_no       number(9)      default 1    not null,
      priority       number(9)      default 0    not null,
      retries        number(4),
      enabled        varchar2(1)    default 'Y'  not null,
      created_at     timestamp(6) with time zone default systimestamp not null,
      constraint otask_task_defs_pk primary key (definition_id),
      constraint otask_task_defs_name_uk unique (taskspace, name),
      constraint otask_task_defs_ts_fk foreign key (taskspace) references otask_taskspaces (taskspace),
      constraint otask_task_defs_group_ck check (group_no >= 0),
      constraint otask_task_defs_retries_ck check (retries between 0 and 100),
      constraint otask_task_defs_enabled_ck check (enabled in ('Y', 'N'))
    )]');
end;
/
