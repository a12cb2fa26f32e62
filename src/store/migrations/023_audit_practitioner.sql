-- The professional a software client acts for (from the identity
-- provider's token, e.g. Pro Santé Connect): national identifier, name,
-- profession; the AuditEvent names them beside the software.
ALTER TABLE audit_event ADD COLUMN practitioner jsonb;
