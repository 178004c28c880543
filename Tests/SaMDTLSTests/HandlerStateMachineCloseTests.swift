import NIOCore
import Testing

@testable import SaMDTLS

/// The state machine once the handshake completed: writes, closes, the peer's close_notify and EOF, timers,
/// failures and the drain after a fatal alert.
extension HandlerStateMachineTests {
    /// A machine that sent close_notify at 3 s for a close with promise 1, and waits for the peer's.
    static func closing() -> Machine {
        var machine = Self.active()
        _ = machine.close(promise: 1)
        _ = machine.closeNotifySent(
            1, complete: false, peerSentCloseNotify: false, sentCloseNotify: true, now: Self.at(3))
        return machine
    }

    // MARK: - Writes and closes

    @Test func closeSendsCloseNotifyAndWaitsBoundedForThePeers() {
        var machine = Self.active(idle: 30, age: 60)
        #expect(render(machine.close(promise: 1)) == ["cancel(maximumAge)", "cancel(idle)", "sendCloseNotify(1)"])
        #expect(
            render(
                machine.closeNotifySent(
                    1, complete: false, peerSentCloseNotify: false, sentCloseNotify: true, now: Self.at(3))
            ) == ["sendOutput(flush)", "schedule(close, 8s)"])
        #expect(!machine.isOutputOpen && machine.isDeliveringPlaintext)
        // Data the peer still sends is delivered; writes are refused; a second close waits for the same end.
        #expect(
            render(machine.bytesRead(Self.record, peerSentCloseNotify: false, now: Self.at(4))) == [
                "receive(6)", "readPlaintext",
            ])
        #expect(
            render(machine.write(ByteBuffer(bytes: [1]), promise: 2, now: Self.at(4))) == [
                "fail([2], I/O on closed channel)"
            ])
        #expect(render(machine.close(promise: 3)).isEmpty)
        #expect(render(machine.flush()) == ["flush"])
        // Timers cancelled before they ran do nothing.
        #expect(render(machine.timerFired(.idle, now: Self.at(40))).isEmpty)
        #expect(render(machine.timerFired(.close, now: Self.at(8))) == ["closeAfterSendingOutput([1, 3])"])
        #expect(machine.isClosed)
        #expect(render(machine.timerFired(.close, now: Self.at(9))).isEmpty)
        #expect(render(machine.close(promise: 4)) == ["closeChannel([4])"])
    }

    @Test func peersCloseNotifyEndsTheClosing() {
        var machine = Self.closing()
        #expect(
            render(machine.plaintextRead(.closeNotify, halfClosureAllowed: false)) == [
                "sendOutput(flush)", "cancel(close)", "closeAfterSendingOutput([1])",
            ])
        #expect(machine.isClosed)
    }

    @Test func closeCompletesAtOnceWhenThePeerHadClosed() {
        var machine = Self.active()
        _ = machine.close(promise: 1)
        #expect(
            render(
                machine.closeNotifySent(
                    1, complete: true, peerSentCloseNotify: true, sentCloseNotify: true, now: Self.at(3))
            ) == ["closeAfterSendingOutput([1])"])
        #expect(render(machine.timerFired(.close, now: Self.at(8))).isEmpty)
    }

    @Test func closeOutputHalfClosesThenRefusesWrites() {
        var machine = Self.active()
        #expect(render(machine.closeOutput(promise: 1)) == ["sendCloseNotifyClosingOutput(1)"])
        #expect(render(machine.outputCloseNotifySent(1, peerSentCloseNotify: false)) == ["halfCloseOutput(1)"])
        #expect(
            render(machine.write(ByteBuffer(bytes: [1]), promise: 2, now: Self.at(2))) == [
                "fail([2], outputClosed)"
            ])
        #expect(render(machine.closeOutput(promise: 3)) == ["fail([3], outputClosed)"])
        // The peer may go on sending; its close_notify then ends both directions.
        #expect(
            render(machine.bytesRead(Self.record, peerSentCloseNotify: false, now: Self.at(2))) == [
                "receive(6)", "readPlaintext",
            ])
        #expect(
            render(machine.plaintextRead(.closeNotify, halfClosureAllowed: true)) == [
                "sendOutput(flush)", "closeChannel([])",
            ])
    }

    @Test func closeOutputAfterThePeersCloseNotifyCloses() {
        var machine = Self.active(idle: 30)
        _ = machine.closeOutput(promise: 1)
        #expect(
            render(machine.outputCloseNotifySent(1, peerSentCloseNotify: true)) == [
                "cancel(idle)", "closeAfterSendingOutput([1])",
            ])
    }

    // MARK: - The peer's close_notify and EOF

    @Test func peersCloseNotifyWithHalfClosureIsReportedOnce() {
        var machine = Self.active()
        #expect(
            render(machine.plaintextRead(.closeNotify, halfClosureAllowed: true)) == [
                "sendOutput(flush)", "fireInputClosed",
            ])
        // Data after the peer's close_notify is ignored; the TCP FIN that follows is not reported again.
        #expect(render(machine.bytesRead(Self.record, peerSentCloseNotify: true, now: Self.at(2))).isEmpty)
        #expect(render(machine.inputClosed(peerSentCloseNotify: true)).isEmpty)
        #expect(render(machine.write(ByteBuffer(bytes: [1]), promise: 1, now: Self.at(2))) == ["encrypt(1, 1)"])
    }

    @Test func peersCloseNotifyWithoutHalfClosureIsAnswered() {
        var machine = Self.active(idle: 30)
        #expect(
            render(machine.plaintextRead(.closeNotify, halfClosureAllowed: false)) == [
                "sendOutput(flush)", "cancel(idle)", "sendCloseNotify(nil)",
            ])
        #expect(
            render(
                machine.closeNotifySent(
                    nil, complete: true, peerSentCloseNotify: true, sentCloseNotify: true, now: Self.at(2))
            ) == ["closeAfterSendingOutput([])"])
    }

    @Test func eofWithoutCloseNotifyIsAnUncleanShutdown() {
        var machine = Self.active()
        #expect(render(machine.inputClosed(peerSentCloseNotify: false)) == ["readToEndOfInput"])
        #expect(
            render(machine.endOfInputRead(.needMoreInput, halfClosureAllowed: false)) == [
                "log(uncleanShutdown)", "fail([], uncleanShutdown)", "fireError(uncleanShutdown)", "sendFatalAlert",
                "fail([], uncleanShutdown)",
            ])
        #expect(machine.failure?.code == .uncleanShutdown)
    }

    @Test func eofWhileClosingIsNoTruncation() {
        var machine = Self.closing()
        #expect(render(machine.inputClosed(peerSentCloseNotify: false)) == ["readToEndOfInput"])
        #expect(
            render(machine.endOfInputRead(.needMoreInput, halfClosureAllowed: false)) == [
                "cancel(close)", "closeAfterSendingOutput([1])",
            ])
    }

    @Test func eofDuringTheHandshakeFailsIt() {
        var machine = Self.handshaking()
        #expect(render(machine.inputClosed(peerSentCloseNotify: false)).contains("fireError(connectionClosed)"))
        #expect(render(machine.channelInactive(peerSentCloseNotify: false)).isEmpty)
    }

    @Test func channelInactiveEndsEverythingStillWaiting() {
        var active = Self.active()
        #expect(render(active.channelInactive(peerSentCloseNotify: false)) == ["readToEndOfInput"])
        var machine = Self.closing()
        #expect(render(machine.channelInactive(peerSentCloseNotify: false)).isEmpty)
        #expect(
            render(machine.channelClosed()) == [
                "succeed([])", "cancel(close)", "fail([], I/O on closed channel)", "succeed([1])",
            ])
        #expect(machine.isClosed)
    }

    @Test func handlerRemovedDuringTheHandshakeFailsItAndItsWrites() {
        var machine = Self.handshaking(write: 1)
        #expect(
            render(machine.handlerRemoved()) == [
                "succeed([])", "cancel(handshake)", "failHandshakeFuture(connectionClosed)",
                "fail([1], I/O on closed channel)", "succeed([])",
            ])
    }

    // MARK: - Timers

    @Test func idleTimerClosesOnlyAfterAQuietPeriod() {
        var machine = Self.active(idle: 30)
        _ = machine.write(ByteBuffer(bytes: [1]), promise: nil, now: Self.at(20))
        #expect(render(machine.timerFired(.idle, now: Self.at(31))) == ["schedule(idle, 50s)"])
        #expect(
            render(machine.timerFired(.idle, now: Self.at(50))) == [
                "log(idleTimeoutReached)", "sendCloseNotify(nil)",
            ])
    }

    @Test func maximumAgeClosesWithCloseNotify() {
        var machine = Self.active(idle: 30, age: 60)
        #expect(
            render(machine.timerFired(.maximumAge, now: Self.at(61))) == [
                "log(maximumAgeReached)", "cancel(idle)", "sendCloseNotify(nil)",
            ])
        #expect(render(machine.timerFired(.maximumAge, now: Self.at(62))).isEmpty)
    }

    // MARK: - Failures and the drain

    @Test func failureWhileClosingFailsTheClosePromisesAfterTheAlert() {
        var machine = Self.closing()
        #expect(
            render(machine.plaintextRead(.failed(TLSError(.peerAlert, "bad")), halfClosureAllowed: false)) == [
                "cancel(close)", "log(connectionFailed peerAlert)", "fail([], peerAlert)",
                "fireError(peerAlert)", "sendFatalAlert", "fail([1], peerAlert)",
            ])
    }

    @Test func certificateRefusedAfterTheHandshakeIsLoggedAsAFailedHandshake() {
        var machine = Self.active()
        let actions = machine.plaintextRead(.failed(TLSError(.unknownCA, "refused")), halfClosureAllowed: false)
        #expect(render(actions).contains("log(handshakeFailed unknownCA afterHandshake)"))
    }

    @Test func drainDropsBoundedBytesThenCloses() {
        var machine = Self.draining()
        #expect(machine.isDraining)
        #expect(
            render(machine.bytesRead(ByteBuffer(repeating: 0, count: 60), peerSentCloseNotify: false, now: Self.at(3)))
                == [
                    "read"
                ])
        #expect(render(machine.close(promise: 1)).isEmpty)
        #expect(
            render(machine.write(ByteBuffer(bytes: [1]), promise: 2, now: Self.at(3))) == [
                "fail([2], protocolError)"
            ])
        #expect(
            render(machine.bytesRead(ByteBuffer(repeating: 0, count: 40), peerSentCloseNotify: false, now: Self.at(3)))
                == [
                    "cancel(close)", "closeChannel([1])",
                ])
        #expect(!machine.isDraining)
    }

    @Test func drainEndsOnItsTimerOrThePeersFinOrAFailedHalfClosure() {
        var byTimer = Self.draining()
        _ = byTimer.close(promise: 1)
        #expect(render(byTimer.timerFired(.close, now: Self.at(7))) == ["closeChannel([1])"])
        var byFin = Self.draining()
        #expect(render(byFin.inputClosed(peerSentCloseNotify: false)) == ["cancel(close)", "closeChannel([])"])
        var byHalfClosure = Self.draining()
        #expect(render(byHalfClosure.halfClosureFailed()) == ["cancel(close)", "closeChannel([])"])
        #expect(render(byHalfClosure.halfClosureFailed()).isEmpty)
        var byInactive = Self.draining()
        _ = byInactive.close(promise: 2)
        #expect(
            render(byInactive.channelClosed()) == [
                "succeed([2])", "cancel(close)", "fail([], I/O on closed channel)", "succeed([])",
            ])
    }

    @Test func handshakeConfirmationFailsWhenABufferedWriteEndedTheConnection() {
        var machine = Self.handshaking()
        _ = machine.handshakeStepped(.done)
        _ = machine.handshakeVerified(Self.info, now: Self.at(1))
        _ = machine.connectionFailed(TLSError(.io, "SSL_write failed"))
        #expect(render(machine.handshakeConfirmed(Self.info, now: Self.at(1))) == ["failHandshakeFuture(io)"])
    }
}
