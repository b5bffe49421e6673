-- Console counts with millions of finished jobs (`evently-jobs bench console`, BENCHMARKS.md): a
-- count reads the index entries of the jobs it counts (an index-only scan), not the heap pages
-- of rows spread over the history around them. Three indexes of q0001/q0003 carry more columns
-- (same names, keys and predicates, so every plan that used them still can; the same index
-- writes per job as before, each entry a little wider), and two small ones are new, written only
-- when a job fails.
--
-- Built without CONCURRENTLY (migrations run in one transaction): on a large table, writes to
-- evently_jobs.jobs wait while these are built (about 90 s for 10 million jobs on 2 cores).

-- The queue status (per queue, state and kind, with the oldest run_at) and counts by any state
-- but completed: before, each entry sent the count to the row's heap page for its state, and the
-- discarded and cancelled jobs in this index are spread over all of history (1.2 s for the status
-- with 10 million finished jobs).
DROP INDEX evently_jobs.jobs_attention_idx;
CREATE INDEX jobs_attention_idx ON evently_jobs.jobs (id) INCLUDE (state, queue, kind, run_at)
    WHERE state IN ('available', 'scheduled', 'running', 'retryable', 'cancelled', 'discarded');

-- Counts of a kind or a queue with a state or the other one (0.9 s for completed jobs of a kind
-- of 50,000 before).
DROP INDEX evently_jobs.jobs_kind_id_idx;
CREATE INDEX jobs_kind_id_idx ON evently_jobs.jobs (kind, id) INCLUDE (state, queue);
DROP INDEX evently_jobs.jobs_queue_id_idx;
CREATE INDEX jobs_queue_id_idx ON evently_jobs.jobs (queue, id) INCLUDE (state, kind);

-- Discarded jobs of a queue or kind (0.7 s for a queue's before); still the failures' window by
-- finalized_at.
DROP INDEX evently_jobs.jobs_discarded_idx;
CREATE INDEX jobs_discarded_idx ON evently_jobs.jobs (finalized_at) INCLUDE (queue, kind)
    WHERE state = 'discarded';

-- A failure group (kind and the first 300 characters of the last error, as JobQueries.conditions
-- writes the `error` filter): its jobs newest first and its count, without reading the other
-- failed jobs (0.7 s for the count before).
CREATE INDEX jobs_failing_idx ON evently_jobs.jobs (kind, (coalesce(left(errors -> -1 ->> 'error', 300), '')), id)
    WHERE state IN ('discarded', 'retryable');

-- Retrying jobs by their last attempt, for GET /v1/failures over the last hours (before, its
-- retrying half read every attention row: 0.6 s).
CREATE INDEX jobs_retryable_idx ON evently_jobs.jobs ((coalesce(attempted_at, created_at)))
    WHERE state = 'retryable';
