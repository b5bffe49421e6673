/// Why a booking-core use case refused: each case names what was wrong and what to do.
///
/// These are outcomes a user or an admin can meet; the HTTP intake maps them to 4xx answers
/// through ``code``. Database failures (lost connection, lock timeout) are thrown as they are.
public enum BookingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer seats are free than were asked for.
    case soldOut(available: Int)
    case eventNotFound
    /// The event is cancelled or completed: no booking, waitlist or edit is possible.
    case eventNotActive(EventStatus)
    /// The event has already started.
    case eventStarted
    /// A booking of an event that has started can no longer be cancelled.
    case eventStartedCannotCancel
    /// No such booking, or it belongs to someone else (not revealed as a permission error).
    case bookingNotFound
    case alreadyCancelled
    /// An admin edit carried a stale version (If-Match); `current` is the version to re-read.
    case versionConflict(current: Int)
    case invalidQuantity(String)
    /// A field of the input is out of range; `field` is its JSON name.
    case invalidInput(field: String, reason: String)
    /// A capacity change would leave fewer seats than are already booked or held.
    case capacityBelowSold(sold: Int)
    /// The same idempotency key was used before with a different request.
    case idempotencyMismatch
    /// A request with the same idempotency key is still being processed.
    case idempotencyKeyInFlight
    case alreadyOnWaitlist
    case notOnWaitlist
    /// The event still has the seats asked for: book them instead.
    case eventNotFull(available: Int)
    case offerNotFound
    case offerExpired
    case userNotFound
    /// Another user already has this email address.
    case emailInUse
    /// Only admins may do this.
    case adminRequired
    case notificationNotFound

    /// A stable machine-readable code (snake case) for API error bodies.
    public var code: String {
        switch self {
        case .soldOut: "sold_out"
        case .eventNotFound: "event_not_found"
        case .eventNotActive: "event_not_active"
        case .eventStarted: "event_started"
        case .eventStartedCannotCancel: "event_already_started"
        case .bookingNotFound: "booking_not_found"
        case .alreadyCancelled: "already_cancelled"
        case .versionConflict: "version_conflict"
        case .invalidQuantity: "invalid_quantity"
        case .invalidInput: "invalid_input"
        case .capacityBelowSold: "capacity_below_sold"
        case .idempotencyMismatch: "idempotency_mismatch"
        case .idempotencyKeyInFlight: "idempotency_key_in_flight"
        case .alreadyOnWaitlist: "already_on_waitlist"
        case .notOnWaitlist: "not_on_waitlist"
        case .eventNotFull: "event_not_full"
        case .offerNotFound: "offer_not_found"
        case .offerExpired: "offer_expired"
        case .userNotFound: "user_not_found"
        case .emailInUse: "email_in_use"
        case .adminRequired: "admin_required"
        case .notificationNotFound: "notification_not_found"
        }
    }

    public var description: String {
        switch self {
        case .soldOut(let available):
            available == 0
                ? "the event is sold out; join the waitlist to be offered seats that free up"
                : "only \(available) seat\(available == 1 ? " is" : "s are") left; ask for at most \(available) or join the waitlist"
        case .eventNotFound: "no event with this id"
        case .eventNotActive(let status): "the event is \(status.rawValue); it takes no bookings or changes"
        case .eventStarted: "the event has already started; it takes no more bookings"
        case .eventStartedCannotCancel: "the event has already started; its bookings can no longer be cancelled"
        case .bookingNotFound: "no booking with this id for this user"
        case .alreadyCancelled: "the booking is already cancelled"
        case .versionConflict(let current):
            "the event changed since you read it (it is now at version \(current)); read it again and retry with that version"
        case .invalidQuantity(let reason): "invalid quantity: \(reason)"
        case let .invalidInput(field, reason): "invalid \(field): \(reason)"
        case .capacityBelowSold(let sold):
            "\(sold) seats are already booked or held; the capacity cannot be lower than that"
        case .idempotencyMismatch:
            "this Idempotency-Key was already used for a different request; use a new key for a new booking"
        case .idempotencyKeyInFlight:
            "a request with this Idempotency-Key is still being processed; retry in a moment"
        case .alreadyOnWaitlist: "you are already on the waitlist of this event"
        case .notOnWaitlist: "you are not on the waitlist of this event"
        case .eventNotFull(let available):
            "the event still has \(available) seat\(available == 1 ? "" : "s") free; book instead of joining the waitlist"
        case .offerNotFound: "no open waitlist offer with this id for this user"
        case .offerExpired: "the waitlist offer has expired and its seats were passed on"
        case .userNotFound: "no user with this id; sign in again"
        case .emailInUse: "another account already uses this email address"
        case .adminRequired: "only admins may do this"
        case .notificationNotFound: "no notification with this id for this user"
        }
    }
}
