import BookingCore
import CLibESMTP
import Foundation
import NIOPosix
import Synchronization

/// Sends mail through libesmtp. libesmtp blocks for the whole session, so every session runs
/// on NIO's blocking thread pool, never on the concurrency executor.
///
/// Messages share sessions: libesmtp connects, sends the messages it was given and quits in one
/// call, so a connection cannot be kept open between calls. Instead, while
/// ``SMTPSettings/sessions`` sessions are running, the messages handed to the mailer wait, and
/// the next session takes all of them (up to ``SMTPSettings/messagesPerSession``). No timer: a
/// message to an idle mailer goes at once, in a session of its own; under load, sessions grow by
/// themselves to what arrived during the last one. Each message keeps its own result.
public struct SMTPMailer: Sendable {
    public let settings: SMTPSettings
    let threadPool: NIOThreadPool
    private let waiting: MessagesWaiting

    /// libesmtp blocks a thread for a whole session; NIO's shared pool has one per core, so mail
    /// gets a pool of its own and does not starve (or wait for) the pool's other users.
    public static let sessionThreads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: SMTPSettings.mostSessions)
        pool.start()
        return pool
    }()

    public init(settings: SMTPSettings, threadPool: NIOThreadPool = SMTPMailer.sessionThreads) {
        self.settings = settings
        self.threadPool = threadPool
        self.waiting = MessagesWaiting()
    }

    /// Sends `mail`. An envelope address that is not a plain mailbox (``ContactAddress``: CR LF,
    /// spaces or angle brackets would be written into `RCPT TO` and the headers) is refused as
    /// permanent before any connection is made.
    ///
    /// A session that has not started by `startBy` (every session busy) does not carry the
    /// message at all: the caller's claim on sending may not outlast it. That is a connection
    /// failure with nothing sent.
    public func send(_ mail: OutgoingMail, startBy: ContinuousClock.Instant? = nil) async throws(SMTPDeliveryError) {
        for (role, address) in [("recipient", mail.recipient), ("sender", mail.sender)] {
            if let problem = ContactAddress.emailProblem(address) {
                throw .permanent(code: 0, reply: "refused to send: the \(role) address \(problem)")
            }
        }
        let waiting = self.waiting, sessions = max(1, settings.sessions)
        let id = waiting.state.withLock { state in
            state.lastID += 1
            state.notQueuedYet.insert(state.lastID)
            return state.lastID
        }
        // A caller cancelled (its job's timeout, a shutdown) while its message waits takes the
        // message back: sent later, after the process may have given up on it, it could go
        // out without ever being recorded, and then again on the job's rescue.
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let (queued, startsSession) = waiting.state.withLock { state -> (Bool, Bool) in
                    guard state.notQueuedYet.remove(id) != nil else { return (false, false) }
                    state.messages.append(WaitingMessage(id: id, mail: mail, startBy: startBy, answer: continuation))
                    guard state.sessions < sessions else { return (true, false) }
                    state.sessions += 1
                    return (true, true)
                }
                guard queued else { return continuation.resume(returning: .failure(Self.cancelledWhileWaiting)) }
                // A task of its own: the caller that started the sessions may be cancelled while
                // the others' messages ride in them.
                if startsSession { Task { await runSessions() } }
            }
        } onCancel: {
            let taken = waiting.state.withLock { state -> WaitingMessage? in
                if state.notQueuedYet.remove(id) != nil { return nil }
                guard let index = state.messages.firstIndex(where: { $0.id == id }) else { return nil }
                return state.messages.remove(at: index)
            }
            taken?.answer.resume(returning: .failure(Self.cancelledWhileWaiting))
        }
        try result.get()
    }

    static let cancelledWhileWaiting = SMTPDeliveryError.connection("cancelled while waiting for a session: nothing was sent")

    /// Runs sessions while messages wait, then ends (and counts itself out) once none do.
    private func runSessions() async {
        let perSession = max(1, settings.messagesPerSession)
        while true {
            let batch = waiting.state.withLock { state -> [WaitingMessage] in
                let count = min(perSession, state.messages.count)
                if count == 0 { state.sessions -= 1 }
                let batch = Array(state.messages.prefix(count))
                state.messages.removeFirst(count)
                return batch
            }
            guard !batch.isEmpty else { return }
            let results = await session(batch)
            for (message, result) in zip(batch, results) { message.answer.resume(returning: result) }
        }
    }

    private func session(_ batch: [WaitingMessage]) async -> [Result<Void, SMTPDeliveryError>] {
        let settings = self.settings
        let mails = batch.map(\.mail), startBys = batch.map(\.startBy)
        do {
            return try await threadPool.runIfActive {
                let now = ContinuousClock.now
                let late = startBys.map { startBy in startBy.map { now > $0 } ?? false }
                let onTime = zip(mails, late).filter { !$0.1 }.map(\.0)
                var sent = onTime.isEmpty ? [] : Self.sendBlocking(onTime, settings: settings)[...]
                return late.map { isLate in
                    isLate ? .failure(.connection("not started: every session was busy until it was too late to start one"))
                           : sent.removeFirst()
                }
            }
        } catch {
            return Array(repeating: .failure(.connection("the mail thread pool is not running: \(error)")), count: batch.count)
        }
    }

    /// libesmtp's SASL client keeps process-wide state; it is set up once.
    private static let saslReady: Bool = {
        auth_client_init()
        return true
    }()

    /// One session carrying `mails`, one result per mail in order.
    static func sendBlocking(_ mails: [OutgoingMail], settings: SMTPSettings) -> [Result<Void, SMTPDeliveryError>] {
        func everyMail(_ error: SMTPDeliveryError) -> [Result<Void, SMTPDeliveryError>] {
            Array(repeating: .failure(error), count: mails.count)
        }
        guard let host = settings.host else { return everyMail(.connection("no SMTP host is configured")) }
        var relay: ImplicitTLSRelay?
        // (libesmtp splits at the first colon: an IPv6 literal goes through the relay or not at
        // all, which the configuration enforces.)
        var server = "\(host):\(settings.port)"
        if settings.security == .tls {
            do {
                let started = try ImplicitTLSRelay.start(host: host, port: settings.port, caFile: settings.caFile,
                                                         timeout: settings.timeout)
                relay = started
                server = "127.0.0.1:\(started.port)"
            } catch {
                return everyMail(.connection("TLS to \(host):\(settings.port) failed: \(error)"))
            }
        }
        defer { relay?.stop() }

        guard let session = smtp_create_session() else { return everyMail(.connection("libesmtp could not create a session")) }
        defer { smtp_destroy_session(session) }
        smtp_set_server(session, server)

        // libesmtp defaults to the RFC 2822 minimums (minutes); a wrong password was seen to
        // hang for five of them. One bound for every phase, and the override flag to allow it.
        // (In milliseconds; libesmtp allows no less than one second.)
        let milliseconds = max(1_000, Int(settings.timeout / .milliseconds(1)))
        for phase in [Timeout_GREETING, Timeout_ENVELOPE, Timeout_DATA, Timeout_TRANSFER, Timeout_DATA2] {
            smtp_set_timeout(session, Int32(phase.rawValue) | Int32(Timeout_OVERRIDE_RFC2822_MINIMUM), milliseconds)
        }

        var tlsContext: OpaquePointer?
        defer { if let tlsContext { SSL_CTX_free(tlsContext) } }
        switch settings.security {
        case .off, .tls:
            smtp_starttls_enable(session, Starttls_DISABLED)
        case .opportunistic, .starttls:
            smtp_starttls_enable(session, settings.security == .starttls ? Starttls_REQUIRED : Starttls_ENABLED)
            // Without a context of our own libesmtp reads certificates from $HOME/.authenticate.
            tlsContext = settings.caFile.withOptionalCString { caFile in evently_smtp_tls_context(caFile, host) }
            guard let tlsContext else {
                return everyMail(.connection("cannot load the TLS trust store\(settings.caFile.map { " \($0)" } ?? "")"))
            }
            smtp_starttls_set_ctx(session, tlsContext)
        }

        var credentials: Credentials?
        var authContext: auth_context_t?
        defer {
            if let authContext { auth_destroy_context(authContext) }
            credentials?.free()
        }
        if let user = settings.user {
            _ = saslReady
            let stored = Credentials(user: user, password: settings.password ?? "")
            credentials = stored
            authContext = auth_create_context()
            guard let authContext else { return everyMail(.connection("libesmtp could not create an AUTH context")) }
            // PLAIN and LOGIN send the password as it is; allow them (the operator chose the
            // transport; with `off` that is their call, e.g. a loopback relay).
            auth_set_mechanism_flags(authContext, UInt32(AUTH_PLUGIN_PLAIN), 0)
            auth_set_interact_cb(authContext, { request, result, fields, arg in
                guard let request, let result, let arg else { return 0 }
                let credentials = arg.assumingMemoryBound(to: Credentials.Storage.self).pointee
                for index in 0..<Int(fields) {
                    let flags = request[index].flags
                    if flags & UInt32(AUTH_USER) != 0 {
                        result[index] = credentials.user
                    } else if flags & UInt32(AUTH_PASS) != 0 {
                        result[index] = credentials.password
                    } else {
                        return 0
                    }
                }
                return 1
            }, stored.pointer)
            smtp_auth_set_context(session, authContext)
        }

        // libesmtp reads each text while the session runs: they must outlive smtp_start_session.
        var texts: [UnsafeMutablePointer<CChar>] = []
        defer { texts.forEach { Foundation.free($0) } }
        var envelopes: [(message: smtp_message_t, recipient: smtp_recipient_t)] = []
        for mail in mails {
            guard let message = smtp_add_message(session) else { return everyMail(.connection("libesmtp could not add a message")) }
            smtp_set_reverse_path(message, mail.sender)
            guard let recipient = smtp_add_recipient(message, mail.recipient) else {
                return everyMail(.connection("libesmtp could not add the recipient \(mail.recipient)"))
            }
            guard let text = strdup(Self.crlf(mail.message)) else { return everyMail(.connection("out of memory")) }
            texts.append(text)
            evently_smtp_set_message_str(message, text)
            envelopes.append((message, recipient))
        }

        // libesmtp keeps the pointer for the whole session: it must not be a temporary.
        let recorded = UnsafeMutablePointer<evently_smtp_events>.allocate(capacity: 1)
        recorded.initialize(to: evently_smtp_events())
        defer { recorded.deallocate() }
        evently_smtp_record_events(session, recorded)
        ERR_clear_error()
        let started = smtp_start_session(session) != 0
        var tlsError = [CChar](repeating: 0, count: 256)
        evently_tls_last_error(&tlsError, tlsError.count)
        let events = recorded.pointee
        // Each message's own result comes first: once the server accepted it, nothing that went
        // wrong afterwards (a later message, QUIT, a TLS close alert) may turn it into a retry
        // and a duplicate.
        let sessionFailure: SMTPDeliveryError? = {
            // (A server that accepts mail after refusing our credentials gets it: it went out.)
            if events.auth_reply != 0 && events.auth_reply != 235 {
                let code = Int(events.auth_reply)
                let reply = "authentication as \(settings.user ?? "") was refused"
                return code >= 500 ? .permanent(code: code, reply: reply) : .temporary(code: code, reply: reply)
            }
            if events.starttls_missing != 0 {
                return .connection("the server does not offer STARTTLS, which smtp.tls = \"starttls\" requires")
            }
            if events.certificate_event != 0 {
                return .connection("the server's TLS certificate was refused (libesmtp event \(events.certificate_event))")
            }
            if tlsError[0] != 0, settings.security == .starttls || settings.security == .opportunistic {
                let reason = tlsError.withUnsafeBufferPointer { $0.baseAddress.map { String(cString: $0) } ?? "" }
                return .connection("STARTTLS failed: \(reason)")
            }
            return nil
        }()
        // Why the session ended early, for the messages that got no reply of their own (a
        // message refused before the connection dropped keeps its refusal).
        let connectionFailure: SMTPDeliveryError? = {
            // When TLS to an SMTPS server failed, its reason beats libesmtp's "connection closed".
            if let tlsFailure = relay?.lastFailure {
                return .connection("TLS to \(host):\(settings.port) failed: \(tlsFailure)")
            }
            return started ? nil : .connection(Self.libesmtpError())
        }()
        return envelopes.map { envelope in
            let result = Self.outcome(message: envelope.message, recipient: envelope.recipient)
            switch result {
            case .success: return result
            case .failure(.connection): return (sessionFailure ?? connectionFailure).map { .failure($0) } ?? result
            case .failure: return sessionFailure.map { .failure($0) } ?? result
            }
        }
    }

    /// Reads the replies libesmtp recorded: the transfer, the MAIL FROM, then the RCPT TO.
    static func outcome(message: smtp_message_t, recipient: smtp_recipient_t) -> Result<Void, SMTPDeliveryError> {
        func reply(_ status: UnsafePointer<smtp_status_t>?) -> (code: Int, text: String)? {
            guard let status, status.pointee.code != 0 else { return nil }
            let text = status.pointee.text.map { String(cString: $0) } ?? ""
            return (Int(status.pointee.code), text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let transfer = reply(smtp_message_transfer_status(message))
        if let transfer, (200..<300).contains(transfer.code) { return .success(()) }
        // The most specific refusal wins: the recipient's, then the sender's, then the transfer's.
        for candidate in [reply(smtp_recipient_status(recipient)), reply(smtp_reverse_path_status(message)), transfer] {
            guard let (code, text) = candidate, code >= 400 else { continue }
            return code >= 500 ? .failure(.permanent(code: code, reply: text)) : .failure(.temporary(code: code, reply: text))
        }
        // No reply was refused, yet nothing was sent: the session ended early (STARTTLS missing,
        // AUTH failing on every mechanism, a dropped connection).
        let reason = smtp_errno() != 0 ? Self.libesmtpError() : "the server ended the session before the message was sent"
        return .failure(.connection(reason))
    }

    static func libesmtpError() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let code = smtp_errno()
        guard let text = smtp_strerror(code, &buffer, buffer.count) else { return "libesmtp error \(code)" }
        return String(cString: text)
    }

    /// SMTP lines end in CRLF whatever the template used. (Byte by byte: Foundation's
    /// replacingOccurrences showed up in the mailer's profile.)
    static func crlf(_ text: String) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count + text.utf8.count / 32)
        var previous: UInt8 = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "\n") && previous != UInt8(ascii: "\r") { bytes.append(UInt8(ascii: "\r")) }
            bytes.append(byte)
            previous = byte
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// User and password as C strings for libesmtp's callback, freed after the session.
    final class Credentials {
        struct Storage {
            var user: UnsafeMutablePointer<CChar>?
            var password: UnsafeMutablePointer<CChar>?
        }

        let pointer: UnsafeMutablePointer<Storage>

        init(user: String, password: String) {
            pointer = .allocate(capacity: 1)
            pointer.initialize(to: Storage(user: strdup(user), password: strdup(password)))
        }

        func free() {
            Foundation.free(pointer.pointee.user)
            Foundation.free(pointer.pointee.password)
            pointer.deinitialize(count: 1)
            pointer.deallocate()
        }
    }
}

extension Optional where Wrapped == String {
    func withOptionalCString<Result>(_ body: (UnsafePointer<CChar>?) -> Result) -> Result {
        switch self {
        case .some(let text): text.withCString(body)
        case .none: body(nil)
        }
    }
}

/// A message handed to the mailer, waiting for a session to carry it.
private struct WaitingMessage: Sendable {
    var id: Int
    var mail: OutgoingMail
    var startBy: ContinuousClock.Instant?
    var answer: CheckedContinuation<Result<Void, SMTPDeliveryError>, Never>
}

/// What every copy of one mailer shares: the messages waiting and the sessions running.
private final class MessagesWaiting: Sendable {
    struct State {
        var messages: [WaitingMessage] = []
        var sessions = 0
        var lastID = 0
        /// Messages handed over but not in `messages` yet: a cancellation that comes first
        /// leaves them out.
        var notQueuedYet: Set<Int> = []
    }

    let state = Mutex(State())
}
