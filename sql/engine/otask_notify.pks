create or replace package otask_notify authid definer as
  -- The engine's completion event (DESIGN rule 11): one OTASK_EVENT_T message on the queue
  -- OTASK_EVENTS per instance close, enqueued in the closing transaction (visibility ON_COMMIT),
  -- so the event exists exactly when the final state is committed, and never otherwise.
  --
  -- Message properties:
  --   correlation  TO_CHAR(instance_id): a consumer dequeues the one instance it waits for;
  --   expiration   c_expiration_seconds: a message nobody dequeues expires (AQ moves it to the
  --                queue table's exception queue, and OTASK.PURGE deletes it there), so events
  --                cannot pile up when no sensor listens.
  c_queue              constant varchar2(30) := 'OTASK_EVENTS';
  c_queue_table        constant varchar2(30) := 'OTASK_EVENTS_QT';
  c_subscriber         constant varchar2(30) := 'OTASK_WATCH';
  c_expiration_seconds constant pls_integer := 86400;

  -- Enqueues the event of a just-closed instance in the caller's transaction. Never raises:
  -- the instance state is the truth and sensors also poll it, so a queue problem (stopped
  -- queue, no subscriber) is logged with its fix instead of keeping an instance open.
  procedure instance_closed(p_instance_id number);

  -- Deletes expired events enqueued before p_before (called by OTASK.PURGE). Never raises.
  procedure purge_expired(p_before timestamp with time zone);
end otask_notify;
/
