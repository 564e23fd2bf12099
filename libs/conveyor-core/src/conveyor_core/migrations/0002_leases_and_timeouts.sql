-- Leases: a running attempt is held by one worker until lease_until, which
-- that worker's heartbeat keeps renewing; once it has passed, any worker puts
-- the job back in the queue (the attempt number fences the old holder out).
ALTER TABLE jobs
    ADD COLUMN worker          text,
    ADD COLUMN lease_until     timestamptz,
    -- How long one attempt may run: the task's default unless the submit asked.
    ADD COLUMN timeout_seconds double precision;

-- Attempts running when this migration ran were started by workers that
-- renew no lease: give them a generous one instead of sweeping them at once.
UPDATE jobs SET lease_until = now() + interval '10 minutes' WHERE status = 'running';

-- The sweep for expired leases.
CREATE INDEX jobs_lease_idx ON jobs (lease_until) WHERE status = 'running';
-- The relay's scan for jobs that are not on the stream, and the check for
-- entries dispatched long ago and never claimed.
DROP INDEX jobs_queued_idx;
CREATE INDEX jobs_undispatched_idx ON jobs (dispatch_after) WHERE status = 'queued' AND dispatched_at IS NULL;
CREATE INDEX jobs_dispatched_idx ON jobs (dispatched_at) WHERE status = 'queued';

-- The Redis data set the stream entries of dispatched jobs live in (its
-- server's run_id and a marker key): when it changes, Redis may have lost
-- entries, and every queued job is dispatched again.
CREATE TABLE redis_epoch (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    epoch      text        NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
