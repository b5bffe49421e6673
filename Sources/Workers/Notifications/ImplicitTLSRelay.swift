import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import Queue
import Synchronization

/// libesmtp speaks TLS only through STARTTLS. For servers that want TLS from the first byte
/// (SMTPS, usually port 465) the mailer talks plain SMTP to this relay on loopback, which
/// carries the bytes over a verified TLS connection (swift-nio-ssl) to the real server.
///
/// One relay serves one session: it is bound to 127.0.0.1 on an ephemeral port and closed when
/// the session ends. (It would accept another local connection meanwhile; that one gets a TLS
/// tunnel to the SMTP server and nothing else: no credentials, no message.)
final class ImplicitTLSRelay: Sendable {
    let port: Int
    private let listener: any Channel
    private let failure: FirstFailure

    private init(port: Int, listener: any Channel, failure: FirstFailure) {
        self.port = port
        self.listener = listener
        self.failure = failure
    }

    /// Why the TLS side failed, if it did (a handshake or certificate error reads better than
    /// libesmtp's "connection closed").
    var lastFailure: String? { failure.text.withLock { $0 } }

    /// Blocks while binding: call it off the event loop (the mailer runs on the thread pool).
    static func start(host: String, port: Int, caFile: String?, timeout: Duration) throws -> ImplicitTLSRelay {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile { configuration.trustRoots = .file(caFile) }
        let context = try NIOSSLContext(configuration: configuration)
        // SNI and name checks use the host name; an IP address is checked against the
        // certificate's IP entries instead.
        let serverHostname = host.isIPAddress ? nil : host
        let group = MultiThreadedEventLoopGroup.singleton
        let failure = FirstFailure()
        let record: @Sendable (any Error) -> Void = { error in failure.text.withLock { $0 = $0 ?? "\(error)" } }

        let listener = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .connectTimeout(.nanoseconds(timeout.nanoseconds))
                    .channelInitializer { outbound in
                        outbound.eventLoop.makeCompletedFuture {
                            let tls = try NIOSSLClientHandler(context: context, serverHostname: serverHostname)
                            try outbound.pipeline.syncOperations.addHandler(tls)
                            try outbound.pipeline.syncOperations.addHandler(ErrorRecorder(record: record))
                        }
                    }
                    .connect(host: host, port: port)
                    .flatMap { outbound in
                        // Both channels live on the same event loop, so both pipelines can be
                        // changed synchronously here.
                        outbound.eventLoop.makeCompletedFuture {
                            let (toServer, toClient) = ByteRelay.pair()
                            try outbound.pipeline.syncOperations.addHandler(toClient)
                            try inbound.pipeline.syncOperations.addHandler(toServer)
                        }
                    }
                    .flatMapErrorThrowing { error in
                        record(error)
                        throw error
                    }
            }
            .bind(host: "127.0.0.1", port: 0).wait()
        guard let boundPort = listener.localAddress?.port else {
            try? listener.close().wait()
            throw ChannelError.unknownLocalAddress
        }
        return ImplicitTLSRelay(port: boundPort, listener: listener, failure: failure)
    }

    func stop() {
        try? listener.close().wait()
    }
}

private final class FirstFailure: Sendable {
    let text = Mutex<String?>(nil)
}

/// Keeps the first error seen on the TLS side.
private final class ErrorRecorder: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let record: @Sendable (any Error) -> Void

    init(record: @escaping @Sendable (any Error) -> Void) {
        self.record = record
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        record(error)
        context.fireErrorCaught(error)
    }
}
