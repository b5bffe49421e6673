-- The booking core: users, events, bookings, waitlist, notifications. The rules that must hold
-- whatever code writes here (ours or an API server's own SQL) are constraints, not conventions:
-- no event can hold more seats than it has, no booking can be for zero seats, no user can have
-- two open waitlist entries for one event.

CREATE SCHEMA IF NOT EXISTS evently;

-- Users mirror the identity provider's token claims; the row is created or refreshed on use.
CREATE TABLE evently.users (
    id          uuid        PRIMARY KEY,
    email       text        NOT NULL CHECK (btrim(email) <> ''),
    phone       text        CHECK (phone IS NULL OR btrim(phone) <> ''),
    role        text        NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user')),
    version     integer     NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Addresses compare without case: Ann@x.org and ann@x.org are one mailbox.
CREATE UNIQUE INDEX users_email_key ON evently.users (lower(email));

CREATE TABLE evently.events (
    id               uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    name             text          NOT NULL CHECK (btrim(name) <> ''),
    venue            text          NOT NULL CHECK (btrim(venue) <> ''),
    starts_at        timestamptz   NOT NULL,
    total_capacity   integer       NOT NULL CHECK (total_capacity > 0),
    -- Seats neither booked nor held by a waitlist offer. Every change is one atomic
    -- `available_seats = available_seats +/- n` under this CHECK, which is what makes
    -- overselling impossible rather than unlikely.
    available_seats  integer       NOT NULL,
    -- The price of a seat before dynamic pricing; what a booking paid is in bookings.total_amount.
    base_price       numeric(12,2) NOT NULL CHECK (base_price >= 0),
    waitlist_mode    text          NOT NULL DEFAULT 'offer' CHECK (waitlist_mode IN ('offer', 'auto_book')),
    status           text          NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled', 'completed')),
    -- Rises with every change (seats included) and guards admin edits (If-Match).
    version          integer       NOT NULL DEFAULT 1 CHECK (version > 0),
    created_by       uuid          NOT NULL REFERENCES evently.users (id),
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT events_seats_within_capacity CHECK (available_seats BETWEEN 0 AND total_capacity)
);

-- The listing: active events first, then by start time (EventStore.list).
CREATE INDEX events_listing_idx ON evently.events ((status <> 'active'), starts_at, id);

-- Feeds the last six digits of booking references. A sequence never hands out a value twice,
-- whatever the concurrency, and costs no lock; gaps from rolled-back bookings are harmless.
CREATE SEQUENCE evently.booking_reference_seq AS bigint;

CREATE TABLE evently.bookings (
    id               uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid          NOT NULL REFERENCES evently.users (id),
    event_id         uuid          NOT NULL REFERENCES evently.events (id),
    quantity         integer       NOT NULL CHECK (quantity > 0),
    -- Fixed at booking time from the dynamic price; never recomputed.
    total_amount     numeric(12,2) NOT NULL CHECK (total_amount >= 0),
    -- EVT + UTC date + six digits, e.g. EVT20250914123456. Unique as long as fewer than a
    -- million bookings are made in one UTC day; the UNIQUE constraint turns anything beyond
    -- that into an error rather than a duplicate.
    reference        text          NOT NULL UNIQUE DEFAULT (
                         'EVT' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD')
                         || lpad((nextval('evently.booking_reference_seq') % 1000000)::text, 6, '0')),
    status           text          NOT NULL DEFAULT 'confirmed' CHECK (status IN ('confirmed', 'cancelled', 'refunded')),
    -- The client's Idempotency-Key and a hash of its request body: a retry with the same key
    -- and body gets the first booking back, the same key with another body is refused.
    idempotency_key  text          CHECK (idempotency_key IS NULL OR idempotency_key <> ''),
    request_hash     text,
    version          integer       NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),
    cancelled_at     timestamptz,
    CONSTRAINT bookings_idempotency_key UNIQUE (user_id, idempotency_key),
    CONSTRAINT bookings_cancelled_at CHECK ((status = 'confirmed') = (cancelled_at IS NULL))
);

-- A user's bookings, newest first (BookingStore.list).
CREATE INDEX bookings_user_idx ON evently.bookings (user_id, created_at DESC);
-- The confirmed bookings of one event (event cancellation, utilisation).
CREATE INDEX bookings_event_idx ON evently.bookings (event_id, status);
-- Analytics by day.
CREATE INDEX bookings_created_idx ON evently.bookings (created_at);

CREATE TABLE evently.waitlist (
    id               uuid          PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          uuid          NOT NULL REFERENCES evently.users (id),
    event_id         uuid          NOT NULL REFERENCES evently.events (id),
    quantity         integer       NOT NULL CHECK (quantity > 0),
    -- Higher goes first; ties by joined_at. The position is computed on read, never stored,
    -- so nobody has to renumber the line when someone leaves.
    priority_score   integer       NOT NULL DEFAULT 0,
    joined_at        timestamptz   NOT NULL DEFAULT now(),
    status           text          NOT NULL DEFAULT 'waiting' CHECK (status IN
                     ('waiting', 'offered', 'booked', 'lapsed', 'left', 'expired', 'cancelled')),
    channels         jsonb         NOT NULL DEFAULT '["email", "in_app"]'
                     CHECK (jsonb_typeof(channels) = 'array' AND channels <> '[]'
                            AND channels <@ '["email", "sms", "push", "in_app"]'::jsonb),
    -- An offer holds offered_seats (already taken out of events.available_seats) at
    -- offered_amount until offer_expires_at.
    offer_expires_at timestamptz,
    offered_seats    integer       CHECK (offered_seats > 0),
    offered_amount   numeric(12,2) CHECK (offered_amount >= 0),
    booking_id       uuid          REFERENCES evently.bookings (id),
    -- The entry's own end: a waiting entry past it is expired by the cleanup.
    expires_at       timestamptz,
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT waitlist_offer_complete CHECK (status <> 'offered'
        OR (offer_expires_at IS NOT NULL AND offered_seats IS NOT NULL AND offered_amount IS NOT NULL)),
    CONSTRAINT waitlist_booked_has_booking CHECK (status <> 'booked' OR booking_id IS NOT NULL)
);

-- One open entry per user and event; finished entries (left, lapsed, ...) stay as history and
-- do not stop the user from joining again.
CREATE UNIQUE INDEX waitlist_open_entry_key ON evently.waitlist (user_id, event_id)
    WHERE status IN ('waiting', 'offered');
-- The line itself: promotion and positions walk it in this order.
CREATE INDEX waitlist_line_idx ON evently.waitlist (event_id, status, priority_score DESC, joined_at);
-- The lapse sweep and the cleanup look only at the few rows that can be due.
CREATE INDEX waitlist_offer_expiry_idx ON evently.waitlist (offer_expires_at) WHERE status = 'offered';
CREATE INDEX waitlist_entry_expiry_idx ON evently.waitlist (expires_at)
    WHERE status = 'waiting' AND expires_at IS NOT NULL;

CREATE TABLE evently.notifications (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id             uuid        NOT NULL REFERENCES evently.users (id),
    -- The channel this row is delivered on; one row per channel of a message.
    type                text        NOT NULL CHECK (type IN ('email', 'sms', 'push', 'in_app')),
    template            text        NOT NULL CHECK (template <> ''),
    content             jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(content) = 'object'),
    -- Every channel the message went out on.
    channels            jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(channels) = 'array'),
    status              text        NOT NULL DEFAULT 'queued' CHECK (status IN
                        ('queued', 'sent', 'delivered', 'failed', 'read', 'skipped')),
    event_id            uuid        REFERENCES evently.events (id),
    booking_id          uuid        REFERENCES evently.bookings (id),
    provider_message_id text,
    last_error          text,
    -- Set by the job that creates the row (e.g. job id + channel), so a re-run finds its row
    -- instead of making a second one.
    dedupe_key          text        UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    delivered_at        timestamptz,
    failed_at           timestamptz,
    read_at             timestamptz,
    skipped_at          timestamptz
);

-- A user's notifications, newest first.
CREATE INDEX notifications_user_idx ON evently.notifications (user_id, created_at DESC);
-- Delivery callbacks name the provider's message id.
CREATE INDEX notifications_provider_idx ON evently.notifications (provider_message_id)
    WHERE provider_message_id IS NOT NULL;
