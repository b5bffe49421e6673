import Queue
import BookingCore
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Mirrors token claims into `evently.users` once per claim set and process.
final class UserDirectory: Sendable {
    private let seen = Mutex<Set<String>>([])
    let store: UserStore

    init(logger: Logger) {
        store = UserStore(logger: logger)
    }

    func ensure(_ caller: Caller, client: PostgresClient, within limit: Duration) async throws {
        let key = "\(caller.userID)|\(caller.email)|\(caller.role.rawValue)|\(caller.phone ?? "")"
        if seen.withLock({ $0.contains(key) }) { return }
        let claims = UserClaims(id: caller.userID, email: caller.email, role: caller.role == .admin ? .admin : .user, phone: caller.phone)
        do {
            _ = try await client.withOpenConnection(within: limit) { [store] connection in
                try await store.upsert(claims, now: Date(), on: connection)
            }
        } catch let error as BookingError {
            throw BookingAPI.httpError(error)
        }
        seen.withLock { _ = $0.insert(key) }
    }
}
