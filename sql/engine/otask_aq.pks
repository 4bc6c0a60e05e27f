create or replace package otask_aq authid definer as
  -- The producer side of Oracle AQ events (OTASK.RAISE_EVENT delegates here): a Scheduler job,
  -- a trigger or a load procedure raises "the file arrived" / "GO" on a queue of the owner's
  -- schema, and Airflow sensors or event-based Scheduler jobs wait for it.
  --
  -- Why a helper and not DBMS_AQ.ENQUEUE directly: one call for every payload type, the queue
  -- name checked (DBMS_ASSERT, owner's schema only, not the engine's own OTASK_EVENTS), and
  -- documented ORA-2011x errors instead of ORA-24010 / ORA-25215 / PLS errors.
  --
  -- Payload handling, chosen from USER_QUEUE_TABLES.OBJECT_TYPE of the queue:
  --   SYS.RAW   p_payload (text, at most 8000 characters) is enqueued as its AL32UTF8 bytes;
  --   SYS.JSON  p_payload must be a JSON document; it is enqueued as JSON (21c and later: the
  --             enqueue is dynamic PL/SQL, so this package still compiles on 19c);
  --   an object type with exactly one character attribute (seed 004's BCKUP_MSGT(msg)):
  --             p_payload is that attribute, e.g. 'GO';
  --   anything else is refused with ORA-20114: enqueue with DBMS_AQ.ENQUEUE and the type's
  --   constructor, or use OracleAQEnqueueOperator from Airflow.
  c_reserved_queue constant varchar2(30) := 'OTASK_EVENTS';
  c_max_raw_chars  constant pls_integer := 8000;

  procedure raise_event(
    p_queue               varchar2,
    p_payload             clob,
    p_correlation         varchar2 default null,
    p_consumers           varchar2 default null,
    p_expiration_seconds  number   default null);

  -- Message properties for a producer (also used inside the dynamic JSON / object enqueue):
  -- correlation, expiration (NULL = never) and the recipient list from a comma-separated
  -- p_consumers (NULL = every subscriber of the queue).
  function message_properties(
    p_correlation         varchar2,
    p_consumers           varchar2,
    p_expiration_seconds  number) return dbms_aq.message_properties_t;
end otask_aq;
/
