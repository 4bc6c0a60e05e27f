create or replace package body otask_build as

  e_invalid_sql_name exception;
  pragma exception_init(e_invalid_sql_name, -44003);

  c_task_keys constant varchar2(100) := ',sql,name,group,priority,retries,binds,';

  type t_clobs   is table of clob index by pls_integer;
  type t_numbers is table of number index by pls_integer;
  type t_texts   is table of varchar2(4000) index by pls_integer;

  -- ---------------------------------------------------------------------------------------
  -- Checks
  -- ---------------------------------------------------------------------------------------

  procedure fail(p_code pls_integer, p_message varchar2) is
  begin
    raise_application_error(p_code, substr(p_message, 1, 2000));
  end fail;

  function shown(p_value varchar2) return varchar2 is
  begin
    return case when p_value is null then 'NULL' else '"' || substr(p_value, 1, 100) || '"' end;
  end shown;

  function checked_taskspace(p_api varchar2, p_taskspace varchar2) return varchar2 is
    l_name varchar2(32767) := trim(p_taskspace);
  begin
    if l_name is null or length(l_name) > 128 or substr(l_name, 1, 1) = '"' then
      raise e_invalid_sql_name;
    end if;
    return upper(dbms_assert.simple_sql_name(l_name));
  exception
    when e_invalid_sql_name then
      fail(otask.c_invalid_identifier, 'OTASK.' || p_api || ': taskspace ' || shown(p_taskspace)
        || ' is not a valid name; use a simple SQL name (a letter, then letters, digits, _ $ #; '
        || 'at most 128 characters, no quotes), e.g. NIGHTLY_ETL.');
      raise;
  end checked_taskspace;

  function checked_job_class(p_api varchar2, p_job_class varchar2) return varchar2 is
    l_name varchar2(32767) := trim(p_job_class);
  begin
    if l_name is null then
      return null;
    end if;
    if upper(l_name) like 'SYS.%' then
      l_name := substr(l_name, 5);  -- job classes always live in SYS
    end if;
    if length(l_name) > 128 or substr(l_name, 1, 1) = '"' then
      raise e_invalid_sql_name;
    end if;
    l_name := upper(dbms_assert.simple_sql_name(l_name));
    if not otask_jobs.job_class_usable(l_name) then
      fail(otask.c_unknown_job_class, 'OTASK.' || p_api || ': job class SYS.' || l_name
        || ' does not exist or schema ' || sys_context('USERENV', 'CURRENT_SCHEMA')
        || ' may not use it. Fix: a DBA runs GRANT EXECUTE ON SYS.' || l_name || ' TO '
        || sys_context('USERENV', 'CURRENT_SCHEMA') || ' (directly, not through a role), or pass '
        || 'p_job_class => NULL for DEFAULT_JOB_CLASS.');
    end if;
    return l_name;
  exception
    when e_invalid_sql_name then
      fail(otask.c_invalid_identifier, 'OTASK.' || p_api || ': job class ' || shown(p_job_class)
        || ' is not a valid name; pass the name of a job class in SYS (a simple SQL name).');
      raise;
  end checked_job_class;

  function checked_int(
    p_api     varchar2,
    p_what    varchar2,
    p_value   number,
    p_min     number,
    p_max     number,
    p_null_ok boolean     default false,
    p_code    pls_integer default otask.c_invalid_argument) return number is
  begin
    if p_value is null then
      if p_null_ok then
        return null;
      end if;
    elsif p_value = trunc(p_value) and p_value between p_min and p_max then
      return p_value;
    end if;
    fail(p_code, 'OTASK.' || p_api || ': ' || p_what || ' = ' || nvl(to_char(p_value), 'NULL')
      || ' is not allowed; pass an integer from ' || p_min || ' to ' || p_max
      || case when p_null_ok then ' (or NULL)' end || '.');
    return null;
  end checked_int;

  function checked_flag(p_api varchar2, p_what varchar2, p_value varchar2) return varchar2 is
  begin
    if upper(trim(p_value)) in ('Y', 'N') then
      return upper(trim(p_value));
    end if;
    fail(otask.c_invalid_argument, 'OTASK.' || p_api || ': ' || p_what || ' = ' || shown(p_value)
      || ' is not allowed; pass ''Y'' or ''N''.');
    return null;
  end checked_flag;

  function checked_text(
    p_api      varchar2,
    p_what     varchar2,
    p_value    varchar2,
    p_max      pls_integer,
    p_required boolean default false) return varchar2 is
  begin
    if p_required and trim(p_value) is null then
      fail(otask.c_invalid_argument, 'OTASK.' || p_api || ': ' || p_what || ' is required; pass '
        || 'a non-blank value of at most ' || p_max || ' characters.');
    elsif lengthb(p_value) > p_max then
      -- E-14: the columns are VARCHAR2(n BYTE): a multibyte value is checked in bytes.
      fail(otask.c_invalid_argument, 'OTASK.' || p_api || ': ' || p_what || ' has '
        || lengthb(p_value) || ' bytes (' || length(p_value) || ' characters); at most ' || p_max
        || ' bytes are allowed.');
    end if;
    return p_value;
  end checked_text;

  procedure check_sql(p_api varchar2, p_what varchar2, p_sql clob) is
  begin
    if p_sql is null or not regexp_like(p_sql, '[^[:space:]]') then
      fail(otask.c_invalid_argument, 'OTASK.' || p_api || ': ' || p_what || ' is empty; pass the '
        || 'SQL statement or PL/SQL block the task runs (without a trailing slash).');
    end if;
  end check_sql;

  procedure check_query(p_api varchar2, p_what varchar2, p_sql clob) is
  begin
    check_sql(p_api, p_what, p_sql);
    if not regexp_like(p_sql, '^[[:space:](]*(select|with)[[:space:]]', 'i') then
      fail(otask.c_invalid_argument, 'OTASK.' || p_api || ': ' || p_what || ' must be a query '
        || 'starting with SELECT or WITH (it is executed to produce one task per row).');
    end if;
  end check_query;

  -- A JSON key or a column alias usable as a named bind placeholder (:name), or NULL.
  -- Bind names are at most 30 characters; the engine's own binds (:otask_*) are reserved.
  function bind_name_or_null(p_name varchar2) return varchar2 is
  begin
    if p_name is null or length(p_name) > 30
       or not regexp_like(p_name, '^[A-Za-z][A-Za-z0-9_$#]*$')
       or upper(p_name) like 'OTASK\_%' escape '\' then
      return null;
    end if;
    return upper(dbms_assert.simple_sql_name(p_name));
  exception
    when e_invalid_sql_name then
      return null;
  end bind_name_or_null;

  -- ---------------------------------------------------------------------------------------
  -- Taskspaces
  -- ---------------------------------------------------------------------------------------

  procedure ensure_taskspace(p_taskspace varchar2) is
  begin
    -- E-13: in the CALLER's transaction, so a rejected or rolled-back call leaves no taskspace
    -- behind (rule 14). A concurrent first use of the same new name waits on the primary key
    -- until this caller commits, then gets DUP_VAL_ON_INDEX: the row exists, which is all we need.
    insert into otask_taskspaces (taskspace)
    select p_taskspace from dual
     where not exists (select null from otask_taskspaces where taskspace = p_taskspace);
  exception
    when dup_val_on_index then
      null;  -- another session created it at the same moment: fine (only this statement failed)
  end ensure_taskspace;

  -- ---------------------------------------------------------------------------------------
  -- Tasks
  -- ---------------------------------------------------------------------------------------

  function initial_state(p_inst otask_instances%rowtype, p_group number) return varchar2 is
  begin
    -- After a final failure with stop_on_error 'Y' nothing new may start (rule 9): a task added
    -- then waits, and the instance skips it with the rest when its last running task ends.
    return case
             when p_inst.stop_on_error = 'Y' and p_inst.failure_seen = 'Y' then 'WAITING'
             when p_inst.state = 'RUNNING' and p_group <= nvl(p_inst.current_group, -1) then 'READY'
             else 'WAITING'
           end;
  end initial_state;

  -- E-9: a task added to a RUNNING instance with a group that already closed cannot run "before"
  -- the current group any more; it joins the current group (runs now, beside it) and is
  -- recorded with that group, so the views and the barrier order tell the truth.
  function effective_group(p_inst otask_instances%rowtype, p_group number) return number is
  begin
    if p_inst.state = 'RUNNING' and p_inst.current_group is not null
       and p_group < p_inst.current_group then
      return p_inst.current_group;
    end if;
    return p_group;
  end effective_group;

  procedure bad_json(p_where varchar2, p_problem varchar2) is
  begin
    fail(otask.c_invalid_json, p_where || ': ' || p_problem || '. Expected a JSON array of objects '
      || '{"sql": "...", "name": "...", "group": 1, "priority": 0, "retries": 0, '
      || '"binds": {"name": "value"}} (only "sql" is required).');
  end bad_json;

  function j_element(p_obj json_object_t, p_key varchar2) return json_element_t is
  begin
    if not p_obj.has(p_key) then
      return null;
    end if;
    return p_obj.get(p_key);
  end j_element;

  function j_string(p_obj json_object_t, p_key varchar2, p_where varchar2) return varchar2 is
    l_el json_element_t := j_element(p_obj, p_key);
  begin
    if l_el is null or l_el.is_null then
      return null;
    elsif not l_el.is_string then
      bad_json(p_where, '"' || p_key || '" must be a JSON string');
    end if;
    return p_obj.get_string(p_key);
  end j_string;

  function j_clob(p_obj json_object_t, p_key varchar2, p_where varchar2) return clob is
    l_el json_element_t := j_element(p_obj, p_key);
  begin
    if l_el is null or l_el.is_null then
      return null;
    elsif not l_el.is_string then
      bad_json(p_where, '"' || p_key || '" must be a JSON string');
    end if;
    return p_obj.get_clob(p_key);
  end j_clob;

  function j_number(p_obj json_object_t, p_key varchar2, p_where varchar2) return number is
    l_el json_element_t := j_element(p_obj, p_key);
  begin
    if l_el is null or l_el.is_null then
      return null;
    elsif not l_el.is_number then
      bad_json(p_where, '"' || p_key || '" must be a JSON number');
    end if;
    return p_obj.get_number(p_key);
  end j_number;

  -- Parses a binds object into names and values (appended to the given arrays with p_task_id).
  procedure collect_binds(
    p_binds    json_element_t,
    p_where    varchar2,
    p_task_id  number,
    p_tasks    in out nocopy t_numbers,
    p_nos      in out nocopy t_numbers,
    p_names    in out nocopy t_texts,
    p_values   in out nocopy t_texts) is
    l_obj   json_object_t;
    l_keys  json_key_list;
    l_el    json_element_t;
    l_name  varchar2(128);
    l_value varchar2(32767);
    l_seen  varchar2(32767) := ',';
    l_n     pls_integer;
  begin
    if p_binds is null or p_binds.is_null then
      return;
    elsif not p_binds.is_object then
      bad_json(p_where, '"binds" must be a JSON object {"name": value}');
    end if;
    l_obj := treat(p_binds as json_object_t);
    l_keys := l_obj.get_keys;
    if l_keys is null then
      return;
    end if;
    for k in 1 .. l_keys.count loop
      l_name := bind_name_or_null(substr(l_keys(k), 1, 128));
      if l_name is null then
        fail(otask.c_invalid_identifier, p_where || ': bind name ' || shown(l_keys(k))
          || ' is not usable; use a simple SQL name of at most 30 characters (a letter, then '
          || 'letters, digits, _ $ #) that does not start with OTASK_ (reserved for the engine).');
      elsif instr(l_seen, ',' || l_name || ',') > 0 then
        bad_json(p_where, 'bind name "' || l_keys(k) || '" appears twice (bind names ignore case)');
      end if;
      l_seen := l_seen || l_name || ',';
      l_el := l_obj.get(l_keys(k));
      if l_el.is_null then
        l_value := null;
      elsif l_el.is_string then
        l_value := l_obj.get_string(l_keys(k));
      else
        l_value := l_el.to_string;  -- numbers, booleans, nested JSON: their JSON text
      end if;
      if lengthb(l_value) > 4000 then
        bad_json(p_where, 'the value of bind "' || l_keys(k) || '" has ' || lengthb(l_value)
          || ' bytes; at most 4000 bytes are allowed');
      end if;
      l_n := p_tasks.count + 1;
      p_tasks(l_n) := p_task_id;
      p_nos(l_n) := k;
      p_names(l_n) := l_name;
      p_values(l_n) := l_value;
    end loop;
  end collect_binds;

  procedure insert_binds(
    p_tasks  t_numbers,
    p_nos    t_numbers,
    p_names  t_texts,
    p_values t_texts) is
  begin
    forall i in 1 .. p_tasks.count
      insert into otask_task_binds (task_id, bind_no, bind_name, bind_value)
      values (p_tasks(i), p_nos(i), p_names(i), p_values(i));
  end insert_binds;

  function add_task(
    p_inst      otask_instances%rowtype,
    p_sql       clob,
    p_name      varchar2,
    p_group     number,
    p_priority  number,
    p_retries   number,
    p_binds     clob) return number is
    l_task_id number := otask_task_seq.nextval;
    l_state   varchar2(16);
    l_group   number;
    l_binds   json_element_t;
    l_tasks   t_numbers;
    l_nos     t_numbers;
    l_names   t_texts;
    l_values  t_texts;
  begin
    if p_binds is not null then
      begin
        l_binds := json_element_t.parse(p_binds);
      exception
        when others then
          fail(otask.c_invalid_json, 'OTASK.ADD_TASK: p_binds is not valid JSON (' || sqlerrm
            || '); pass a JSON object such as {"p1": "value", "n": 5}, or NULL.');
      end;
      collect_binds(l_binds, 'OTASK.ADD_TASK p_binds', l_task_id, l_tasks, l_nos, l_names, l_values);
    end if;
    -- (initial_state takes a record, so it is evaluated in PL/SQL, not inside the INSERT)
    l_state := initial_state(p_inst, p_group);
    l_group := effective_group(p_inst, p_group);  -- a private function: not callable in SQL
    insert into otask_tasks (task_id, instance_id, name, sql_text, group_no, priority, state, retries)
    values (l_task_id, p_inst.instance_id, p_name, p_sql, l_group,
            p_priority, l_state,
            nvl(p_retries, p_inst.default_retries));
    insert_binds(l_tasks, l_nos, l_names, l_values);
    return l_task_id;
  end add_task;

  function add_tasks(p_inst otask_instances%rowtype, p_tasks clob) return number is
    l_root     json_element_t;
    l_array    json_array_t;
    l_el       json_element_t;
    l_obj      json_object_t;
    l_keys     json_key_list;
    l_where    varchar2(200);
    l_item     varchar2(100);
    l_ids      t_numbers;
    l_sqls     t_clobs;
    l_names    t_texts;
    l_groups   t_numbers;
    l_prios    t_numbers;
    l_retries  t_numbers;
    l_states   t_texts;
    l_b_tasks  t_numbers;
    l_b_nos    t_numbers;
    l_b_names  t_texts;
    l_b_values t_texts;
  begin
    if p_tasks is null then
      bad_json('OTASK.ADD_TASKS p_tasks', 'it is NULL');
    end if;
    begin
      l_root := json_element_t.parse(p_tasks);
    exception
      when others then
        bad_json('OTASK.ADD_TASKS p_tasks', 'not valid JSON (' || sqlerrm || ')');
    end;
    if not l_root.is_array then
      bad_json('OTASK.ADD_TASKS p_tasks', 'the top level is not a JSON array');
    end if;
    l_array := treat(l_root as json_array_t);
    for i in 0 .. l_array.get_size - 1 loop
      l_item := 'p_tasks[' || i || ']';
      l_where := 'OTASK.ADD_TASKS ' || l_item;
      l_el := l_array.get(i);
      if not l_el.is_object then
        bad_json(l_where, 'the element is not a JSON object');
      end if;
      l_obj := treat(l_el as json_object_t);
      l_keys := l_obj.get_keys;
      if l_keys is not null then
        for k in 1 .. l_keys.count loop
          if instr(c_task_keys, ',' || l_keys(k) || ',') = 0 then
            bad_json(l_where, 'unknown key "' || substr(l_keys(k), 1, 100) || '"');
          end if;
        end loop;
      end if;
      l_sqls(i + 1) := j_clob(l_obj, 'sql', l_where);
      if l_sqls(i + 1) is null or not regexp_like(l_sqls(i + 1), '[^[:space:]]') then
        bad_json(l_where, '"sql" is missing or blank');
      end if;
      l_ids(i + 1) := otask_task_seq.nextval;
      l_names(i + 1) := checked_text('ADD_TASKS', l_item || '.name', j_string(l_obj, 'name', l_where), 256);
      l_groups(i + 1) := checked_int('ADD_TASKS', l_item || '.group',
                                     nvl(j_number(l_obj, 'group', l_where), 1), 0, 999999999);
      l_prios(i + 1) := checked_int('ADD_TASKS', l_item || '.priority',
                                    nvl(j_number(l_obj, 'priority', l_where), 0), -999999999, 999999999);
      l_retries(i + 1) := nvl(checked_int('ADD_TASKS', l_item || '.retries',
                                          j_number(l_obj, 'retries', l_where), 0, otask.c_max_retries,
                                          p_null_ok => true),
                              p_inst.default_retries);
      l_states(i + 1) := initial_state(p_inst, l_groups(i + 1));
      l_groups(i + 1) := effective_group(p_inst, l_groups(i + 1));
      collect_binds(j_element(l_obj, 'binds'), l_where || '.binds', l_ids(i + 1),
                    l_b_tasks, l_b_nos, l_b_names, l_b_values);
    end loop;
    forall i in 1 .. l_ids.count
      insert into otask_tasks (task_id, instance_id, name, sql_text, group_no, priority, state, retries)
      values (l_ids(i), p_inst.instance_id, l_names(i), l_sqls(i), l_groups(i), l_prios(i),
              l_states(i), l_retries(i));
    insert_binds(l_b_tasks, l_b_nos, l_b_names, l_b_values);
    return l_ids.count;
  end add_tasks;

  function expand_definitions(p_inst otask_instances%rowtype) return number is
    l_cursor  integer;
    l_columns integer;
    l_desc    dbms_sql.desc_tab2;
    l_value   varchar2(4000);
    l_status  integer;
    l_row     pls_integer;
    l_task_id number;
    l_added   pls_integer := 0;
    l_names   t_texts;
    l_code    number;
    l_error   varchar2(4000);
    l_state   varchar2(16);
  begin
    for d in (select *
                from otask_task_defs
               where taskspace = p_inst.taskspace and enabled = 'Y'
               order by group_no, priority, definition_id) loop
      l_cursor := null;
      l_state := initial_state(p_inst, d.group_no);
      if d.source_query is null then
        insert into otask_tasks (task_id, instance_id, definition_id, name, sql_text, group_no,
                                 priority, state, retries)
        values (otask_task_seq.nextval, p_inst.instance_id, d.definition_id, d.name, d.sql_text,
                d.group_no, d.priority, l_state, nvl(d.retries, p_inst.default_retries));
        l_added := l_added + 1;
      else
        begin
          check_query('CREATE_INSTANCE', 'the source query of task definition '
                      || d.definition_id || ' (' || d.name || ')', d.source_query);
          l_cursor := dbms_sql.open_cursor;
          dbms_sql.parse(l_cursor, d.source_query, dbms_sql.native);
          dbms_sql.describe_columns2(l_cursor, l_columns, l_desc);
          l_names.delete;
          for c in 1 .. l_columns loop
            -- Every column is fetched as VARCHAR2(4000) (Oracle converts numbers and dates
            -- with the session's NLS settings; convert explicitly in the query to be exact).
            dbms_sql.define_column(l_cursor, c, l_value, 4000);
            -- An alias shaped like a positional name (P1, p7) is NOT also bound by name: column
            -- 1 aliased P2 would otherwise overwrite :p2, the value of column 2.
            if regexp_like(l_desc(c).col_name, '^P[0-9]+$', 'i') then
              l_names(c) := null;
            else
              l_names(c) := bind_name_or_null(l_desc(c).col_name);
            end if;
          end loop;
          l_status := dbms_sql.execute(l_cursor);
          l_row := 0;
          -- The fetch is tested BEFORE the row is used: an empty result adds no task and the
          -- last row is added once (seed 000 added its last row twice).
          while dbms_sql.fetch_rows(l_cursor) > 0 loop
            l_row := l_row + 1;
            l_task_id := otask_task_seq.nextval;
            insert into otask_tasks (task_id, instance_id, definition_id, name, sql_text, group_no,
                                     priority, state, retries)
            values (l_task_id, p_inst.instance_id, d.definition_id, d.name || '#' || l_row,
                    d.sql_text, d.group_no, d.priority, l_state,
                    nvl(d.retries, p_inst.default_retries));
            for c in 1 .. l_columns loop
              dbms_sql.column_value(l_cursor, c, l_value);
              -- Stored, then BOUND at run time as :p<c> and :<alias> (rule 10).
              insert into otask_task_binds (task_id, bind_no, bind_name, bind_value)
              values (l_task_id, c, l_names(c), l_value);
            end loop;
          end loop;
          dbms_sql.close_cursor(l_cursor);
          l_added := l_added + l_row;
        exception
          when others then
            l_code := sqlcode;
            l_error := sqlerrm;
            if l_cursor is not null and dbms_sql.is_open(l_cursor) then
              dbms_sql.close_cursor(l_cursor);
            end if;
            if l_code between -20199 and -20100 then
              raise;
            end if;
            fail(otask.c_source_query_failed, 'OTASK.CREATE_INSTANCE: the source query of task '
              || 'definition ' || d.definition_id || ' (' || d.name || ', taskspace '
              || p_inst.taskspace || ') failed: ' || l_error || '. Fix the query (every column '
              || 'must convert to VARCHAR2(4000)), or disable the definition with '
              || 'OTASK.ENABLE_DEFINITION(' || d.definition_id || ', ''N'').');
        end;
      end if;
    end loop;
    return l_added;
  end expand_definitions;
end otask_build;
/
