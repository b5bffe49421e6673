-- One row per booking and reminder offset that was sent: the primary key is what makes a
-- reminder go out exactly once however often, and by however many daemons, the scan runs.
CREATE TABLE evently.booking_reminders (
    booking_id      uuid        NOT NULL REFERENCES evently.bookings (id) ON DELETE CASCADE,
    offset_seconds  integer     NOT NULL CHECK (offset_seconds > 0),
    sent_at         timestamptz NOT NULL DEFAULT now(),
    -- Claimed together with a smaller offset (a scan that found both due, e.g. after downtime):
    -- recorded so it is never sent later, but only the smaller one's reminder went out.
    superseded      boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (booking_id, offset_seconds)
);

-- The reminder scan looks for confirmed bookings of events starting soon.
CREATE INDEX events_starts_at_active_idx ON evently.events (starts_at) WHERE status = 'active';

-- Old notifications are deleted by age (notifications.prune).
CREATE INDEX notifications_created_idx ON evently.notifications (created_at);
