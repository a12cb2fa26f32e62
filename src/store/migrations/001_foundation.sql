-- Foundation: history of FHIR renderings, identifier lookup, the first
-- domain tables (patients, structures, units, places), OAuth clients,
-- signing keys, and the job schedule that Redis only caches.

-- Every version of every resource, as the FHIR JSON it was rendered to.
CREATE TABLE resource_history (
  resource_type text NOT NULL,
  id text NOT NULL,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  content jsonb NOT NULL,
  PRIMARY KEY (resource_type, id, version)
);
CREATE INDEX resource_history_by_time ON resource_history (resource_type, last_updated, id);

-- Business identifiers of the current version of each resource ('' system when none).
CREATE TABLE resource_identifier (
  resource_type text NOT NULL,
  resource_id text NOT NULL,
  system text NOT NULL,
  value text NOT NULL,
  PRIMARY KEY (resource_type, resource_id, system, value)
);
CREATE INDEX resource_identifier_by_value ON resource_identifier (resource_type, value, system);

-- Patients (FR Core). owner_org: the organization whose client recorded the patient.
CREATE TABLE patient (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  active boolean,
  family text[] NOT NULL DEFAULT '{}',
  given text[] NOT NULL DEFAULT '{}',
  name_words text[] NOT NULL DEFAULT '{}',
  name_sort text,
  gender text,
  birth_date_low date,
  birth_date_high date,
  owner_org text
);
CREATE INDEX patient_by_time ON patient (last_updated, id);
CREATE INDEX patient_by_owner ON patient (owner_org);

-- Structures: legal entities (EJ) and sites (EG).
CREATE TABLE organization (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  active boolean,
  name text,
  name_sort text,
  part_of text
);
CREATE INDEX organization_by_time ON organization (last_updated, id);
CREATE INDEX organization_by_part_of ON organization (part_of);

-- Units (the ROR "offre"): what a request or a decision targets.
CREATE TABLE healthcare_service (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  active boolean,
  name text,
  name_sort text,
  organization_id text,
  location_ids text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX healthcare_service_by_time ON healthcare_service (last_updated, id);
CREATE INDEX healthcare_service_by_organization ON healthcare_service (organization_id);

-- Places (addresses, positions, capacities).
CREATE TABLE location (
  id text PRIMARY KEY,
  version integer NOT NULL,
  last_updated timestamptz NOT NULL,
  status text,
  name text,
  name_sort text,
  organization_id text
);
CREATE INDEX location_by_time ON location (last_updated, id);
CREATE INDEX location_by_organization ON location (organization_id);

-- Machine clients of the gateway (OAuth2 client_credentials).
CREATE TABLE oauth_client (
  id text PRIMARY KEY,
  name text NOT NULL,
  secret_hash text NOT NULL,
  roles text[] NOT NULL,
  organization text,
  active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The gateway's token signing keys (the newest signs; all verify).
CREATE TABLE signing_key (
  kid text PRIMARY KEY,
  private_jwk jsonb NOT NULL,
  public_jwk jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Background work. PostgreSQL is the truth; Redis/BullMQ only schedules it.
-- A row is written in the same transaction as the change that calls for it.
CREATE TABLE job_schedule (
  queue text NOT NULL,
  job_id text NOT NULL,
  data jsonb NOT NULL,
  run_at timestamptz NOT NULL,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  last_error text,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, job_id)
);
CREATE INDEX job_schedule_pending ON job_schedule (run_at) WHERE state = 'pending';
