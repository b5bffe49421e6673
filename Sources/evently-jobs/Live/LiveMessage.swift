import BookingCore
import Foundation
import Queue

/// What a live stream sends, before it gets its id: a type and its data as JSON text, encoded
/// once per change however many streams it goes to.
///
/// On the wire every message is one JSON object `{"id": ..., "type": ..., "data": ...}` (a
/// WebSocket text frame, or an SSE event whose `event:` is the type and whose `data:` is the
/// same object). Ids rise per stream: a change of the user's own rows gets `"<n>"`, where `n`
/// is the highest change number the stream has sent; every other message gets `"<n>-<k>"`.
/// Reconnecting with the last id seen (`Last-Event-ID`, `{"resume": id}`) sends the user's rows
/// changed after `n`.
struct LiveMessage: Sendable {
    enum Kind: String, Sendable {
        /// Sent first: who the stream is for and where it starts.
        case hello
        /// A new in-app notification (`NotificationBody`).
        case notification
        /// A booking made or changed (`BookingBody`).
        case booking
        /// A waitlist entry: joined, moved in line, offered (with its expiry), booked, gone (`WaitlistBody`).
        case waitlist
        /// An event's seats left, current price and status (`EventBody`), the latest value only.
        case event
        /// Per-queue counts (`QueueStatus` list), for operators and admins.
        case queues
        /// The client asked for something this stream cannot do; the stream goes on.
        case error
        /// The client missed more than the stream can send: read the REST lists again. The
        /// stream closes after it when the client was too slow.
        case resync
        /// Not a message: keeps an idle SSE stream open through proxies (sent as a comment).
        case ping
    }

    var kind: Kind
    /// The change number of a user's row (``LiveChange/sequence``), for the stream's ids.
    var sequence: Int64?
    /// The `data` member, JSON.
    var data: String

    init(_ kind: Kind, sequence: Int64? = nil, json data: String) {
        self.kind = kind
        self.sequence = sequence
        self.data = data
    }

    init(_ kind: Kind, sequence: Int64? = nil, _ value: some Encodable) {
        let encoded = (try? JSONResponse.encoder().encode(value)) ?? Data("null".utf8)
        self.init(kind, sequence: sequence, json: String(decoding: encoded, as: UTF8.self))
    }

    init(_ change: LiveChange) {
        switch change.row {
        case .notification(let notification): self.init(.notification, sequence: change.sequence, NotificationBody(notification))
        case .booking(let booking): self.init(.booking, sequence: change.sequence, BookingBody(booking))
        case .waitlist(let entry): self.init(.waitlist, sequence: change.sequence, WaitlistBody(entry))
        }
    }

    static func error(_ code: String, _ message: String) -> LiveMessage {
        LiveMessage(.error, ["error": code, "message": message])
    }

    static func resync(_ reason: String, _ message: String) -> LiveMessage {
        LiveMessage(.resync, ["reason": reason, "message": message])
    }

    /// The whole message with its id, as sent.
    func text(id: String) -> String {
        #"{"id":"\#(id)","type":"\#(kind.rawValue)","data":\#(data)}"#
    }
}

/// Why a stream ended, and the WebSocket close code that says so (4000–4999 are ours).
enum LiveEnd: Sendable, Equatable {
    /// The client could not keep up: it was sent `resync` and closed.
    case tooSlow
    /// The token's `exp` passed.
    case tokenExpired
    /// The daemon is stopping.
    case shuttingDown
    /// The client closed the stream or went away.
    case clientGone
    /// No token, or a bad one, in the first message.
    case unauthorized(String)
    /// The page's Origin is neither the server's own nor allowed by `http.cors_origins`.
    case forbiddenOrigin(String)
    /// The first message did not come in time.
    case authenticationTimeout
    /// More streams than allowed for this user or address, or the daemon is full.
    case tooManyConnections(String)

    var closeCode: UInt16 {
        switch self {
        case .tooSlow: 4008
        case .tokenExpired: 4001
        case .shuttingDown: 1001
        case .clientGone: 1000
        case .unauthorized: 4401
        case .forbiddenOrigin: 4403
        case .authenticationTimeout: 4408
        case .tooManyConnections: 4429
        }
    }

    var reason: String {
        switch self {
        case .tooSlow: "too slow: resync and reconnect"
        case .tokenExpired: "token expired"
        case .shuttingDown: "server shutting down"
        case .clientGone: "closed"
        case .unauthorized(let message): message
        case .forbiddenOrigin(let message): message
        case .authenticationTimeout: "no token within the time allowed"
        case .tooManyConnections(let message): message
        }
    }
}

/// The ids of one stream's messages (see ``LiveMessage``).
struct LiveMessageIDs: Sendable {
    /// The highest change number sent.
    private(set) var cursor: Int64
    private var counter = 0

    init(startingAt cursor: Int64) {
        self.cursor = cursor
    }

    mutating func next(for message: LiveMessage) -> String {
        if let sequence = message.sequence {
            cursor = max(cursor, sequence)
            counter = 0
            return "\(cursor)"
        }
        counter += 1
        return "\(cursor)-\(counter)"
    }

    /// The change number an id carries: `"<n>"` or `"<n>-<k>"`; `nil` for anything else.
    static func cursor(of id: String) -> Int64? {
        let number = id.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        guard let value = Int64(number), value >= 0, number.allSatisfy(\.isASCII) else { return nil }
        return value
    }
}
