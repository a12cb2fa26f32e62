-- The audit trail's entity index (GIN) takes a bulk write's records whole: a decision import chunk's
-- records name some 5,000 patients, decisions and tasks. With the default 4 MB pending list, every few
-- chunks one inserter merges the list into the index while the others wait on it. A larger list lets
-- the merges come rarely, in bulk (or from autovacuum); entity searches, for admins, read the list as well.
ALTER INDEX audit_event_by_entity SET (gin_pending_list_limit = 65536);
