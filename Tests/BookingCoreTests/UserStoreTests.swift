import BookingCore
import Foundation
import PostgresNIO
import Testing

@Suite(.timeLimit(.minutes(5))) struct UserStoreTests {
    @Test func upsertFollowsTheClaimsAndBumpsTheVersionOnlyOnChange() async throws {
        try await BookingFixture.with { f in
            let id = UUID()
            func upsert(_ claims: UserClaims, at seconds: Double = 0) async throws -> User {
                try await f.tx { try await f.users.upsert(claims, now: f.now.addingTimeInterval(seconds), on: $0) }
            }
            let created = try await upsert(UserClaims(id: id, email: "ann@example.org", role: .user))
            #expect(created.version == 1)
            #expect(created.phone == nil)
            #expect(created.role == .user)

            let same = try await upsert(UserClaims(id: id, email: "ann@example.org", role: .user), at: 10)
            #expect(same == created)

            let changed = try await upsert(UserClaims(id: id, email: "ann@example.org", role: .admin, phone: "+15550100"), at: 20)
            #expect(changed.version == 2)
            #expect(changed.role == .admin)
            #expect(changed.phone == "+15550100")
            #expect(changed.updatedAt == f.now.addingTimeInterval(20))
            #expect(changed.createdAt == created.createdAt)

            await #expect(throws: BookingError.emailInUse) {
                try await upsert(UserClaims(id: UUID(), email: "ANN@example.org", role: .user))
            }
            await #expect(throws: BookingError.userNotFound) { try await f.tx { try await f.users.get(id: UUID(), on: $0) } }
        }
    }
}
