-- Pulls from a ROR FHIR API: where each one stands, so that a crash or a
-- restart resumes it (the $export status URL and files, the next page of a
-- delta), and what it did. At most one runs at a time.
CREATE TABLE ror_sync (
  id text PRIMARY KEY,
  mode text NOT NULL CHECK (mode IN ('full', 'delta')),
  state text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'completed', 'failed')),
  since timestamptz,
  started_at timestamptz NOT NULL,
  status_url text,
  files jsonb,
  file_index integer NOT NULL DEFAULT 0,
  file_offset integer NOT NULL DEFAULT 0,
  next_url text,
  applied integer NOT NULL DEFAULT 0,
  skipped integer NOT NULL DEFAULT 0,
  rejected integer NOT NULL DEFAULT 0,
  errors jsonb NOT NULL DEFAULT '[]',
  finished_at timestamptz,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ror_sync_one_running ON ror_sync ((true)) WHERE state = 'running';
