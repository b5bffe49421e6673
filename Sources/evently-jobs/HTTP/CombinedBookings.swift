import BookingCore
import Foundation
import Logging
import PostgresNIO
import Queue
import Workers

/// The intake's bookings, one event's at a time in groups (``GroupCombiner``): each group is one
/// transaction with ``BookingStore/bookTogether(_:eventID:now:pricing:on:)`` and one enqueue of
/// the group's follow-ups. A group of one, and a group that cannot go together (an unknown user,
/// say), take the one-booking path, each request in its own transaction.
struct CombinedBookings: Sendable {
    /// `nil` with `combine_max = 1`: every booking on its own, none waiting for another.
    private let combiner: GroupCombiner<UUID, BookingRequest, BookingOutcome>?
    private let single: @Sendable (BookingRequest, UUID) async -> Result<BookingOutcome, any Error>

    init(client: PostgresClient, settings: BookingSettings, databaseTimeout: Duration, logger: Logger) {
        let store = BookingStore(logger: logger)
        let followUps = FollowUpJobs(logger: logger)
        let pricing = settings.pricing
        @Sendable func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
            try await client.withOpenConnection(within: databaseTimeout) { connection in
                try await connection.transaction(logger: logger) { connection in try await body(connection) }
            }
        }
        @Sendable func single(_ request: BookingRequest, eventID: UUID) async -> Result<BookingOutcome, any Error> {
            do {
                return .success(try await transaction { connection in
                    let outcome = try await store.book(userID: request.userID, eventID: eventID, quantity: request.quantity,
                                                       idempotencyKey: request.idempotencyKey, requestHash: request.requestHash,
                                                       now: Date(), pricing: pricing, on: connection)
                    try await followUps.apply(outcome.followUps, on: connection)
                    return outcome
                })
            } catch {
                return .failure(error)
            }
        }
        // At once, as they would have arrived alone: they queue on the row lock, each with its
        // own deadline, rather than the last waiting for all the others' in turn.
        @Sendable func singles(_ requests: [BookingRequest], eventID: UUID) async -> [Result<BookingOutcome, any Error>] {
            await withTaskGroup(of: (Int, Result<BookingOutcome, any Error>).self) { group in
                for (index, request) in requests.enumerated() {
                    group.addTask { (index, await single(request, eventID: eventID)) }
                }
                var results = [Result<BookingOutcome, any Error>?](repeating: nil, count: requests.count)
                for await (index, result) in group { results[index] = result }
                return results.map { $0! }
            }
        }
        self.single = { await single($0, eventID: $1) }
        guard settings.combineMax > 1 else {
            combiner = nil
            return
        }
        combiner = GroupCombiner(maximumGroup: settings.combineMax, failsWaiting: DatabaseUnavailable.matches) { eventID, requests in
            if requests.count == 1 { return [await single(requests[0], eventID: eventID)] }
            do {
                let results = try await transaction { connection in
                    let results = try await store.bookTogether(requests, eventID: eventID, now: Date(), pricing: pricing, on: connection)
                    try await followUps.apply(results.flatMap { (try? $0.get())?.followUps ?? [] }, on: connection)
                    return results
                }
                return results.map { $0.mapError { $0 as any Error } }
            } catch let error as BookingStore.GroupNeedsSingles {
                logger.info("booking a group of \(requests.count) one by one: \(error.reason)")
                return await singles(requests, eventID: eventID)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "55P03" {
                // A lock wait past lock_timeout (the event row, or the commit of notifying
                // transactions on a loaded server): one wait must not refuse the whole group, so
                // each request gets its own chance, as it would have had alone.
                logger.info("booking a group of \(requests.count) one by one after a lock timeout")
                return await singles(requests, eventID: eventID)
            } catch {
                return requests.map { _ in .failure(error) }
            }
        }
    }

    /// Bookings of `eventID` waiting for its running group.
    func waiting(for eventID: UUID) -> Int {
        combiner?.waitingCount(for: eventID) ?? 0
    }

    /// Books `request`, together with the other bookings of `eventID` that arrive meanwhile.
    /// Throws what the one-booking path throws (``BookingError``, database errors).
    func book(_ request: BookingRequest, eventID: UUID) async throws -> BookingOutcome {
        guard let combiner else { return try await single(request, eventID).get() }
        return try await combiner.submit(request, key: eventID)
    }
}
