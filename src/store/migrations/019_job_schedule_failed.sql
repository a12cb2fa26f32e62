-- The metrics count the jobs failed for good at every scrape (aiguillage_jobs_failed): without an
-- index that count reads the whole schedule (150 ms at 1,000,000 pending deadlines, per process and
-- per scrape); failed jobs are few, so a partial index of them is small.
CREATE INDEX job_schedule_failed ON job_schedule (queue) WHERE state = 'failed';
