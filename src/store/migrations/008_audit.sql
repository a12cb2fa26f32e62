-- The audit trail: one row per interaction with patient data (read, search,
-- write, operation), successful or not. A write's row commits in the same
-- transaction as the write; rendered as FHIR AuditEvent for `admin`.
CREATE TABLE audit_event (
  id text PRIMARY KEY,
  recorded timestamptz NOT NULL,
  -- FHIR AuditEvent.action: C R U D E
  action text NOT NULL CHECK (action IN ('C', 'R', 'U', 'D', 'E')),
  -- The RESTful interaction (read, vread, history-instance, search-type, create, update…) or the operation ($remind…).
  interaction text NOT NULL,
  -- FHIR AuditEvent.outcome: 0 success, 4 minor failure (the request was refused), 8 serious failure.
  outcome text NOT NULL CHECK (outcome IN ('0', '4', '8', '12')),
  status integer NOT NULL,
  client_id text,
  organization text,
  roles text[] NOT NULL DEFAULT '{}',
  source_ip text,
  request_id text,
  resource_type text,
  -- The resources concerned, as Type/id, with their versions when known (0: none).
  entities text[] NOT NULL DEFAULT '{}',
  versions integer[] NOT NULL DEFAULT '{}',
  -- The search or the operation's query string, and the reason of a failure.
  query text,
  detail text
);
CREATE INDEX audit_event_by_time ON audit_event (recorded, id);
CREATE INDEX audit_event_by_entity ON audit_event USING gin (entities);
CREATE INDEX audit_event_by_client ON audit_event (client_id, recorded);
