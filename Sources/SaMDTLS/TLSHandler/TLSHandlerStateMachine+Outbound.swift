import NIOCore

// The application's writes, flushes and closes, the timers, and the ends of a connection.
extension TLSHandlerStateMachine {
    // MARK: - Writes

    /// A write: buffered until the handshake completed; then encrypted while the output is open, refused
    /// otherwise (after close_notify nothing may be sent).
    mutating func write(_ buffer: ByteBuffer, promise: Promise?, now: NIODeadline) -> [Action] {
        switch self.state {
        case .idle(var pending):
            pending.writes.append((buffer, promise))
            self.state = .idle(pending)
            return []
        case .handshaking(var pending):
            pending.writes.append((buffer, promise))
            self.state = .handshaking(pending)
            return []
        case .active(outputClosed: false, _):
            self.timers.lastActivity = now
            return [.encrypt(buffer, promise)]
        case .active:
            return [.fail(Self.list(promise), ChannelError.outputClosed)]
        case .closing, .closed:
            return [.fail(Self.list(promise), self.closedError)]
        }
    }

    mutating func flush() -> [Action] {
        switch self.state {
        case .idle(var pending):
            pending.flushPending = true
            self.state = .idle(pending)
            return []
        case .handshaking(var pending):
            pending.flushPending = true
            self.state = .handshaking(pending)
            return []
        case .active, .closing:
            return [.flush]
        case .closed:
            return []
        }
    }

    // MARK: - Closes

    /// `close(mode: .output)`: close_notify, then a TCP half-closure; the peer may go on sending.
    mutating func closeOutput(promise: Promise?) -> [Action] {
        switch self.state {
        case .active(outputClosed: false, let inputClosedReported):
            self.state = .active(outputClosed: true, inputClosedReported: inputClosedReported)
            return [.sendCloseNotifyClosingOutput(promise)]
        case .idle, .handshaking:
            let error = TLSError(.connectionClosed, "the output cannot be closed before the handshake completed")
            return [.fail(Self.list(promise), error)]
        case .active, .closing, .closed:
            return [.fail(Self.list(promise), ChannelError.outputClosed)]
        }
    }

    /// close_notify was sent for `close(mode: .output)`; when the peer's had arrived, both directions are done.
    mutating func outputCloseNotifySent(_ promise: Promise?, peerSentCloseNotify: Bool) -> [Action] {
        guard peerSentCloseNotify else { return [.halfCloseOutput(promise)] }
        self.state = .closed(drain: nil)
        return self.disarmAll() + [.closeAfterSendingOutput(Self.list(promise))]
    }

    /// `close(mode: .all)`: during the handshake the channel closes at once (the handshake fails); once
    /// active, close_notify is sent and the peer's awaited (bounded); later closes wait for the same end.
    mutating func close(promise: Promise?) -> [Action] {
        switch self.state {
        case .idle(let pending), .handshaking(let pending):
            self.state = .closed(drain: nil)
            let error = TLSError(.connectionClosed, "closed by the application during the handshake")
            return self.disarmAll() + [
                .log(.handshakeFailed(error, afterHandshake: false)), .failHandshakeFuture(error),
                .fail(pending.writes.compactMap(\.promise), ChannelError.ioOnClosedChannel),
                .closeChannel(Self.list(promise)),
            ]
        case .active:
            return self.startClose(promise: promise)
        case .closing(let promises):
            self.state = .closing(promises: promises + Self.list(promise))
            return []
        case .closed(drain: .some(var drain)):
            // Sending the fatal alert: the channel closes when the drain ends (bounded).
            drain.promises += Self.list(promise)
            self.state = .closed(drain: drain)
            return []
        case .closed(drain: nil):
            return [.closeChannel(Self.list(promise))]
        }
    }

    /// Sends close_notify, then waits (bounded) for the peer's while still delivering its data.
    mutating func startClose(promise: Promise?) -> [Action] {
        guard case .active = self.state else { return [.closeChannel(Self.list(promise))] }
        return self.disarm(.maximumAge) + self.disarm(.idle) + [.sendCloseNotify(promise)]
    }

    /// close_notify was sent for a full close. `complete`: `SSL_shutdown` saw both close_notify alerts.
    mutating func closeNotifySent(
        _ promise: Promise?, complete: Bool, peerSentCloseNotify: Bool, sentCloseNotify: Bool, now: NIODeadline
    ) -> [Action] {
        guard case .active(let outputClosed, let inputClosedReported) = self.state else {
            return [.closeChannel(Self.list(promise))]
        }
        if complete || peerSentCloseNotify || outputClosed && sentCloseNotify && inputClosedReported {
            self.state = .closed(drain: nil)
            return [.closeAfterSendingOutput(Self.list(promise))]
        }
        self.state = .closing(promises: Self.list(promise))
        return [.sendOutput(flush: true)] + [self.arm(.close, now: now)].compactMap { $0 }
    }

    mutating func finishClose() -> [Action] {
        guard case .closing(let promises) = self.state else { return [] }
        self.state = .closed(drain: nil)
        return self.disarmAll() + [.closeAfterSendingOutput(promises)]
    }

    /// Ends a drain: closes the channel (`closing`) or, when it is already closed or the handler removed,
    /// only completes the close promises that waited for it.
    mutating func endDrain(closing: Bool) -> [Action] {
        guard case .closed(drain: .some(let drain)) = self.state else { return [] }
        self.state = .closed(drain: nil)
        return self.disarm(.close) + [closing ? .closeChannel(drain.promises) : .succeed(drain.promises)]
    }

    // MARK: - Timers

    /// A timer's task ran. A timer disarmed meanwhile, or one whose state has passed, does nothing.
    mutating func timerFired(_ timer: TLSHandlerTimers.Timer, now: NIODeadline) -> [Action] {
        guard self.timers.fire(timer) else { return [] }
        switch (timer, self.state) {
        case (.handshake, .handshaking):
            let seconds = NetworkErrorText.seconds(self.timers.handshakeTimeout)
            return self.handshakeFailed(
                TLSError(.handshakeTimeout, "the handshake did not finish within \(seconds) s"))
        case (.maximumAge, .active):
            return [.log(.maximumAgeReached)] + self.startClose(promise: nil)
        case (.idle, .active):
            guard let deadline = self.timers.idleDeadline else { return [] }
            if now >= deadline {
                return [.log(.idleTimeoutReached)] + self.startClose(promise: nil)
            }
            self.timers.arm(.idle, at: deadline)
            return [.schedule(.idle, deadline)]
        case (.close, .closing):
            return self.finishClose()
        case (.close, .closed(drain: .some)):
            return self.endDrain(closing: true)
        default:
            return []
        }
    }

    /// Arms `timer` for its timeout from `now`; `nil` when it is not configured.
    mutating func arm(_ timer: TLSHandlerTimers.Timer, now: NIODeadline) -> Action? {
        guard let timeout = self.timers.timeout(of: timer) else { return nil }
        self.timers.arm(timer, at: now + timeout)
        return .schedule(timer, now + timeout)
    }

    mutating func disarm(_ timer: TLSHandlerTimers.Timer) -> [Action] {
        self.timers.disarm(timer) ? [.cancel(timer)] : []
    }

    mutating func disarmAll() -> [Action] {
        self.timers.disarmAll().map { .cancel($0) }
    }

    static func list(_ promise: Promise?) -> [Promise] {
        promise.map { [$0] } ?? []
    }
}
