// swift-tools-version: 6.1
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "evently-jobs",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "evently-jobs", targets: ["evently-jobs"]),
        .library(name: "Queue", targets: ["Queue"]),
        .library(name: "BookingCore", targets: ["BookingCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "evently-jobs",
            dependencies: [
                "Queue", "Workers", "Scheduler", "BookingCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            resources: [
                .embedInCode("HTTP/openapi.json"),
                .embedInCode("HTTP/Console/console.html"),
                .embedInCode("HTTP/Console/console.js"),
                .embedInCode("HTTP/Console/console.css"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Queue",
            dependencies: [
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            resources: [
                .embedInCode("Migrations/q0001_jobs.sql"),
                .embedInCode("Migrations/q0002_daemons.sql"),
                .embedInCode("Migrations/q0003_console.sql"),
                .embedInCode("Migrations/q0004_console_speed.sql"),
                .embedInCode("Migrations/q0005_finished_partition.sql"),
                .embedInCode("Migrations/q0006_drop_days_one_at_a_time.sql"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "BookingCore",
            dependencies: [
                // For the database helpers every module shares (prepared statements, open connections).
                "Queue",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [
                .embedInCode("Migrations/b0001_booking.sql"),
                .embedInCode("Migrations/b0002_reports.sql"),
                .embedInCode("Migrations/b0003_reminders.sql"),
                .embedInCode("Migrations/b0004_delivery_marks.sql"),
                .embedInCode("Migrations/b0005_live.sql"),
                .embedInCode("Migrations/b0006_notifications_fillfactor.sql"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Workers",
            dependencies: [
                "Queue", "BookingCore", "CLibESMTP",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        // libesmtp (Debian libesmtp-dev), the SMTP client the email worker drives.
        .systemLibrary(
            name: "CLibESMTP",
            pkgConfig: "libesmtp-1.0",
            providers: [.apt(["libesmtp-dev"])]
        ),
        .target(
            name: "Scheduler",
            dependencies: [
                "Queue",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            resources: [
                .embedInCode("Migrations/s0001_schedule_ticks.sql"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "EventlyTestSupport",
            dependencies: [
                "Queue",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/TestSupport",
            resources: [
                .copy("smtp_sink.py"),
                .copy("console_browser.py"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "QueueTests",
            dependencies: [
                "Queue", "EventlyTestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BookingCoreTests",
            dependencies: ["BookingCore", "EventlyTestSupport", "Queue"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "SchedulerTests",
            dependencies: ["Scheduler", "Queue", "EventlyTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WorkersTests",
            dependencies: [
                "Workers", "Queue", "BookingCore", "EventlyTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EventlyJobsTests",
            dependencies: [
                "evently-jobs", "Queue", "Scheduler", "Workers", "BookingCore", "EventlyTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
