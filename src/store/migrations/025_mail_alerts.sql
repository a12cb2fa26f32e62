-- E-mail alerts: a subscription's channel (rest-hook or email) and, for
-- e-mail, the digest period (0: one mail per delivery).
ALTER TABLE subscription
  ADD COLUMN channel text NOT NULL DEFAULT 'rest-hook',
  ADD COLUMN digest_seconds integer NOT NULL DEFAULT 0;
