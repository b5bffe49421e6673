import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing

@Suite(.timeLimit(.minutes(5))) struct JobNotifierTests {
    /// The LISTEN connection is killed server-side; the daemon listens again by itself, and a
    /// job enqueued afterwards still starts at once (not at the next 30 s poll).
    /// The LISTEN connection is the daemon's own, not a pool lease.
    @Test func listenConnectionReconnectsByItself() async throws {
        let database = try await TestDatabase.makeDatabase()
        try await TestDatabase.withClient(configuration: database) { client in
            try await SchemaMigrator(migrations: QueueSchema.migrations, logger: QT.logger).migrate(client)
            let configuration = QT.configuration { $0.pollInterval = .seconds(30) }
            let daemon = JobDaemon(client: client, registry: try QT.registry(), configuration: configuration, logger: QT.logger,
                                   listenConnection: .init(sameServerAs: database, tls: .disable))
            try await QT.withDaemon(daemon) {
                try await QT.waitForListener(on: client)
                let killed = try await QT.count("""
                    SELECT count(pg_terminate_backend(pid))::bigint FROM pg_stat_activity
                    WHERE datname = current_database() AND query LIKE 'LISTEN%'
                    """, on: client)
                #expect(killed == 1)
                try await QT.waitUntil("""
                    SELECT count(*) = 1 FROM pg_stat_activity
                    WHERE datname = current_database() AND query LIKE 'LISTEN%' AND state = 'idle'
                    """, on: client, timeout: .seconds(10), "a new LISTEN connection")
                let started = ContinuousClock.now
                let id = try await JobClient(client: client, logger: QT.logger).enqueue(NewJob(kind: "diag.noop")).id
                try await QT.waitForState(id, .completed, on: client, timeout: .seconds(10))
                #expect(ContinuousClock.now - started < .seconds(5), "woken by NOTIFY, not by the 30 s poll")
            }
        }
    }
}
