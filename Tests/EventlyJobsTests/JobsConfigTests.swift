import BookingCore
import Foundation
import PostgresNIO
import Queue
import Scheduler
import Testing
import Workers
@testable import evently_jobs

@Suite(.timeLimit(.minutes(5))) struct JobsConfigTests {
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
        #expect(config.queue.queues["default"] == 10)
        #expect(config.queue.kindTimeouts["diag.sleep"] == .seconds(60))
        #expect(config.embeddedDirectoryURL.path.hasSuffix("/.evently/postgres"))
        #expect(config.intake.jwtSecret == nil, "no usable example secret ships")
        #expect(config.intake.enqueueKinds == ["diag.*", "report.build"])
        #expect(config.intake.trustedProxies.isEmpty)
        #expect(config.booking.combineMax == 64)
        #expect(config.database.preparedStatements, "prepared unless behind an old PgBouncer")
    }

    @Test func valuesAreTypedByHowTheyAreWritten() throws {
        let config = try parse("""
            # comment
            [database]
            url = "postgres://u:p@db:5432/evently" # trailing comment
            pool_size = 4
            prepared_statements = false
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
        #expect(config.database.preparedStatements == false)
        #expect(config.http.enabled == false)
        #expect(config.http.port == 9090)
        #expect(config.queue.pollInterval == .milliseconds(250))
        #expect(config.queue.retention == .seconds(2 * 86_400))
        #expect(config.queue.queues["email"] == 3)
        #expect(config.queue.kindTimeouts["report.build"] == .seconds(600))
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
        ("[auth]\njwt_secret = \"short\"", "jobs.conf:2: auth.jwt_secret: must be at least 32 bytes (the size of an HS256 key); make one with `openssl rand -hex 32`"),
        ("[http]\ntrusted_proxies = \"10.0.0.0/8, lb.internal\"", "jobs.conf:2: http.trusted_proxies: \"lb.internal\" is not an address or CIDR range (e.g. 10.0.0.0/8, 2001:db8::/32)"),
        ("[http]\nidle_timeout = 0s", "jobs.conf:2: http.idle_timeout: must be longer than 0s"),
        ("[http]\ndatabase_timeout = 10ms", "jobs.conf:2: http.database_timeout: must be between 100ms and 5m"),
        ("[auth]\nleeway = 1h", "jobs.conf:2: auth.leeway: must be between 0s and 10m"),
        ("[http]\nrate_limit_per_user = -1", "jobs.conf:2: http.rate_limit_per_user: must be between 0 and 1000000, found -1"),
        // Values that parse but would spin against the database or lose running jobs.
        ("[queue]\nlease = 0s", "jobs.conf:2: queue.lease: must be at least 2.0 seconds (it is renewed every third of it)"),
        ("[queue]\n\npoll_interval = 0s", "jobs.conf:3: queue.poll_interval: must be at least 0.01 seconds"),
        ("[queue]\nrescue_interval = 0s", "jobs.conf:2: queue.rescue_interval: must be at least 0.1 seconds"),
        ("[kind.email.send]\ntimeout = 0s", "jobs.conf:2: kind.email.send.timeout: must be at least 0.01 seconds"),
        ("[live]\nbuffer = 2", "jobs.conf:2: live.buffer: must be between 8 and 100000, found 2"),
        ("[queue]\nclaims_in_flight = 0", "jobs.conf:2: queue.claims_in_flight: must be between 1 and 8, found 0"),
        ("[smtp]\nsessions = 17", "jobs.conf:2: smtp.sessions: must be between 1 and 16, found 17"),
        ("[smtp]\nmessages_per_session = 0", "jobs.conf:2: smtp.messages_per_session: must be between 1 and 50, found 0"),
        ("[smtp]\nmessages_per_session = 51", "jobs.conf:2: smtp.messages_per_session: must be between 1 and 50, found 51"),
        ("[live]\nevent_interval = 1ms", "jobs.conf:2: live.event_interval: must be between 0.01 seconds and 60.0 seconds"),
        ("[live]\nmax_connections_per_user = 0", "jobs.conf:2: live.max_connections_per_user: must be between 1 and 10000, found 0"),
        ("[booking]\ncombine_max = 0", "jobs.conf:2: booking.combine_max: must be between 1 and 1000, found 0"),
        ("[database]\nlisten_url = \"mysql://x\"", "jobs.conf:2: database.listen_url: must be a postgres:// URL"),
        ("[database]\nreplica_max_lag = 10ms", "jobs.conf:2: database.replica_max_lag: must be between 0.1 seconds and 86400.0 seconds"),
        ("[database]\nreplica_url = \"http://replica\"", "jobs.conf:2: database.replica_url: must be a postgres:// URL"),
        ("[database]\ntransaction_pooling = \"yes\"", "jobs.conf:2: database.transaction_pooling: expected true or false, found text \"yes\""),
        ("[database]\nurl = \"postgres://u@h1,h2:99999/db\"", "jobs.conf:2: database.url: host 'h2:99999': '99999' is not a port"),
        ("[database]\nurl = \"postgres://u@h1,,h2/db\"", "jobs.conf:2: database.url: an empty host in the host list"),
        ("[database]\nurl = \"postgres://u@h1,h1:5432/db\"", "jobs.conf:2: database.url: names the same host twice"),
        ("[database]\n\nurl = \"postgres://u@h1,h2/db?target_session_attrs=standby\"",
         "jobs.conf:3: database.url: target_session_attrs=standby is not supported with several hosts: the daemon writes, so it needs read-write (the default) or primary; read-only copies go in database.replica_url"),
        ("[database]\nurl = \"postgres://u@10.0.0.1,10.0.0.2/db\"",
         "jobs.conf:2: database.url: names 10.0.0.1:5432 by address with sslmode=prefer: through the failover relay TLS can check only host names; name the hosts, or set sslmode=disable on a private network"),
        ("[database]\nreplica_url = \"postgres://u@r1,r2/db\"",
         "jobs.conf:2: database.replica_url: names several hosts; only database.url may (the daemon follows its writable host)"),
    ])
    func badInputNamesFileLineAndKey(text: String, message: String) {
        #expect(error(text)?.description == message)
    }

    /// Behind a transaction pooler: nothing prepared, LISTEN only on a direct URL, else poll-only.
    @Test func transactionPoolingTurnsOffPreparedStatementsAndListensOnlyDirectly() throws {
        let plain = try parse("[database]\nurl = \"postgres://u@db/evently\"")
        #expect(plain.database.preparesStatements && plain.database.listens)
        let pooled = try parse("[database]\nurl = \"postgres://u@bouncer:6432/evently\"\ntransaction_pooling = true")
        #expect(!pooled.database.preparesStatements)
        #expect(!pooled.database.listens, "poll-only without a direct URL")
        let direct = try parse("[database]\nurl = \"postgres://u@bouncer:6432/evently\"\ntransaction_pooling = true",
                               environment: ["EVENTLY_DATABASE_LISTEN_URL": "postgres://u@db:5432/evently"])
        #expect(direct.database.listenURL == "postgres://u@db:5432/evently")
        #expect(direct.database.listens && !direct.database.preparesStatements)
    }

    @Test func aReplicaIsReadFromTheFileOrTheEnvironment() throws {
        let config = try parse("[database]\nreplica_url = \"postgres://u@replica/evently\"\nreplica_max_lag = 30s")
        #expect(config.database.replicaURL == "postgres://u@replica/evently")
        #expect(config.database.replicaMaxLag == .seconds(30))
        #expect(try parse("").database.replicaURL == nil)
        #expect(try parse("").database.replicaMaxLag == .seconds(10))
        let overridden = try parse("[database]\nreplica_url = \"postgres://u@replica/evently\"",
                                   environment: ["EVENTLY_DATABASE_REPLICA_URL": "postgres://u@other/evently"])
        #expect(overridden.database.replicaURL == "postgres://u@other/evently")
    }

    @Test func liveLimitsAreRead() throws {
        let config = try JobsConfig(file: ConfFile(path: "jobs.conf", text: """
            [live]
            max_connections_per_user = 3
            buffer = 64
            ping_interval = 10s
            event_interval = 100ms
            """))
        #expect(config.live.maxConnectionsPerUser == 3)
        #expect(config.live.buffer == 64)
        #expect(config.live.pingInterval == .seconds(10))
        #expect(config.live.eventInterval == .milliseconds(100))
        #expect(config.live.maxConnectionsPerAddress == LiveSettings().maxConnectionsPerAddress)
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

@Suite(.timeLimit(.minutes(5))) struct ScheduleConfigTests {
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

// MARK: - Delivery ([smtp], [sms], [notifications]) and [reports]

extension JobsConfigTests {
    var shippedPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../jobs.conf").standardizedFileURL.path
    }

    /// The error `text` (plus `environment`) is refused with, failing the test when it loads.
    func refusal(_ text: String, environment: [String: String] = [:],
                 sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
        let found = error(text, environment: environment)
        if found == nil { Issue.record("expected the configuration to be refused", sourceLocation: sourceLocation) }
        return found
    }

    @Test func shippedConfigurationConfiguresDeliveryReportsAndSchedules() throws {
        let config = try JobsConfig.load(path: shippedPath, environment: [:])
        let smtp = config.delivery.smtp
        #expect(smtp.host == nil, "email is off until a host is configured")
        #expect(!smtp.isEnabled)
        #expect(smtp.port == 587)
        #expect(smtp.security == .starttls)
        #expect(smtp.user == nil && smtp.password == nil)
        #expect(smtp.from == "Evently <no-reply@evently.invalid>")
        #expect(smtp.timeout == .seconds(30))
        #expect(smtp.caFile == nil)
        #expect(smtp.sessions == 2 && smtp.messagesPerSession == 10)
        #expect(smtp.sendingWindow.session == .seconds(30 * (18 + 6 * 9)), "a full session's replies bound the window")
        #expect(config.delivery.sms.url == nil && !config.delivery.sms.isEnabled)
        #expect(config.delivery.sms.timeout == .seconds(10))
        #expect(config.delivery.reminderOffsets == [.seconds(86_400), .seconds(3_600)])
        #expect(config.delivery.notificationRetention == .seconds(90 * 86_400))

        let folder = URL(fileURLWithPath: shippedPath).deletingLastPathComponent().path
        #expect(config.reports.directory.path == folder + "/reports")
        #expect(config.reports.period == .daily)

        let kinds = Dictionary(uniqueKeysWithValues: config.scheduling.schedules.map { ($0.name, $0.kind) })
        #expect(kinds["reminders"] == "reminders.scan")
        #expect(kinds["notifications_prune"] == "notifications.prune")
        #expect(kinds["daily_report"] == "report.build")
        #expect(config.queue.queues["notifications"] == 10)
        #expect(config.queue.claimsInFlight == 2)
    }

    @Test func smtpSectionIsRead() throws {
        let config = try parse("""
            [smtp]
            host = "smtp.example.com"
            port = 2525
            tls = "opportunistic"
            user = "evently"
            password = "s3cret"
            from = "Tickets <tickets@example.com>"
            timeout = 45s
            ca_file = "/etc/ssl/private-ca.pem"
            sessions = 4
            messages_per_session = 1
            """)
        let smtp = config.delivery.smtp
        #expect(smtp.sessions == 4)
        #expect(smtp.messagesPerSession == 1)
        #expect(smtp.sendingWindow.session == .seconds(45 * 18), "one message per session: the window of one")
        #expect(smtp.host == "smtp.example.com")
        #expect(smtp.isEnabled)
        #expect(smtp.port == 2525)
        #expect(smtp.security == .opportunistic)
        #expect(smtp.user == "evently")
        #expect(smtp.password == "s3cret")
        #expect(smtp.from == "Tickets <tickets@example.com>")
        #expect(smtp.timeout == .seconds(45))
        #expect(smtp.caFile == "/etc/ssl/private-ca.pem")
    }

    @Test(arguments: SMTPSecurity.allCases)
    func everySMTPSecurityIsAccepted(security: SMTPSecurity) throws {
        let config = try parse("[smtp]\ntls = \"\(security.rawValue)\"")
        #expect(config.delivery.smtp.security == security)
    }

    @Test func bogusSMTPTLSNamesKeyLineAndAllowedValues() throws {
        let error = try #require(refusal("[smtp]\nhost = \"smtp.example.com\"\n\ntls = \"bogus\""))
        #expect(error.file == "jobs.conf")
        #expect(error.line == 4)
        #expect(error.key == "smtp.tls")
        for allowed in ["off", "opportunistic", "starttls", "tls"] {
            #expect(error.message.contains(allowed), "lists \(allowed)")
        }
        #expect(error.message.contains("\"bogus\""))
        #expect(error.description == "jobs.conf:4: smtp.tls: must be one of off, opportunistic, starttls, tls, found \"bogus\"")
    }

    @Test func smtpUserWithoutPasswordIsRefused() throws {
        let error = try #require(refusal("[smtp]\nhost = \"smtp.example.com\"\nuser = \"evently\""))
        #expect(error.key == "smtp.user")
        #expect(error.line == 3)
        #expect(error.message.contains("password"))
    }

    @Test func smtpFromMustBeAnAddress() throws {
        let error = try #require(refusal("[smtp]\nfrom = \"not an address\""))
        #expect(error.key == "smtp.from")
        #expect(error.line == 2)
        #expect(error.message.contains("\"not an address\""))
        // A bare address is fine too.
        #expect(try parse("[smtp]\nfrom = \"tickets@example.com\"").delivery.smtp.from == "tickets@example.com")
    }

    @Test func smtpUnknownKeyIsRefusedWithItsLine() throws {
        let error = try #require(refusal("[smtp]\nport = 25\nhots = \"x\""))
        #expect(error.description == "jobs.conf:3: smtp.hots: unknown key")
    }

    @Test func smtpPortOutOfRangeIsRefused() throws {
        let error = try #require(refusal("[smtp]\nport = 0"))
        #expect(error.description == "jobs.conf:2: smtp.port: must be between 1 and 65535, found 0")
    }

    @Test func smsSectionIsRead() throws {
        let config = try parse("""
            [sms]
            url = "https://sms.example.com/v1/messages"
            from = "EVENTLY"
            secret = "shared-signing-secret"
            timeout = 5s
            """)
        let sms = config.delivery.sms
        #expect(sms.url == "https://sms.example.com/v1/messages")
        #expect(sms.isEnabled)
        #expect(sms.from == "EVENTLY")
        #expect(sms.secret == "shared-signing-secret")
        #expect(sms.timeout == .seconds(5))
    }

    @Test(arguments: ["ftp://sms.example.com/send", "sms.example.com/send", "https://"])
    func smsURLMustBeHTTP(url: String) throws {
        let error = try #require(refusal("[sms]\nsecret = \"s\"\nurl = \"\(url)\""))
        #expect(error.key == "sms.url")
        #expect(error.line == 3)
        #expect(error.message.contains(url))
    }

    @Test func smsURLWithoutSecretAnywhereIsRefused() throws {
        let missing = try #require(refusal("[sms]\nurl = \"https://sms.example.com/v1/messages\""))
        #expect(missing.key == "sms.secret")
        #expect(missing.file == "jobs.conf")
        let empty = try #require(refusal("[sms]\nurl = \"https://sms.example.com/v1/messages\"\nsecret = \"\""))
        #expect(empty.key == "sms.secret")
        // From the environment alone, too.
        let fromEnvironment = try #require(refusal("", environment: ["EVENTLY_SMS_URL": "https://sms.example.com/v1/messages"]))
        #expect(fromEnvironment.key == "sms.secret")
        // A secret from the environment satisfies a URL in the file.
        let config = try parse("[sms]\nurl = \"https://sms.example.com/v1/messages\"",
                               environment: ["EVENTLY_SMS_SECRET": "from-env"])
        #expect(config.delivery.sms.secret == "from-env")
    }

    @Test func reminderOffsetsAreParsed() throws {
        let config = try parse("[notifications]\nreminder_offsets = \"24h, 15m\"\nretention = 30d")
        #expect(config.delivery.reminderOffsets == [.seconds(86_400), .seconds(900)])
        #expect(config.delivery.notificationRetention == .seconds(30 * 86_400))
    }

    @Test(arguments: [("24h, soon", "soon"), ("24h, 0s", "0s"), ("1 hour", "1 hour")])
    func badReminderOffsetNamesKeyAndItem(offsets: String, item: String) throws {
        let error = try #require(refusal("[notifications]\nreminder_offsets = \"\(offsets)\""))
        #expect(error.key == "notifications.reminder_offsets")
        #expect(error.line == 2)
        #expect(error.message.contains("'\(item)'"))
    }

    @Test func notificationRetentionMustBeADuration() throws {
        let error = try #require(refusal("[notifications]\nretention = 90"))
        #expect(error.key == "notifications.retention")
        #expect(error.line == 2)
    }

    @Test func reportsSectionIsRead() throws {
        let config = try JobsConfig(file: ConfFile(path: "/etc/evently/jobs.conf", text: """
            [reports]
            directory = "/var/lib/evently/reports"
            period = "hourly"
            """))
        #expect(config.reports.directory.path == "/var/lib/evently/reports", "an absolute directory is kept as is")
        #expect(config.reports.period == .hourly)
        let relative = try JobsConfig(file: ConfFile(path: "/etc/evently/jobs.conf", text: "[reports]\ndirectory = \"out/../csv\""))
        #expect(relative.reports.directory.path == "/etc/evently/csv")
        let defaults = try JobsConfig(file: ConfFile(path: "/etc/evently/jobs.conf", text: ""))
        #expect(defaults.reports.directory.path == "/etc/evently/reports")
        #expect(defaults.reports.period == .daily)
    }

    @Test func weeklyReportPeriodIsRefused() throws {
        let error = try #require(refusal("[reports]\ndirectory = \"reports\"\nperiod = \"weekly\""))
        #expect(error.key == "reports.period")
        #expect(error.line == 3)
        #expect(error.message.contains("\"weekly\""))
    }

    @Test func deliveryEnvironmentOverridesTheFile() throws {
        let file = """
            [smtp]
            host = "file.example.com"
            port = 25
            tls = "off"
            user = "file-user"
            password = "file-password"
            from = "File <file@example.com>"
            [sms]
            url = "https://file.example.com/sms"
            from = "FILE"
            secret = "file-secret"
            """
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("jobs-config-\(UUID().uuidString).conf")
        try file.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }

        let untouched = try JobsConfig.load(path: url.path, environment: [:])
        #expect(untouched.delivery.smtp.host == "file.example.com")
        #expect(untouched.delivery.sms.secret == "file-secret")

        let config = try JobsConfig.load(path: url.path, environment: [
            "EVENTLY_SMTP_HOST": "env.example.com",
            "EVENTLY_SMTP_PORT": "465",
            "EVENTLY_SMTP_TLS": "tls",
            "EVENTLY_SMTP_USER": "env-user",
            "EVENTLY_SMTP_PASSWORD": "env-password",
            "EVENTLY_SMTP_FROM": "Env <env@example.com>",
            "EVENTLY_SMS_URL": "http://env.example.com/sms",
            "EVENTLY_SMS_FROM": "ENV",
            "EVENTLY_SMS_SECRET": "env-secret",
        ])
        let smtp = config.delivery.smtp
        #expect(smtp.host == "env.example.com")
        #expect(smtp.port == 465)
        #expect(smtp.security == .tls)
        #expect(smtp.user == "env-user")
        #expect(smtp.password == "env-password")
        #expect(smtp.from == "Env <env@example.com>")
        let sms = config.delivery.sms
        #expect(sms.url == "http://env.example.com/sms")
        #expect(sms.from == "ENV")
        #expect(sms.secret == "env-secret")
    }

    @Test func deliveryEnvironmentEnablesChannelsTheFileLeavesOff() throws {
        let config = try JobsConfig.load(path: shippedPath, environment: [
            "EVENTLY_SMTP_HOST": "smtp.example.com",
            "EVENTLY_SMTP_USER": "evently",
            "EVENTLY_SMTP_PASSWORD": "s3cret",
            "EVENTLY_SMS_URL": "https://sms.example.com/v1/messages",
            "EVENTLY_SMS_SECRET": "shared",
        ])
        #expect(config.delivery.smtp.isEnabled)
        #expect(config.delivery.smtp.port == 587, "the file's port stays")
        #expect(config.delivery.smtp.user == "evently")
        #expect(config.delivery.sms.isEnabled)
    }

    @Test(arguments: SMTPSecurity.allCases)
    func smtpTLSFromTheEnvironment(security: SMTPSecurity) throws {
        let config = try parse("[smtp]\ntls = \"starttls\"", environment: ["EVENTLY_SMTP_TLS": security.rawValue])
        #expect(config.delivery.smtp.security == security)
    }

    @Test(arguments: [
        ("EVENTLY_SMTP_PORT", "99999", "environment: EVENTLY_SMTP_PORT: must be a port number (1-65535), found \"99999\""),
        ("EVENTLY_SMTP_PORT", "smtp", "environment: EVENTLY_SMTP_PORT: must be a port number (1-65535), found \"smtp\""),
        ("EVENTLY_SMTP_TLS", "yes",
         "environment: EVENTLY_SMTP_TLS: must be one of off, opportunistic, starttls, tls, found \"yes\""),
        ("EVENTLY_SMTP_FROM", "nobody",
         "environment: EVENTLY_SMTP_FROM: must be an address such as \"Evently <tickets@example.com>\", found \"nobody\""),
        ("EVENTLY_SMS_URL", "ftp://sms.example.com",
         "environment: EVENTLY_SMS_URL: must be an http:// or https:// URL, found \"ftp://sms.example.com\""),
    ])
    func badDeliveryEnvironmentNamesTheVariable(name: String, value: String, message: String) throws {
        let error = try #require(refusal("[sms]\nsecret = \"s\"", environment: [name: value]))
        #expect(error.file == "environment")
        #expect(error.key == name)
        #expect(error.description == message)
    }

    /// jobs.conf says "Prefer EVENTLY_SMTP_USER / EVENTLY_SMTP_PASSWORD", and the error names
    /// EVENTLY_SMTP_PASSWORD as a fix: a user in the file with the password in the environment
    /// should load.
    /// (The check used to run on the file alone, before the environment applied.)
    @Test func smtpUserInFileWithPasswordInEnvironmentLoads() throws {
        let config = try parse("[smtp]\nhost = \"smtp.example.com\"\nuser = \"evently\"",
                               environment: ["EVENTLY_SMTP_PASSWORD": "s3cret"])
        #expect(config.delivery.smtp.user == "evently")
        #expect(config.delivery.smtp.password == "s3cret")
    }

    /// The file refuses a user without a password; the environment should too.
    @Test func smtpUserFromEnvironmentWithoutPasswordIsRefused() throws {
        do {
            _ = try parse("[smtp]\nhost = \"smtp.example.com\"", environment: ["EVENTLY_SMTP_USER": "evently"])
            Issue.record("EVENTLY_SMTP_USER without a password should be refused")
        } catch {
            #expect("\(error)".contains("password"))
        }
    }

    @Test func anIPv6SMTPHostNeedsImplicitTLS() throws {
        let error = try #require(refusal("[smtp]\nhost = \"::1\"\ntls = \"off\""))
        #expect(error.key == "smtp.host")
        #expect(error.line == 2)
        #expect(try parse("[smtp]\nhost = \"::1\"\ntls = \"tls\"").delivery.smtp.host == "::1")
    }
}

/// libpq's multi-host URLs in `database.url` (``DatabaseHosts``).
struct DatabaseHostsTests {
    @Test func aHostListIsReadAsLibpqReadsIt() throws {
        let hosts = try #require(try DatabaseHosts.parse(
            "postgres://app:s%40cret@db1.example:5433,[::1],db3.example/evently?sslmode=disable&target_session_attrs=read-write"))
        #expect(hosts.hosts == [.init(name: "db1.example", port: 5433), .init(name: "::1", port: 5432), .init(name: "db3.example", port: 5432)])
        // One host at a time, the rest of the URL kept (target_session_attrs is the relay's business).
        #expect(hosts.url(through: .init(name: "127.0.0.1", port: 40000)) == "postgres://app:s%40cret@127.0.0.1:40000/evently?sslmode=disable")
        #expect(hosts.url(through: hosts.hosts[1]) == "postgres://app:s%40cret@[::1]:5432/evently?sslmode=disable")
        #expect(try DatabaseHosts.parse("postgres://a,b/db?target_session_attrs=primary")?.hosts.count == 2)
    }

    @Test func oneHostNeedsNoChoosing() throws {
        #expect(try DatabaseHosts.parse("postgres://app@db1:5432/evently?target_session_attrs=read-write") == nil)
        #expect(try DatabaseHosts.parse("postgres://app@localhost/evently?host=/var/run/postgresql") == nil)
    }
}

/// `evently-jobs bench --through-relay` names the bench database as the first of two hosts.
struct RelayBenchURLTests {
    @Test func theBenchDatabaseBecomesTheFirstOfTwoHosts() throws {
        let tcp = PostgresClient.Configuration(host: "db.internal", port: 5433, username: "bench", password: "pw",
                                               database: "evently_bench", tls: .disable)
        let url = try BenchCommand.relayURL(for: tcp)
        #expect(url == "postgres://bench:pw@db.internal:5433,127.0.0.1:9/evently_bench?sslmode=disable")
        let hosts = try #require(try DatabaseHosts.parse(url))
        #expect(hosts.hosts.map(\.description) == ["db.internal:5433", "127.0.0.1:9"])
    }

    @Test func aUnixSocketCannotBeRelayed() {
        let socket = PostgresClient.Configuration(unixSocketPath: "/tmp/.s.PGSQL.5432", username: "bench", password: nil, database: "b")
        #expect(throws: CommandFailure.self) { try BenchCommand.relayURL(for: socket) }
    }
}
