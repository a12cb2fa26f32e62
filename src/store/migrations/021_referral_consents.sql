-- Consents of admission requests (issue 16): a Consent names its patient
-- (patient_id); a request names the consents it cites (consent_ids), whose
-- parties then read them.

ALTER TABLE sdo_consent ADD COLUMN patient_id text;
ALTER TABLE referral ADD COLUMN consent_ids text[] NOT NULL DEFAULT '{}';
CREATE INDEX referral_by_consent ON referral USING gin (consent_ids) WHERE module = 'referral';
