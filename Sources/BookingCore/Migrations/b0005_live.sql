-- Live updates (`GET /v1/live`, `GET /v1/live/events`).
--
-- Every change a user should see live (an in-app notification created; a booking made or its
-- status changed; a waitlist entry joined, offered, booked, lapsed, left) takes a number from one
-- sequence, stored on the row as `live_seq`, and a NOTIFY on `evently_live` naming its user and
-- number. Each daemon LISTENs once, reads the row once and fans it out to the user's streams; a
-- client that reconnects says the last number it saw and gets the rows numbered after it.
-- Triggers, not our code, do this so that any writer (an API server's own SQL included) is seen.
--
-- Payloads are small and never contain data, only what to read:
--   u:<user uuid>:<live_seq>   a change of one of this user's rows
--   e:<event uuid>:<version>   an event's seats, price or status changed
--   w:<event uuid>             the waiting line of an event moved (positions changed)
-- NOTIFY is delivered at commit, so rolled-back work is never announced; identical payloads in
-- one transaction are sent once.

CREATE SEQUENCE evently.live_change_seq AS bigint;

ALTER TABLE evently.bookings ADD COLUMN live_seq bigint;
ALTER TABLE evently.waitlist ADD COLUMN live_seq bigint;
ALTER TABLE evently.notifications ADD COLUMN live_seq bigint;

-- A reconnecting client's missed rows: the user's rows numbered after its last one.
CREATE INDEX bookings_live_idx ON evently.bookings (user_id, live_seq) WHERE live_seq IS NOT NULL;
CREATE INDEX waitlist_live_idx ON evently.waitlist (user_id, live_seq) WHERE live_seq IS NOT NULL;
CREATE INDEX notifications_live_idx ON evently.notifications (user_id, live_seq) WHERE live_seq IS NOT NULL;

CREATE FUNCTION evently.live_user_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.live_seq := nextval('evently.live_change_seq');
    PERFORM pg_notify('evently_live', 'u:' || NEW.user_id || ':' || NEW.live_seq);
    RETURN NEW;
END
$$;

CREATE FUNCTION evently.live_waitlist_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.live_seq := nextval('evently.live_change_seq');
    PERFORM pg_notify('evently_live', 'u:' || NEW.user_id || ':' || NEW.live_seq);
    -- Someone joined or left the waiting line: everyone behind moved.
    IF TG_OP = 'INSERT' OR OLD.status = 'waiting' OR NEW.status = 'waiting' THEN
        PERFORM pg_notify('evently_live', 'w:' || NEW.event_id);
    END IF;
    RETURN NEW;
END
$$;

CREATE FUNCTION evently.live_event_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('evently_live', 'e:' || NEW.id || ':' || NEW.version);
    RETURN NULL;
END
$$;

-- BEFORE, so that the number is stored on the row it announces.
-- In-app notifications only: the other channels' rows are deliveries, not messages to show.
CREATE TRIGGER notifications_live BEFORE INSERT ON evently.notifications FOR EACH ROW
    WHEN (NEW.type = 'in_app') EXECUTE FUNCTION evently.live_user_change();

CREATE TRIGGER bookings_live_insert BEFORE INSERT ON evently.bookings FOR EACH ROW
    EXECUTE FUNCTION evently.live_user_change();
CREATE TRIGGER bookings_live_update BEFORE UPDATE ON evently.bookings FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.quantity IS DISTINCT FROM NEW.quantity)
    EXECUTE FUNCTION evently.live_user_change();

CREATE TRIGGER waitlist_live_insert BEFORE INSERT ON evently.waitlist FOR EACH ROW
    EXECUTE FUNCTION evently.live_waitlist_change();
CREATE TRIGGER waitlist_live_update BEFORE UPDATE ON evently.waitlist FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.offer_expires_at IS DISTINCT FROM NEW.offer_expires_at
          OR OLD.priority_score IS DISTINCT FROM NEW.priority_score)
    EXECUTE FUNCTION evently.live_waitlist_change();

-- Seats left, the price they set, and the status are what subscribers watch; edits of the name
-- or venue are not streamed.
CREATE TRIGGER events_live AFTER UPDATE ON evently.events FOR EACH ROW
    WHEN (OLD.available_seats IS DISTINCT FROM NEW.available_seats OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.base_price IS DISTINCT FROM NEW.base_price OR OLD.total_capacity IS DISTINCT FROM NEW.total_capacity)
    EXECUTE FUNCTION evently.live_event_change();
