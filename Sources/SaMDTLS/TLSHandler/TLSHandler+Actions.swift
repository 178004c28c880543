import Logging
import NIOCore

// Applying the state machine's actions: the OpenSSL calls (through SSLConnection) and the channel operations.
extension TLSHandler {
    // MARK: - Actions

    func apply(_ actions: [StateMachine.Action], context: ChannelHandlerContext) {
        for action in actions {
            self.apply(action, context: context)
        }
    }

    private func apply(_ action: StateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .createConnection:
            self.createConnection(context: context)
        case .driveHandshake:
            guard let connection else { return }
            let step = StateMachine.Step(connection.handshake())
            self.apply(self.stateMachine.handshakeStepped(step), context: context)
        case .verifyHandshake:
            self.verifyHandshake(context: context)
        case .writeBuffered(let writes):
            for write in writes {
                let now = context.eventLoop.now
                self.apply(self.stateMachine.write(write.buffer, promise: write.promise, now: now), context: context)
            }
            self.apply(self.stateMachine.flush(), context: context)
        case .confirmHandshake(let info):
            self.apply(self.stateMachine.handshakeConfirmed(info, now: context.eventLoop.now), context: context)
        case .completeHandshake(let info):
            self.handshakePromise?.succeed(info)
            context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(info))
        case .failHandshakeFuture(let error):
            self.handshakePromise?.fail(error)
        case .receive(let buffer):
            guard let connection else { return }
            buffer.withUnsafeReadableBytes { connection.receive($0) }
        case .readPlaintext:
            let step = self.readAvailablePlaintext(context: context)
            let actions = self.stateMachine.plaintextRead(
                step, halfClosureAllowed: self.halfClosureAllowed(step, context))
            self.apply(actions, context: context)
        case .readToEndOfInput:
            guard let connection else { return }
            connection.markEndOfInput()
            let step = self.readAvailablePlaintext(context: context)
            let actions = self.stateMachine.endOfInputRead(
                step, halfClosureAllowed: self.halfClosureAllowed(step, context))
            self.apply(actions, context: context)
        case .encrypt(let buffer, let promise):
            self.encryptAndWrite(context: context, buffer, promise: promise)
        case .sendOutput(let flush):
            self.sendOutput(context: context, flush: flush)
        case .flush:
            context.flush()
        case .read:
            context.read()
        case .sendCloseNotify(let promise):
            guard let connection else {
                context.close(promise: promise)
                return
            }
            var complete = false
            if case .done = connection.shutdown() { complete = true }
            let actions = self.stateMachine.closeNotifySent(
                promise,
                complete: complete,
                peerSentCloseNotify: connection.receivedCloseNotify,
                sentCloseNotify: connection.sentCloseNotify,
                now: context.eventLoop.now
            )
            self.apply(actions, context: context)
        case .sendCloseNotifyClosingOutput(let promise):
            guard let connection else {
                promise?.fail(ChannelError.outputClosed)
                return
            }
            _ = connection.shutdown()
            let actions = self.stateMachine.outputCloseNotifySent(
                promise, peerSentCloseNotify: connection.receivedCloseNotify)
            self.apply(actions, context: context)
        case .halfCloseOutput(let promise):
            if let output = self.connection?.takeOutput(allocator: context.channel.allocator) {
                context.writeAndFlush(Self.wrapOutboundOut(output)).assumeIsolated().whenComplete { _ in
                    context.close(mode: .output, promise: promise)
                }
            } else {
                context.close(mode: .output, promise: promise)
            }
        case .sendFatalAlert(let alertRecord):
            self.sendFatalAlert(context: context, alertRecord: alertRecord)
        case .halfCloseForDrain:
            let halfClosed = context.eventLoop.makePromise(of: Void.self)
            halfClosed.futureResult.assumeIsolated().whenFailure { _ in
                self.apply(self.stateMachine.halfClosureFailed(), context: context)
            }
            context.close(mode: .output, promise: halfClosed)
        case .closeAfterSendingOutput(let promises):
            // The socket writes what it can at once; the close does not wait for that write: a peer that stops
            // reading (a zero TCP window) must not keep a failed or closing connection open.
            if let output = self.connection?.takeOutput(allocator: context.channel.allocator) {
                context.writeAndFlush(Self.wrapOutboundOut(output), promise: nil)
            }
            self.closeChannel(context: context, promises: promises)
        case .closeChannel(let promises):
            self.closeChannel(context: context, promises: promises)
        case .succeed(let promises):
            for promise in promises { promise.succeed(()) }
        case .fail(let promises, let error):
            for promise in promises { promise.fail(error) }
        case .fireError(let error):
            context.fireErrorCaught(error)
        case .fireInputClosed:
            context.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        case .log(let event):
            self.log(event)
        case .schedule(let timer, let deadline):
            self.timerTasks[timer]?.cancel()
            self.timerTasks[timer] = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) {
                self.timerTasks[timer] = nil
                self.apply(self.stateMachine.timerFired(timer, now: context.eventLoop.now), context: context)
            }
        case .cancel(let timer):
            self.timerTasks[timer]?.cancel()
            self.timerTasks[timer] = nil
        }
    }

    private func createConnection(context: ChannelHandlerContext) {
        self.remoteAddress = context.channel.remoteAddress.map(Self.describe)
        do {
            self.connection = try SSLConnection(
                context: self.tlsContext.box, serverName: self.serverName, port: self.port)
        } catch {
            let error = error as? TLSError ?? TLSError(.io, "\(error)")
            self.apply(self.stateMachine.handshakeFailed(error), context: context)
            return
        }
        self.apply(self.stateMachine.connectionCreated(now: context.eventLoop.now), context: context)
    }

    private func verifyHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        let actions: [StateMachine.Action]
        do {
            let info = try connection.establishedInfo()
            actions = self.stateMachine.handshakeVerified(info, now: context.eventLoop.now)
        } catch {
            actions = self.stateMachine.handshakeFailed(error as? TLSError ?? TLSError(.badCertificate, "\(error)"))
        }
        self.apply(actions, context: context)
    }

    /// `ChannelOptions.allowRemoteHalfClosure`, read when reading ended with the peer's close_notify.
    private func halfClosureAllowed(_ step: StateMachine.Step, _ context: ChannelHandlerContext) -> Bool {
        guard case .closeNotify = step else { return false }
        return (try? context.channel.syncOptions?.getOption(.allowRemoteHalfClosure)) == true
    }

    // MARK: - OpenSSL and the channel

    /// Decrypts what has arrived, while the connection is active or closing, and fires it on in buffers of
    /// up to ``readBufferSize`` bytes, each filled with as many records as fit: memory follows the plaintext,
    /// not the number of records (a peer sending one-byte records must not cost 16 KiB per byte).
    /// - Returns: how reading stopped — `.needMoreInput`, `.closeNotify`, `.failed`, or `.done` when the
    ///   state changed during a delivery (the application closed). Plaintext read before a close_notify or a
    ///   failure is delivered first.
    private func readAvailablePlaintext(context: ChannelHandlerContext) -> StateMachine.Step {
        guard let connection else { return .done }
        var plaintext = context.channel.allocator.buffer(capacity: Self.readBufferSize)
        while self.stateMachine.isDeliveringPlaintext {
            if plaintext.writableBytes == 0 {
                context.fireChannelRead(Self.wrapInboundOut(plaintext))
                plaintext = context.channel.allocator.buffer(capacity: Self.readBufferSize)
                continue
            }
            let step = connection.read(into: &plaintext)
            if case .done = step { continue }
            if plaintext.readableBytes > 0 {
                context.fireChannelRead(Self.wrapInboundOut(plaintext))
            }
            return StateMachine.Step(step)
        }
        return .done
    }

    /// Encrypts `buffer` in slices of ``writeSliceSize`` bytes and writes the records; `promise` completes with
    /// the last slice's write.
    private func encryptAndWrite(context: ChannelHandlerContext, _ buffer: ByteBuffer, promise: EventLoopPromise<Void>?)
    {
        guard let connection else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        var remaining = buffer
        repeat {
            let slice = remaining.readSlice(length: min(remaining.readableBytes, Self.writeSliceSize)) ?? remaining
            let step = slice.withUnsafeReadableBytes { connection.write($0) }
            if case .failed(let error) = step {
                promise?.fail(error)
                self.apply(self.stateMachine.connectionFailed(error), context: context)
                return
            }
            let isLast = remaining.readableBytes == 0
            if let output = connection.takeOutput(allocator: context.channel.allocator) {
                context.write(Self.wrapOutboundOut(output), promise: isLast ? promise : nil)
            } else if isLast {
                promise?.succeed(())
            }
            if !isLast && !self.stateMachine.isOutputOpen {
                // Writing a slice closed the connection (a callback of an earlier write closed it).
                promise?.fail(self.stateMachine.closedError)
                return
            }
        } while remaining.readableBytes > 0
    }

    /// Writes whatever OpenSSL has produced (records, alerts) to the network.
    private func sendOutput(context: ChannelHandlerContext, flush: Bool) {
        guard let connection, let output = connection.takeOutput(allocator: context.channel.allocator) else { return }
        context.write(Self.wrapOutboundOut(output), promise: nil)
        if flush { context.flush() }
    }

    /// After a failure: sends the fatal alert OpenSSL produced (or `alertRecord`); on an active channel the
    /// state machine then drains the input (bounded) before closing — a peer still writing then reads the
    /// alert instead of a reset, which would discard it. Without an alert to send, closes at once.
    private func sendFatalAlert(context: ChannelHandlerContext, alertRecord: [UInt8]?) {
        var output = self.connection?.takeOutput(allocator: context.channel.allocator)
        if output == nil, let alertRecord {
            output = context.channel.allocator.buffer(bytes: alertRecord)
        }
        guard let output, context.channel.isActive else {
            if let output { context.writeAndFlush(Self.wrapOutboundOut(output), promise: nil) }
            context.close(promise: nil)
            return
        }
        context.writeAndFlush(Self.wrapOutboundOut(output), promise: nil)
        self.apply(self.stateMachine.drainStarted(now: context.eventLoop.now), context: context)
    }

    /// Closes the channel; every promise completes with the close.
    private func closeChannel(context: ChannelHandlerContext, promises: [EventLoopPromise<Void>]) {
        guard promises.count > 1 else {
            context.close(promise: promises.first)
            return
        }
        let closed = context.eventLoop.makePromise(of: Void.self)
        for promise in promises { closed.futureResult.cascade(to: promise) }
        context.close(promise: closed)
    }

    private func log(_ event: StateMachine.LogEvent) {
        switch event {
        case .handshakeSucceeded(let info):
            TLSEvents.handshakeSucceeded(self.logger, role: self.role, remote: self.remoteAddress, info: info)
        case .handshakeFailed(let error, afterHandshake: false):
            TLSEvents.handshakeFailed(
                self.logger,
                role: self.role,
                remote: self.remoteAddress,
                error: error,
                refusedPeer: self.connection?.refusedPeer
            )
        case .handshakeFailed(let error, afterHandshake: true):
            TLSEvents.handshakeFailed(
                self.logger, role: self.role, remote: self.remoteAddress, error: error, afterHandshake: true)
        case .connectionFailed(let error):
            TLSEvents.connectionFailed(self.logger, role: self.role, remote: self.remoteAddress, error: error)
        case .uncleanShutdown:
            TLSEvents.uncleanShutdown(self.logger, role: self.role, remote: self.remoteAddress)
        case .maximumAgeReached:
            TLSEvents.maximumAgeReached(self.logger, role: self.role, remote: self.remoteAddress)
        case .idleTimeoutReached:
            TLSEvents.idleTimeoutReached(self.logger, role: self.role, remote: self.remoteAddress)
        }
    }
}

extension TLSHandlerStateMachine.Step {
    init(_ step: SSLConnection.Step) {
        switch step {
        case .done: self = .done
        case .needMoreInput: self = .needMoreInput
        case .closeNotify: self = .closeNotify
        case .failed(let error): self = .failed(error)
        }
    }
}
