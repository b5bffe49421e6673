import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing

@Suite struct EmbeddedPostgresTests {
    @Test func clusterIsCreatedReusedAndStopped() async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-embedded-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = TestDatabase.logger

        let first = EmbeddedPostgres(directory: directory, logger: logger)
        #expect(try first.start() == true, "the first start creates the cluster")
        #expect(try first.isRunning())
        try await Self.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')", on: first)
        try first.stop()
        #expect(try !first.isRunning())
        #expect(!FileManager.default.fileExists(atPath: first.socketPath), "no server is left listening")

        let second = EmbeddedPostgres(directory: directory, logger: logger)
        #expect(try second.start() == false, "the second start reuses the cluster")
        let note = try await Self.query("SELECT note FROM kept", on: second)
        #expect(note == "still here")

        // A second user of a running cluster neither restarts nor stops it.
        let guest = EmbeddedPostgres(directory: directory, logger: logger)
        try guest.start()
        try second.stop()
        #expect(try !second.isRunning())
        try guest.stop()
    }

    @Test func missingToolIsReportedClearly() {
        let error = EmbeddedPostgresError.toolNotFound("initdb")
        #expect(error.description.contains("apt-get install postgresql"))
    }

    static func execute(_ sql: String, on cluster: EmbeddedPostgres) async throws {
        let connection = try await PostgresConnection.connect(
            configuration: .init(unixSocketPath: cluster.socketPath, username: cluster.username, password: nil, database: "postgres"),
            id: 1, logger: TestDatabase.logger)
        for statement in sql.split(separator: ";") {
            try await connection.query(PostgresQuery(unsafeSQL: String(statement)), logger: TestDatabase.logger)
        }
        try await connection.close()
    }

    static func query(_ sql: String, on cluster: EmbeddedPostgres) async throws -> String? {
        let connection = try await PostgresConnection.connect(
            configuration: .init(unixSocketPath: cluster.socketPath, username: cluster.username, password: nil, database: "postgres"),
            id: 1, logger: TestDatabase.logger)
        let value = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: TestDatabase.logger).collect().first?.decode(String.self)
        try await connection.close()
        return value
    }
}
