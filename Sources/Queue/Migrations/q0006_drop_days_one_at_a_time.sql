-- queue.prune drops one day per transaction (q0005's function dropped every old day in one).
-- Dropping a day locks jobs_finished until its transaction ends, and every job that finishes
-- meanwhile waits for it: one day at a time, a completion waits for one DROP, not for sixteen.
-- With at_most, the oldest days go first and the call stops after that many; without it, the
-- function drops every day that ended before `before`, as q0005's did (daemons of that version
-- call it so).
DROP FUNCTION evently_jobs.drop_finished_partitions(timestamptz);

CREATE FUNCTION evently_jobs.drop_finished_partitions(before timestamptz, at_most integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SET lock_timeout = '500ms' AS $$
DECLARE
    day_partition record;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('evently_jobs.finished_partitions'));
    FOR day_partition IN
        SELECT c.relname AS name
        FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'evently_jobs.jobs_finished'::regclass
          AND c.relname ~ '^jobs_finished_[0-9]{8}$'
          AND (to_date(substr(c.relname, length('jobs_finished_') + 1), 'YYYYMMDD') + 1)::timestamp AT TIME ZONE 'UTC' <= before
        ORDER BY c.relname
        LIMIT at_most
    LOOP
        EXECUTE format('DROP TABLE evently_jobs.%I', day_partition.name);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;
