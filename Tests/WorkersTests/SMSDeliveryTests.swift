import BookingCore
import Crypto
import EventlyTestSupport
import Foundation
import Queue
import Testing
@testable import Workers

/// `sms.send` against a real HTTP receiver on loopback standing in for the provider.
@Suite(.timeLimit(.minutes(5))) struct SMSDeliveryTests {
    static let secret = "sms-signing-secret-for-tests-0123456789"

    static func settings(_ receiver: HTTPTestReceiver) -> DeliverySettings {
        var delivery = DeliverySettings()
        delivery.sms.url = receiver.url
        delivery.sms.from = "EVENTLY"
        delivery.sms.secret = secret
        delivery.sms.timeout = .seconds(2)
        return delivery
    }

    /// What a provider would do: recompute the HMAC over "timestamp.body" with the shared secret.
    static func signatureVerifies(_ request: RecordedRequest) -> Bool {
        guard let timestamp = request.header("X-Evently-Timestamp"), let signature = request.header("X-Evently-Signature")
        else { return false }
        var signed = Data("\(timestamp).".utf8)
        signed.append(contentsOf: request.body)
        let expected = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Data(secret.utf8)))
        return signature == expected.map { String(format: "%02x", $0) }.joined()
    }

    @Test func aFailingProviderIsRetriedAndTheMessageGoesOutOnce() async throws {
        let receiver = try await HTTPTestReceiver.start(responses: [
            ScriptedResponse(status: 500, body: "upstream hiccup"),
            .json(#"{"sid": "SM-provider-42", "status": "queued"}"#, status: 201),
        ])
        defer { Task { await receiver.stop() } }
        try await DeliveryFixture.with { f in
            let ann = try await f.user(phone: "+15550100")
            let event = try await f.event()
            try await f.withDaemon(delivery: Self.settings(receiver)) {
                let booking = try await f.book(ann, event, quantity: 2)
                _ = try await receiver.waitForRequests(count: 2, timeout: .seconds(30))
                try await f.waitForJobsToSettle([SMSSendWorker.Payload.kind])

                let requests = receiver.requests()
                #expect(requests.count == 2)
                let sms = try #require(try await f.notifications(of: ann)[.sms]?.first)
                for request in requests {
                    #expect(request.method == "POST")
                    #expect(request.form["To"] == "+15550100")
                    #expect(request.form["From"] == "EVENTLY")
                    #expect(request.form["Body"]?.contains(booking.reference) == true)
                    #expect(request.header("Idempotency-Key") == sms.id.uuidString.lowercased(), "both attempts carry one key")
                    #expect(Self.signatureVerifies(request))
                }
                #expect(sms.status == .sent)
                #expect(sms.providerMessageID == "SM-provider-42")
                let job = try #require(try await f.jobs(SMSSendWorker.Payload.kind).first)
                #expect(job.state == "completed")
                #expect(job.attempt == 2)
                #expect(job.errors.contains("500"))
            }
        }
    }

    @Test func aClientErrorFailsForGoodWithoutARetry() async throws {
        let receiver = try await HTTPTestReceiver.start(responses: [.json(#"{"error": "invalid number"}"#, status: 400)])
        defer { Task { await receiver.stop() } }
        try await DeliveryFixture.with { f in
            let ann = try await f.user(phone: "+1555")
            let event = try await f.event()
            try await f.withDaemon(delivery: Self.settings(receiver)) {
                try await f.book(ann, event, quantity: 1)
                try await f.waitForJobsToSettle([SMSSendWorker.Payload.kind])
                #expect(receiver.requests().count == 1)
                let sms = try #require(try await f.notifications(of: ann)[.sms]?.first)
                #expect(sms.status == .failed)
                #expect(sms.lastError?.contains("400") == true)
                #expect(try await f.jobs(SMSSendWorker.Payload.kind).map(\.state) == ["discarded"])
            }
        }
    }

    @Test func retryAfterFromAThrottlingProviderIsHonoured() async throws {
        let receiver = try await HTTPTestReceiver.start(responses: [
            ScriptedResponse(status: 429, headers: [("Retry-After", "2")], body: "slow down"),
            .json(#"{"id": "m-1"}"#),
        ])
        defer { Task { await receiver.stop() } }
        try await DeliveryFixture.with { f in
            let ann = try await f.user(phone: "+15550101")
            let event = try await f.event()
            try await f.withDaemon(delivery: Self.settings(receiver)) {
                try await f.book(ann, event, quantity: 1)
                _ = try await receiver.waitForRequests(count: 1, timeout: .seconds(30))
                let first = ContinuousClock.now
                _ = try await receiver.waitForRequests(count: 2, timeout: .seconds(30))
                let gap = ContinuousClock.now - first
                // The queue's own backoff here is 200 ms; the provider asked for 2 s.
                #expect(gap >= .milliseconds(1_800), "second attempt after \(gap)")
            }
        }
    }

    @Test func aProviderThatDoesNotAnswerInTimeIsRetried() async throws {
        let receiver = try await HTTPTestReceiver.start(responses: [
            ScriptedResponse(status: 200, body: #"{"sid": "late"}"#, delay: .seconds(5)),
            .json(#"{"sid": "SM-on-time"}"#),
        ])
        defer { Task { await receiver.stop() } }
        try await DeliveryFixture.with { f in
            let ann = try await f.user(phone: "+15550103")
            let event = try await f.event()
            var delivery = Self.settings(receiver)
            delivery.sms.timeout = .milliseconds(500)
            try await f.withDaemon(delivery: delivery) {
                try await f.book(ann, event, quantity: 1)
                try await f.waitForJobsToSettle([SMSSendWorker.Payload.kind])
                let sms = try #require(try await f.notifications(of: ann)[.sms]?.first)
                #expect(sms.status == .sent)
                #expect(sms.providerMessageID == "SM-on-time")
                let job = try #require(try await f.jobs(SMSSendWorker.Payload.kind).first)
                // Two at least: the late answer cost one; a machine too busy to get the on-time
                // answer within 500 ms may cost another, which is the same behaviour.
                #expect(job.attempt >= 2)
                #expect(job.errors.contains("unreachable"), "\(job.errors)")
            }
        }
    }

    @Test func withoutAPhoneOrAProviderSMSIsSkippedWithAReason() async throws {
        try await DeliveryFixture.with { f in
            let event = try await f.event()
            // A phone but no provider configured: the row exists and is skipped.
            let ann = try await f.user(phone: "+15550102")
            try await f.withDaemon(delivery: DeliverySettings()) {
                try await f.book(ann, event, quantity: 1)
                try await f.waitForJobsToSettle([SMSSendWorker.Payload.kind, EmailSendWorker.Payload.kind])
                let sms = try #require(try await f.notifications(of: ann)[.sms]?.first)
                #expect(sms.status == .skipped)
                #expect(sms.lastError?.contains("no provider URL") == true)
            }
        }
    }

    @Test func signaturesRoundTripAndRejectTamperingAndOldTimestamps() {
        let signer = WebhookSignature(secret: Self.secret)
        let body = Array("MessageSid=SM1&MessageStatus=delivered".utf8)
        let now = Date()
        let timestamp = Int(now.timeIntervalSince1970)
        let signature = signer.sign(timestamp: timestamp, body: body)
        #expect(signer.isValid(signature: signature, timestamp: "\(timestamp)", body: body, now: now))
        #expect(!signer.isValid(signature: signature, timestamp: "\(timestamp)", body: Array("MessageSid=SM2&MessageStatus=delivered".utf8), now: now))
        #expect(!signer.isValid(signature: signature, timestamp: "\(timestamp + 1)", body: body, now: now))
        #expect(!signer.isValid(signature: signature, timestamp: "\(timestamp)", body: body, now: now.addingTimeInterval(301)))
        #expect(!WebhookSignature(secret: "another-secret").isValid(signature: signature, timestamp: "\(timestamp)", body: body, now: now))
        #expect(!signer.isValid(signature: "zz", timestamp: "\(timestamp)", body: body, now: now))
    }

    @Test func formEncodingRoundTrips() {
        let fields = [("To", "+1 555 0100"), ("Body", "Hello & welcome: 100% = yes?")]
        let encoded = FormEncoding.encode(fields)
        #expect(!encoded.contains(" "))
        #expect(FormEncoding.decode(encoded) == ["To": "+1 555 0100", "Body": "Hello & welcome: 100% = yes?"])
    }
}
