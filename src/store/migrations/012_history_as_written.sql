-- Renderings are kept as the JSON text the gateway wrote (json), no longer
-- converted to PostgreSQL's binary form (jsonb). Nothing searches inside
-- them (search reads the domain tables), so the conversion only cost time
-- both ways: building jsonb was a fifth of PostgreSQL's work in a bulk
-- import, and every read converted it back to text. The text is also
-- smaller (a decision: ~1,270 bytes instead of ~1,440), and members keep
-- the order they were written in (resourceType and id first).
ALTER TABLE resource_history ALTER COLUMN content TYPE json USING content::json;
