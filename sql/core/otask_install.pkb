create or replace package body otask_install as

  -- "Already exists" from a concurrent install (E-18: two DAG runs install into an empty
  -- schema at the same moment): the object is there, which is what the ensure_* call wants.
  e_exists             exception;
  pragma exception_init(e_exists, -955);             -- name is already used by an object
  e_column_exists      exception;
  pragma exception_init(e_column_exists, -1430);     -- column being added already exists
  e_constraint_exists  exception;
  pragma exception_init(e_constraint_exists, -2264); -- name already used by a constraint
  e_key_exists         exception;
  pragma exception_init(e_key_exists, -2261);        -- such unique or primary key exists
  e_queue_table_exists exception;
  pragma exception_init(e_queue_table_exists, -24001);  -- cannot create queue table, exists
  e_queue_exists       exception;
  pragma exception_init(e_queue_exists, -24006);     -- cannot create queue, already exists

  -- Every object of the product is named OTASK or OTASK_*: uninstall relies on that prefix, and
  -- checking it here stops a typo in a script from touching an unrelated object.
  function checked_name(p_name varchar2) return varchar2 is
    l_name varchar2(128) := upper(p_name);
  begin
    if l_name is null
       or not (l_name = 'OTASK' or l_name like 'OTASK\_%' escape '\')
       or dbms_assert.simple_sql_name(l_name) is null then
      raise e_invalid_name;
    end if;
    return l_name;
  exception
    when e_invalid_name or dbms_assert.invalid_sql_name then
      raise_application_error(-20003, 'invalid object name "' || substr(p_name, 1, 200)
        || '": product objects must be simple SQL names starting with OTASK_. Fix the install script.');
  end checked_name;

  procedure say(p_message varchar2) is
  begin
    dbms_output.put_line(p_message);
  end say;

  procedure ensure_object(p_type varchar2, p_name varchar2, p_ddl varchar2) is
    l_name  varchar2(128) := checked_name(p_name);
    l_count pls_integer;
  begin
    select count(*) into l_count
      from user_objects
     where object_type = upper(p_type) and object_name = l_name;
    if l_count = 0 then
      begin
        execute immediate p_ddl;
        say('created ' || lower(p_type) || ' ' || l_name);
      exception
        when e_exists then
          -- E-18: a concurrent install (two DAG runs at once) created it in between.
          say(lower(p_type) || ' ' || l_name || ' was created by a concurrent install');
      end;
    end if;
  end ensure_object;

  procedure ensure_column(p_table varchar2, p_column varchar2, p_ddl varchar2) is
    l_table varchar2(128) := checked_name(p_table);
    l_count pls_integer;
  begin
    select count(*) into l_count
      from user_tab_columns
     where table_name = l_table and column_name = upper(p_column);
    if l_count = 0 then
      begin
        execute immediate p_ddl;
        say('added column ' || l_table || '.' || upper(p_column));
      exception
        when e_column_exists then
          null;  -- E-18: added by a concurrent install
      end;
    end if;
  end ensure_column;

  procedure ensure_constraint(p_table varchar2, p_name varchar2, p_ddl varchar2) is
    l_table varchar2(128) := checked_name(p_table);
    l_name  varchar2(128) := checked_name(p_name);
    l_count pls_integer;
  begin
    select count(*) into l_count
      from user_constraints
     where table_name = l_table and constraint_name = l_name;
    if l_count = 0 then
      begin
        execute immediate p_ddl;
        say('added constraint ' || l_name || ' on ' || l_table);
      exception
        when e_constraint_exists or e_key_exists then
          null;  -- E-18: added by a concurrent install
      end;
    end if;
  end ensure_constraint;

  procedure ensure_view(p_name varchar2, p_ddl varchar2) is
    l_name    varchar2(128) := checked_name(p_name);
    l_mark    varchar2(200);
    l_comment varchar2(4000);
    l_count   pls_integer;
    l_hash    number := 0;
    l_pos     pls_integer := 1;
  begin
    -- The fingerprint covers the whole statement, so any change of the shipped text (a column,
    -- a comment inside the query) replaces the view; an identical text leaves it untouched.
    -- Hashed in chained chunks of 1000 characters (at most 4000 bytes each).
    while l_pos <= nvl(length(p_ddl), 0) loop
      l_hash := dbms_utility.get_hash_value(to_char(l_hash) || substr(p_ddl, l_pos, 1000),
                                            1, 1073741824);
      l_pos := l_pos + 1000;
    end loop;
    l_mark := 'oracle-tasks view ' || l_name || ', source ' || length(p_ddl) || '-' || l_hash;
    select count(*) into l_count from user_views where view_name = l_name;
    if l_count > 0 then
      select max(comments) into l_comment
        from user_tab_comments
       where table_name = l_name and table_type = 'VIEW';
      if l_comment = l_mark then
        return;
      end if;
    end if;
    execute immediate p_ddl;
    execute immediate 'comment on table ' || dbms_assert.enquote_name(l_name, false) || ' is '
      || dbms_assert.enquote_literal(l_mark);
    say(case when l_count > 0 then 'replaced' else 'created' end || ' view ' || l_name);
  end ensure_view;

  procedure ensure_queue(
    p_queue_table        varchar2,
    p_queue              varchar2,
    p_payload_type       varchar2,
    p_multiple_consumers boolean default true,
    p_retention_seconds  number  default 0,
    p_comment            varchar2 default null) is
    l_table   varchar2(128) := checked_name(p_queue_table);
    l_queue   varchar2(128) := checked_name(p_queue);
    l_count   pls_integer;
    l_enabled varchar2(10);
  begin
    select count(*) into l_count from user_queue_tables where queue_table = l_table;
    if l_count = 0 then
      -- DBMS_AQADM commits: install runs no other open transaction at this point.
      begin
        dbms_aqadm.create_queue_table(
          queue_table        => l_table,
          queue_payload_type => p_payload_type,
          multiple_consumers => p_multiple_consumers,
          comment            => p_comment);
        say('created queue table ' || l_table);
      exception
        when e_queue_table_exists then
          null;  -- E-18: created by a concurrent install
      end;
    end if;
    select count(*) into l_count from user_queues where name = l_queue;
    if l_count = 0 then
      begin
        dbms_aqadm.create_queue(
          queue_name     => l_queue,
          queue_table    => l_table,
          retention_time => p_retention_seconds,
          comment        => p_comment);
        say('created queue ' || l_queue);
      exception
        when e_queue_exists then
          null;  -- E-18: created by a concurrent install
      end;
    end if;
    select trim(enqueue_enabled) || '/' || trim(dequeue_enabled) into l_enabled
      from user_queues where name = l_queue;
    if l_enabled <> 'YES/YES' then
      dbms_aqadm.start_queue(queue_name => l_queue);
      say('started queue ' || l_queue);
    end if;
  end ensure_queue;

  procedure grant_to_role(p_object varchar2, p_privilege varchar2) is
    e_no_role exception;
    pragma exception_init(e_no_role, -1917);  -- user or role does not exist
    l_object varchar2(128) := checked_name(p_object);
    l_priv   varchar2(30)  := upper(p_privilege);
  begin
    if l_priv not in ('EXECUTE', 'SELECT') then
      raise_application_error(-20003, 'privilege "' || substr(p_privilege, 1, 30)
        || '" is not granted to ' || c_role || ' by install; use EXECUTE or SELECT.');
    end if;
    execute immediate 'grant ' || l_priv || ' on ' || dbms_assert.enquote_name(l_object, false)
      || ' to ' || c_role;
  exception
    when e_no_role then
      say('note: role ' || c_role || ' does not exist, so ' || l_priv || ' on ' || l_object
        || ' was not granted. A DBA can create it with sql/grants.sql; then run install again.');
  end grant_to_role;

  procedure validate_objects is
    l_invalid varchar2(4000);
  begin
    -- Two passes: a package body recompiled before its spec can be invalid after the first.
    for l_pass in 1 .. 2 loop
      for o in (select object_name, object_type
                  from user_objects
                 where status = 'INVALID'
                   and (object_name = 'OTASK' or object_name like 'OTASK\_%' escape '\')
                   and object_type in ('PACKAGE', 'PACKAGE BODY', 'VIEW', 'TYPE', 'TYPE BODY',
                                       'PROCEDURE', 'FUNCTION', 'TRIGGER')) loop
        begin
          execute immediate 'alter '
            || case o.object_type when 'PACKAGE BODY' then 'package' when 'TYPE BODY' then 'type'
                                  else lower(o.object_type) end
            || ' ' || dbms_assert.enquote_name(o.object_name, false) || ' compile'
            || case when o.object_type in ('PACKAGE BODY', 'TYPE BODY') then ' body' end;
        exception
          when others then null;  -- still invalid: reported below with the object's name
        end;
      end loop;
    end loop;
    for o in (select object_type || ' ' || object_name as what
                from user_objects
               where status = 'INVALID'
                 and (object_name = 'OTASK' or object_name like 'OTASK\_%' escape '\')
               order by object_name, object_type) loop
      l_invalid := substr(l_invalid || ' ' || o.what || ';', 1, 3000);
    end loop;
    if l_invalid is not null then
      raise_application_error(-20006, 'oracle-tasks objects are invalid after install:' || l_invalid
        || ' See USER_ERRORS for the cause (often a missing privilege granted only through a role).');
    end if;
  end validate_objects;

  function installed_version return number is
    l_version number;
  begin
    select nvl(max(version), 0) into l_version from otask_version;
    return l_version;
  end installed_version;

  procedure set_version(p_version number, p_description varchar2) is
    l_installed number := installed_version;
  begin
    if p_version < l_installed then
      raise_application_error(-20002, 'cannot record schema version ' || p_version
        || ': version ' || l_installed || ' is installed. Downgrades are not supported.');
    elsif p_version > l_installed then
      begin
        insert into otask_version (version, description) values (p_version, p_description);
        commit;
        say('recorded schema version ' || p_version);
      exception
        when dup_val_on_index then
          rollback;  -- E-18: a concurrent install recorded it first
          say('schema version ' || p_version || ' was recorded by a concurrent install');
      end;
    else
      say('schema version ' || p_version || ' already recorded; nothing changed');
    end if;
  end set_version;
end otask_install;
/
