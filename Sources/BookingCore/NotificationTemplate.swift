import Foundation

/// The messages the booking core asks to send. Raw values are stored in
/// `notifications.template` and in job payloads: never rename one once shipped.
public enum NotificationTemplate: String, Sendable, Codable, CaseIterable, Hashable {
    case bookingConfirmed = "booking_confirmed"
    case bookingCancelled = "booking_cancelled"
    case waitlistOffer = "waitlist_offer"
    case offerLapsed = "offer_lapsed"
    case reminder
    case eventCancelled = "event_cancelled"
    case waitlistBooked = "waitlist_booked"

    /// A plain-text rendering from `facts`; senders with richer templates may use their own and
    /// keep these as the fallback and the in-app text.
    public func render(_ facts: NotificationFacts) -> RenderedMessage {
        let event = facts.eventName
        let when = facts.startsAt.map { " on \($0.formatted(.iso8601))" } ?? ""
        let place = facts.venue.map { " at \($0)" } ?? ""
        let seats = { (count: Int?) in count.map { "\($0) seat\($0 == 1 ? "" : "s")" } ?? "your seats" }
        let reference = facts.bookingReference.map { " Booking reference: \($0)." } ?? ""
        switch self {
        case .bookingConfirmed:
            return RenderedMessage(
                subject: "Booking confirmed: \(event)",
                body: "You have \(seats(facts.quantity)) for \(event)\(place)\(when).\(reference)"
                    + (facts.totalAmount.map { " Total paid: \(Money.text($0))." } ?? ""))
        case .bookingCancelled:
            return RenderedMessage(
                subject: "Booking cancelled: \(event)",
                body: "Your booking of \(seats(facts.quantity)) for \(event)\(when) was cancelled.\(reference)")
        case .waitlistOffer:
            let until = facts.offerExpiresAt.map { " until \($0.formatted(.iso8601))" } ?? ""
            return RenderedMessage(
                subject: "Seats are waiting for you: \(event)",
                body: "We are holding \(seats(facts.offeredSeats)) for you for \(event)\(place)\(when)\(until)"
                    + (facts.offeredAmount.map { ", total \(Money.text($0))" } ?? "") + ". Accept the offer to book them.")
        case .offerLapsed:
            return RenderedMessage(
                subject: "Your waitlist offer expired: \(event)",
                body: "The seats held for you for \(event) were passed on because the offer was not accepted in time.")
        case .reminder:
            return RenderedMessage(
                subject: "Reminder: \(event)\(when)",
                body: "\(event) starts\(when)\(place). You have \(seats(facts.quantity)).\(reference)")
        case .eventCancelled:
            return RenderedMessage(
                subject: "Event cancelled: \(event)",
                body: "\(event)\(when) has been cancelled by the organiser. Your bookings for it are cancelled.")
        case .waitlistBooked:
            return RenderedMessage(
                subject: "Booked from the waitlist: \(event)",
                body: "Seats freed up and we booked \(seats(facts.quantity)) for you for \(event)\(place)\(when).\(reference)")
        }
    }
}

/// What a message is rendered from, read by ``NotificationStore/facts(for:on:)``.
public struct NotificationFacts: Sendable, Equatable {
    public var eventName: String
    public var venue: String?
    public var startsAt: Date?
    public var bookingReference: String?
    public var quantity: Int?
    public var totalAmount: Decimal?
    public var offerExpiresAt: Date?
    public var offeredSeats: Int?
    public var offeredAmount: Decimal?

    public init(eventName: String, venue: String? = nil, startsAt: Date? = nil, bookingReference: String? = nil,
                quantity: Int? = nil, totalAmount: Decimal? = nil, offerExpiresAt: Date? = nil,
                offeredSeats: Int? = nil, offeredAmount: Decimal? = nil) {
        self.eventName = eventName
        self.venue = venue
        self.startsAt = startsAt
        self.bookingReference = bookingReference
        self.quantity = quantity
        self.totalAmount = totalAmount
        self.offerExpiresAt = offerExpiresAt
        self.offeredSeats = offeredSeats
        self.offeredAmount = offeredAmount
    }

    /// The facts as strings, stored beside the rendered text in `notifications.content`.
    public var fields: [String: String] {
        var fields = ["event_name": eventName]
        fields["venue"] = venue
        fields["starts_at"] = startsAt?.formatted(.iso8601)
        fields["booking_reference"] = bookingReference
        fields["quantity"] = quantity.map(String.init)
        fields["total_amount"] = totalAmount.map(Money.text)
        fields["offer_expires_at"] = offerExpiresAt?.formatted(.iso8601)
        fields["offered_seats"] = offeredSeats.map(String.init)
        fields["offered_amount"] = offeredAmount.map(Money.text)
        return fields
    }
}

/// A subject line and a plain-text body.
public struct RenderedMessage: Sendable, Equatable {
    public var subject: String
    public var body: String

    public init(subject: String, body: String) {
        self.subject = subject
        self.body = body
    }
}
