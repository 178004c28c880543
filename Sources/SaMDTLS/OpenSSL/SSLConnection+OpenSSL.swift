import CSaMDOpenSSL
import CSaMDShims
import NIOCore
import SaMDOpenSSLSupport

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

/// One TLS connection: an OpenSSL `SSL` between two memory BIOs. Bytes from the network go in with
/// ``receive(_:)``; records for the network come out of ``takeOutput(allocator:)``. Not thread-safe: the
/// ``TLSHandler`` drives it from its event loop only.
final class SSLConnection {
    let context: SSLContextBox
    let ssl: OpaquePointer
    private let readBIO: OpaquePointer
    private let writeBIO: OpaquePointer
    /// The name a client expects the server to prove (and sends as SNI when it is a DNS name).
    let serverName: TLSServerName?
    /// Client side: the session-cache key (server name and port).
    let sessionKey: String?

    /// Set by the verify callback: the verified peer, or why it was refused.
    var verifiedPeer: TLSPeerIdentity?
    var verificationFailure: TLSError?
    /// The leaf a verification refused, for the security event.
    var refusedPeer: TLSPeerIdentity?
    /// After a fatal error OpenSSL must not be asked to shut down (it would send nothing useful).
    private(set) var failed = false
    /// The fatal alert this side sent (recorded by the info callback), for the error and its security event.
    fileprivate(set) var sentFatalAlert: UInt8?

    enum Step {
        case done
        case needMoreInput
        case closeNotify
        case failed(TLSError)
    }

    init(context: SSLContextBox, serverName: TLSServerName?, port: Int?) throws {
        self.context = context
        self.serverName = serverName
        if context.configuration.role == .client {
            guard let serverName else {
                throw TLSError(
                    .invalidConfiguration, "a client must name the server it expects (DNS name or IP address)")
            }
            self.sessionKey = context.configuration.sessionResumption ? "\(serverName)|\(port ?? 0)" : nil
        } else {
            self.sessionKey = nil
        }
        OpenSSLErrorQueue.clear()
        guard let ssl = SSL_new(context.pointer) else {
            throw TLSError(.io, "SSL_new failed \(OpenSSLErrorQueue.drainSummary())")
        }
        guard let readBIO = BIO_new(BIO_s_mem()), let writeBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw TLSError(.io, "BIO_new failed")
        }
        // An empty read BIO means "more input may come" (retry), until ``markEndOfInput()``.
        CSaMDShims_BIO_set_mem_eof_return(readBIO, -1)
        SSL_set_bio(ssl, readBIO, writeBIO)
        self.ssl = ssl
        self.readBIO = readBIO
        self.writeBIO = writeBIO
        SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
        SSL_set_info_callback(ssl, alertWrittenCallback)

        if context.configuration.role == .client, let serverName {
            SSL_set_connect_state(ssl)
            guard let parameters = SSL_get0_param(ssl) else { throw TLSError(.io, "no verification parameters") }
            try VerificationParameters.setExpectedName(parameters, serverName)
            if case .dns(let host) = serverName {
                // RFC 6066 §3: SNI carries DNS names only, never IP literals.
                guard CSaMDShims_SSL_set_tlsext_host_name(ssl, host) == 1 else {
                    throw TLSError(
                        .invalidConfiguration, "cannot send \(host) as SNI \(OpenSSLErrorQueue.drainSummary())")
                }
            }
            if let key = self.sessionKey, let session = context.sessionCache.take(for: key) {
                _ = SSL_set_session(ssl, session.pointer)
            }
        } else {
            SSL_set_accept_state(ssl)
        }
    }

    deinit {
        SSL_free(self.ssl) // frees both BIOs
    }

    /// The connection whose `SSL` this is, inside OpenSSL callbacks.
    static func from(_ ssl: OpaquePointer) -> SSLConnection? {
        guard let raw = SSL_get_ex_data(ssl, 0) else { return nil }
        return Unmanaged<SSLConnection>.fromOpaque(raw).takeUnretainedValue()
    }

    // MARK: - Bytes in and out

    /// Hands bytes from the network to OpenSSL.
    func receive(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, Int(Int32.max))
            let written = BIO_write(self.readBIO, bytes.baseAddress! + offset, Int32(chunk))
            guard written > 0 else { return }
            offset += Int(written)
        }
    }

    /// From now on an empty read BIO means the peer closed the connection.
    func markEndOfInput() {
        CSaMDShims_BIO_set_mem_eof_return(self.readBIO, 0)
    }

    /// Bytes received from the network that OpenSSL has not consumed yet.
    var pendingInputCount: Int {
        CSaMDShims_BIO_pending(self.readBIO)
    }

    /// Bytes waiting to go to the network.
    var pendingOutputCount: Int {
        CSaMDShims_BIO_pending(self.writeBIO)
    }

    /// Moves every byte waiting for the network into a new buffer; `nil` when there is none.
    func takeOutput(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = self.pendingOutputCount
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { target in
            let count = BIO_read(self.writeBIO, target.baseAddress, Int32(min(target.count, Int(Int32.max))))
            return max(Int(count), 0)
        }
        return buffer
    }

    // MARK: - TLS operations

    func handshake() -> Step {
        OpenSSLErrorQueue.clear()
        let result = SSL_do_handshake(self.ssl)
        if result == 1 { return .done }
        return self.step(afterFailed: result, duringHandshake: true)
    }

    /// Decrypts application data into `buffer` (up to its writable capacity).
    func read(into buffer: inout ByteBuffer) -> Step {
        OpenSSLErrorQueue.clear()
        var count = 0
        var result: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 0) { target in
            result = SSL_read_ex(self.ssl, target.baseAddress, target.count, &count)
            return result == 1 ? count : 0
        }
        if result == 1 { return .done }
        return self.step(afterFailed: result, duringHandshake: false)
    }

    /// Encrypts `bytes` into records in the write BIO.
    func write(_ bytes: UnsafeRawBufferPointer) -> Step {
        guard bytes.count > 0 else { return .done }
        OpenSSLErrorQueue.clear()
        var written = 0
        let result = SSL_write_ex(self.ssl, bytes.baseAddress, bytes.count, &written)
        if result == 1, written == bytes.count { return .done }
        if result == 1 {
            return .failed(TLSError(.io, "SSL_write wrote \(written) of \(bytes.count) bytes"))
        }
        return self.step(afterFailed: result, duringHandshake: false)
    }

    /// Sends close_notify (first call) or checks whether the peer's has arrived.
    /// - Returns: `.done` once both close_notify alerts were exchanged, `.needMoreInput` while waiting for the
    ///   peer's.
    func shutdown() -> Step {
        guard !self.failed else { return .failed(TLSError(.connectionClosed, "the connection already failed")) }
        OpenSSLErrorQueue.clear()
        let result = SSL_shutdown(self.ssl)
        switch result {
        case 1: return .done
        case 0: return .needMoreInput
        default:
            let error = SSL_get_error(self.ssl, result)
            if error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE {
                return .needMoreInput
            }
            OpenSSLErrorQueue.clear()
            return .needMoreInput
        }
    }

    /// Whether close_notify was received from the peer.
    var receivedCloseNotify: Bool {
        SSL_get_shutdown(self.ssl) & SSL_RECEIVED_SHUTDOWN != 0
    }

    /// Whether close_notify was sent.
    var sentCloseNotify: Bool {
        SSL_get_shutdown(self.ssl) & SSL_SENT_SHUTDOWN != 0
    }

    // MARK: - Errors

    private func step(afterFailed result: Int32, duringHandshake: Bool) -> Step {
        let error = SSL_get_error(self.ssl, result)
        switch error {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            OpenSSLErrorQueue.clear()
            return .needMoreInput
        case SSL_ERROR_ZERO_RETURN:
            OpenSSLErrorQueue.clear()
            return .closeNotify
        default:
            self.failed = true
            return .failed(self.classifyFailure(duringHandshake: duringHandshake, sslError: error))
        }
    }

    /// The typed error for the failure now in the error queue; a local failure carries the fatal alert that
    /// was sent for it, when one was (RFC 8446 §6.2).
    private func classifyFailure(duringHandshake: Bool, sslError: Int32) -> TLSError {
        let error = self.classifyQueuedFailure(duringHandshake: duringHandshake, sslError: sslError)
        guard error.origin == .local, let alert = self.sentFatalAlert, alert != error.alert else { return error }
        return TLSError(error.code, origin: .local, alert: alert, error.reason, file: error.file, line: error.line)
    }

    private func classifyQueuedFailure(duringHandshake: Bool, sslError: Int32) -> TLSError {
        let entries = OpenSSLErrorQueue.drain()
        if let failure = self.verificationFailure {
            return failure
        }
        let reasons = entries.filter { $0.libraryCode == ERR_LIB_SSL }.map(\.reasonCode)
        let detail = entries.map(\.summary).joined(separator: "; ")
        // An alert from the peer is reported by OpenSSL as reason SSL_AD_REASON_OFFSET + alert number.
        if let reason = reasons.first(where: { (SSL_AD_REASON_OFFSET..<(SSL_AD_REASON_OFFSET + 256)).contains($0) }) {
            let alert = UInt8(reason - SSL_AD_REASON_OFFSET)
            let code = TLSError.code(forReceivedAlert: alert)
            var words = "the peer refused the connection with alert \(alert) (\(TLSError.alertName(alert)))"
            if code.isCertificateError {
                words +=
                    duringHandshake ? "" : ": our certificate was refused (TLS 1.3 reports this after the handshake)"
            }
            return TLSError(code, origin: .peer, alert: alert, words)
        }
        for reason in reasons {
            switch reason {
            case SSL_R_UNEXPECTED_EOF_WHILE_READING:
                // OpenSSL 3: EOF without close_notify is SSL_ERROR_SSL with this reason.
                return duringHandshake
                    ? TLSError(.connectionClosed, "the peer closed the connection during the handshake")
                    : TLSError(
                        .uncleanShutdown,
                        "the peer closed the connection without close_notify: the data may be truncated "
                            + "(OpenSSL: SSL_ERROR_SSL, unexpected eof while reading)"
                    )
            // An oversized record (PACKET_LENGTH_TOO_LONG) comes from a broken TLS peer, not a plaintext one: it
            // stays a protocolError. Plaintext peers are caught on their first bytes by the handler.
            case SSL_R_HTTP_REQUEST, SSL_R_HTTPS_PROXY_REQUEST, SSL_R_WRONG_VERSION_NUMBER, SSL_R_UNKNOWN_PROTOCOL:
                return TLSError(.notTLS, "the peer is not speaking TLS (\(detail))")
            case SSL_R_UNSUPPORTED_PROTOCOL, SSL_R_NO_PROTOCOLS_AVAILABLE, SSL_R_VERSION_TOO_LOW,
                SSL_R_VERSION_TOO_HIGH:
                return TLSError(.protocolVersion, "no common TLS version (\(detail))")
            case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
                return TLSError(.certificateRequired, "the client sent no certificate and one is required")
            case SSL_R_CERTIFICATE_VERIFY_FAILED:
                let result = Int32(SSL_get_verify_result(self.ssl))
                return ChainCheck.error(forVerifyResult: result, depth: 0)
            case SSL_R_NO_APPLICATION_PROTOCOL:
                return TLSError(.noApplicationProtocol, "no common ALPN protocol")
            case SSL_R_NO_SHARED_CIPHER, SSL_R_NO_SUITABLE_KEY_SHARE, SSL_R_NO_SHARED_GROUPS,
                SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM, SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
                return TLSError(.handshakeFailure, "no common parameters (\(detail))")
            default:
                continue
            }
        }
        if sslError == SSL_ERROR_SYSCALL || entries.isEmpty {
            return duringHandshake
                ? TLSError(.connectionClosed, "the connection ended during the handshake")
                : TLSError(.uncleanShutdown, "the connection ended without close_notify")
        }
        return TLSError(.protocolError, "TLS protocol failure (\(detail))")
    }

    // MARK: - What was negotiated

    /// The negotiated parameters and the peer's identity. For a resumed session, whose chain is not verified
    /// again, the identity is that of the session's certificate and the peer policy and validity are checked
    /// again here.
    func establishedInfo(now: Date = Date()) throws -> TLSConnectionInfo {
        let resumed = SSL_session_reused(self.ssl) == 1
        var peer = self.verifiedPeer
        if self.context.configuration.verifiesPeer {
            if peer == nil || resumed {
                guard let certificate = SSL_get0_peer_certificate(self.ssl) else {
                    throw TLSError(.certificateRequired, "the peer presented no certificate")
                }
                let leaf = X509Certificate(referencing: certificate)
                // The chain presented in the session's original handshake, so that an open connection can be
                // verified again after a trust change (TLSPeerRevalidationHandler).
                let identity = leaf.peerIdentity(chain: [leaf] + self.presentedIntermediates)
                guard identity.notAfter > now else {
                    throw TLSError(.certificateExpired, "the resumed session's peer certificate has expired")
                }
                guard self.context.configuration.peerPolicy.allows(identity) else {
                    throw TLSError(
                        .peerNotAllowed, "the peer \(identity.displayName) is not on the peer policy's allow-lists")
                }
                peer = identity
            }
        } else {
            peer = nil
        }
        var alpn: String?
        var alpnPointer: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(self.ssl, &alpnPointer, &alpnLength)
        if let alpnPointer, alpnLength > 0 {
            alpn = String(decoding: UnsafeBufferPointer(start: alpnPointer, count: Int(alpnLength)), as: UTF8.self)
        }
        let cipher = SSL_get_current_cipher(self.ssl).flatMap { SSL_CIPHER_standard_name($0) }.map {
            String(cString: $0)
        }
        let sni = SSL_get_servername(self.ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
        return TLSConnectionInfo(
            protocolVersion: String(cString: SSL_get_version(self.ssl)),
            cipherSuite: cipher ?? "unknown",
            applicationProtocol: alpn,
            serverName: sni,
            sessionResumed: resumed,
            peer: peer
        )
    }
}

/// Records each fatal alert this side writes (`SSL_CB_WRITE_ALERT`; `value` is level << 8 | description).
private let alertWrittenCallback: @convention(c) (OpaquePointer?, Int32, Int32) -> Void = { ssl, type, value in
    guard type & SSL_CB_WRITE_ALERT == SSL_CB_WRITE_ALERT, value >> 8 == 2, let ssl,
        let connection = SSLConnection.from(ssl)
    else { return }
    connection.sentFatalAlert = UInt8(truncatingIfNeeded: value & 0xff)
}
