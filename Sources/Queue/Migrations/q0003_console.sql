-- Indexes for the operators' console (GET /v1/jobs, /v1/jobs/count, bulk actions, /v1/failures,
-- /v1/stats): each list walks an index in id order and stops after a page, so it answers in
-- milliseconds with millions of finished jobs. Every index here is written on each state change
-- of a job, so only what a console view needs is indexed.
--
-- Built without CONCURRENTLY (migrations run in one transaction): on a large table, writes to
-- evently_jobs.jobs wait while these are built.

-- Lists filtered by state newest first: everything except the bulk of history (completed), so
-- this stays small. A filter whose states leave out 'completed' implies this predicate.
CREATE INDEX jobs_attention_idx ON evently_jobs.jobs (id)
    WHERE state IN ('available', 'scheduled', 'running', 'retryable', 'cancelled', 'discarded');

-- A kind or a queue, newest first (a rare kind among millions would otherwise be a scan).
-- (kind, state) could not give id order, and nothing needs it that (kind, id) does not serve.
DROP INDEX evently_jobs.jobs_kind_idx;
CREATE INDEX jobs_kind_id_idx ON evently_jobs.jobs (kind, id);
CREATE INDEX jobs_queue_id_idx ON evently_jobs.jobs (queue, id);

-- Time ranges on created_at: one probe turns a range into an id range (see JobQueries.conditions).
CREATE INDEX jobs_created_idx ON evently_jobs.jobs (created_at);

-- Failure groups: discarded jobs of the last hours, by when they were discarded.
CREATE INDEX jobs_discarded_idx ON evently_jobs.jobs (finalized_at)
    WHERE state = 'discarded';

-- Finished jobs per queue and minute (and `status`'s recent counts) read only the index: it
-- carries queue and state. Same name, same key and predicate as before, for the pruner.
DROP INDEX evently_jobs.jobs_finalized_idx;
CREATE INDEX jobs_finalized_idx ON evently_jobs.jobs (finalized_at) INCLUDE (queue, state)
    WHERE state IN ('completed', 'cancelled', 'discarded');
