-- The national keys are looked up by every directory write (which resource holds this key?), hundreds
-- of keys at once for a batch. With GIN's fast update, new entries wait in a pending list that every
-- lookup reads whole and compares against each of its keys: during a bulk push most of PostgreSQL's
-- time went there. Written straight into the index, an entry costs a little more once and nothing after.
ALTER INDEX organization_keys SET (fastupdate = off);
ALTER INDEX healthcare_service_keys SET (fastupdate = off);
ALTER INDEX location_keys SET (fastupdate = off);
