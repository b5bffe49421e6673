import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing

@Suite(.timeLimit(.minutes(5))) struct EmbeddedPostgresTests {
    @Test func clusterIsCreatedReusedAndStopped() async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-embedded-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = TestDatabase.logger

        let first = EmbeddedPostgres(directory: directory, logger: logger)
        #expect(try await first.start() == true, "the first start creates the cluster")
        #expect(try first.isRunning())
        try await Self.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')", on: first)
        try first.stop()
        #expect(try !first.isRunning())
        #expect(!FileManager.default.fileExists(atPath: first.socketPath), "no server is left listening")

        let second = EmbeddedPostgres(directory: directory, logger: logger)
        #expect(try await second.start() == false, "the second start reuses the cluster")
        let note = try await Self.query("SELECT note FROM kept", on: second)
        #expect(note == "still here")

        // A second user of a running cluster neither restarts nor stops it.
        let guest = EmbeddedPostgres(directory: directory, logger: logger)
        try await guest.start()
        try second.stop()
        #expect(try !second.isRunning())
        try guest.stop()
    }

    @Test func clusterIsPrivateToItsOwner() async throws {
        // A deep folder, so the socket goes to the /tmp fallback as well.
        let base = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("evently-private-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: base) }
        let shallow = EmbeddedPostgres(directory: base.appendingPathComponent("a"), logger: TestDatabase.logger)
        let deep = EmbeddedPostgres(directory: base.appendingPathComponent(String(repeating: "d", count: 90)), logger: TestDatabase.logger)
        for cluster in [shallow, deep] {
            try await cluster.start()
            defer { try? cluster.stop() }
            let serverUID = geteuid() == 0 ? getpwnam("postgres")!.pointee.pw_uid : geteuid()
            for folder in [cluster.socketDirectory.path, cluster.directory.path] {
                var info = stat()
                #expect(lstat(folder, &info) == 0)
                #expect(info.st_mode & 0o777 == 0o700, "\(folder) is \(String(info.st_mode & 0o777, radix: 8))")
                #expect(info.st_uid == serverUID, "\(folder) belongs to the server's user")
            }
            if cluster === deep {
                #expect(cluster.socketDirectory.path.hasPrefix("/tmp/evently-pg-"))
                #expect(cluster.socketDirectory.lastPathComponent != "evently-pg-", "a random name, not one derived from the path")
            }
            let hba = try String(contentsOf: cluster.dataDirectory.appendingPathComponent("pg_hba.conf"), encoding: .utf8)
            #expect(!hba.contains("trust"))
            #expect(!hba.split(separator: "\n").contains { $0.hasPrefix("host") }, "no TCP entries")
            #expect(try await Self.query("SHOW listen_addresses", on: cluster) == "", "no TCP listener")
            // Another role over the same socket is not let in (only the daemon's OS user, as the cluster's user).
            await #expect(throws: (any Error).self) {
                let connection = try await PostgresConnection.connect(
                    configuration: .init(unixSocketPath: cluster.socketPath, username: "postgres", password: nil, database: "postgres"),
                    id: 2, logger: TestDatabase.logger)
                try await connection.close()
            }
        }
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
