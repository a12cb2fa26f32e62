-- Orientation decisions (module Handicap). A decision is a ServiceRequest and
-- each targeted ESMS a Task, in the same tables as admission requests (one
-- FHIR type, one table, one access rule), told apart by `module`, with the
-- decision's own columns. MDPH files are kept in PostgreSQL while they are
-- imported, so that any worker resumes an import where it stopped.

ALTER TABLE referral
  ADD COLUMN module text NOT NULL DEFAULT 'referral',
  ADD COLUMN department text,
  ADD COLUMN individual text,
  ADD COLUMN birth_date date,
  ADD COLUMN esms_category text,
  ADD COLUMN validity_start date,
  ADD COLUMN validity_end date,
  ADD COLUMN creton boolean,
  ADD COLUMN level_esms smallint,
  ADD COLUMN level_pro smallint;
CREATE INDEX referral_decision_validity ON referral (department, validity_end) WHERE module = 'decision';
CREATE INDEX referral_decision_person ON referral (individual, birth_date) WHERE module = 'decision';

ALTER TABLE task
  ADD COLUMN module text NOT NULL DEFAULT 'referral',
  ADD COLUMN esms_finess text,
  ADD COLUMN claimed boolean NOT NULL DEFAULT false,
  ADD COLUMN status_reason text,
  -- when the ESMS was notified, and when it first admitted the person (admission delay)
  ADD COLUMN notified_at timestamptz,
  ADD COLUMN admitted_at timestamptz,
  -- the decision's department, category, person and validity, copied so that indicators read tasks alone
  ADD COLUMN department text,
  ADD COLUMN esms_category text,
  ADD COLUMN individual text,
  ADD COLUMN validity_start date,
  ADD COLUMN validity_end date;
CREATE INDEX task_decision_status ON task (business_status) WHERE module = 'decision';
CREATE INDEX task_decision_admitted ON task (department, esms_category) WHERE module = 'decision' AND admitted_at IS NOT NULL;

-- Every key of an organization named by one `system|value` key: that key, and the id and identifiers of the Organization(s) holding it.
CREATE FUNCTION organization_keys(key_system text, key_value text) RETURNS text[] LANGUAGE sql STABLE AS $$
  SELECT ARRAY[key_system || '|' || key_value] || coalesce((
    SELECT array_agg(DISTINCT k) FROM (
      SELECT 'Organization/' || o.resource_id AS k FROM resource_identifier o
       WHERE o.resource_type = 'Organization' AND o.system = key_system AND o.value = key_value
      UNION
      SELECT i.system || '|' || i.value FROM resource_identifier o
        JOIN resource_identifier i ON i.resource_type = 'Organization' AND i.resource_id = o.resource_id AND i.system <> ''
       WHERE o.resource_type = 'Organization' AND o.system = key_system AND o.value = key_value
    ) keys WHERE k <> key_system || '|' || key_value), '{}')
$$;

CREATE TABLE decision_import (
  id text PRIMARY KEY,
  department text NOT NULL,
  principal jsonb NOT NULL,
  encoding text NOT NULL,
  state text NOT NULL DEFAULT 'accepted' CHECK (state IN ('accepted', 'in-progress', 'completed', 'failed')),
  bytes bigint NOT NULL DEFAULT 0,
  rows_done integer NOT NULL DEFAULT 0,
  rows_ok integer NOT NULL DEFAULT 0,
  rows_rejected integer NOT NULL DEFAULT 0,
  error text,
  -- 'csv', or 'bundle' (decisions sent as FHIR: the file is made from the Bundle,
  -- and line_entries gives the entry of each of its rows, for the report)
  source text NOT NULL DEFAULT 'csv',
  line_entries jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- The uploaded file, in pieces, until its import completes.
CREATE TABLE decision_import_part (
  import_id text NOT NULL REFERENCES decision_import (id) ON DELETE CASCADE,
  seq integer NOT NULL,
  data bytea NOT NULL,
  PRIMARY KEY (import_id, seq)
);

-- The chunks applied so far (numbered in file order; a chunk ends on a change of decision, so
-- the rows of one decision stay together): chunks commit independently, several at a time,
-- and a resumed import skips those recorded here.
CREATE TABLE decision_import_chunk (
  import_id text NOT NULL REFERENCES decision_import (id) ON DELETE CASCADE,
  chunk_no integer NOT NULL,
  last_row integer NOT NULL,
  rows integer NOT NULL,
  rows_ok integer NOT NULL,
  rows_rejected integer NOT NULL,
  PRIMARY KEY (import_id, chunk_no)
);

CREATE TABLE decision_import_error (
  import_id text NOT NULL REFERENCES decision_import (id) ON DELETE CASCADE,
  row_number integer NOT NULL,
  column_name text NOT NULL,
  reason text NOT NULL,
  PRIMARY KEY (import_id, row_number, column_name)
);
