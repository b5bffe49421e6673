import BookingCore
import Foundation
import Hummingbird
import Workers

/// Waitlists, notifications and analytics under `/v1`.
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
            let user = try await api.member(context)
            let eventID = try BookingAPI.uuid(context)
            let body = try await request.decodeStrict(JoinBody.self, context: context)
            guard (1...api.settings.maxQuantity).contains(body.quantity) else {
                throw APIError.badRequest("'quantity' must be between 1 and \(api.settings.maxQuantity)", field: "quantity")
            }
            let channels = try (body.channels ?? NotificationChannel.waitlistDefault.map(\.rawValue)).map { name in
                guard let channel = NotificationChannel(rawValue: name) else {
                    throw APIError.badRequest("'channels' may hold email, sms, push and in_app", field: "channels")
                }
                return channel
            }
            let entry = try await api.transaction { connection in
                let store = WaitlistStore(logger: api.logger)
                _ = try await store.join(userID: user.id, eventID: eventID, quantity: body.quantity, channels: channels,
                                         now: Date(), on: connection)
                return try await store.entry(userID: user.id, eventID: eventID, on: connection)
            }
            return try JSONResponse.make(WaitlistBody(entry), status: .created)
        }
        router.get("/v1/events/:id/waitlist/me") { _, context in
            let user = try await api.member(context)
            let eventID = try BookingAPI.uuid(context)
            let entry = try await api.read { try await WaitlistStore(logger: api.logger).entry(userID: user.id, eventID: eventID, on: $0) }
            return try JSONResponse.make(WaitlistBody(entry))
        }
        router.delete("/v1/events/:id/waitlist") { _, context in
            let user = try await api.member(context)
            let eventID = try BookingAPI.uuid(context)
            try await api.transaction { connection in
                let now = Date()
                let outcome = try await WaitlistStore(logger: api.logger).leave(userID: user.id, eventID: eventID, now: now, on: connection)
                try await api.applyFollowUps(outcome.followUps, now: now, on: connection)
            }
            return Response(status: .noContent)
        }
        router.post("/v1/waitlist/offers/:id/accept") { _, context in
            let user = try await api.member(context)
            let entryID = try BookingAPI.uuid(context)
            let booking = try await api.transaction { connection in
                let now = Date()
                let outcome = try await WaitlistStore(logger: api.logger).acceptOffer(entryID: entryID, userID: user.id, now: now, on: connection)
                try await api.applyFollowUps(outcome.followUps, now: now, on: connection)
                return outcome.value
            }
            return try JSONResponse.make(BookingBody(booking), status: .created)
        }

        router.get("/v1/notifications") { _, context in
            let user = try await api.member(context)
            let list = try await api.read { try await NotificationStore(logger: api.logger).list(userID: user.id, on: $0) }
            return try JSONResponse.make(list.map(NotificationBody.init))
        }
        router.post("/v1/notifications/:id/read") { _, context in
            let user = try await api.member(context)
            let id = try BookingAPI.uuid(context)
            let read = try await api.read { try await NotificationStore(logger: api.logger).markRead(id: id, userID: user.id, now: Date(), on: $0) }
            return try JSONResponse.make(NotificationBody(read))
        }
    }
}
