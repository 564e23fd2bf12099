-- Retention: the workers delete finished jobs older than their status's
-- retention, oldest first, in small batches.
CREATE INDEX jobs_retention_idx ON jobs (status, finished_at) WHERE finished_at IS NOT NULL;
