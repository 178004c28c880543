import NIOCore

extension TLSHandlerStateMachine {
    /// What OpenSSL answered to a handshake, read or write step, as the state machine needs it.
    enum Step {
        /// The operation completed.
        case done
        /// OpenSSL waits for more bytes from the network.
        case needMoreInput
        /// The peer's close_notify was read.
        case closeNotify
        /// The connection failed; OpenSSL's fatal alert, if any, waits in its output.
        case failed(TLSError)
    }

    /// A security event to log (``TLSEvents``).
    enum LogEvent {
        case handshakeSucceeded(TLSConnectionInfo)
        /// `afterHandshake`: TLS 1.3, the peer refused our certificate after our side of the handshake ended.
        case handshakeFailed(TLSError, afterHandshake: Bool)
        case connectionFailed(TLSError)
        case uncleanShutdown
        case maximumAgeReached
        case idleTimeoutReached
    }

    /// What the handler must do, in the order returned. Actions marked "then report" ask the handler for an
    /// OpenSSL call whose result it hands back through the event named.
    enum Action {
        /// Create the connection's `SSL`; then report ``connectionCreated(now:)`` or ``handshakeFailed(_:alertRecord:)``.
        case createConnection
        /// Call `SSL_do_handshake`; then report ``handshakeStepped(_:)``.
        case driveHandshake
        /// Read the negotiated parameters and verified peer; then report ``handshakeVerified(_:)`` or
        /// ``handshakeFailed(_:alertRecord:)``.
        case verifyHandshake
        /// Hand each write made during the handshake back to ``write(_:promise:now:)``, in order, then report
        /// ``flush()`` (writes or a flush were made during the handshake).
        case writeBuffered([(buffer: ByteBuffer, promise: Promise?)])
        /// Report ``handshakeConfirmed(_:now:)`` (after the buffered writes went out).
        case confirmHandshake(TLSConnectionInfo)
        /// Succeed the handshake's future and fire ``TLSUserEvent/handshakeCompleted(_:)``.
        case completeHandshake(TLSConnectionInfo)
        /// Fail the handshake's future (no other effect).
        case failHandshakeFuture(TLSError)
        /// Hand bytes from the network to OpenSSL.
        case receive(ByteBuffer)
        /// Decrypt and fire on what has arrived; then report ``plaintextRead(_:halfClosureAllowed:)``.
        case readPlaintext
        /// Mark the end of the network input, decrypt and fire on what is complete; then report
        /// ``endOfInputRead(_:halfClosureAllowed:)``.
        case readToEndOfInput
        /// Encrypt `buffer` and write the records; a failure is reported as ``connectionFailed(_:)``.
        case encrypt(ByteBuffer, Promise?)
        /// Write what OpenSSL produced (records, alerts), flushing when `flush`.
        case sendOutput(flush: Bool)
        /// Flush the channel.
        case flush
        /// Ask the channel for more input.
        case read
        /// Call `SSL_shutdown` (close_notify); then report ``closeNotifySent(_:complete:peerSentCloseNotify:sentCloseNotify:now:)``.
        case sendCloseNotify(Promise?)
        /// Call `SSL_shutdown` for a half-closure; then report ``outputCloseNotifySent(_:peerSentCloseNotify:)``.
        case sendCloseNotifyClosingOutput(Promise?)
        /// Write and flush OpenSSL's output (close_notify), then half-close TCP and complete `promise`.
        case halfCloseOutput(Promise?)
        /// Send OpenSSL's fatal alert — or `alertRecord` when OpenSSL has none — then report ``drainStarted(now:)``;
        /// without an alert to send, or on an inactive channel, close the channel instead.
        case sendFatalAlert(alertRecord: [UInt8]?)
        /// Half-close TCP for the drain; a failure is reported as ``halfClosureFailed()``.
        case halfCloseForDrain
        /// Write and flush OpenSSL's pending output, then close the channel (without waiting for the write).
        case closeAfterSendingOutput([Promise])
        /// Close the channel.
        case closeChannel([Promise])
        case succeed([Promise])
        case fail([Promise], any Error)
        case fireError(TLSError)
        /// Fire `ChannelEvent.inputClosed`.
        case fireInputClosed
        case log(LogEvent)
        /// Schedule `timer` at the deadline, replacing any task for it; when it runs, report
        /// ``timerFired(_:now:)``.
        case schedule(TLSHandlerTimers.Timer, NIODeadline)
        case cancel(TLSHandlerTimers.Timer)
    }
}
