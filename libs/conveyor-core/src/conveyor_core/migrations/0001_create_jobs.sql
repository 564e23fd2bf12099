-- Jobs are the source of truth; Redis only carries "job X is ready to run".
CREATE TABLE jobs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    task            text        NOT NULL,
    input           jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    result          jsonb,
    error           text,
    -- Incremented when a worker claims the job; also the fencing token that
    -- lets only the current attempt record a result.
    attempts        integer     NOT NULL DEFAULT 0,
    idempotency_key text        UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    -- NULL while the job still has to be put on the Redis stream (Redis was
    -- down at submit, or the job waits for a retry).
    dispatched_at   timestamptz,
    -- When the relay may dispatch it (a retry's backoff).
    dispatch_after  timestamptz NOT NULL DEFAULT now()
);

-- Newest-first listing with a (created_at, id) cursor, with and without a status filter.
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_status_created_idx ON jobs (status, created_at DESC, id DESC);
-- The relay's scan for jobs to (re)dispatch.
CREATE INDEX jobs_queued_idx ON jobs (dispatch_after) WHERE status = 'queued';
-- "Finished in the last minute".
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
