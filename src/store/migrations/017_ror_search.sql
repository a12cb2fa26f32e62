-- The ROR guide's search: the values of the parameters defined by a FHIRPath
-- expression (capacities, prices, intervention zone…), kept per parameter in
-- `search_values`, and the directory's professionals (Practitioner,
-- PractitionerRole). Existing rows get their values from the re-index run at
-- start (src/domain/directory/reindex.ts): FHIRPath is not evaluated in SQL.
-- NULL marks a row not indexed yet.

ALTER TABLE organization ADD COLUMN search_values jsonb;
ALTER TABLE healthcare_service ADD COLUMN search_values jsonb;
ALTER TABLE location ADD COLUMN search_values jsonb;
CREATE INDEX organization_search_values ON organization USING gin (search_values jsonb_path_ops);
CREATE INDEX healthcare_service_search_values ON healthcare_service USING gin (search_values jsonb_path_ops);
CREATE INDEX location_search_values ON location USING gin (search_values jsonb_path_ops);
CREATE INDEX location_search_values_pending ON location (id) WHERE search_values IS NULL;
CREATE INDEX organization_search_values_pending ON organization (id) WHERE search_values IS NULL;
CREATE INDEX healthcare_service_search_values_pending ON healthcare_service (id) WHERE search_values IS NULL;

CREATE TABLE practitioner (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  active boolean,
  name text,
  name_sort text,
  source_updated_at timestamptz,
  tags text[] NOT NULL DEFAULT '{}',
  region text,
  national_keys text[] NOT NULL DEFAULT '{}',
  search_values jsonb
);
CREATE INDEX practitioner_by_time ON practitioner (last_updated, id);
CREATE INDEX practitioner_keys ON practitioner USING gin (national_keys);
CREATE INDEX practitioner_name ON practitioner (name_sort text_pattern_ops);
CREATE INDEX practitioner_name_trgm ON practitioner USING gin (name_sort gin_trgm_ops);

CREATE TABLE practitioner_role (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  active boolean,
  practitioner_id text,
  organization_id text,
  service_ids text[] NOT NULL DEFAULT '{}',
  location_ids text[] NOT NULL DEFAULT '{}',
  source_updated_at timestamptz,
  tags text[] NOT NULL DEFAULT '{}',
  region text,
  national_keys text[] NOT NULL DEFAULT '{}',
  search_values jsonb
);
CREATE INDEX practitioner_role_by_time ON practitioner_role (last_updated, id);
CREATE INDEX practitioner_role_keys ON practitioner_role USING gin (national_keys);
CREATE INDEX practitioner_role_practitioner ON practitioner_role (practitioner_id);
CREATE INDEX practitioner_role_organization ON practitioner_role (organization_id);
CREATE INDEX practitioner_role_services ON practitioner_role USING gin (service_ids);

-- ROR instruction sheets ("fiches de consignes"): the forms that say how an offer is described.
CREATE TABLE questionnaire (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  status text,
  name text,
  name_sort text,
  source_updated_at timestamptz,
  tags text[] NOT NULL DEFAULT '{}',
  region text,
  national_keys text[] NOT NULL DEFAULT '{}',
  search_values jsonb
);
CREATE INDEX questionnaire_by_time ON questionnaire (last_updated, id);
CREATE INDEX questionnaire_keys ON questionnaire USING gin (national_keys);
CREATE INDEX questionnaire_search_values ON questionnaire USING gin (search_values jsonb_path_ops);
