import Foundation

/// What a message is rendered from, read by ``NotificationStore/facts(for:on:)``: typed values,
/// formatted for reading only by ``NotificationRenderer``.
public struct NotificationFacts: Sendable, Equatable {
    public var eventName: String
    public var venue: String
    public var startsAt: Date
    public var bookingReference: String?
    public var quantity: Int?
    public var totalAmount: Decimal?
    public var offerExpiresAt: Date?
    public var offeredSeats: Int?
    public var offeredAmount: Decimal?

    public init(eventName: String, venue: String, startsAt: Date, bookingReference: String? = nil,
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

    /// The facts as strings, stored beside the rendered text in `notifications.content` for
    /// readers of the row (dates in ISO 8601, amounts with two decimals). Nothing renders from them.
    public var fields: [String: String] {
        var fields = ["event_name": eventName, "venue": venue, "starts_at": startsAt.formatted(.iso8601)]
        fields["booking_reference"] = bookingReference
        fields["quantity"] = quantity.map(String.init)
        fields["total_amount"] = totalAmount.map(Money.text)
        fields["offer_expires_at"] = offerExpiresAt?.formatted(.iso8601)
        fields["offered_seats"] = offeredSeats.map(String.init)
        fields["offered_amount"] = offeredAmount.map(Money.text)
        return fields
    }
}
