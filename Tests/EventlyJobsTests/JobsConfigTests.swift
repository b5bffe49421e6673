import Foundation
import PostgresNIO
import Scheduler
import Testing
@testable import evently_jobs

@Suite struct JobsConfigTests {
    func parse(_ text: String, environment: [String: String] = [:]) throws(ConfigError) -> JobsConfig {
        var config = try JobsConfig(file: ConfFile(path: "jobs.conf", text: text))
        try config.applyEnvironment(environment)
        return config
    }

    func error(_ text: String, environment: [String: String] = [:]) -> ConfigError? {
        do { _ = try parse(text, environment: environment); return nil } catch { return error }
    }

    @Test func shippedConfigurationLoads() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../jobs.conf").standardizedFileURL.path
        let config = try JobsConfig.load(path: path, environment: [:])
        #expect(config.database.url == nil, "the shipped file runs on the embedded cluster")
        #expect(config.http.port == 8080)
        #expect(config.queues["default"]?.concurrency == 10)
        #expect(config.kinds["diag.sleep"]?.timeout == .seconds(60))
        #expect(config.embeddedDirectoryURL.path.hasSuffix("/.evently/postgres"))
    }

    @Test func valuesAreTypedByHowTheyAreWritten() throws {
        let config = try parse("""
            # comment
            [database]
            url = "postgres://u:p@db:5432/evently" # trailing comment
            pool_size = 4
            [http]
            enabled = false
            port = 9_090
            [queue]
            poll_interval = 250ms
            retention = 2d
            [queue.email]
            concurrency = 3
            [kind.report.build]
            timeout = 10m
            """)
        #expect(config.database.url == "postgres://u:p@db:5432/evently")
        #expect(config.database.poolSize == 4)
        #expect(config.http.enabled == false)
        #expect(config.http.port == 9090)
        #expect(config.queue.pollInterval == .milliseconds(250))
        #expect(config.queue.retention == .seconds(2 * 86_400))
        #expect(config.queues["email"] == .init(concurrency: 3))
        #expect(config.kinds["report.build"]?.timeout == .seconds(600))
    }

    @Test(arguments: [
        ("[http]\nprot = 8080", "jobs.conf:2: http.prot: unknown key"),
        ("[htp]\nport = 8080", "jobs.conf:2: htp.port: unknown key"),
        ("[http]\nport = \"eighty\"", "jobs.conf:2: http.port: expected an integer, found text \"eighty\""),
        ("[http]\n\nport = 70000", "jobs.conf:3: http.port: must be between 0 and 65535, found 70000"),
        ("[queue]\nlease = 60", "jobs.conf:2: queue.lease: expected a duration such as 500ms, 30s, 5m, 2h or 7d, found an integer 60"),
        ("[http]\nhost = localhost", "jobs.conf:2: http.host: cannot read localhost: quote text (\"...\"), or write a number, true/false or a duration like 30s"),
        ("[http]\nport = 1\nport = 2", "jobs.conf:3: http.port: set twice (first on line 2)"),
        ("[database]\nurl = \"mysql://x\"", "jobs.conf:2: database.url: must be a postgres:// URL"),
        ("[log]\nlevel = \"loud\"", "jobs.conf:2: log.level: must be one of trace, debug, info, notice, warning, error, critical"),
        ("[http\nport = 1", "jobs.conf:1: a section header looks like [name]"),
        ("[http]\nport 8080", "jobs.conf:2: expected 'key = value', found 'port 8080'"),
        ("[http]\nhost = \"open", "jobs.conf:2: http.host: unterminated string \"open"),
        ("[auth]\njwt_secret = \"short\"", "jobs.conf:2: auth.jwt_secret: must be at least 32 bytes (the size of an HS256 key)"),
        ("[http]\nrate_limit_per_user = -1", "jobs.conf:2: http.rate_limit_per_user: must be between 0 and 1000000, found -1"),
    ])
    func badInputNamesFileLineAndKey(text: String, message: String) {
        #expect(error(text)?.description == message)
    }

    @Test func missingFileIsAnError() {
        #expect(throws: ConfigError.self) { try JobsConfig.load(path: "/nonexistent/jobs.conf") }
        do {
            _ = try JobsConfig.load(path: "/nonexistent/jobs.conf")
        } catch {
            #expect(error.description.hasPrefix("/nonexistent/jobs.conf: configuration file not found"))
        }
    }

    @Test func environmentOverridesTheFile() throws {
        let config = try parse("[http]\nport = 8080\n[database]\nurl = \"postgres://a@b/c\"",
                               environment: ["EVENTLY_HTTP_PORT": "9999", "EVENTLY_DATABASE_URL": "postgres://x@y/z"])
        #expect(config.http.port == 9999)
        #expect(config.database.url == "postgres://x@y/z")
        #expect(error("", environment: ["EVENTLY_HTTP_PORT": "http"])?.description
                == "environment: EVENTLY_HTTP_PORT: must be a port number (0-65535), found \"http\"")
    }

    @Test func databaseURLsBecomeClientConfigurations() throws {
        let tcp = try DatabaseLocation.clientConfiguration(url: "postgres://app:s3cret@db.internal:6543/evently?sslmode=disable")
        #expect(tcp.host == "db.internal")
        #expect(tcp.port == 6543)
        #expect(tcp.username == "app")
        #expect(tcp.password == "s3cret")
        #expect(tcp.database == "evently")
        let socket = try DatabaseLocation.clientConfiguration(url: "postgres://app@localhost/evently?host=/var/run/postgresql")
        #expect(socket.unixSocketPath == "/var/run/postgresql/.s.PGSQL.5432")
        #expect(DatabaseLocation.redacted("postgres://app:s3cret@db/x") == "postgres://app:***@db/x")
        #expect(throws: ConfigError.self) { try DatabaseLocation.clientConfiguration(url: "postgres://a@b/c?sslmode=maybe") }
    }
}

@Suite struct ScheduleConfigTests {
    @Test func schedulesAreReadWithTheirPolicy() throws {
        let config = try JobsConfig(file: ConfFile(path: "jobs.conf", text: """
            [scheduler]
            catch_up = "all"
            catch_up_window = 2h
            catch_up_limit = 7
            [schedule.nightly]
            cron = "15 0 * * *"
            time_zone = "Europe/Berlin"
            kind = "report.build"
            args = '{"period": "daily"}'
            queue = "reports"
            """))
        #expect(config.scheduling.catchUp == .all(window: .seconds(7200), limit: 7))
        let schedule = try #require(config.scheduling.schedules.first)
        #expect(schedule.name == "nightly")
        #expect(schedule.kind == "report.build")
        #expect(schedule.queue == "reports")
        #expect(schedule.argsJSON == #"{"period": "daily"}"#)
        #expect(schedule.expression.timeZone.identifier == "Europe/Berlin")
    }

    @Test(arguments: [
        ("[schedule.nightly]\nkind = \"x\"\ncron = \"61 * * * *\"",
         "jobs.conf:3: schedule.nightly.cron: schedule 'nightly': minute: 61 is out of range 0-59"),
        ("[schedule.nightly]\nkind = \"x\"\ncron = \"@daily\"\ntime_zone = \"Mars/Base\"",
         "jobs.conf:4: schedule.nightly.time_zone: schedule 'nightly': time zone: unknown time zone 'Mars/Base'"),
        ("[schedule.nightly]\ncron = \"@daily\"",
         "jobs.conf:2: schedule.nightly.kind: every schedule needs the job kind it enqueues"),
        ("[schedule.nightly]\nkind = \"x\"\ncron = \"@daily\"\nargs = '[1]'",
         "jobs.conf:4: schedule.nightly.args: must be a JSON object in single quotes, e.g. '{\"hours\": 24}'"),
        ("[scheduler]\ncatch_up = \"sometimes\"",
         "jobs.conf:2: scheduler.catch_up: must be \"latest\", \"none\" or \"all\""),
    ])
    func badSchedulesNameScheduleFieldAndValue(text: String, message: String) {
        do {
            _ = try JobsConfig(file: ConfFile(path: "jobs.conf", text: text))
            Issue.record("expected an error")
        } catch {
            #expect(error.description == message)
        }
    }
}
