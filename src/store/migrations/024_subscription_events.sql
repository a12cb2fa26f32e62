-- Topic-based subscriptions (R4 Subscriptions Backport IG): every write of a
-- type someone subscribes to is an event, recorded in its transaction; a
-- dispatcher (one at a time: it locks event_cursor's row) reads the
-- committed events, gives each subscription its own numbered events, kept
-- for catch-up ($events) and delivered in order, the delivered ones marked,
-- and forgets the events it dispatched.

CREATE TABLE resource_event (
  xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  seq bigint GENERATED ALWAYS AS IDENTITY,
  type text NOT NULL,
  resource_id text NOT NULL,
  version text NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (xid, seq)
);

-- The dispatcher's lock (one row).
CREATE TABLE event_cursor (
  name text PRIMARY KEY,
  xid xid8 NOT NULL,
  seq bigint NOT NULL
);
INSERT INTO event_cursor (name, xid, seq) VALUES ('dispatch', '0', 0);

ALTER TABLE subscription
  ADD COLUMN topic text,
  ADD COLUMN filters text[],
  ADD COLUMN content text,
  ADD COLUMN heartbeat_seconds integer,
  ADD COLUMN events_since_start bigint NOT NULL DEFAULT 0,
  ADD COLUMN delivered_through bigint NOT NULL DEFAULT 0,
  ADD COLUMN last_delivery_at timestamptz,
  ADD COLUMN delivering_until timestamptz;

CREATE TABLE subscription_event (
  subscription_id text NOT NULL,
  event_number bigint NOT NULL,
  type text NOT NULL,
  resource_id text NOT NULL,
  version text NOT NULL,
  at timestamptz NOT NULL,
  PRIMARY KEY (subscription_id, event_number)
);

-- Subscriptions made before topics: their criteria is their one filter, and
-- a payload type meant id-only notifications.
UPDATE subscription s
   SET filters = ARRAY[h.content->>'criteria'],
       content = CASE WHEN h.content->'channel'->>'payload' IS NOT NULL THEN 'id-only' ELSE 'empty' END,
       heartbeat_seconds = 0
  FROM resource_history h
 WHERE h.resource_type = 'Subscription' AND h.id = s.id AND h.version = s.version AND s.filters IS NULL;
