import NIOCore
import SaMDTLS

/// Fired inbound on a connection of a ``SaMDTLSChannel`` that has been asked to close after its request in
/// flight, just before the `ChannelShouldQuiesceEvent` that asks it (Hummingbird's HTTP/1.1 channel then
/// closes at once when idle, or after the response in flight). Lets the application log why.
public struct TLSConnectionRetiringEvent: Sendable, Hashable {
    /// Why the connection closes.
    public enum Reason: String, Sendable, Hashable {
        /// It reached ``SaMDTLSChannelConfiguration/maximumConnectionAge``.
        case maximumAge = "maximum-age"
        /// Its client is no longer valid (`TLSPeerInvalidatedEvent`, logged by SaMDTLS).
        case peerInvalidated = "peer-invalidated"
    }

    /// Why the connection closes.
    public let reason: Reason
}

/// The lifetime of one connection of a ``SaMDTLSChannel``: its maximum age, the close that follows an invalid
/// client, and the deadline of every close asked for.
///
/// Sits right after `TLSPeerRevalidationHandler`. At the maximum age (counted from the handshake) and on
/// `TLSPeerInvalidatedEvent` it fires ``TLSConnectionRetiringEvent`` and `ChannelShouldQuiesceEvent`
/// inbound; on any `ChannelShouldQuiesceEvent` — its own or a server shutdown's — it closes the connection
/// after the grace period unless it closed first. Not `Sendable`: it lives on its channel's event loop.
final class TLSConnectionLifetimeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let maximumAge: Duration?
    private let gracePeriod: Duration
    private var ageTimer: Scheduled<Void>?
    private var deadline: Scheduled<Void>?
    private var retiring = false

    init(maximumAge: Duration?, gracePeriod: Duration) {
        self.maximumAge = maximumAge
        self.gracePeriod = gracePeriod
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent, let maximumAge = self.maximumAge {
            self.ageTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(maximumAge)) {
                self.retire(context: context, .maximumAge)
            }
            context.fireUserInboundEventTriggered(event)
        } else if event is TLSPeerInvalidatedEvent {
            context.fireUserInboundEventTriggered(event)
            self.retire(context: context, .peerInvalidated)
        } else if event is ChannelShouldQuiesceEvent {
            // A server shutdown (or this handler's own retirement, which fires it onward itself).
            self.retiring = true
            self.closeAfterGracePeriod(context: context)
            context.fireUserInboundEventTriggered(event)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.ageTimer?.cancel()
        self.deadline?.cancel()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.ageTimer?.cancel()
        self.deadline?.cancel()
    }

    private func retire(context: ChannelHandlerContext, _ reason: TLSConnectionRetiringEvent.Reason) {
        guard !self.retiring, context.channel.isActive else { return }
        self.retiring = true
        self.ageTimer?.cancel()
        context.fireUserInboundEventTriggered(TLSConnectionRetiringEvent(reason: reason))
        self.closeAfterGracePeriod(context: context)
        context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
    }

    private func closeAfterGracePeriod(context: ChannelHandlerContext) {
        guard self.deadline == nil else { return }
        self.deadline = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(self.gracePeriod)) {
            context.close(promise: nil)
        }
    }
}
