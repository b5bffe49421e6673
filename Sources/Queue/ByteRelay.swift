import NIOCore

/// One end of a relay between two channels on the same event loop: what one channel reads the
/// other writes, a read is asked for only while the other side can take more (so a slow side
/// slows the fast one instead of filling memory), and when either closes or fails both close.
/// Used by the daemon's database relay (failover) and the SMTP implicit-TLS relay.
///
/// Both ends must live on one event loop: they call each other directly. Install both before
/// either channel reads (autoRead off until then): a read asked for while the partner is not in
/// place waits for its writability, which nothing would then announce.
public final class ByteRelay: ChannelDuplexHandler {
    public typealias InboundIn = NIOAny
    public typealias OutboundIn = NIOAny
    public typealias OutboundOut = NIOAny

    private var partner: ByteRelay?
    private var context: ChannelHandlerContext?
    private var readWaiting = false

    /// Two ends joined to each other: add one to each channel's pipeline.
    public static func pair() -> (ByteRelay, ByteRelay) {
        let first = ByteRelay(), second = ByteRelay()
        first.partner = second
        second.partner = first
        return (first, second)
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        partner = nil
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        partner?.context?.write(data, promise: nil)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        partner?.context?.flush()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset, a broken pipe, a TLS failure: the relay ends on both sides.
        partner?.context?.close(promise: nil)
        context.close(promise: nil)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { partner?.readIfWaiting() }
        context.fireChannelWritabilityChanged()
    }

    public func read(context: ChannelHandlerContext) {
        if partner?.context?.channel.isWritable ?? false {
            context.read()
        } else {
            readWaiting = true
        }
    }

    private func readIfWaiting() {
        guard readWaiting, let context else { return }
        readWaiting = false
        context.read()
    }
}
