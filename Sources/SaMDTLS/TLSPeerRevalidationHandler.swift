import Logging
public import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Fired inbound by ``TLSPeerRevalidationHandler`` when the peer of an open connection is no longer valid:
/// an application handler should finish what it is doing (an HTTP server: answer the request in flight with
/// `Connection: close`) and close. The connection is closed anyway after ``gracePeriod``.
public struct TLSPeerInvalidatedEvent: Sendable, Hashable {
    /// Why the peer is no longer valid.
    public enum Reason: String, Sendable, Hashable {
        /// After ``TLSContext/reload()`` the peer's chain no longer verifies under the new trust state: its
        /// certificate (or a CA's) was revoked by a new CRL, its CA was removed from the trust roots, it is no
        /// longer on the peer policy's allow-lists.
        case trustChanged = "trust-changed"
        /// A certificate of the peer's chain reached its `notAfter` (RFC 5280 §4.1.2.5).
        case certificateExpired = "certificate-expired"
    }

    public let reason: Reason
    /// The typed refusal a handshake would now get (``TLSError/Code/certificateRevoked``,
    /// ``TLSError/Code/certificateExpired``, ``TLSError/Code/unknownCA``, …).
    public let error: TLSError
    /// How long after this event the connection is closed (close_notify) if the application has not closed it.
    public let gracePeriod: Duration
}

/// Keeps the peer of an established connection valid for as long as the connection is open: when the
/// ``TLSContext``'s trust state is reloaded (``TLSContext/reload()``, ``TLSIdentityReloader``) the chain the
/// peer was verified with is verified again — through the new context's trust roots, CRLs and verification
/// parameters and SaMDTLS's own checks, the path a handshake takes — and when the earliest `notAfter` of
/// that chain passes, the connection ends. Either way the handler logs one security event
/// (`samd.tls.connection-invalidated`, with `reason`, the peer's name, subject, issuer and serial, the
/// `error`), fires ``TLSPeerInvalidatedEvent`` inbound for the application, and closes the connection
/// (close_notify) after ``gracePeriod`` unless it closed first.
///
/// Place it right after ``TLSHandler`` (``TLSServer`` does). It watches nothing on a connection without a
/// verified peer (a server that does not authenticate clients). The expiry timer is set from the wall clock
/// at the end of the handshake. Not `Sendable`: use it on its channel's event loop only.
/// - SeeAlso: RFC 5280 §6.3 (CRL validation), RFC 8446 §6.1 (closure alerts).
public final class TLSPeerRevalidationHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    private let tlsContext: TLSContext
    /// How long the application has, after ``TLSPeerInvalidatedEvent``, before the connection is closed.
    public let gracePeriod: Duration

    private var peer: TLSPeerIdentity?
    private var registration: UInt64?
    private var expiryTimer: Scheduled<Void>?
    private var graceTimer: Scheduled<Void>?
    private var invalidated = false

    /// - Parameters:
    ///   - context: the context the connection's ``TLSHandler`` was made from; its reloads trigger the check.
    ///   - gracePeriod: how long the application has to close after ``TLSPeerInvalidatedEvent`` (default 5
    ///     seconds; at least 0).
    public init(context: TLSContext, gracePeriod: Duration = .seconds(5)) {
        self.tlsContext = context
        self.gracePeriod = max(gracePeriod, .zero)
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let info) = event as? TLSUserEvent, let peer = info.peer {
            self.watch(context: context, peer: peer)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.stopWatching()
        context.fireChannelInactive()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.stopWatching()
    }

    private func watch(context: ChannelHandlerContext, peer: TLSPeerIdentity) {
        guard self.registration == nil, !self.invalidated else { return }
        self.peer = peer
        let eventLoop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: eventLoop)
        self.registration = self.tlsContext.openConnections.add(
            TLSOpenConnections.Entry(chain: peer.certificateChain) { error in
                eventLoop.execute {
                    bound.value.handler.invalidate(context: bound.value.context, reason: .trustChanged, error: error)
                }
            }
        )
        let notAfter = ChainValidity.earliestNotAfter(peer.certificateChain) ?? peer.notAfter
        let seconds = max(notAfter.timeIntervalSinceNow, 0)
        self.expiryTimer = eventLoop.assumeIsolated().scheduleTask(in: .nanoseconds(Int64(min(seconds, 1e9) * 1e9))) {
            self.invalidate(
                context: context,
                reason: .certificateExpired,
                error: TLSError(.certificateExpired, "the peer's certificate chain expired at \(notAfter) (notAfter)")
            )
        }
    }

    private func invalidate(context: ChannelHandlerContext, reason: TLSPeerInvalidatedEvent.Reason, error: TLSError) {
        guard self.registration != nil, !self.invalidated, context.channel.isActive else { return }
        self.invalidated = true
        self.expiryTimer?.cancel()
        self.expiryTimer = nil
        TLSEvents.connectionInvalidated(
            self.tlsContext.logger,
            role: self.tlsContext.configuration.role,
            remote: context.channel.remoteAddress.map(TLSHandler.describe),
            reason: reason.rawValue,
            peer: self.peer,
            error: error,
            gracePeriod: self.gracePeriod
        )
        self.graceTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(self.gracePeriod)) {
            context.close(promise: nil)
        }
        context.fireUserInboundEventTriggered(
            TLSPeerInvalidatedEvent(reason: reason, error: error, gracePeriod: self.gracePeriod)
        )
    }

    private func stopWatching() {
        if let registration = self.registration {
            self.tlsContext.openConnections.remove(registration)
            self.registration = nil
        }
        self.expiryTimer?.cancel()
        self.expiryTimer = nil
        self.graceTimer?.cancel()
        self.graceTimer = nil
    }
}
