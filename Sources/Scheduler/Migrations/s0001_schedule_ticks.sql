-- One row per schedule tick that has been enqueued. The primary key is what makes a tick fire
-- exactly once however many daemons compute it: the first insert wins, the others do nothing.

CREATE SCHEMA IF NOT EXISTS evently_jobs;

CREATE TABLE evently_jobs.schedule_ticks (
    schedule    text        NOT NULL,
    tick        timestamptz NOT NULL,
    job_id      bigint,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    enqueued_by text,
    PRIMARY KEY (schedule, tick)
);
