/// The booking core's schema changes, in order. Add new files as `b0002_...sql`; never edit a
/// shipped one.
///
/// BookingCore does not depend on the `Queue` module that owns the migrator, so migrations are
/// plain tuples; the daemon maps them into `SchemaMigration(module: "booking", ...)`.
public enum BookingSchema {
    /// The module name the migrations are recorded under.
    public static let module = "booking"

    /// `(name, version, sql)` of every migration, ascending by version.
    public static let migrations: [(name: String, version: Int, sql: String)] = [
        (name: "booking", version: 1, sql: String(decoding: PackageResources.b0001_booking_sql, as: UTF8.self)),
        (name: "reports", version: 2, sql: String(decoding: PackageResources.b0002_reports_sql, as: UTF8.self)),
        (name: "reminders", version: 3, sql: String(decoding: PackageResources.b0003_reminders_sql, as: UTF8.self)),
        (name: "delivery_marks", version: 4, sql: String(decoding: PackageResources.b0004_delivery_marks_sql, as: UTF8.self)),
        (name: "live", version: 5, sql: String(decoding: PackageResources.b0005_live_sql, as: UTF8.self)),
        (name: "notifications_fillfactor", version: 6,
         sql: String(decoding: PackageResources.b0006_notifications_fillfactor_sql, as: UTF8.self)),
    ]
}
