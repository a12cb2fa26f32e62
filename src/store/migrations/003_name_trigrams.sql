-- Directory names are searched with "contains": trigram indexes keep that fast.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX healthcare_service_name_trgm ON healthcare_service USING gin (name_sort gin_trgm_ops);
CREATE INDEX organization_name_trgm ON organization USING gin (name_sort gin_trgm_ops);
CREATE INDEX location_name_trgm ON location USING gin (name_sort gin_trgm_ops);
