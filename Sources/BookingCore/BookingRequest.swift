import Foundation

/// One request to book seats, as ``BookingStore/bookTogether(_:eventID:now:pricing:on:)`` takes
/// it: the arguments of ``BookingStore/book(userID:eventID:quantity:idempotencyKey:requestHash:now:pricing:on:)``
/// but the event, which the whole group shares.
public struct BookingRequest: Sendable, Equatable {
    public var userID: UUID
    public var quantity: Int
    public var idempotencyKey: String?
    public var requestHash: String?

    public init(userID: UUID, quantity: Int, idempotencyKey: String? = nil, requestHash: String? = nil) {
        self.userID = userID
        self.quantity = quantity
        self.idempotencyKey = idempotencyKey
        self.requestHash = requestHash
    }
}
