-- Directory (ROR guide): coded values as search tokens, the public's age
-- range, places' positions and capacities, the sender's own last update
-- (to ignore stale pushes), tags and region, and the national keys that
-- make re-pushes idempotent.

ALTER TABLE organization
  ADD COLUMN type_codes text[] NOT NULL DEFAULT '{}',
  ADD COLUMN postal_codes text[] NOT NULL DEFAULT '{}',
  ADD COLUMN source_updated_at timestamptz,
  ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
  ADD COLUMN region text,
  ADD COLUMN national_keys text[] NOT NULL DEFAULT '{}';
CREATE INDEX organization_type ON organization USING gin (type_codes);
CREATE INDEX organization_keys ON organization USING gin (national_keys);
CREATE INDEX organization_name ON organization (name_sort text_pattern_ops);

ALTER TABLE healthcare_service
  ADD COLUMN category_codes text[] NOT NULL DEFAULT '{}',
  ADD COLUMN type_codes text[] NOT NULL DEFAULT '{}',
  ADD COLUMN specialty_codes text[] NOT NULL DEFAULT '{}',
  ADD COLUMN characteristic_codes text[] NOT NULL DEFAULT '{}',
  ADD COLUMN age_low numeric,
  ADD COLUMN age_high numeric,
  ADD COLUMN source_updated_at timestamptz,
  ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
  ADD COLUMN region text,
  ADD COLUMN national_keys text[] NOT NULL DEFAULT '{}';
CREATE INDEX healthcare_service_category ON healthcare_service USING gin (category_codes);
CREATE INDEX healthcare_service_type ON healthcare_service USING gin (type_codes);
CREATE INDEX healthcare_service_specialty ON healthcare_service USING gin (specialty_codes);
CREATE INDEX healthcare_service_characteristic ON healthcare_service USING gin (characteristic_codes);
CREATE INDEX healthcare_service_keys ON healthcare_service USING gin (national_keys);
CREATE INDEX healthcare_service_locations ON healthcare_service USING gin (location_ids);
CREATE INDEX healthcare_service_name ON healthcare_service (name_sort text_pattern_ops);

ALTER TABLE location
  ADD COLUMN type_codes text[] NOT NULL DEFAULT '{}',
  ADD COLUMN postal_code text,
  ADD COLUMN city text,
  ADD COLUMN commune_cog text,
  ADD COLUMN latitude double precision,
  ADD COLUMN longitude double precision,
  ADD COLUMN capacities jsonb NOT NULL DEFAULT '[]',
  ADD COLUMN source_updated_at timestamptz,
  ADD COLUMN tags text[] NOT NULL DEFAULT '{}',
  ADD COLUMN region text,
  ADD COLUMN national_keys text[] NOT NULL DEFAULT '{}';
CREATE INDEX location_position ON location (latitude, longitude);
CREATE INDEX location_postal_code ON location (postal_code text_pattern_ops);
CREATE INDEX location_commune ON location (commune_cog);
CREATE INDEX location_type ON location USING gin (type_codes);
CREATE INDEX location_keys ON location USING gin (national_keys);
