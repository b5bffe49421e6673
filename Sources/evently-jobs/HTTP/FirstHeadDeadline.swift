import HummingbirdCore
import Logging
import NIOCore

/// Closes a connection whose first request head has not fully arrived within `limit`.
///
/// Hummingbird's HTTP/1 channel with WebSocket upgrades adds its idle handler only once a head
/// has been read and found not to be an upgrade, so a connection that sends nothing, or a head
/// that trickles in (slowloris), would stay open for ever. This handler sits next to the socket
/// and gives the first head `http.idle_timeout` to arrive whole; from then on the connection is
/// Hummingbird's (its idle handler for keep-alive requests, WebSocket pings after an upgrade).
final class FirstHeadDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let limit: TimeAmount
    private var timer: Scheduled<Void>?
    /// The last bytes of the previous read, to find the blank line that ends a head across reads.
    private var tail: [UInt8] = []
    private static let headEnd: [UInt8] = Array("\r\n\r\n".utf8)

    init(limit: TimeAmount) {
        self.limit = limit
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { startTimer(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startTimer(context)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = tail + Array(buffer: unwrapInboundIn(data))
        let complete = bytes.count >= 4 && bytes.indices.dropLast(3).contains { bytes[$0..<($0 + 4)].elementsEqual(Self.headEnd) }
        tail = Array(bytes.suffix(3))
        context.fireChannelRead(data)
        if complete {
            timer?.cancel()
            timer = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    private func startTimer(_ context: ChannelHandlerContext) {
        guard timer == nil else { return }
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: limit) {
            context.close(promise: nil)
        }
    }
}

/// A server child channel with ``FirstHeadDeadline`` in front of `inner`.
struct FirstHeadDeadlineChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value
    let inner: Inner
    let limit: TimeAmount

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(FirstHeadDeadline(limit: limit))
        }.flatMap {
            inner.setup(channel: channel, logger: logger)
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}
