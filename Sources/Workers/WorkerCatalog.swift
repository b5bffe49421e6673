import BookingCore
import Foundation
import Metrics
import PostgresNIO
import Queue

/// Every job kind the daemon runs, registered in one place; a duplicate kind fails startup.
public enum WorkerCatalog {
    /// - Parameters:
    ///   - client: the pool workers use for their own queries.
    ///   - retention: how long finished jobs are kept by `queue.prune`.
    ///   - booking: offer window and pricing for the waitlist workers.
    ///   - delivery: SMTP, SMS, reminder offsets and notification retention.
    ///   - reports: where `report.build` writes CSV files.
    ///   - metricsFactory: where the workers' metrics go (the daemon's Prometheus registry).
    public static func makeRegistry(client: PostgresClient, retention: Duration,
                                    booking: BookingSettings = BookingSettings(),
                                    delivery: DeliverySettings = DeliverySettings(),
                                    reports: ReportSettings = ReportSettings(directory: URL(fileURLWithPath: "reports")),
                                    metricsFactory: any MetricsFactory = MetricsSystem.factory) throws -> WorkerRegistry {
        var registry = WorkerRegistry()
        try DiagnosticWorkers.register(in: &registry)
        try registry.register(RetentionWorker(client: client, retention: retention))
        try registry.register(WaitlistPromotionWorker(client: client, settings: booking))
        try registry.register(WaitlistLapseWorker(client: client))
        try registry.register(EventCompletionWorker(client: client))
        try registry.register(NotificationDispatchWorker(client: client))
        try registry.register(EmailSendWorker(client: client, settings: delivery.smtp,
                                              metrics: DeliveryMetrics(channel: "email", factory: metricsFactory)))
        try registry.register(SMSSendWorker(client: client, settings: delivery.sms,
                                            metrics: DeliveryMetrics(channel: "sms", factory: metricsFactory)))
        try registry.register(ReminderScanWorker(client: client, offsets: delivery.reminderOffsets))
        try registry.register(NotificationPruneWorker(client: client, retention: delivery.notificationRetention))
        try registry.register(ReportBuildWorker(client: client, settings: reports))
        return registry
    }
}
