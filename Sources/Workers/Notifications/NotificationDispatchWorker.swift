import BookingCore
import Foundation
import PostgresNIO
import Queue

/// `notifications.dispatch`: stores the notices of a committed use case as notification rows
/// (one per channel) and enqueues their deliveries, in one transaction with the job's own
/// completion; a re-run finds its rows by their dedupe keys (`dispatch:<job id>:<n>:<channel>`).
public struct NotificationDispatchWorker: JobWorker {
    public struct Payload: JobPayload {
        public static let kind = "notifications.dispatch"
        public var notices: [Notice]
        public init(notices: [Notice]) { self.notices = notices }
    }

    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    public func work(_ payload: Payload, context: JobContext) async throws {
        let logger = context.logger
        let keys = payload.notices.indices.map { Optional("dispatch:\(context.jobID):\($0)") }
        try await client.withOpenConnection { connection in
            try await connection.transaction(logger: logger) { connection in
                try await NotificationDispatch(logger: logger).send(payload.notices, dedupeKeys: keys, now: Date(), on: connection)
                try await context.complete(on: connection)
            }
        }
    }
}
