-- The sending mark: which delivery attempt (job id:attempt) may be talking to the provider about
-- a notification, and since when. A later attempt does not send while another attempt's mark is
-- younger than the longest session that attempt could still be in; the sent mark is written only
-- by the attempt whose mark it is. Not part of `status` (a JSON contract): a row being sent is
-- still `queued` (or `failed`, when an operator retries it).
ALTER TABLE evently.notifications
    ADD COLUMN sending_by    text,
    ADD COLUMN sending_since timestamptz;

-- NOT VALID: every existing row has neither column, so there is nothing to check, and checking
-- would scan the whole table under the ALTER's exclusive lock.
ALTER TABLE evently.notifications
    ADD CONSTRAINT notifications_sending_mark_check
    CHECK ((sending_by IS NULL) = (sending_since IS NULL)) NOT VALID;
