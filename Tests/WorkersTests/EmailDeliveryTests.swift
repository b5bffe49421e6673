import BookingCore
import EventlyTestSupport
import Foundation
import Queue
import Testing
@testable import Workers

/// `email.send` against a real SMTP server (aiosmtpd) on loopback, driven by a real daemon.
@Suite(.timeLimit(.minutes(5))) struct EmailDeliveryTests {
    @Test func theMailerRefusesAddressesThatCouldInjectCommandsOrHeaders() async throws {
        var settings = SMTPSettings()
        settings.host = "127.0.0.1"
        settings.port = 9 // never reached: the address is refused first
        let mailer = SMTPMailer(settings: settings)
        for recipient in ["ann@example.org\r\nRCPT TO:<all@example.org>", "<ann@example.org>", "ann @example.org", ""] {
            do {
                try await mailer.send(OutgoingMail(sender: "no-reply@evently.example", recipient: recipient, message: "Subject: x\r\n\r\nx"))
                Issue.record("sent to \(recipient.debugDescription)")
            } catch {
                #expect(error.isPermanent, "\(error)")
                #expect(error.description.contains("refused to send"), "\(error)")
            }
        }
    }

    @Test func theMessageCarriesAnRFC5322DateInUTC() {
        #expect(EmailComposer.rfc5322Date(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 +0000")
        // 2026-12-03T18:30:05.9Z: seconds are cut, not rounded up.
        #expect(EmailComposer.rfc5322Date(Date(timeIntervalSince1970: 1_796_322_605.9)) == "Thu, 03 Dec 2026 18:30:05 +0000")
        let message = EmailComposer.message(from: "a@evently.example", to: "b@evently.example", subject: "Hi", body: "x",
                                            messageID: "<1@evently.example>", date: Date(timeIntervalSince1970: 86_400 * 365))
        #expect(message.contains("\r\nDate: Fri, 01 Jan 1971 00:00:00 +0000\r\n"))
    }

    @Test func everyLineEndOfAMessageBecomesCRLF() {
        #expect(SMTPMailer.crlf("a\nb\r\nc\rd\n\n") == "a\r\nb\r\nc\rd\r\n\r\n")
        #expect(SMTPMailer.crlf("Grüße\n") == "Grüße\r\n")
    }

    /// Messages that arrive while the mailer's sessions are busy go together in the next session,
    /// and each keeps its own result: a refused recipient or a 451 fails only its own message.
    @Test func messagesShareSessionsAndEachKeepsItsOwnResult() async throws {
        let smtp = try await SMTPTestServer.start(rejectRecipientDomain: "gone.example", tempfailCount: 1)
        defer { smtp.stop() }
        var settings = DeliveryFixture.smtp(smtp).smtp
        settings.sessions = 1
        settings.messagesPerSession = 10
        let mailer = SMTPMailer(settings: settings)
        let recipients = (0..<24).map { $0 == 5 ? "nobody@gone.example" : "reader\($0)@evently.example" }
        let results = await withTaskGroup(of: (String, SMTPDeliveryError?).self) { group in
            for recipient in recipients {
                group.addTask {
                    let message = "Subject: to \(recipient)\r\n\r\nHello"
                    do throws(SMTPDeliveryError) {
                        try await mailer.send(OutgoingMail(sender: "no-reply@evently.example", recipient: recipient, message: message))
                        return (recipient, nil)
                    } catch {
                        return (recipient, error)
                    }
                }
            }
            var results: [(recipient: String, error: SMTPDeliveryError?)] = []
            for await result in group { results.append(result) }
            return results
        }
        let refused = results.filter { $0.error?.isPermanent == true }
        let retryLater = results.filter { $0.error.map { !$0.isPermanent } ?? false }
        let sent = results.filter { $0.error == nil }.map(\.recipient)
        #expect(refused.map(\.recipient) == ["nobody@gone.example"], "\(results)")
        #expect(refused.first?.error?.description.contains("550") == true)
        #expect(retryLater.count == 1, "the one 451 fails its own message only: \(results)")
        #expect(retryLater.first?.error?.description.contains("451") == true)
        #expect(sent.count == 22)

        let mails = try smtp.messages()
        #expect(Set(mails.flatMap(\.recipients)) == Set(sent), "every message reported sent arrived, once")
        #expect(mails.count == 22)
        let perSession = Dictionary(grouping: mails, by: { $0.session ?? 0 }).mapValues(\.count)
        #expect(perSession.values.allSatisfy { $0 <= 10 }, "no session carries more than messages_per_session: \(perSession)")
        #expect(perSession.count < mails.count / 2, "messages waiting for the one session went together: \(perSession)")
    }

    /// While the one session is busy with a slow server: a message whose caller is cancelled
    /// is taken back unsent, and one whose start-by time passes before the next session is
    /// refused unsent, while the message beside it in that session goes out.
    @Test func aWaitingMessageIsTakenBackWhenItsCallerIsCancelledOrTooLate() async throws {
        let smtp = try await SMTPTestServer.start(dataReplyDelay: .seconds(2))
        defer { smtp.stop() }
        var settings = DeliveryFixture.smtp(smtp).smtp
        settings.sessions = 1
        let mailer = SMTPMailer(settings: settings)
        func mail(_ name: String) -> OutgoingMail {
            OutgoingMail(sender: "no-reply@evently.example", recipient: "\(name)@evently.example",
                         message: "Subject: \(name)\r\n\r\nHello")
        }
        async let first: Void = mailer.send(mail("first"))
        try await smtp.waitForEndsOfData(count: 1, timeout: .seconds(10))   // the session is busy now

        // (Untyped closures: `throws(SMTPDeliveryError)` ones crashed Swift 6.3.1's
        // LifetimeDependenceDiagnostics pass here.)
        let cancelled = Task { try await mailer.send(mail("cancelled")) }
        let late = Task { try await mailer.send(mail("late"), startBy: ContinuousClock.now + .milliseconds(300)) }
        let onTime = Task { try await mailer.send(mail("ontime")) }
        try await Task.sleep(for: .milliseconds(100))
        cancelled.cancel()
        let cancelledResult = await cancelled.result
        #expect(throws: SMTPMailer.cancelledWhileWaiting) { try cancelledResult.get() }

        try await first
        let lateResult = await late.result
        #expect(throws: SMTPDeliveryError.self) { try lateResult.get() }
        if case .failure(let error) = lateResult { #expect("\(error)".contains("not started"), "\(error)") }
        try await onTime.value

        let subjects = try smtp.messages().compactMap(\.subject)
        #expect(subjects.sorted() == ["first", "ontime"], "the cancelled and the late message never went out: \(subjects)")
    }

    @Test func aBookingSendsOneConfirmationEmailWithItsReferenceAndAmount() async throws {
        let smtp = try await SMTPTestServer.start()
        defer { smtp.stop() }
        try await DeliveryFixture.with { f in
            let ann = try await f.user("ann")
            let event = try await f.event(price: 25)
            try await f.withDaemon(delivery: DeliveryFixture.smtp(smtp)) {
                let booking = try await f.book(ann, event, quantity: 3)
                let mails = try await smtp.waitForMessages(count: 1)
                try await f.waitForJobsToSettle([EmailSendWorker.Payload.kind])

                #expect(mails.count == 1)
                let mail = try #require(mails.first)
                #expect(mail.recipients == [ann.email])
                #expect(mail.from == "tickets@evently.example")
                #expect(mail.subject == "Booking confirmed: Night Concert (\(booking.reference))")
                #expect(mail.body.contains("Reference: \(booking.reference)"))
                #expect(mail.body.contains("Total:     75.00"))
                #expect(mail.body.contains("Seats:     3"))

                let rows = try await f.notifications(of: ann)
                let email = try #require(rows[.email]?.first)
                #expect(email.status == .sent)
                #expect(email.sentAt != nil)
                #expect(email.providerMessageID == mail.header("Message-ID"))
                #expect(rows[.inApp]?.first?.status == .delivered)
                // No phone number on the token: no SMS row at all.
                #expect(rows[.sms] == nil)

                // The same job again (an operator retry, a re-run after a crash) sends nothing more.
                _ = try await f.tx { try await JobClient.enqueue(try NewJob(EmailSendWorker.Payload(notificationID: email.id)), on: $0, logger: DeliveryFixture.logger) }
                try await f.waitForJobsToSettle([EmailSendWorker.Payload.kind])
                #expect(try smtp.messages().count == 1)
            }
        }
    }

    @Test func aWrongAuthPasswordFailsTheNotificationWithTheServersReply() async throws {
        let smtp = try await SMTPTestServer.start(authUser: "evently", authPassword: "right-password")
        defer { smtp.stop() }
        try await DeliveryFixture.with { f in
            let ann = try await f.user()
            let event = try await f.event()
            try await f.withDaemon(delivery: DeliveryFixture.smtp(smtp, user: "evently", password: "wrong-password")) {
                try await f.book(ann, event, quantity: 1)
                try await f.waitForJobsToSettle([EmailSendWorker.Payload.kind])
                let email = try #require(try await f.notifications(of: ann)[.email]?.first)
                #expect(email.status == .failed)
                let error = try #require(email.lastError)
                #expect(error.contains("535") && error.contains("authentication"), "the AUTH reply is recorded: \(error)")
                let jobs = try await f.jobs(EmailSendWorker.Payload.kind)
                #expect(jobs.map(\.state) == ["discarded"])
                #expect(jobs.first?.attempt == 1, "a refusal for good is not retried")
                #expect(try smtp.messages().isEmpty)
            }
        }
    }

    @Test func theRightAuthPasswordSends() async throws {
        let smtp = try await SMTPTestServer.start(authUser: "evently", authPassword: "right-password")
        defer { smtp.stop() }
        try await DeliveryFixture.with { f in
            let ann = try await f.user()
            let event = try await f.event()
            try await f.withDaemon(delivery: DeliveryFixture.smtp(smtp, user: "evently", password: "right-password")) {
                try await f.book(ann, event, quantity: 1)
                let mails = try await smtp.waitForMessages(count: 1)
                #expect(mails.first?.authenticatedUser == "evently")
            }
        }
    }

    /// libesmtp's timeouts are in milliseconds; passing seconds made every reply time out
    /// after 1 s, and a slow but healthy server got each message twice.
    @Test func aSlowButHealthyServerGetsTheMessageOnce() async throws {
        let smtp = try await SMTPTestServer.start(dataReplyDelay: .milliseconds(2_500))
        defer { smtp.stop() }
        try await DeliveryFixture.with { f in
            let ann = try await f.user()
            let event = try await f.event()
            try await f.withDaemon(delivery: DeliveryFixture.smtp(smtp)) {
                try await f.book(ann, event, quantity: 1)
                let row = try await f.emailOutcome(of: ann)
                #expect(row.status == .sent, "\(row.lastError ?? "")")
                #expect(try await f.jobs(EmailSendWorker.Payload.kind).first?.attempt == 1)
                #expect(try smtp.messages().count == 1)
            }
        }
    }

    @Test func aServerThatIsDownIsRetriedUntilItIsBack() async throws {
        // Learn a free port from a server, stop it, and bring one back on that port later.
        let probe = try await SMTPTestServer.start()
        let port = probe.port
        probe.stop()
        try await DeliveryFixture.with { f in
            let ann = try await f.user()
            let event = try await f.event()
            var delivery = DeliveryFixture.smtp(probe)
            delivery.smtp.port = port
            try await f.withDaemon(delivery: delivery) {
                try await f.book(ann, event, quantity: 2)
                let whileDown = try await f.emailOutcome(of: ann)
                #expect(whileDown.status == .queued, "a connection failure keeps the notification queued for a retry")
                #expect(whileDown.lastError?.contains("connection") == true, "\(whileDown.lastError ?? "")")

                let smtp = try await SMTPTestServer.start(port: port)
                defer { smtp.stop() }
                let mails = try await smtp.waitForMessages(count: 1)
                try await f.waitForJobsToSettle([EmailSendWorker.Payload.kind])
                #expect(mails.count == 1)
                #expect(try await f.notifications(of: ann)[.email]?.first?.status == .sent)
                let job = try #require(try await f.jobs(EmailSendWorker.Payload.kind).first)
                #expect(job.state == "completed")
                #expect(job.attempt >= 2)
            }
        }
    }

    @Test func aTemporaryRefusalIsRetriedAndAPermanentOneIsNot() async throws {
        let smtp = try await SMTPTestServer.start(rejectRecipientDomain: "gone.example", tempfailCount: 1)
        defer { smtp.stop() }
        try await DeliveryFixture.with { f in
            let ann = try await f.user()
            let gone = try await f.tx {
                try await UserStore(logger: DeliveryFixture.logger).upsert(
                    UserClaims(id: UUID(), email: "nobody@gone.example", role: .user), now: Date(), on: $0)
            }
            let event = try await f.event()
            try await f.withDaemon(delivery: DeliveryFixture.smtp(smtp)) {
                try await f.book(ann, event, quantity: 1)
                // A deadline, not a speed: a CI run with every suite at once took over 10 s here.
                let mails = try await smtp.waitForMessages(count: 1, timeout: .seconds(60))
                try await f.waitForJobsToSettle([EmailSendWorker.Payload.kind])
                #expect(mails.map(\.recipients) == [[ann.email]])
                let annJob = try #require(try await f.jobs(EmailSendWorker.Payload.kind).first)
                #expect(annJob.state == "completed")
                #expect(annJob.attempt == 2, "the 451 is retried once")
                #expect(annJob.errors.contains("451"))

                try await f.book(gone, event, quantity: 1)
                try await f.waitForJobsToSettle([EmailSendWorker.Payload.kind])
                let refused = try #require(try await f.notifications(of: gone)[.email]?.first)
                #expect(refused.status == .failed)
                #expect(refused.lastError?.contains("550") == true)
                let goneJob = try #require(try await f.jobs(EmailSendWorker.Payload.kind).last)
                #expect(goneJob.state == "discarded")
                #expect(goneJob.attempt == 1)
                #expect(try smtp.messages().count == 1)
            }
        }
    }

    @Test(arguments: [false, true])
    func tlsToATrustedServerSends(implicit: Bool) async throws {
        let tls = try TestTLS.selfSigned(implicit: implicit)
        let smtp = try await SMTPTestServer.start(tls: tls)
        defer { smtp.stop() }
        try await DeliveryFixture.with { f in
            let ann = try await f.user()
            let event = try await f.event()
            var delivery = DeliveryFixture.smtp(smtp)
            delivery.smtp.security = implicit ? .tls : .starttls
            delivery.smtp.caFile = tls.certificatePath
            try await f.withDaemon(delivery: delivery) {
                try await f.book(ann, event, quantity: 1)
                let row = try await f.emailOutcome(of: ann)
                #expect(row.status == .sent, "\(row.lastError ?? "")")
                #expect(try smtp.messages().first?.recipients == [ann.email])
            }
        }
    }

    @Test func tlsThatCannotBeTrustedOrIsMissingSendsNothingAndSaysWhy() async throws {
        let tls = try TestTLS.selfSigned(implicit: false)
        let untrusted = try await SMTPTestServer.start(tls: tls)
        defer { untrusted.stop() }
        let plain = try await SMTPTestServer.start()
        defer { plain.stop() }
        for (server, security, expected) in [(untrusted, SMTPSecurity.starttls, "certificate"),
                                             (plain, SMTPSecurity.starttls, "STARTTLS"),
                                             (untrusted, SMTPSecurity.tls, "TLS")] {
            try await DeliveryFixture.with { f in
                let ann = try await f.user()
                let event = try await f.event()
                var delivery = DeliveryFixture.smtp(server)
                delivery.smtp.security = security
                try await f.withDaemon(delivery: delivery) {
                    try await f.book(ann, event, quantity: 1)
                    let row = try await f.emailOutcome(of: ann)
                    #expect(row.status == .queued, "retried: the server may be fixed")
                    #expect(row.lastError?.localizedCaseInsensitiveContains(expected) == true,
                            "\(security) against \(server.port): \(row.lastError ?? "")")
                }
            }
        }
        #expect(try untrusted.messages().isEmpty)
        #expect(try plain.messages().isEmpty)
    }

    @Test func withNoSMTPHostEmailIsSkippedWithAReason() async throws {
        try await DeliveryFixture.with { f in
            let ann = try await f.user()
            let event = try await f.event()
            try await f.withDaemon(delivery: DeliverySettings()) {
                try await f.book(ann, event, quantity: 1)
                try await f.waitForJobsToSettle([EmailSendWorker.Payload.kind])
                let email = try #require(try await f.notifications(of: ann)[.email]?.first)
                #expect(email.status == .skipped)
                #expect(email.lastError?.contains("no SMTP host") == true)
                #expect(try await f.jobs(EmailSendWorker.Payload.kind).map(\.state) == ["completed"])
            }
        }
    }
}
