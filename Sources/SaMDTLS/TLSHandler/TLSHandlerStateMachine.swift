import NIOCore

/// The protocol state of one ``TLSHandler`` connection, with no channel and no OpenSSL: each event (the
/// channel became active, bytes arrived, OpenSSL answered a step, the application wrote, flushed or closed, a
/// timer fired, the input ended…) updates the state and returns the ``Action``s the handler must apply, in
/// order. The behaviour is the one ``TLSHandler``'s documentation gives.
///
/// States: idle → handshaking → active → closing (our close_notify sent after a full close, waiting for the
/// peer's) → closed; any state → closed on a failure. After a fatal alert the closed state drains the peer's
/// bytes, bounded by ``TLSHandler/drainLimitBytes`` and ``TLSConfiguration/closeTimeout``.
///
/// `Promise` is what completes a write or a close (`EventLoopPromise<Void>` in the handler).
struct TLSHandlerStateMachine<Promise> {
    /// Writes and flushes made before the handshake completed, sent in order once it has.
    struct PendingOutput {
        var writes: [(buffer: ByteBuffer, promise: Promise?)] = []
        var flushPending = false
    }

    /// After a fatal alert: the output is half-closed and the peer's bytes are dropped.
    struct Drain {
        var bytesLeft: Int
        /// Close promises completed when the drain ends and the channel closes.
        var promises: [Promise] = []
    }

    enum State {
        case idle(PendingOutput)
        case handshaking(PendingOutput)
        /// `outputClosed`: close_notify sent by `close(mode: .output)`. `inputClosedReported`: the peer's
        /// close_notify was fired on as `ChannelEvent.inputClosed`.
        case active(outputClosed: Bool, inputClosedReported: Bool)
        /// close_notify sent after a full close was asked for; waiting for the peer's.
        case closing(promises: [Promise])
        case closed(drain: Drain?)
    }

    /// Changed only by the events (here and in `+Outbound`).
    var state = State.idle(PendingOutput())
    var timers: TLSHandlerTimers
    private var recordHeader: TLSRecordHeaderCheck
    /// The error that ended the connection; later writes fail with it rather than a bare "closed".
    var failure: TLSError?
    let drainLimitBytes: Int

    init(role: TLSConfiguration.Role, timers: TLSHandlerTimers, drainLimitBytes: Int) {
        self.timers = timers
        self.recordHeader = TLSRecordHeaderCheck(role: role)
        self.drainLimitBytes = drainLimitBytes
    }

    // MARK: - Queries

    /// Whether decrypted data is still fired on (active or closing).
    var isDeliveringPlaintext: Bool {
        switch self.state {
        case .active, .closing: true
        case .idle, .handshaking, .closed: false
        }
    }

    /// Whether application data may be encrypted and sent (active, output open).
    var isOutputOpen: Bool {
        if case .active(outputClosed: false, _) = self.state { return true }
        return false
    }

    /// Whether the connection reached its final state.
    var isClosed: Bool {
        if case .closed = self.state { return true }
        return false
    }

    /// Whether the peer's bytes are being dropped after a fatal alert.
    var isDraining: Bool {
        if case .closed(drain: .some) = self.state { return true }
        return false
    }

    /// What a write refused after the connection ended fails with.
    var closedError: any Error { self.failure ?? ChannelError.ioOnClosedChannel }

    // MARK: - Handshake

    /// The channel is active (or the handler was added to an active one): the handshake starts.
    mutating func channelActive() -> [Action] {
        guard case .idle = self.state else { return [] }
        return [.createConnection]
    }

    mutating func connectionCreated(now: NIODeadline) -> [Action] {
        guard case .idle(let pending) = self.state else { return [] }
        self.state = .handshaking(pending)
        return [self.arm(.handshake, now: now), .driveHandshake].compactMap { $0 }
    }

    mutating func handshakeStepped(_ step: Step) -> [Action] {
        guard case .handshaking = self.state else { return [] }
        switch step {
        case .done:
            return [.sendOutput(flush: true)] + self.disarm(.handshake) + [.verifyHandshake]
        case .needMoreInput:
            return [.sendOutput(flush: true), .read]
        case .closeNotify:
            return self.handshakeFailed(
                TLSError(.connectionClosed, "the peer closed the connection during the handshake"))
        case .failed(let error):
            return self.handshakeFailed(error)
        }
    }

    /// The peer is verified: the connection is active. The writes made during the handshake go first, before
    /// any callback of the handshake's future or event runs: a write made there must not overtake them, and a
    /// close made there must find them sent.
    mutating func handshakeVerified(_ info: TLSConnectionInfo, now: NIODeadline) -> [Action] {
        guard case .handshaking(let pending) = self.state else { return [] }
        self.state = .active(outputClosed: false, inputClosedReported: false)
        var actions: [Action] = [.log(.handshakeSucceeded(info))]
        if let age = self.arm(.maximumAge, now: now) { actions.append(age) }
        if !pending.writes.isEmpty || pending.flushPending {
            actions.append(.writeBuffered(pending.writes))
        }
        return actions + [.confirmHandshake(info)]
    }

    /// After the buffered writes: the handshake's future succeeds unless one of them ended the connection.
    mutating func handshakeConfirmed(_ info: TLSConnectionInfo, now: NIODeadline) -> [Action] {
        guard case .active = self.state else {
            return [.failHandshakeFuture(self.failure ?? TLSError(.connectionClosed, "the connection closed"))]
        }
        var actions: [Action] = []
        if self.timers.idleTimeout != nil {
            self.timers.lastActivity = now
            actions += [self.arm(.idle, now: now)].compactMap { $0 }
        }
        // Application data may have arrived in the same flight as the handshake's last message.
        return actions + [.completeHandshake(info), .readPlaintext]
    }

    /// The handshake failed (or the peer's first bytes are no TLS record): the fatal alert OpenSSL produced —
    /// or `alertRecord` — is sent and the channel closed after a bounded drain.
    mutating func handshakeFailed(_ error: TLSError, alertRecord: [UInt8]? = nil) -> [Action] {
        guard !self.isClosed else { return [] }
        let waiting = self.waitingPromises
        self.state = .closed(drain: nil)
        self.failure = error
        return self.disarmAll() + [
            .log(.handshakeFailed(error, afterHandshake: false)), .failHandshakeFuture(error),
            .fail(waiting.writes + waiting.closes, error),
            .fireError(error), .sendFatalAlert(alertRecord: alertRecord),
        ]
    }

    // MARK: - Inbound

    /// Bytes arrived from the network. `peerSentCloseNotify`: OpenSSL already read the peer's close_notify
    /// (data after it is ignored, RFC 8446 §6.1 — handing it over would only grow the input buffer).
    mutating func bytesRead(_ buffer: ByteBuffer, peerSentCloseNotify: Bool, now: NIODeadline) -> [Action] {
        self.timers.lastActivity = now
        switch self.state {
        case .closed(drain: .some(var drain)):
            drain.bytesLeft -= buffer.readableBytes
            if drain.bytesLeft <= 0 { return self.endDrain(closing: true) }
            self.state = .closed(drain: drain)
            return [.read]
        case .idle, .closed(drain: nil):
            return []
        case .handshaking, .active, .closing:
            break
        }
        if !self.recordHeader.isComplete, let refusal = self.recordHeader.check(buffer) {
            return self.handshakeFailed(refusal.error, alertRecord: refusal.alertRecord)
        }
        if peerSentCloseNotify { return [] }
        if case .handshaking = self.state { return [.receive(buffer), .driveHandshake] }
        return [.receive(buffer), .readPlaintext]
    }

    /// What reading the decrypted data ended with. `halfClosureAllowed`: the channel's
    /// `ChannelOptions.allowRemoteHalfClosure` (read when `step` is `.closeNotify`).
    mutating func plaintextRead(_ step: Step, halfClosureAllowed: Bool) -> [Action] {
        switch step {
        case .closeNotify:
            return [.sendOutput(flush: true)] + self.peerSentCloseNotify(halfClosureAllowed: halfClosureAllowed)
        case .failed(let error):
            return self.connectionFailed(error)
        case .done, .needMoreInput:
            // Reading can produce output: a KeyUpdate answer, an alert.
            return [.sendOutput(flush: true)]
        }
    }

    private mutating func peerSentCloseNotify(halfClosureAllowed: Bool) -> [Action] {
        switch self.state {
        case .closing:
            return self.finishClose()
        case .active(outputClosed: true, _):
            // Both directions are done.
            self.state = .closed(drain: nil)
            return self.disarmAll() + [.closeChannel([])]
        case .active(outputClosed: false, _) where halfClosureAllowed:
            self.state = .active(outputClosed: false, inputClosedReported: true)
            return [.fireInputClosed]
        case .active:
            // Answer with our close_notify and close (RFC 8446 §6.1).
            return self.startClose(promise: nil)
        case .idle, .handshaking, .closed:
            return []
        }
    }

    /// TCP FIN from the peer. `peerSentCloseNotify`: OpenSSL read the peer's close_notify before.
    mutating func inputClosed(peerSentCloseNotify: Bool) -> [Action] {
        switch self.state {
        case .closed(drain: .some):
            return self.endDrain(closing: true)
        case .idle, .handshaking:
            return self.handshakeFailed(
                TLSError(.connectionClosed, "the peer closed the connection during the handshake"))
        case .active(let outputClosed, inputClosedReported: false) where peerSentCloseNotify:
            self.state = .active(outputClosed: outputClosed, inputClosedReported: true)
            return [.fireInputClosed]
        case .active, .closing:
            return peerSentCloseNotify ? [] : [.readToEndOfInput]
        case .closed(drain: nil):
            return []
        }
    }

    /// The network input ended without close_notify and what was complete was read: OpenSSL 3 reports the
    /// end as `SSL_ERROR_SSL` with `UNEXPECTED_EOF_WHILE_READING`. Reported as a truncation
    /// (``TLSError/Code/uncleanShutdown``) unless we were closing.
    mutating func endOfInputRead(_ step: Step, halfClosureAllowed: Bool) -> [Action] {
        var error = TLSError(
            .uncleanShutdown, "the peer closed the connection without close_notify: the data may be truncated")
        switch step {
        case .failed(let failure):
            error = failure
        case .closeNotify:
            return self.peerSentCloseNotify(halfClosureAllowed: halfClosureAllowed)
        case .done, .needMoreInput:
            break
        }
        if case .closing = self.state {
            // We asked to close; the peer closed without answering. Not a truncation of anything we wait for.
            return self.finishClose()
        }
        guard !self.isClosed else { return [] }
        let log: [Action] = error.code == .uncleanShutdown ? [.log(.uncleanShutdown)] : []
        return log + self.connectionFailed(error)
    }

    /// The established connection failed: the fatal alert is sent, the channel closed after a bounded drain,
    /// and close promises waiting for close_notify fail.
    mutating func connectionFailed(_ error: TLSError) -> [Action] {
        guard !self.isClosed else { return [] }
        let waiting = self.waitingPromises
        self.state = .closed(drain: nil)
        self.failure = error
        var actions = self.disarmAll()
        if error.isCertificateError {
            // TLS 1.3: the peer refused our certificate after our side of the handshake completed. For the
            // audit trail this is a failed handshake, whatever was logged when our side finished.
            actions.append(.log(.handshakeFailed(error, afterHandshake: true)))
        } else if error.code != .uncleanShutdown {
            actions.append(.log(.connectionFailed(error)))
        }
        return actions + [
            .fail(waiting.writes, error), .fireError(error), .sendFatalAlert(alertRecord: nil),
            .fail(waiting.closes, error),
        ]
    }

    /// The fatal alert was sent on an active channel: drain the peer's bytes (bounded) before closing, so that
    /// a peer still writing reads the alert instead of a reset.
    mutating func drainStarted(now: NIODeadline) -> [Action] {
        guard case .closed(drain: nil) = self.state else { return [] }
        self.state = .closed(drain: Drain(bytesLeft: self.drainLimitBytes))
        return [self.arm(.close, now: now), .halfCloseForDrain, .read].compactMap { $0 }
    }

    /// A channel without half-closure (or one already closing): the drain ends and the channel closes.
    mutating func halfClosureFailed() -> [Action] {
        self.endDrain(closing: true)
    }

    /// A socket error (a reset, a broken pipe) before the handshake completed: the connection failed under the
    /// handshake — the peer's or the network's doing, not the application's (a later handler that closes the
    /// channel on that error must not be reported as the cause). No alert can be sent; the channel closes. Once
    /// the handshake completed, the error is the application's to handle: `[]`.
    mutating func transportFailed(_ reason: String) -> [Action] {
        switch self.state {
        case .idle, .handshaking:
            let waiting = self.waitingPromises
            let error = TLSError(.connectionClosed, "the connection failed during the handshake: \(reason)")
            self.state = .closed(drain: nil)
            self.failure = error
            return self.disarmAll() + [
                .log(.handshakeFailed(error, afterHandshake: false)), .failHandshakeFuture(error),
                .fail(waiting.writes + waiting.closes, error), .fireError(error), .closeChannel([]),
            ]
        case .active, .closing, .closed:
            return []
        }
    }

    /// The first part of `channelInactive`: what ends with the connection.
    mutating func channelInactive(peerSentCloseNotify: Bool) -> [Action] {
        switch self.state {
        case .idle, .handshaking:
            return self.handshakeFailed(TLSError(.connectionClosed, "the connection closed during the handshake"))
        case .active:
            return peerSentCloseNotify ? [] : [.readToEndOfInput]
        case .closing, .closed:
            return []
        }
    }

    /// The second part of `channelInactive`, once the first one's actions were applied: everything still
    /// waiting completes.
    mutating func channelClosed() -> [Action] {
        self.finalState(handshakeError: nil)
    }

    mutating func handlerRemoved() -> [Action] {
        self.finalState(handshakeError: TLSError(.connectionClosed, "the TLS handler was removed"))
    }

    private mutating func finalState(handshakeError: TLSError?) -> [Action] {
        var drainPromises: [Promise] = []
        var actions = self.disarmAll()
        if case .closed(let drain) = self.state {
            drainPromises = drain?.promises ?? []
        } else if let handshakeError {
            actions.append(.failHandshakeFuture(handshakeError))
        }
        let waiting = self.waitingPromises
        self.state = .closed(drain: nil)
        return [.succeed(drainPromises)] + actions + [
            .fail(waiting.writes, ChannelError.ioOnClosedChannel), .succeed(waiting.closes),
        ]
    }

    /// The promises still waiting in the current state: the buffered writes' and the closes' waiting for the
    /// peer's close_notify.
    private var waitingPromises: (writes: [Promise], closes: [Promise]) {
        switch self.state {
        case .idle(let pending), .handshaking(let pending): (pending.writes.compactMap(\.promise), [])
        case .closing(let promises): ([], promises)
        case .active, .closed: ([], [])
        }
    }
}
