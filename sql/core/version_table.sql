-- OTASK_VERSION: one row per schema version applied to this schema (a history, newest wins).
-- Created in a plain block because the install helper package itself reads this table.
declare
  e_exists exception;
  pragma exception_init(e_exists, -955);  -- E-18: a concurrent install created it in between
  l_count pls_integer;
begin
  select count(*) into l_count from user_tables where table_name = 'OTASK_VERSION';
  if l_count = 0 then
    execute immediate q'[
      create table otask_version (
        version       number(6)                   not null,
        description   varchar2(400)               not null,
        installed_at  timestamp(6) with time zone default systimestamp not null,
        installed_by  varchar2(128)               default sys_context('USERENV', 'SESSION_USER') not null,
        constraint otask_version_pk primary key (version)
      )]';
    dbms_output.put_line('created table OTASK_VERSION');
  end if;
exception
  when e_exists then
    dbms_output.put_line('table OTASK_VERSION was created by a concurrent install');
end;
/
