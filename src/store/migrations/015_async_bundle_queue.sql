-- Asynchronous Bundles get a queue of their own (they shared ror-sync with the ROR pulls).
UPDATE job_schedule SET queue = 'async-bundle' WHERE queue = 'ror-sync' AND data->>'kind' = 'bundle';
