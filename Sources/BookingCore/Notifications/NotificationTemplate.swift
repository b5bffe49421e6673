/// The messages the booking core asks to send, and the wording of each. Raw values are stored
/// in `notifications.template` and in job payloads: never rename one once shipped.
///
/// A new message is a case here and its wording in ``wording(_:)``; ``NotificationRenderer``
/// turns the wording into the text of every channel.
public enum NotificationTemplate: String, Sendable, Codable, CaseIterable, Hashable {
    case bookingConfirmed = "booking_confirmed"
    case bookingCancelled = "booking_cancelled"
    case waitlistOffer = "waitlist_offer"
    case offerLapsed = "offer_lapsed"
    case reminder
    case eventCancelled = "event_cancelled"
    case waitlistBooked = "waitlist_booked"

    /// What this message says, from facts already formatted for reading.
    func wording(_ f: NotificationRenderer.ReadableFacts) -> NotificationRenderer.Wording {
        let event = f.event, when = f.startsAt
        let reference = f.reference.map { " Booking reference: \($0)." } ?? ""
        switch self {
        case .bookingConfirmed:
            return .init(
                subject: "Booking confirmed: \(event)\(f.inParentheses(f.reference))",
                summary: "You have \(f.seats) for \(event) at \(f.venue) on \(when).\(reference)"
                    + (f.total.map { " Total paid: \($0)." } ?? ""),
                details: f.bookingDetails,
                note: "Keep the reference: you need it to change or cancel the booking.")
        case .bookingCancelled:
            return .init(
                subject: "Booking cancelled: \(event)\(f.inParentheses(f.reference))",
                summary: "Your booking of \(f.seats) for \(event) on \(when) was cancelled.\(reference)",
                details: f.bookingDetails,
                note: "The seats went back on sale.")
        case .waitlistOffer:
            return .init(
                subject: "Seats are waiting for you: \(event)",
                summary: "We are holding \(f.offeredSeats) for you for \(event) at \(f.venue) on \(when)"
                    + (f.offerExpiresAt.map { " until \($0)" } ?? "") + (f.offeredTotal.map { ", total \($0)" } ?? "")
                    + ". Accept the offer to book them.",
                details: f.eventDetails + [("Seats", f.offeredQuantity), ("Total", f.offeredTotal), ("Expires", f.offerExpiresAt)],
                note: f.offerExpiresAt.map {
                    "Accept the offer before \($0); after that the seats go to the next person on the waitlist."
                })
        case .offerLapsed:
            return .init(
                subject: "Your waitlist offer expired: \(event)",
                summary: "The seats held for you for \(event) on \(when) were passed on because the offer was not accepted in time.",
                details: f.eventDetails)
        case .reminder:
            return .init(
                subject: "Reminder: \(event) starts \(when)",
                summary: "\(event) at \(f.venue) starts \(when). You have \(f.seats).\(reference)",
                details: f.bookingDetails)
        case .eventCancelled:
            return .init(
                subject: "Event cancelled: \(event)",
                summary: "\(event) at \(f.venue) on \(when) has been cancelled by the organiser. "
                    + (f.reference.map { "Your booking \($0) is cancelled." } ?? "Any booking you held for it is cancelled."),
                details: f.reference == nil ? f.eventDetails : f.bookingDetails)
        case .waitlistBooked:
            return .init(
                subject: "Booked from the waitlist: \(event)\(f.inParentheses(f.reference))",
                summary: "Seats freed up and we booked \(f.seats) for you for \(event) at \(f.venue) on \(when).\(reference)",
                details: f.bookingDetails)
        }
    }
}
