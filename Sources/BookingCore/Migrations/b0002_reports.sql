-- Analytics reports (report.build): one row per period with its totals, one line per event
-- beside it. A report is a document: once built it is never rebuilt or edited (apart from
-- csv_path, set when its file is written), so a period's figures stay what they were.

CREATE TABLE evently.reports (
    id               uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    period           text          NOT NULL CHECK (period IN ('hourly', 'daily')),
    -- [period_start, period_end), whole UTC hours or days. Lengths are spelled in hours:
    -- `+ interval '1 day'` would follow the session's time zone across a DST change.
    period_start     timestamptz   NOT NULL,
    period_end       timestamptz   NOT NULL,
    built_at         timestamptz   NOT NULL,
    -- Where the CSV was last written; NULL until the building job has written it.
    csv_path         text          CHECK (csv_path <> ''),
    -- The totals over the lines (the CSV's TOTAL row), written by the statement that writes the
    -- lines, so the two cannot disagree.
    event_count      integer       NOT NULL CHECK (event_count >= 0),
    bookings         bigint        NOT NULL CHECK (bookings >= 0),
    seats            bigint        NOT NULL CHECK (seats >= 0),
    revenue          numeric(16,2) NOT NULL CHECK (revenue >= 0),
    cancellations    bigint        NOT NULL CHECK (cancellations >= 0),
    cancelled_seats  bigint        NOT NULL CHECK (cancelled_seats >= 0),
    confirmed_seats  bigint        NOT NULL CHECK (confirmed_seats >= 0),
    capacity         bigint        NOT NULL CHECK (capacity >= 0),
    utilisation      numeric(9,4)  NOT NULL CHECK (utilisation >= 0),
    waitlist         bigint        NOT NULL CHECK (waitlist >= 0),
    -- What makes "a period is reported once" hold with any number of daemons building at once:
    -- the build is one INSERT ... ON CONFLICT DO NOTHING on this key.
    CONSTRAINT reports_one_per_period UNIQUE (period, period_start),
    CONSTRAINT reports_period_aligned CHECK (period_start =
        date_trunc(CASE period WHEN 'daily' THEN 'day' ELSE 'hour' END, period_start AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'),
    CONSTRAINT reports_period_length CHECK (period_end =
        period_start + CASE period WHEN 'daily' THEN interval '24 hours' ELSE interval '1 hour' END)
);

-- The listing, newest first (GET /v1/reports); with a period filter the unique key serves.
CREATE INDEX reports_newest_idx ON evently.reports (period_start DESC, period);

CREATE TABLE evently.report_lines (
    report_id        uuid          NOT NULL REFERENCES evently.reports (id) ON DELETE CASCADE,
    event_id         uuid          NOT NULL REFERENCES evently.events (id),
    -- The event as it was when the report was built.
    event_name       text          NOT NULL,
    event_starts_at  timestamptz   NOT NULL,
    capacity         integer       NOT NULL CHECK (capacity > 0),
    bookings         integer       NOT NULL CHECK (bookings >= 0),
    seats            integer       NOT NULL CHECK (seats >= 0),
    revenue          numeric(16,2) NOT NULL CHECK (revenue >= 0),
    cancellations    integer       NOT NULL CHECK (cancellations >= 0),
    cancelled_seats  integer       NOT NULL CHECK (cancelled_seats >= 0),
    confirmed_seats  integer       NOT NULL CHECK (confirmed_seats >= 0),
    -- confirmed_seats / capacity, rounded to 4 places; above 1 only if capacity was cut later.
    utilisation      numeric(9,4)  NOT NULL CHECK (utilisation >= 0),
    waitlist         integer       NOT NULL CHECK (waitlist >= 0),
    PRIMARY KEY (report_id, event_id)
);

-- Which events had activity in a period: bookings made (bookings_created_idx), bookings
-- cancelled and waitlist entries joined in it (these two).
CREATE INDEX bookings_cancelled_idx ON evently.bookings (cancelled_at) WHERE cancelled_at IS NOT NULL;
CREATE INDEX waitlist_joined_idx ON evently.waitlist (joined_at);
