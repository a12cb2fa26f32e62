-- Referral indicators (issue 17): each referral task keeps the facts the
-- indicators count (when it was sent, first read, first answered, the
-- patient admitted; the care asked; the unit's and the prescriber's
-- departments), and a rollup refreshed in the background holds, per month,
-- department, care and unit, the counts and the delays' median and 90th
-- percentile, so that reading the indicators costs a few index reads whatever
-- the number of requests.

-- The department of a postal code: two characters, three overseas (97x, 98x).
CREATE FUNCTION department_of(postal text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN postal IS NULL OR postal = '' THEN NULL WHEN left(postal, 2) IN ('97', '98') THEN left(postal, 3) ELSE left(postal, 2) END
$$;

ALTER TABLE task
  ADD COLUMN sent_at timestamptz,
  ADD COLUMN read_at timestamptz,
  ADD COLUMN answered_at timestamptz,
  ADD COLUMN care text,
  ADD COLUMN unit_department text,
  ADD COLUMN origin_department text;

-- Tasks made before: sent when created.
UPDATE task t SET sent_at = (SELECT min(h.last_updated) FROM resource_history h WHERE h.resource_type = 'Task' AND h.id = t.id)
 WHERE t.module = 'referral';

CREATE TABLE referral_indicator (
  month date NOT NULL,
  department text NOT NULL,
  care text NOT NULL,
  unit_id text NOT NULL,
  sent integer NOT NULL,
  read integer NOT NULL,
  answered integer NOT NULL,
  answer_median_hours double precision,
  answer_p90_hours double precision,
  admitted integer NOT NULL,
  admission_median_days double precision,
  admission_p90_days double precision,
  refused integer NOT NULL,
  cancelled integer NOT NULL,
  auto_cancelled integer NOT NULL,
  PRIMARY KEY (month, department, care, unit_id)
);

CREATE TABLE referral_indicator_reason (
  month date NOT NULL,
  department text NOT NULL,
  care text NOT NULL,
  unit_id text NOT NULL,
  status text NOT NULL,
  reason text NOT NULL,
  count integer NOT NULL,
  PRIMARY KEY (month, department, care, unit_id, status, reason)
);

CREATE TABLE referral_flow (
  month date NOT NULL,
  origin_department text NOT NULL,
  department text NOT NULL,
  care text NOT NULL,
  sent integer NOT NULL,
  admitted integer NOT NULL,
  PRIMARY KEY (month, origin_department, department, care)
);

-- When the rollup was last computed (one row).
CREATE TABLE referral_indicator_state (
  name text PRIMARY KEY,
  refreshed_at timestamptz
);
INSERT INTO referral_indicator_state (name, refreshed_at) VALUES ('rollup', NULL);
