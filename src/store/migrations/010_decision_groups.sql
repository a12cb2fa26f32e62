-- Indicators read the valid decisions of each department and ESMS category
-- person by person. This index holds what they need in that order, so they
-- read it alone (an index-only scan, once an import has vacuumed the table)
-- and group as they go, instead of scanning the whole referral table and
-- hashing every person: 1,000,000 imported rows, about 1.0 s → 0.55 s.
CREATE INDEX referral_decision_group ON referral (department, esms_category, individual) INCLUDE (status, validity_start, validity_end, creton) WHERE module = 'decision';
