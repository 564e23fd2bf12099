-- Scheduled jobs: due at run_at (what the submit asked, as run_at or
-- delay_seconds). They wait in PostgreSQL, dispatch_after = run_at, until the
-- relay puts them on the stream.
ALTER TABLE jobs ADD COLUMN run_at timestamptz;
