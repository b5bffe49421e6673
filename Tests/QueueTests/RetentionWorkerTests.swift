import EventlyTestSupport
import Foundation
import Logging
import PostgresNIO
import Queue
import Testing

/// `RetentionWorker`: the `queue.prune` job deletes finished jobs older than the retention.
@Suite(.timeLimit(.minutes(5))) struct RetentionWorkerTests {
    let logger = TestDatabase.logger

    // MARK: Pruning

    @Test func finishedJobsPastRetentionArePruned() async throws {
        try await TestDatabase.withClient(migrations: QueueSchema.migrations) { client in
            try await QT.execute(sql: """
                INSERT INTO evently_jobs.jobs (kind, state, finalized_at, created_at, run_at) VALUES
                  ('old.completed', 'completed', now() - interval '2 hours', now() - interval '3 hours', now() - interval '3 hours'),
                  ('old.discarded', 'discarded', now() - interval '2 hours', now() - interval '3 hours', now() - interval '3 hours'),
                  ('new.completed', 'completed', now() - interval '1 minute', now() - interval '3 hours', now() - interval '3 hours'),
                  ('old.scheduled', 'scheduled', NULL, now() - interval '3 hours', now() + interval '1 hour')
                """, on: client)
            var registry = try QT.registry()
            try registry.register(RetentionWorker(client: client, retention: .seconds(3600)))
            let prune = try await JobClient(client: client, logger: logger).enqueue(RetentionWorker.Payload()).id
            try await QT.withDaemon(QT.daemon(client, registry: registry, configuration: QT.configuration())) {
                try await QT.waitForState(prune, .completed, on: client)
            }
            let rows = try await client.query(
                "SELECT kind FROM evently_jobs.jobs WHERE kind <> 'queue.prune' ORDER BY kind", logger: logger)
            var kinds: [String] = []
            for try await kind in rows.decode(String.self) { kinds.append(kind) }
            #expect(kinds == ["new.completed", "old.scheduled"])
        }
    }
}
