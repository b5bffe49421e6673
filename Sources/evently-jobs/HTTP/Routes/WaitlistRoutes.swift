import BookingCore
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/events/:id/waitlist` and `/v1/waitlist/offers`: join, look up and leave a waitlist;
/// accept an offer.
struct WaitlistRoutes: Sendable {
    let api: BookingAPI

    struct JoinBody: StrictBody {
        static let fields: Set<String> = ["quantity", "channels"]
        var quantity: Int
        var channels: [String]?
    }

    func add(to router: some RouterMethods<IntakeContext>) {
        let api = self.api
        router.post("/v1/events/:id/waitlist") { request, context in
            let userID = try await api.member(context)
            let eventID = try BookingAPI.uuid(context)
            let body = try await request.decodeStrict(JoinBody.self, context: context)
            try api.checkQuantity(body.quantity)
            if let channels = body.channels {
                guard InputLimits.channelCount.contains(channels.count), Set(channels).count == channels.count else {
                    throw APIError.badRequest("'channels' must name 1 to 4 different channels", field: "channels")
                }
            }
            let channels = try (body.channels ?? NotificationChannel.waitlistDefault.map(\.rawValue)).map { name in
                guard let channel = NotificationChannel(rawValue: name) else {
                    throw APIError.badRequest("'channels' may hold email, sms, push and in_app", field: "channels")
                }
                return channel
            }
            let entry = try await api.transaction { connection in
                let store = WaitlistStore(logger: api.logger)
                _ = try await store.join(userID: userID, eventID: eventID, quantity: body.quantity, channels: channels,
                                         now: Date(), on: connection)
                return try await store.entry(userID: userID, eventID: eventID, on: connection)
            }
            return try JSONResponse.make(WaitlistBody(entry), status: .created)
        }
        router.get("/v1/events/:id/waitlist/me") { _, context in
            let userID = try await api.member(context)
            let eventID = try BookingAPI.uuid(context)
            let entry = try await api.read { try await WaitlistStore(logger: api.logger).entry(userID: userID, eventID: eventID, on: $0) }
            return try JSONResponse.make(WaitlistBody(entry))
        }
        router.delete("/v1/events/:id/waitlist") { _, context in
            let userID = try await api.member(context)
            let eventID = try BookingAPI.uuid(context)
            _ = try await api.transaction(followingUp: { connection, now in
                try await WaitlistStore(logger: api.logger).leave(userID: userID, eventID: eventID, now: now, on: connection)
            })
            return Response(status: .noContent)
        }
        router.post("/v1/waitlist/offers/:id/accept") { _, context in
            let userID = try await api.member(context)
            let entryID = try BookingAPI.uuid(context)
            let booking = try await api.transaction(followingUp: { connection, now in
                try await WaitlistStore(logger: api.logger).acceptOffer(entryID: entryID, userID: userID, now: now, on: connection)
            })
            return try JSONResponse.make(BookingBody(booking), status: .created)
        }

    }
}

/// A waitlist entry: its place in line, or the offer it holds.
struct WaitlistBody: Encodable {
    var id: String
    var eventID: String
    var quantity: Int
    var status: String
    var position: Int?
    var channels: [String]
    var offerExpiresAt: Date?
    var offeredSeats: Int?
    var offeredAmount: String?
    var bookingID: String?

    init(_ entry: WaitlistEntry) {
        id = entry.id.lowercased
        eventID = entry.eventID.lowercased
        quantity = entry.quantity
        status = entry.status.rawValue
        position = entry.position
        channels = entry.channels.map(\.rawValue)
        offerExpiresAt = entry.offerExpiresAt
        offeredSeats = entry.offeredSeats
        offeredAmount = entry.offeredAmount.map(Money.text)
        bookingID = entry.bookingID?.lowercased
    }

    enum CodingKeys: String, CodingKey {
        case id, quantity, status, position, channels
        case eventID = "event_id", offerExpiresAt = "offer_expires_at", offeredSeats = "offered_seats"
        case offeredAmount = "offered_amount", bookingID = "booking_id"
    }
}
