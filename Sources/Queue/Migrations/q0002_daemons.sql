-- The live daemons: one row per running `evently-jobs serve`, refreshed by its heartbeat.
-- Operators read it to see who runs what; `status` uses the kinds to show jobs that no live
-- daemon can run (a rolling upgrade half done, a worker removed by mistake).
CREATE TABLE evently_jobs.daemons (
    -- The daemon's worker name, recorded in jobs.attempted_by (host:pid by default).
    name          text PRIMARY KEY,
    host          text NOT NULL,
    pid           integer NOT NULL,
    version       text NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    -- A daemon that stops heart-beating counts as gone after this moment.
    expires_at    timestamptz NOT NULL,
    -- Queue name -> slots, as configured.
    queues        jsonb NOT NULL DEFAULT '{}',
    -- The job kinds it has workers for.
    kinds         text[] NOT NULL DEFAULT '{}',
    CHECK (expires_at > heartbeat_at)
);

CREATE INDEX daemons_expires_idx ON evently_jobs.daemons (expires_at);
