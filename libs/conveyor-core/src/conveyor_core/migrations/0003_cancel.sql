-- Cancel: a queued job becomes 'canceled' at once; a running one is asked to
-- stop (cancel_requested_at), and its worker records 'canceled'.
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled'));
ALTER TABLE jobs ADD COLUMN cancel_requested_at timestamptz;
