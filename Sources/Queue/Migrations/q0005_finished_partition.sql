-- Finished jobs out of the table the queue works in (issue 15, "history at volume").
--
-- A state change is never a HOT update (state is in the partial indexes), so PostgreSQL puts a
-- job's new row version on its own page if it fits and otherwise wherever the free space map
-- offers room. Beside millions of finished jobs that was a cold history page per state change:
-- the drain beside 10 million finished jobs ran at 0.65 of the empty table's rate (BENCHMARKS.md).
--
-- evently_jobs.jobs is now partitioned:
--   jobs_unfinished          available, scheduled, running, retryable: the work, small and hot
--   jobs_finished            completed, cancelled, discarded, partitioned by finalized_at:
--     jobs_finished_legacy     everything finished before this migration (the old table itself)
--     jobs_finished_YYYYMMDD   one per UTC day, made a few days ahead (prepare_finished_partitions)
--     jobs_finished_default    anything no day's partition takes (made ahead too late)
-- A job that finishes moves from jobs_unfinished into the day's partition (an UPDATE of the
-- state is a DELETE and an INSERT under the hood), so new rows only ever go to pages written
-- today, however much history is kept; a retention drops whole days (drop_finished_partitions).
-- Every query on evently_jobs.jobs reads and writes as before; the planner reads only the
-- partitions its states and times can be in.
--
-- What partitioning costs, and how the rest follows:
-- * A unique index of a partitioned table must contain its partition key, so the primary key on
--   id and jobs_unique_key_idx (held by unfinished jobs only) are each partition's own. Ids come
--   from one sequence (the identity's, continued), so they stay unique across all of them.
-- * INSERT ... ON CONFLICT needs an index on the table it names: enqueues with a unique key insert
--   into jobs_unfinished (a new job is never finished), as enqueue_job below does.
-- * A statement that waits on a row a concurrent transaction moved to another partition fails
--   with SQLSTATE 40001 instead of reading the row again; the daemon's statements retry
--   (JobQueries.retryingMovedRows).
-- * A look-up by id alone reads each partition's primary key: one more index probe per day kept.
--
-- The existing table becomes jobs_finished_legacy in place, with its indexes: only unfinished rows
-- are copied (the queue's working set, not the history), so this runs in seconds beside millions
-- of finished jobs. One scan of the table checks that the rest is finished before it is attached.

-- Nothing may insert or finish a job until the table is rebuilt: an id handed out between the
-- sequence's copy and the identity's end would be handed out again, and a job finished after the
-- legacy partition's bound is taken would not fit in it. (Daemons of an older version fail their
-- statements meanwhile and retry; they must be stopped anyway, README "Migrations".)
LOCK TABLE evently_jobs.jobs IN ACCESS EXCLUSIVE MODE;

-- Ids continue from the identity's sequence, which goes with the identity (a partitioned table
-- cannot have one in PostgreSQL 15); the new sequence then takes its name.
CREATE SEQUENCE evently_jobs.jobs_id_continued AS bigint;
SELECT setval('evently_jobs.jobs_id_continued',
              greatest(coalesce(pg_sequence_last_value(pg_get_serial_sequence('evently_jobs.jobs', 'id')), 0),
                       coalesce((SELECT max(id) FROM evently_jobs.jobs), 0), 1));
ALTER TABLE evently_jobs.jobs ALTER COLUMN id DROP IDENTITY;
ALTER SEQUENCE evently_jobs.jobs_id_continued RENAME TO jobs_id_seq;

ALTER TABLE evently_jobs.jobs RENAME TO jobs_finished_legacy;
DROP TRIGGER jobs_notify_inserted ON evently_jobs.jobs_finished_legacy;
ALTER TABLE evently_jobs.jobs_finished_legacy RENAME CONSTRAINT jobs_pkey TO jobs_finished_legacy_pkey;
ALTER INDEX evently_jobs.jobs_claimable_idx RENAME TO jobs_finished_legacy_claimable_idx;
ALTER INDEX evently_jobs.jobs_running_lease_idx RENAME TO jobs_finished_legacy_running_lease_idx;
ALTER INDEX evently_jobs.jobs_finalized_idx RENAME TO jobs_finished_legacy_finalized_idx;
ALTER INDEX evently_jobs.jobs_attention_idx RENAME TO jobs_finished_legacy_attention_idx;
ALTER INDEX evently_jobs.jobs_kind_id_idx RENAME TO jobs_finished_legacy_kind_id_idx;
ALTER INDEX evently_jobs.jobs_queue_id_idx RENAME TO jobs_finished_legacy_queue_id_idx;
ALTER INDEX evently_jobs.jobs_created_idx RENAME TO jobs_finished_legacy_created_idx;
ALTER INDEX evently_jobs.jobs_discarded_idx RENAME TO jobs_finished_legacy_discarded_idx;
ALTER INDEX evently_jobs.jobs_failing_idx RENAME TO jobs_finished_legacy_failing_idx;
ALTER INDEX evently_jobs.jobs_retryable_idx RENAME TO jobs_finished_legacy_retryable_idx;
-- No finished job holds a unique key.
DROP INDEX evently_jobs.jobs_unique_key_idx;

CREATE TABLE evently_jobs.jobs (LIKE evently_jobs.jobs_finished_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY LIST (state);
ALTER TABLE evently_jobs.jobs ALTER COLUMN id SET DEFAULT nextval('evently_jobs.jobs_id_seq');
ALTER SEQUENCE evently_jobs.jobs_id_seq OWNED BY evently_jobs.jobs.id;

CREATE TABLE evently_jobs.jobs_unfinished PARTITION OF evently_jobs.jobs (PRIMARY KEY (id))
    FOR VALUES IN ('available', 'scheduled', 'running', 'retryable');
CREATE TABLE evently_jobs.jobs_finished PARTITION OF evently_jobs.jobs
    FOR VALUES IN ('completed', 'cancelled', 'discarded')
    PARTITION BY RANGE (finalized_at);
CREATE TABLE evently_jobs.jobs_finished_default PARTITION OF evently_jobs.jobs_finished (PRIMARY KEY (id)) DEFAULT;

WITH moved AS (
    DELETE FROM evently_jobs.jobs_finished_legacy WHERE state IN ('available', 'scheduled', 'running', 'retryable')
    RETURNING *
)
INSERT INTO evently_jobs.jobs_unfinished SELECT * FROM moved;

-- Makes the partitions of the UTC days from `first` days after today (tomorrow by default) up
-- to `days` days ahead that are missing, and returns how many it made. Each is made alone and
-- attached (which does not stop reads or writes of the jobs, unlike CREATE TABLE ... PARTITION
-- OF); a day whose jobs already went to jobs_finished_default is left to it. The daemon calls
-- this at start and hourly, queue.prune every run. (Days before today overlap the legacy
-- partition's range unless it was dropped: `evently-jobs bench --history` does so on its own
-- empty database to lay a history out by day.)
CREATE FUNCTION evently_jobs.prepare_finished_partitions(days integer DEFAULT 3, first integer DEFAULT 1) RETURNS integer
LANGUAGE plpgsql SET lock_timeout = '500ms' AS $$
DECLARE
    today date := (now() AT TIME ZONE 'UTC')::date;
    day date;
    name text;
    made integer := 0;
BEGIN
    -- Daemons starting together wait for one another instead of making the same table twice.
    PERFORM pg_advisory_xact_lock(hashtext('evently_jobs.finished_partitions'));
    FOR ahead IN first..days LOOP
        day := today + ahead;
        name := 'jobs_finished_' || to_char(day, 'YYYYMMDD');
        CONTINUE WHEN to_regclass('evently_jobs.' || name) IS NOT NULL;
        CONTINUE WHEN EXISTS (SELECT 1 FROM evently_jobs.jobs_finished_default
                              WHERE finalized_at >= day::timestamp AT TIME ZONE 'UTC'
                                AND finalized_at < (day + 1)::timestamp AT TIME ZONE 'UTC');
        EXECUTE format('CREATE TABLE evently_jobs.%I (LIKE evently_jobs.jobs INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY (id))', name);
        EXECUTE format('ALTER TABLE evently_jobs.jobs_finished ATTACH PARTITION evently_jobs.%I FOR VALUES FROM (%L) TO (%L)',
                       name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC');
        made := made + 1;
    END LOOP;
    RETURN made;
END
$$;

-- Drops the days' partitions whose jobs all finished before `before` (the retention's cut-off),
-- and returns how many it dropped. What is left older than the cut-off (in jobs_finished_legacy,
-- jobs_finished_default, or the day the cut-off falls in) is deleted row by row by queue.prune.
CREATE FUNCTION evently_jobs.drop_finished_partitions(before timestamptz) RETURNS integer
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
    LOOP
        EXECUTE format('DROP TABLE evently_jobs.%I', day_partition.name);
        dropped := dropped + 1;
    END LOOP;
    RETURN dropped;
END
$$;

-- The legacy table holds what finished before now; today's jobs from now on go to today's partition.
-- "Now" is this transaction's start, or just after the last job that finished before the lock
-- above (a transaction that began later and committed before it).
DO $$
DECLARE
    cutoff timestamptz := greatest(now(), (SELECT max(finalized_at) + interval '1 microsecond'
                                           FROM evently_jobs.jobs_finished_legacy
                                           WHERE state IN ('completed', 'cancelled', 'discarded')));
    tomorrow timestamptz := ((cutoff AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC';
    today_name text := 'jobs_finished_' || to_char((cutoff AT TIME ZONE 'UTC')::date, 'YYYYMMDD');
BEGIN
    -- The constraint lets ATTACH skip its own scan of the table; the partition bound replaces it.
    EXECUTE format('ALTER TABLE evently_jobs.jobs_finished_legacy ADD CONSTRAINT jobs_finished_legacy_bound
                    CHECK (state IN (''completed'', ''cancelled'', ''discarded'') AND finalized_at IS NOT NULL AND finalized_at < %L)',
                   cutoff);
    EXECUTE format('ALTER TABLE evently_jobs.jobs_finished ATTACH PARTITION evently_jobs.jobs_finished_legacy
                    FOR VALUES FROM (MINVALUE) TO (%L)', cutoff);
    ALTER TABLE evently_jobs.jobs_finished_legacy DROP CONSTRAINT jobs_finished_legacy_bound;
    EXECUTE format('CREATE TABLE evently_jobs.%I PARTITION OF evently_jobs.jobs_finished (PRIMARY KEY (id))
                    FOR VALUES FROM (%L) TO (%L)', today_name, cutoff, tomorrow);
END
$$;
SELECT evently_jobs.prepare_finished_partitions();

-- The indexes of q0001, q0003 and q0004 on the partitioned table, under their names. Each is
-- matched with the legacy table's index of the same definition (attached, not built again)
-- and built on jobs_unfinished. Partial indexes whose states are all in one partition stay empty
-- in the other; they are kept so that every plan that used them still finds them.
CREATE INDEX jobs_claimable_idx ON evently_jobs.jobs (queue, priority, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');
CREATE INDEX jobs_running_lease_idx ON evently_jobs.jobs (lease_expires_at)
    WHERE state = 'running';
CREATE INDEX jobs_finalized_idx ON evently_jobs.jobs (finalized_at) INCLUDE (queue, state)
    WHERE state IN ('completed', 'cancelled', 'discarded');
CREATE INDEX jobs_attention_idx ON evently_jobs.jobs (id) INCLUDE (state, queue, kind, run_at)
    WHERE state IN ('available', 'scheduled', 'running', 'retryable', 'cancelled', 'discarded');
CREATE INDEX jobs_kind_id_idx ON evently_jobs.jobs (kind, id) INCLUDE (state, queue);
CREATE INDEX jobs_queue_id_idx ON evently_jobs.jobs (queue, id) INCLUDE (state, kind);
CREATE INDEX jobs_created_idx ON evently_jobs.jobs (created_at);
CREATE INDEX jobs_discarded_idx ON evently_jobs.jobs (finalized_at) INCLUDE (queue, kind)
    WHERE state = 'discarded';
CREATE INDEX jobs_failing_idx ON evently_jobs.jobs (kind, (coalesce(left(errors -> -1 ->> 'error', 300), '')), id)
    WHERE state IN ('discarded', 'retryable');
CREATE INDEX jobs_retryable_idx ON evently_jobs.jobs ((coalesce(attempted_at, created_at)))
    WHERE state = 'retryable';

-- The indexes made on jobs_unfinished and jobs_finished got names from their columns; name them
-- as their parents (jobs_claimable_idx -> jobs_unfinished_claimable_idx), so plans read as before.
-- (Those of the days' partitions keep the names PostgreSQL gives them.)
DO $$
DECLARE
    made record;
BEGIN
    FOR made IN
        SELECT child.relname AS name, parent.relname AS parent_name, tab.relname AS table_name
        FROM pg_index AS x
        JOIN pg_class AS child ON child.oid = x.indexrelid
        JOIN pg_class AS tab ON tab.oid = x.indrelid
        JOIN pg_inherits AS i ON i.inhrelid = x.indexrelid
        JOIN pg_class AS parent ON parent.oid = i.inhparent
        WHERE x.indrelid IN ('evently_jobs.jobs_unfinished'::regclass, 'evently_jobs.jobs_finished'::regclass)
    LOOP
        EXECUTE format('ALTER INDEX evently_jobs.%I RENAME TO %I',
                       made.name, made.table_name || '_' || substr(made.parent_name, length('jobs_') + 1));
    END LOOP;
END
$$;

-- A unique key is held only while its job is unfinished: the index lives where those jobs are.
CREATE UNIQUE INDEX jobs_unique_key_idx ON evently_jobs.jobs_unfinished (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');

-- Wake idle daemons on inserts through the partitioned table, and on those straight into
-- jobs_unfinished (a statement fires the triggers of the table it names, not its parent's).
CREATE TRIGGER jobs_notify_inserted
    AFTER INSERT ON evently_jobs.jobs
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION evently_jobs.notify_inserted();
CREATE TRIGGER jobs_unfinished_notify_inserted
    AFTER INSERT ON evently_jobs.jobs_unfinished
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION evently_jobs.notify_inserted();

-- As in q0001, but into jobs_unfinished, where the unique keys' index is.
CREATE OR REPLACE FUNCTION evently_jobs.enqueue_job(
    kind         text,
    args         jsonb       DEFAULT '{}',
    queue        text        DEFAULT 'default',
    priority     integer     DEFAULT 0,
    run_at       timestamptz DEFAULT now(),
    max_attempts integer     DEFAULT 25,
    unique_key   text        DEFAULT NULL,
    tags         text[]      DEFAULT '{}'
) RETURNS TABLE (id bigint, inserted boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    new_id bigint;
BEGIN
    LOOP
        INSERT INTO evently_jobs.jobs_unfinished AS j (kind, args, queue, priority, run_at, max_attempts, unique_key, tags, state)
        VALUES (enqueue_job.kind, coalesce(enqueue_job.args, '{}'), coalesce(enqueue_job.queue, 'default'),
                coalesce(enqueue_job.priority, 0), coalesce(enqueue_job.run_at, now()),
                coalesce(enqueue_job.max_attempts, 25), enqueue_job.unique_key, coalesce(enqueue_job.tags, '{}'),
                CASE WHEN coalesce(enqueue_job.run_at, now()) > now() THEN 'scheduled' ELSE 'available' END)
        ON CONFLICT (unique_key)
            WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable')
            DO NOTHING
        RETURNING j.id INTO new_id;
        IF new_id IS NOT NULL THEN
            RETURN QUERY SELECT new_id, true;
            RETURN;
        END IF;
        SELECT j.id INTO new_id FROM evently_jobs.jobs_unfinished AS j
        WHERE j.unique_key = enqueue_job.unique_key
          AND j.state IN ('available', 'scheduled', 'running', 'retryable');
        IF new_id IS NOT NULL THEN
            RETURN QUERY SELECT new_id, false;
            RETURN;
        END IF;
        -- The holder finished between our insert and our look-up: the key is free again, try anew.
    END LOOP;
END
$$;

-- Autovacuum analyzes the partitions, never a partitioned table itself: the planner's figures
-- for evently_jobs.jobs as a whole come from here and from queue.prune's runs.
ANALYZE evently_jobs.jobs;
