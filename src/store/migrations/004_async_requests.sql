-- Requests accepted with "Prefer: respond-async": the input, the progress,
-- and one response per Bundle entry, appended chunk by chunk so that a crash
-- resumes after the last committed chunk.
CREATE TABLE async_request (
  id text PRIMARY KEY,
  kind text NOT NULL,
  client_id text NOT NULL,
  principal jsonb NOT NULL,
  input jsonb NOT NULL,
  state text NOT NULL DEFAULT 'accepted' CHECK (state IN ('accepted', 'in-progress', 'completed', 'failed', 'cancelled')),
  total integer NOT NULL DEFAULT 0,
  processed integer NOT NULL DEFAULT 0,
  error jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE async_request_entry (
  request_id text NOT NULL REFERENCES async_request (id) ON DELETE CASCADE,
  index integer NOT NULL,
  response jsonb NOT NULL,
  PRIMARY KEY (request_id, index)
);
