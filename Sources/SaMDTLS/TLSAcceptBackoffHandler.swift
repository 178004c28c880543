public import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Pauses accepting on a listening channel after `accept` fails for want of a resource (`EMFILE`, `ENFILE`,
/// `ENOBUFS`, `ENOMEM`), and resumes after ``delay``.
///
/// Without it a process out of descriptors spins: the connection stays in the listen backlog, the socket
/// stays readable, and `accept` fails again at once, tens of thousands of times a second. SwiftNIO's
/// `AcceptBackoffHandler` does not help when the *first* accept of a read fails (the channel's read stays
/// pending, so no new `read` passes through the pipeline for it to delay); this handler turns the channel's
/// `autoRead` off instead, which stops the event loop watching the socket, and back on after the delay.
/// Place it first in the listening channel's pipeline (`ServerBootstrap.serverChannelInitializer`). Not
/// `Sendable`: use it on its channel's event loop only.
public final class TLSAcceptBackoffHandler: ChannelInboundHandler {
    public typealias InboundIn = any Channel
    public typealias InboundOut = any Channel

    /// How long accepting pauses after a failure.
    public let delay: Duration
    private let failed: (IOError) -> Void
    private var resume: Scheduled<Void>?

    /// - Parameters:
    ///   - delay: how long accepting pauses after a failure (default 1 second).
    ///   - failed: called with each failure that pauses accepting (for a rate-limited log).
    public init(delay: Duration = .seconds(1), failed: @escaping (IOError) -> Void = { _ in }) {
        self.delay = delay
        self.failed = failed
    }

    /// The `accept` errors that a pause may cure: out of descriptors (process or system) or memory.
    static func isResourceExhaustion(_ error: IOError) -> Bool {
        [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let ioError = error as? IOError, Self.isResourceExhaustion(ioError) else {
            context.fireErrorCaught(error)
            return
        }
        self.failed(ioError)
        guard self.resume == nil, let options = context.channel.syncOptions else { return }
        try? options.setOption(.autoRead, value: false)
        self.resume = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(self.delay)) {
            self.resume = nil
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.resume?.cancel()
        self.resume = nil
    }
}
