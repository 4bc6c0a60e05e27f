create or replace package body otask_aq as

  procedure fail(p_code pls_integer, p_message varchar2) is
  begin
    raise_application_error(p_code, 'OTASK.RAISE_EVENT: ' || p_message);
  end fail;

  function checked_name(p_name varchar2, p_what varchar2) return varchar2 is
    l_name varchar2(32767) := trim(p_name);
  begin
    -- SIMPLE_SQL_NAME also accepts a quoted name ("x y"), which UPPER would then alter, and does
    -- not bound the length (callers store the result in VARCHAR2(128)): refuse both here.
    if instr(l_name, '"') > 0 or length(l_name) > 128 then
      raise value_error;
    end if;
    return upper(dbms_assert.simple_sql_name(l_name));
  exception
    when others then
      fail(otask.c_invalid_identifier, p_what || ' "' || substr(p_name, 1, 130) || '" is not a simple '
        || 'SQL name: use a letter, then letters, digits, _, $ or # (no quotes, spaces or @links).');
      return null;
  end checked_name;

  function message_properties(
    p_correlation         varchar2,
    p_consumers           varchar2,
    p_expiration_seconds  number) return dbms_aq.message_properties_t is
    l_props  dbms_aq.message_properties_t;
    l_list   dbms_aq.aq$_recipient_list_t;
    l_rest   varchar2(32767) := p_consumers;  -- 4000 raised ORA-06502 before any check
    l_item   varchar2(32767);
    l_comma  pls_integer;
    l_count  pls_integer := 0;
  begin
    if p_correlation is not null then
      -- MESSAGE_PROPERTIES_T.CORRELATION is VARCHAR2(128) in bytes: count bytes, not characters.
      if lengthb(p_correlation) > 128 then
        fail(otask.c_invalid_argument, 'p_correlation is longer than 128 characters; use a short key '
          || '(e.g. the payroll period) and put details in the payload.');
      end if;
      l_props.correlation := p_correlation;
    end if;
    if p_expiration_seconds is not null then
      -- EXPIRATION is a BINARY_INTEGER: a larger value would raise ORA-06502, not ORA-20105.
      if p_expiration_seconds < 1 or p_expiration_seconds > 2147483647
         or p_expiration_seconds <> trunc(p_expiration_seconds) then
        fail(otask.c_invalid_argument, 'p_expiration_seconds = ' || p_expiration_seconds
          || ' must be a whole number of seconds from 1 to 2147483647, or NULL for messages that '
          || 'never expire.');
      end if;
      l_props.expiration := p_expiration_seconds;
    end if;
    while l_rest is not null loop
      l_comma := instr(l_rest, ',');
      if l_comma > 0 then
        l_item := substr(l_rest, 1, l_comma - 1);
        l_rest := substr(l_rest, l_comma + 1);
      else
        l_item := l_rest;
        l_rest := null;
      end if;
      l_count := l_count + 1;
      l_list(l_count) := sys.aq$_agent(checked_name(l_item, 'consumer'), null, null);
    end loop;
    if l_count > 0 then
      l_props.recipient_list := l_list;
    end if;
    return l_props;
  end message_properties;

  procedure raise_event(
    p_queue               varchar2,
    p_payload             clob,
    p_correlation         varchar2 default null,
    p_consumers           varchar2 default null,
    p_expiration_seconds  number   default null) is
    l_owner      varchar2(128) := sys_context('userenv', 'current_user');
    l_queue      varchar2(128);
    l_dot        pls_integer := instr(p_queue, '.');
    -- OBJECT_TYPE is OWNER.TYPE (up to 257 characters): VARCHAR2(128) overflowed on long names.
    l_payload    user_queue_tables.object_type%type;
    -- TYPE is a PL/SQL reserved word: the column is quoted wherever PL/SQL parses it.
    l_data_type  user_queue_tables."TYPE"%type;
    l_recipients user_queue_tables.recipients%type;
    l_queue_type user_queues.queue_type%type;
    l_type_owner varchar2(128);
    l_type_name  varchar2(128);
    l_attr_type  varchar2(128);
    l_attrs      pls_integer;
    l_options    dbms_aq.enqueue_options_t;
    l_props      dbms_aq.message_properties_t;
    l_msgid      raw(16);
    l_block      varchar2(1000);
  begin
    if p_queue is null then
      fail(otask.c_invalid_identifier, 'p_queue is NULL: give a queue name (QUEUE or OWNER.QUEUE).');
    end if;
    if l_dot > 0 then
      if checked_name(substr(p_queue, 1, l_dot - 1), 'queue owner') <> l_owner then
        fail(otask.c_queue_not_allowed, 'queue ' || p_queue || ' is not in schema ' || l_owner
          || ': RAISE_EVENT enqueues only on queues of the engine''s schema (it runs with its '
          || 'rights). Enqueue on other queues with DBMS_AQ.ENQUEUE under your own privileges.');
      end if;
      l_queue := checked_name(substr(p_queue, l_dot + 1), 'queue');
    else
      l_queue := checked_name(p_queue, 'queue');
    end if;
    if l_queue = c_reserved_queue then
      fail(otask.c_queue_not_allowed, 'queue ' || l_queue || ' carries the engine''s own completion '
        || 'events and cannot be written to; create a queue of your own (OracleAQCreateQueueOperator).');
    end if;
    begin
      select qt.object_type, qt."TYPE", qt.recipients, q.queue_type
        into l_payload, l_data_type, l_recipients, l_queue_type
        from user_queues q
        join user_queue_tables qt on qt.queue_table = q.queue_table
       where q.name = l_queue;
    exception
      when no_data_found then
        fail(otask.c_unknown_queue, 'queue ' || l_owner || '.' || l_queue || ' does not exist; create '
          || 'it (OracleAQCreateQueueOperator or DBMS_AQADM.CREATE_QUEUE) and start it.');
    end;
    if l_queue_type <> 'NORMAL_QUEUE' then
      fail(otask.c_queue_not_allowed, 'queue ' || l_queue || ' is an ' || l_queue_type
        || '; enqueue on the normal queue of its queue table.');
    end if;
    -- A recipient list on a single-consumer queue is an AQ error (not one of ours): say so first.
    if p_consumers is not null and l_recipients = 'SINGLE' then
      fail(otask.c_invalid_argument, 'queue ' || l_queue || ' is a single-consumer queue; leave '
        || 'p_consumers NULL, or use a multi-consumer queue (multiple_consumers => TRUE).');
    end if;
    l_props := message_properties(p_correlation, p_consumers, p_expiration_seconds);
    l_options.visibility := dbms_aq.on_commit;  -- part of the caller's transaction

    -- USER_QUEUE_TABLES.TYPE says RAW for a RAW queue table, and OBJECT_TYPE is documented only
    -- for TYPE = OBJECT (it may be NULL for RAW): test TYPE as well as OBJECT_TYPE.
    if l_data_type = 'RAW' or l_payload in ('RAW', 'SYS.RAW') then
      if dbms_lob.getlength(p_payload) > c_max_raw_chars then
        fail(otask.c_invalid_argument, 'p_payload is longer than ' || c_max_raw_chars || ' characters, '
          || 'too long for a RAW message; send a key (a file name) and keep the data in a table.');
      end if;
      dbms_aq.enqueue(
        queue_name         => l_owner || '.' || l_queue,
        enqueue_options    => l_options,
        message_properties => l_props,
        payload            => utl_i18n.string_to_raw(dbms_lob.substr(p_payload, c_max_raw_chars, 1),
                                                     'AL32UTF8'),
        msgid              => l_msgid);
      return;
    end if;

    if l_data_type = 'JSON' or l_payload in ('JSON', 'SYS.JSON') then
      -- Dynamic so that the package compiles on 19c, where the JSON type does not exist.
      -- The JSON value is built in SQL (JSON() is a SQL constructor; review Q-6).
      l_block := q'[
declare
  l_options dbms_aq.enqueue_options_t;
  l_props   dbms_aq.message_properties_t := otask_aq.message_properties(:corr, :consumers, :expiration);
  l_msgid   raw(16);
  l_doc     json;
begin
  select json(:payload) into l_doc from dual;
  l_options.visibility := dbms_aq.on_commit;
  dbms_aq.enqueue(queue_name => :queue, enqueue_options => l_options, message_properties => l_props,
                  payload => l_doc, msgid => l_msgid);
end;]';
      begin
        execute immediate l_block
          using p_correlation, p_consumers, p_expiration_seconds, p_payload, l_owner || '.' || l_queue;
      exception
        when others then
          if sqlcode in (-40441, -40587, -40834) then  -- not JSON text
            fail(otask.c_payload_mismatch, 'p_payload is not a JSON document, and queue ' || l_queue
              || ' holds JSON; pass e.g. ''{"file": "pay_202503.csv"}''.');
          end if;
          raise;
      end;
      return;
    end if;

    -- An object type: accepted when it has exactly one character attribute.
    if l_payload is null or instr(l_payload, '.') = 0 then
      fail(otask.c_payload_mismatch, 'queue ' || l_queue || ' holds payload type '
        || nvl(l_payload, l_data_type) || ', which RAISE_EVENT cannot build; enqueue it with '
        || 'DBMS_AQ.ENQUEUE, or with OracleAQEnqueueOperator.');
    end if;
    l_type_owner := substr(l_payload, 1, instr(l_payload, '.') - 1);
    l_type_name  := substr(l_payload, instr(l_payload, '.') + 1);
    select count(*), max(attr_type_name)
      into l_attrs, l_attr_type
      from all_type_attrs
     where owner = l_type_owner and type_name = l_type_name;
    if l_attrs <> 1 or l_attr_type not in ('VARCHAR2', 'CHAR', 'NVARCHAR2', 'CLOB') then
      fail(otask.c_payload_mismatch, 'queue ' || l_queue || ' holds object type ' || l_payload
        || ', which does not have exactly one character attribute; enqueue it with DBMS_AQ.ENQUEUE '
        || 'and the type''s constructor, or with OracleAQEnqueueOperator (payload = a dict).');
    end if;
    -- The type's name comes from the data dictionary and is quoted; the payload is a bind.
    l_block := 'declare'
      || '  l_options dbms_aq.enqueue_options_t;'
      || '  l_props   dbms_aq.message_properties_t := otask_aq.message_properties(:corr, :consumers, :expiration);'
      || '  l_msgid   raw(16);'
      || ' begin'
      || '  l_options.visibility := dbms_aq.on_commit;'
      || '  dbms_aq.enqueue(queue_name => :queue, enqueue_options => l_options,'
      || '    message_properties => l_props, payload => '
      || dbms_assert.enquote_name(l_type_owner, false) || '.'
      || dbms_assert.enquote_name(l_type_name, false) || '(:payload), msgid => l_msgid);'
      || ' end;';
    begin
      if l_attr_type = 'CLOB' then
        -- The whole CLOB: DBMS_LOB.SUBSTR(.., 32767) would silently cut a longer payload.
        execute immediate l_block
          using p_correlation, p_consumers, p_expiration_seconds, l_owner || '.' || l_queue,
                p_payload;
      else
        if dbms_lob.getlength(p_payload) > 32767 then
          raise value_error;  -- reported below as ORA-20114, never silently truncated
        end if;
        execute immediate l_block
          using p_correlation, p_consumers, p_expiration_seconds, l_owner || '.' || l_queue,
                dbms_lob.substr(p_payload, 32767, 1);
      end if;
    exception
      when value_error then  -- ORA-06502: longer than the attribute (e.g. VARCHAR2(30))
        fail(otask.c_payload_mismatch, 'p_payload (' || dbms_lob.getlength(p_payload)
          || ' characters) is too long for the ' || l_attr_type || ' attribute of ' || l_payload
          || ' on queue ' || l_queue || '; send a short key and keep the data in a table.');
    end;
  end raise_event;
end otask_aq;
/
