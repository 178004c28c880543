import NIOCore
import Testing

@testable import SaMDTLS

/// The TLS handler's state machine without channels or OpenSSL: each event's returned actions are asserted
/// (written as strings: `fail([1], outputClosed)`, `schedule(handshake, 10s)` — seconds from time zero).
@Suite("TLSHandler state machine")
struct HandlerStateMachineTests {
    typealias Machine = TLSHandlerStateMachine<Int>

    static let zero = NIODeadline.uptimeNanoseconds(0)
    static let info = TLSConnectionInfo(
        protocolVersion: "TLSv1.3", cipherSuite: "TLS_AES_128_GCM_SHA256", applicationProtocol: nil,
        serverName: nil, sessionResumed: false, peer: nil)

    static func at(_ seconds: Int64) -> NIODeadline { Self.zero + .seconds(seconds) }

    static func machine(
        role: TLSConfiguration.Role = .server, idle: Int64? = nil, age: Int64? = nil, drainLimitBytes: Int = 100
    ) -> Machine {
        let timers = TLSHandlerTimers(
            handshakeTimeout: .seconds(10),
            maximumConnectionAge: age.map { .seconds($0) },
            idleTimeout: idle.map { .seconds($0) },
            closeTimeout: .seconds(5)
        )
        return Machine(role: role, timers: timers, drainLimitBytes: drainLimitBytes)
    }

    /// A machine whose handshake started at 0 s; `write` is a write made since, with that promise.
    static func handshaking(write: Int? = nil) -> Machine {
        var machine = Self.machine()
        _ = machine.channelActive()
        _ = machine.connectionCreated(now: Self.zero)
        if let write { _ = machine.write(ByteBuffer(bytes: [1]), promise: write, now: Self.zero) }
        return machine
    }

    /// A machine past the handshake (handshake started at 0 s, its first record read, completed at 1 s).
    static func active(idle: Int64? = nil, age: Int64? = nil) -> Machine {
        var machine = Self.machine(idle: idle, age: age)
        _ = machine.channelActive()
        _ = machine.connectionCreated(now: Self.zero)
        _ = machine.bytesRead(Self.clientHello, peerSentCloseNotify: false, now: Self.zero)
        _ = machine.handshakeStepped(.done)
        _ = machine.handshakeVerified(Self.info, now: Self.at(1))
        _ = machine.handshakeConfirmed(Self.info, now: Self.at(1))
        return machine
    }

    /// A machine that failed after the handshake and drains the peer's bytes (`drainLimitBytes` 100).
    static func draining() -> Machine {
        var machine = Self.active()
        _ = machine.connectionFailed(TLSError(.protocolError, "bad record"))
        _ = machine.drainStarted(now: Self.at(2))
        return machine
    }

    static let clientHello = ByteBuffer(bytes: [22, 3, 1, 0, 5])
    static let record = ByteBuffer(bytes: [23, 3, 3, 0, 1, 0])

    // MARK: - Handshake

    @Test func handshakeStartsOnceWithItsTimer() {
        var machine = Self.machine()
        #expect(render(machine.channelActive()) == ["createConnection"])
        #expect(render(machine.connectionCreated(now: Self.zero)) == ["schedule(handshake, 10s)", "driveHandshake"])
        #expect(render(machine.channelActive()).isEmpty)
        #expect(render(machine.handshakeStepped(.needMoreInput)) == ["sendOutput(flush)", "read"])
        #expect(
            render(machine.bytesRead(Self.clientHello, peerSentCloseNotify: false, now: Self.at(1))) == [
                "receive(5)", "driveHandshake",
            ])
        #expect(
            render(machine.handshakeStepped(.done)) == ["sendOutput(flush)", "cancel(handshake)", "verifyHandshake"])
        #expect(
            render(machine.handshakeVerified(Self.info, now: Self.at(1))) == [
                "log(handshakeSucceeded)", "confirmHandshake",
            ])
        #expect(
            render(machine.handshakeConfirmed(Self.info, now: Self.at(1))) == ["completeHandshake", "readPlaintext"])
        #expect(machine.isOutputOpen && machine.isDeliveringPlaintext)
    }

    @Test func writesAndFlushBeforeTheHandshakeAreBufferedThenSentInOrder() {
        var machine = Self.machine(idle: 30, age: 60)
        #expect(render(machine.write(ByteBuffer(bytes: [1]), promise: 1, now: Self.zero)).isEmpty)
        _ = machine.channelActive()
        _ = machine.connectionCreated(now: Self.zero)
        #expect(render(machine.write(ByteBuffer(bytes: [2, 2]), promise: 2, now: Self.zero)).isEmpty)
        #expect(render(machine.flush()).isEmpty)
        _ = machine.handshakeStepped(.done)
        #expect(
            render(machine.handshakeVerified(Self.info, now: Self.at(2))) == [
                "log(handshakeSucceeded)", "schedule(maximumAge, 62s)", "writeBuffered([\"1:1\", \"2:2\"])",
                "confirmHandshake",
            ])
        #expect(render(machine.write(ByteBuffer(bytes: [1]), promise: 1, now: Self.at(2))) == ["encrypt(1, 1)"])
        #expect(render(machine.flush()) == ["flush"])
        #expect(
            render(machine.handshakeConfirmed(Self.info, now: Self.at(2))) == [
                "schedule(idle, 32s)", "completeHandshake", "readPlaintext",
            ])
    }

    @Test func aFlushAloneDuringTheHandshakeIsMadeAfterIt() {
        var machine = Self.handshaking()
        #expect(render(machine.flush()).isEmpty)
        _ = machine.handshakeStepped(.done)
        #expect(
            render(machine.handshakeVerified(Self.info, now: Self.at(1))) == [
                "log(handshakeSucceeded)", "writeBuffered([])", "confirmHandshake",
            ])
        #expect(render(machine.flush()) == ["flush"])
    }

    @Test func dataBeforeTheHandshakeStartsIsIgnored() {
        var machine = Self.machine()
        #expect(render(machine.bytesRead(Self.clientHello, peerSentCloseNotify: false, now: Self.zero)).isEmpty)
        #expect(render(machine.handshakeStepped(.done)).isEmpty)
        #expect(render(machine.handshakeVerified(Self.info, now: Self.zero)).isEmpty)
    }

    @Test func handshakeFailureSendsTheAlertAndFailsBufferedWrites() {
        var machine = Self.handshaking(write: 7)
        #expect(
            render(machine.handshakeStepped(.failed(TLSError(.badCertificate, "refused")))) == [
                "cancel(handshake)", "log(handshakeFailed badCertificate)", "failHandshakeFuture(badCertificate)",
                "fail([7], badCertificate)", "fireError(badCertificate)", "sendFatalAlert",
            ])
        #expect(render(machine.drainStarted(now: Self.at(1))) == ["schedule(close, 6s)", "halfCloseForDrain", "read"])
        // Failing again, or the peer's close_notify, changes nothing.
        #expect(render(machine.handshakeFailed(TLSError(.io, "again"))).isEmpty)
        #expect(render(machine.connectionFailed(TLSError(.io, "again"))).isEmpty)
        #expect(
            render(machine.write(ByteBuffer(bytes: [1]), promise: 8, now: Self.zero)) == [
                "fail([8], badCertificate)"
            ])
    }

    @Test func peerCloseNotifyDuringTheHandshakeFailsIt() {
        var machine = Self.handshaking()
        #expect(render(machine.handshakeStepped(.closeNotify)).contains("failHandshakeFuture(connectionClosed)"))
        #expect(machine.isClosed)
    }

    @Test func plaintextFirstBytesAreRefusedAsNotTLS() {
        var machine = Self.handshaking()
        let request = ByteBuffer(string: "GET / HTTP/1.1\r\n")
        #expect(
            render(machine.bytesRead(request, peerSentCloseNotify: false, now: Self.zero)) == [
                "cancel(handshake)", "log(handshakeFailed notTLS)", "failHandshakeFuture(notTLS)", "fail([], notTLS)",
                "fireError(notTLS)", "sendFatalAlert",
            ])
    }

    @Test func recordHeaderIsCheckedAcrossReads() {
        var machine = Self.handshaking()
        #expect(
            render(machine.bytesRead(ByteBuffer(bytes: [22]), peerSentCloseNotify: false, now: Self.zero)) == [
                "receive(1)", "driveHandshake",
            ])
        // Minor version 5 is no TLS version (RFC 8446 §5.1).
        let actions = machine.bytesRead(ByteBuffer(bytes: [3, 5]), peerSentCloseNotify: false, now: Self.zero)
        #expect(render(actions).contains("fireError(notTLS)"))
    }

    @Test func sslv2HelloIsAnsweredWithProtocolVersionAlert() {
        var machine = Self.machine(role: .server)
        _ = machine.channelActive()
        _ = machine.connectionCreated(now: Self.zero)
        let actions = machine.bytesRead(ByteBuffer(bytes: [0x80, 0x2e, 1]), peerSentCloseNotify: false, now: Self.zero)
        #expect(render(actions).last == "sendFatalAlert([21, 3, 1, 0, 2, 2, 70])")
        #expect(render(actions).contains("fireError(protocolVersion)"))
        // A client reading a server's alert record as its first bytes is not refused.
        var client = Self.machine(role: .client)
        _ = client.channelActive()
        _ = client.connectionCreated(now: Self.zero)
        #expect(
            render(client.bytesRead(ByteBuffer(bytes: [21, 3, 3]), peerSentCloseNotify: false, now: Self.zero)) == [
                "receive(3)", "driveHandshake",
            ])
    }

    @Test func handshakeTimeoutFailsTheHandshake() {
        var machine = Self.handshaking()
        let actions = machine.timerFired(.handshake, now: Self.at(10))
        #expect(render(actions).contains("failHandshakeFuture(handshakeTimeout)"))
        #expect(machine.failure?.reason.contains("within 10 s") == true)
        #expect(render(machine.timerFired(.handshake, now: Self.at(11))).isEmpty)
    }

    @Test func handshakeTimeoutBelowASecondIsReportedWithItsFraction() {
        let timers = TLSHandlerTimers(
            configuration: {
                var configuration = TLSConfiguration(role: .server)
                configuration.handshakeTimeout = .milliseconds(1_500)
                return configuration
            }())
        #expect(timers.handshakeTimeout == .milliseconds(1_500))
        var machine = Machine(role: .server, timers: timers, drainLimitBytes: 100)
        _ = machine.channelActive()
        #expect(render(machine.connectionCreated(now: Self.at(2))) == ["schedule(handshake, 3s)", "driveHandshake"])
        _ = machine.timerFired(.handshake, now: Self.at(4))
        #expect(machine.failure?.reason == "the handshake did not finish within 1.5 s")
    }

    @Test func closeWhileHandshakingClosesAtOnce() {
        var machine = Self.handshaking(write: 1)
        #expect(
            render(machine.close(promise: 2)) == [
                "cancel(handshake)", "log(handshakeFailed connectionClosed)", "failHandshakeFuture(connectionClosed)",
                "fail([1], I/O on closed channel)", "closeChannel([2])",
            ])
        // The handshake timer's task, already queued, finds the connection closed.
        #expect(render(machine.timerFired(.handshake, now: Self.at(10))).isEmpty)
        #expect(render(machine.handshakeStepped(.done)).isEmpty)
        #expect(render(machine.close(promise: 3)) == ["closeChannel([3])"])
    }

    /// A reset mid-handshake was reported as "closed by the application during the handshake" when a later
    /// handler (the gateway's HTTP handler) closed the channel on the socket error: the reset is now the cause.
    @Test func aSocketErrorDuringTheHandshakeIsTheCauseNotALaterClose() {
        var machine = Self.handshaking(write: 1)
        #expect(
            render(machine.transportFailed("connection reset by peer")) == [
                "cancel(handshake)", "log(handshakeFailed connectionClosed)", "failHandshakeFuture(connectionClosed)",
                "fail([1], connectionClosed)", "fireError(connectionClosed)", "closeChannel([])",
            ])
        #expect(machine.failure?.reason == "the connection failed during the handshake: connection reset by peer")
        // The close that follows the error finds the connection closed.
        #expect(render(machine.close(promise: 2)) == ["closeChannel([2])"])
        // Once the handshake completed, a socket error is the application's to handle.
        var active = Self.active()
        #expect(render(active.transportFailed("connection reset by peer")).isEmpty)
    }

    @Test func closeOutputBeforeTheHandshakeIsRefused() {
        var machine = Self.machine()
        #expect(render(machine.closeOutput(promise: 1)) == ["fail([1], connectionClosed)"])
    }
}

/// Renders actions for assertions; promises are small integers, errors their code or description.
func render(_ actions: [TLSHandlerStateMachine<Int>.Action]) -> [String] {
    actions.map { action in
        switch action {
        case .createConnection: "createConnection"
        case .driveHandshake: "driveHandshake"
        case .verifyHandshake: "verifyHandshake"
        case .writeBuffered(let writes):
            "writeBuffered(\(writes.map { "\($0.promise ?? 0):\($0.buffer.readableBytes)" }))"
        case .confirmHandshake: "confirmHandshake"
        case .completeHandshake: "completeHandshake"
        case .failHandshakeFuture(let error): "failHandshakeFuture(\(error.code))"
        case .receive(let buffer): "receive(\(buffer.readableBytes))"
        case .readPlaintext: "readPlaintext"
        case .readToEndOfInput: "readToEndOfInput"
        case .encrypt(let buffer, let promise): "encrypt(\(buffer.readableBytes), \(promise.map(String.init) ?? "nil"))"
        case .sendOutput(let flush): flush ? "sendOutput(flush)" : "sendOutput"
        case .flush: "flush"
        case .read: "read"
        case .sendCloseNotify(let promise): "sendCloseNotify(\(promise.map(String.init) ?? "nil"))"
        case .sendCloseNotifyClosingOutput(let promise):
            "sendCloseNotifyClosingOutput(\(promise.map(String.init) ?? "nil"))"
        case .halfCloseOutput(let promise): "halfCloseOutput(\(promise.map(String.init) ?? "nil"))"
        case .sendFatalAlert(let record): record.map { "sendFatalAlert(\($0))" } ?? "sendFatalAlert"
        case .halfCloseForDrain: "halfCloseForDrain"
        case .closeAfterSendingOutput(let promises): "closeAfterSendingOutput(\(promises))"
        case .closeChannel(let promises): "closeChannel(\(promises))"
        case .succeed(let promises): "succeed(\(promises))"
        case .fail(let promises, let error): "fail(\(promises), \(describe(error)))"
        case .fireError(let error): "fireError(\(error.code))"
        case .fireInputClosed: "fireInputClosed"
        case .log(.handshakeSucceeded): "log(handshakeSucceeded)"
        case .log(.handshakeFailed(let error, let after)):
            "log(handshakeFailed \(error.code)\(after ? " afterHandshake" : ""))"
        case .log(.connectionFailed(let error)): "log(connectionFailed \(error.code))"
        case .log(.uncleanShutdown): "log(uncleanShutdown)"
        case .log(.maximumAgeReached): "log(maximumAgeReached)"
        case .log(.idleTimeoutReached): "log(idleTimeoutReached)"
        case .schedule(let timer, let deadline):
            "schedule(\(timer), \((deadline - HandlerStateMachineTests.zero).nanoseconds / 1_000_000_000)s)"
        case .cancel(let timer): "cancel(\(timer))"
        }
    }
}

private func describe(_ error: any Error) -> String {
    if let error = error as? TLSError { return "\(error.code)" }
    if let error = error as? ChannelError, error == .outputClosed { return "outputClosed" }
    return "\(error)"
}
