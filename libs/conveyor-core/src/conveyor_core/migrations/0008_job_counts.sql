-- /api/stats at a constant cost: jobs per status and jobs finished per second
-- are maintained by statement-level triggers, not counted per request.
--
-- The triggers append deltas (one row per status a statement changed) rather
-- than update one counter row: concurrent submits would all queue on that
-- row's lock until their commit. fold_job_counts(), called every second or
-- so, sums the deltas into job_counts and job_finished_seconds; a read adds
-- the few deltas not folded yet.
CREATE TABLE job_counts (status text PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE job_count_deltas (
    status text NOT NULL,  -- a job status, or '_finished': jobs that reached a final status
    n      bigint NOT NULL,
    at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE job_finished_seconds (at timestamptz PRIMARY KEY, n bigint NOT NULL);

CREATE FUNCTION job_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_deltas (status, n) SELECT status, count(*) FROM new_rows GROUP BY status;
    RETURN NULL;
END $$;

CREATE FUNCTION job_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_deltas (status, n)
    SELECT status, sum(n) FROM (
        SELECT status, 1 AS n FROM new_rows UNION ALL SELECT status, -1 FROM old_rows
    ) AS changes GROUP BY status HAVING sum(n) <> 0;
    INSERT INTO job_count_deltas (status, n)
    SELECT '_finished', count(*) FROM new_rows AS a JOIN old_rows AS b USING (id)
    WHERE a.finished_at IS NOT NULL AND b.finished_at IS NULL HAVING count(*) > 0;
    RETURN NULL;
END $$;

CREATE FUNCTION job_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO job_count_deltas (status, n) SELECT status, -count(*) FROM old_rows GROUP BY status;
    RETURN NULL;
END $$;

CREATE FUNCTION job_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_counts;
    DELETE FROM job_count_deltas;
    DELETE FROM job_finished_seconds;
    RETURN NULL;
END $$;

CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION job_counts_insert();
CREATE TRIGGER job_counts_update AFTER UPDATE ON jobs REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION job_counts_update();
CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION job_counts_delete();
CREATE TRIGGER job_counts_truncate AFTER TRUNCATE ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION job_counts_truncate();

-- One folder at a time (a second caller returns at once); per-second buckets
-- older than two minutes are dropped.
CREATE FUNCTION fold_job_counts() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('fold_job_counts')) THEN
        RETURN;
    END IF;
    WITH folded AS (DELETE FROM job_count_deltas RETURNING status, n, at),
    counts AS (
        INSERT INTO job_counts (status, n)
        SELECT status, sum(n) FROM folded WHERE status <> '_finished' GROUP BY status
        ON CONFLICT (status) DO UPDATE SET n = job_counts.n + excluded.n
    )
    INSERT INTO job_finished_seconds (at, n)
    SELECT date_trunc('second', at), sum(n) FROM folded WHERE status = '_finished' GROUP BY 1
    ON CONFLICT (at) DO UPDATE SET n = job_finished_seconds.n + excluded.n;
    DELETE FROM job_finished_seconds WHERE at < now() - interval '2 minutes';
END $$;

-- The rows that exist already, counted once. Jobs written while this runs
-- wait for its lock on the table, so none is missed or counted twice.
LOCK TABLE jobs IN SHARE MODE;
INSERT INTO job_counts (status, n) SELECT status, count(*) FROM jobs GROUP BY status;
