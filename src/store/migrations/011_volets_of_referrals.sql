-- Volets (QuestionnaireResponse) belong to admission requests: an orientation
-- decision has none. The volet index held an empty entry for every decision
-- all the same (GIN indexes empty arrays); it now holds the requests' alone,
-- one GIN insert less per imported decision. Volet lookups name the module.
DROP INDEX referral_by_volet;
CREATE INDEX referral_by_volet ON referral USING gin (volet_ids) WHERE module = 'referral';
