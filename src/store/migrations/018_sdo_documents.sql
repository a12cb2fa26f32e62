-- The SDO guide's DocumentReference (sdo-document-reference: a decision's
-- file) and Consent (esms-consent: a person's agreement recorded by an ESMS).
-- Each row has its writer (owner_org) and the parties of the decision it
-- names, when the gateway could tell which (party_keys: the decision's MDPH,
-- and, for what an MDPH writes, the ESMS its decision targets).

CREATE TABLE sdo_document (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  status text,
  owner_org text,
  decision_id text,
  party_keys text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX sdo_document_by_time ON sdo_document (last_updated, id);
CREATE INDEX sdo_document_by_parties ON sdo_document USING gin (party_keys);
CREATE INDEX sdo_document_by_decision ON sdo_document (decision_id);

CREATE TABLE sdo_consent (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  status text,
  owner_org text,
  decision_id text,
  party_keys text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX sdo_consent_by_time ON sdo_consent (last_updated, id);
CREATE INDEX sdo_consent_by_parties ON sdo_consent USING gin (party_keys);
CREATE INDEX sdo_consent_by_decision ON sdo_consent (decision_id);
