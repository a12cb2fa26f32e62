-- Security hardening (issue 13).

-- Refusals of unauthenticated callers are counted, not stored one by one: one
-- row per minute, address, interaction and status (aggregate_key), whose
-- count grows, so that a flood of bad tokens cannot grow the table at its pace.
ALTER TABLE audit_event ADD COLUMN count integer NOT NULL DEFAULT 1;
ALTER TABLE audit_event ADD COLUMN last_recorded timestamptz;
ALTER TABLE audit_event ADD COLUMN aggregate_key text COLLATE "C";
CREATE UNIQUE INDEX audit_event_aggregate ON audit_event (aggregate_key) WHERE aggregate_key IS NOT NULL;
CREATE INDEX audit_event_by_interaction ON audit_event (interaction, recorded);

-- Failed `$claim`s, by client and by individual number (hashed), for the lockout.
CREATE TABLE claim_failure (
  key text COLLATE "C" NOT NULL,
  at timestamptz NOT NULL
);
CREATE INDEX claim_failure_by_key ON claim_failure (key, at);

-- Client lifecycle: secret expiry, revocation of the tokens issued before a
-- date (deactivation, rotation), registered public keys (private_key_jwt).
ALTER TABLE oauth_client ADD COLUMN secret_expires_at timestamptz;
ALTER TABLE oauth_client ADD COLUMN tokens_valid_after timestamptz;
ALTER TABLE oauth_client ADD COLUMN jwks jsonb;
ALTER TABLE oauth_client ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
-- A deleted client keeps its row (audit events and subscriptions name it), without credentials.
ALTER TABLE oauth_client ADD COLUMN deleted_at timestamptz;
ALTER TABLE oauth_client ALTER COLUMN secret_hash DROP NOT NULL;

-- Client assertions (private_key_jwt) already used, until they expire: each is accepted once.
CREATE TABLE client_assertion (
  jti text COLLATE "C" PRIMARY KEY,
  client_id text NOT NULL,
  expires_at timestamptz NOT NULL
);
