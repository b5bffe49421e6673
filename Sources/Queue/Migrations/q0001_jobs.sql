-- The jobs table, its indexes, the wake-up trigger and the enqueue contract for other languages.

CREATE SCHEMA IF NOT EXISTS evently_jobs;

CREATE TABLE evently_jobs.jobs (
    id               bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue            text        NOT NULL DEFAULT 'default' CHECK (queue <> ''),
    kind             text        NOT NULL CHECK (kind <> ''),
    args             jsonb       NOT NULL DEFAULT '{}',
    state            text        NOT NULL DEFAULT 'available' CHECK (state IN
                     ('available', 'scheduled', 'running', 'retryable', 'completed', 'cancelled', 'discarded')),
    -- Lower runs first, as in most PostgreSQL queues; negative values jump the line.
    priority         integer     NOT NULL DEFAULT 0,
    attempt          integer     NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts     integer     NOT NULL DEFAULT 25 CHECK (max_attempts > 0),
    run_at           timestamptz NOT NULL DEFAULT now(),
    attempted_at     timestamptz,
    attempted_by     text,
    -- A running job belongs to its daemon until this moment; the daemon extends it while the job runs.
    lease_expires_at timestamptz,
    finalized_at     timestamptz,
    -- One object per failed attempt: {"attempt", "at", "error", "kind"}.
    errors           jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(errors) = 'array'),
    unique_key       text,
    tags             text[]      NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((state IN ('completed', 'cancelled', 'discarded')) = (finalized_at IS NOT NULL))
);

-- The claim reads this index in order and stops after LIMIT rows; finished rows are not in it,
-- so its cost does not grow with history.
CREATE INDEX jobs_claimable_idx ON evently_jobs.jobs (queue, priority, run_at, id)
    WHERE state IN ('available', 'scheduled', 'retryable');

-- The rescuer looks only at running jobs whose lease ran out.
CREATE INDEX jobs_running_lease_idx ON evently_jobs.jobs (lease_expires_at)
    WHERE state = 'running';

-- The pruner and the "completed in the last minutes" figure read finished jobs by age.
CREATE INDEX jobs_finalized_idx ON evently_jobs.jobs (finalized_at)
    WHERE state IN ('completed', 'cancelled', 'discarded');

-- A unique key is held only while its job is unfinished; after that the key may be used again.
CREATE UNIQUE INDEX jobs_unique_key_idx ON evently_jobs.jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'scheduled', 'running', 'retryable');

CREATE INDEX jobs_kind_idx ON evently_jobs.jobs (kind, state);

-- Paused queues are skipped by the claim.
CREATE TABLE evently_jobs.queues (
    name       text        PRIMARY KEY,
    paused     boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Wake idle daemons. NOTIFY is delivered on commit only, so a rolled-back enqueue wakes nobody;
-- identical payloads in one transaction are folded into one notification by PostgreSQL.
CREATE FUNCTION evently_jobs.notify_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('evently_jobs', q.queue)
    FROM (SELECT DISTINCT queue FROM inserted WHERE run_at <= now()) AS q;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobs_notify_inserted
    AFTER INSERT ON evently_jobs.jobs
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION evently_jobs.notify_inserted();

-- Enqueue one job and say whether it was inserted; with a unique key held by an unfinished job,
-- insert nothing and return that job's id.
CREATE FUNCTION evently_jobs.enqueue_job(
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
        INSERT INTO evently_jobs.jobs AS j (kind, args, queue, priority, run_at, max_attempts, unique_key, tags, state)
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
        SELECT j.id INTO new_id FROM evently_jobs.jobs AS j
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

-- The contract for API servers in any language: call it inside your own transaction.
CREATE FUNCTION evently_jobs.enqueue(
    kind         text,
    args         jsonb       DEFAULT '{}',
    queue        text        DEFAULT 'default',
    priority     integer     DEFAULT 0,
    run_at       timestamptz DEFAULT now(),
    max_attempts integer     DEFAULT 25,
    unique_key   text        DEFAULT NULL
) RETURNS bigint LANGUAGE sql AS $$
    SELECT e.id FROM evently_jobs.enqueue_job(kind, args, queue, priority, run_at, max_attempts, unique_key) AS e;
$$;
