import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SaMDExampleSupport
import SaMDKeys
import SaMDStore
import SaMDTLS
import Synchronization

// MARK: Timers

extension GatewayHTTPHandler {
    /// Closes the connection after `idleTimeout` unless a request arrives first — or, for a parked request,
    /// unless the client reads the previous answer first.
    func startIdleTimer(context: ChannelHandlerContext) {
        self.idleTimer?.cancel()
        let timeout = self.core.configuration.idleTimeout
        let seconds = timeout.secondsValue
        self.idleTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(timeout)) {
            if self.parked != nil {
                GatewayEvents.responseUnread(self.core.logger, client: self.client, seconds: seconds)
                self.parked = nil
            } else {
                guard self.phase == .idle else { return }
            }
            self.phase = .closing
            self.releaseBody()
            context.close(promise: nil)
        }
    }

    /// After ``RecordGatewayConfiguration/maximumConnectionAge`` (counted from the handshake) the connection
    /// finishes its request in flight and closes.
    func startAgeTimer(context: ChannelHandlerContext) {
        let age = self.core.configuration.maximumConnectionAge
        let seconds = age.secondsValue
        self.ageTimer = context.eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(age)) {
            guard self.phase != .closing else { return }
            GatewayEvents.connectionMaximumAge(self.core.logger, client: self.client, seconds: seconds)
            self.finishAfterResponse(context: context)
        }
    }

    func cancelTimers() {
        self.ageTimer?.cancel()
        self.ageTimer = nil
        self.idleTimer?.cancel()
        self.idleTimer = nil
        self.cancelRequestTimers()
    }

    /// Stops the timers of a request being received: its timeout and its body rate check.
    func cancelRequestTimers() {
        self.requestTimer?.cancel()
        self.requestTimer = nil
        self.rateTimer?.cancel()
        self.rateTimer = nil
    }
}
