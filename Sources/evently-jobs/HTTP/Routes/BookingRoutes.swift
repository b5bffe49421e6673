import BookingCore
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/bookings`: book with an Idempotency-Key, cancel, list your own.
struct BookingRoutes: Sendable {
    let api: BookingAPI

    struct CreateBody: StrictBody {
        static let fields: Set<String> = ["event_id", "quantity"]
        var eventID: UUID
        var quantity: Int
        enum CodingKeys: String, CodingKey {
            case quantity
            case eventID = "event_id"
        }
    }

    func add(to router: some RouterMethods<IntakeContext>) {
        let api = self.api
        router.post("/v1/bookings") { request, context in
            do {
                let (response, replayed) = try await book(request, context: context)
                api.metrics.record(replayed ? .replayed : .confirmed)
                return response
            } catch {
                api.metrics.record(failure: error)
                throw error
            }
        }
        router.get("/v1/bookings") { request, context in
            let userID = try await api.member(context)
            let page = try Page(request, defaultLimit: 50)
            let bookings = try await api.read {
                try await BookingStore(logger: api.logger).list(userID: userID, limit: page.fetchLimit, offset: page.offset, on: $0)
            }
            return try page.respond(bookings.map(BookingBody.init), request: request)
        }
        router.get("/v1/bookings/:id") { _, context in
            let userID = try await api.member(context)
            let id = try BookingAPI.uuid(context)
            let booking = try await api.read { try await BookingStore(logger: api.logger).get(id: id, for: userID, on: $0) }
            return try JSONResponse.make(BookingBody(booking))
        }
        router.post("/v1/bookings/:id/cancel") { _, context in
            let userID = try await api.member(context)
            let id = try BookingAPI.uuid(context)
            let booking = try await api.transaction(followingUp: { connection, now in
                try await BookingStore(logger: api.logger).cancel(bookingID: id, by: userID, now: now, on: connection)
            })
            return try JSONResponse.make(BookingBody(booking))
        }
    }

    /// `POST /v1/bookings`, and whether it replayed an earlier booking.
    private func book(_ request: Request, context: IntakeContext) async throws -> (response: Response, replayed: Bool) {
        let userID = try await api.member(context)
        guard let key = request.headers[.idempotencyKey], !key.isEmpty else {
            throw APIError(.badRequest, "idempotency_key_required", "send an Idempotency-Key header (e.g. a UUID) so a retry never books twice",
                           field: "Idempotency-Key")
        }
        try InputLimits.checkText(key, field: "Idempotency-Key", maxLength: InputLimits.idempotencyKeyMaxLength)
        let body = try await request.decodeStrict(CreateBody.self, context: context)
        try api.checkQuantity(body.quantity)
        // The body, canonically: the same key with another body is refused, not replayed.
        let requestHash = "event_id=\(body.eventID.lowercased);quantity=\(body.quantity)"
        let api = self.api
        let request = BookingRequest(userID: userID, quantity: body.quantity, idempotencyKey: key, requestHash: requestHash)
        let outcome = try await api.keysInFlight.run("\(userID)|\(key)") {
            do {
                return try await api.bookings.book(request, eventID: body.eventID)
            } catch {
                throw BookingAPI.writeError(error)
            }
        }
        var headers: HTTPFields = [:]
        if outcome.isReplay { headers[.idempotentReplayed] = "true" }
        return (try JSONResponse.make(BookingBody(outcome.booking), status: .created, headers: headers), outcome.isReplay)
    }
}

/// A booking as the intake shows it (also the answer to accepting a waitlist offer).
struct BookingBody: Encodable {
    var id: String
    var reference: String
    var eventID: String
    var quantity: Int
    var totalAmount: String
    var status: String
    var createdAt: Date

    init(_ booking: Booking) {
        id = booking.id.lowercased
        reference = booking.reference
        eventID = booking.eventID.lowercased
        quantity = booking.quantity
        totalAmount = Money.text(booking.totalAmount)
        status = booking.status.rawValue
        createdAt = booking.createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id, reference, quantity, status
        case eventID = "event_id", totalAmount = "total_amount", createdAt = "created_at"
    }
}
