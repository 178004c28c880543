// Every refusal reaches the peer as an alert: an SSLv2-format ClientHello is answered like `openssl s_server`
// answers it; after a fatal alert a peer that is still writing reads the alert rather than a reset; the
// security events of protocol errors name the alert that was sent.

import Foundation
import NIOCore
import NIOEmbedded
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("Refusals reach the peer as alerts")
struct AlertTests {
    /// An SSLv2-format CLIENT-HELLO (SSL 2.0 §"Client-Hello"; RFC 6101 Appendix E.2 for its use as a TLS
    /// compatible hello): a 2-byte header with the high bit set, message type 1, version 3.1, one cipher spec,
    /// no session id, a 16-byte challenge.
    static let sslv2ClientHello: [UInt8] = {
        let body: [UInt8] = [1, 3, 1, 0, 3, 0, 0, 0, 16] + [0x00, 0x00, 0x2f] + Array(0..<16)
        return [0x80 | UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
    }()

    /// What a server answers an SSLv2-format ClientHello with, until it closes.
    static func answer(toSSLv2HelloOnPort port: Int) throws -> (data: [UInt8], closed: Bool) {
        let socket = try RawSocket.connect(port: port)
        defer { close(socket) }
        RawSocket.send(socket, bytes: Self.sslv2ClientHello)
        return RawSocket.receiveAll(socket)
    }

    @Test func anSSLv2ClientHelloIsAnsweredWithProtocolVersionLikeOpenSSL() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let reference = try await OpenSSLServer.start(
            openssl,
            [
                "-cert", pki.cert("server"), "-cert_chain", pki.cert("server"), "-key", pki.key("server"), "-tls1_3",
                "-naccept", "1",
            ])
        defer { reference.child.kill() }
        let opensslAnswer = try Self.answer(toSSLv2HelloOnPort: reference.port)

        try await EchoGateway.run(EchoGateway.configuration(pki)) { port, events in
            let ours = try Self.answer(toSSLv2HelloOnPort: port)

            // Fatal protocol_version (70) in a TLS 1.0 alert record, then the connection closes.
            #expect(opensslAnswer.data == [21, 3, 1, 0, 2, 2, 70], "openssl s_server answered \(opensslAnswer.data)")
            #expect(ours.data == opensslAnswer.data, "the gateway answered \(ours.data)")
            #expect(ours.closed)
            #expect(await events.waitForText(containing: "error=protocolVersion"), "\(events.allText)")
            #expect(events.allText.contains("alert=70"), "\(events.allText)")
        }
    }

    @Test func anSSLv2ClientHelloInMemoryFailsTypedWithTheAlert() throws {
        let channel = EmbeddedChannel()
        let recorder = RecordingLogHandler()
        let handler = TLSHandler(
            serverContext: try Fixtures.context(Fixtures.serverConfiguration(), logger: recorder.logger))
        let collector = EmbeddedPair.Collector()
        try channel.pipeline.syncOperations.addHandlers(handler, collector)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        try channel.writeInbound(ByteBuffer(bytes: Self.sslv2ClientHello))
        #expect(collector.tlsErrors.map(\.code) == [.protocolVersion])
        #expect(collector.tlsErrors.first?.alert == 70)
        let sent = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(Array(sent.readableBytesView) == [21, 3, 1, 0, 2, 2, 70])
        #expect(recorder.events("samd.tls.handshake-failed").first?.metadata["alert"] == "70")
    }

    /// A client in the style of most TLS libraries (Python's `ssl` on the system OpenSSL): it completes its
    /// side of the TLS 1.3 handshake, writes 4 MiB, and only then reads. Its certificate is refused (a
    /// self-signed leaf: unknown_ca). It must read the refusal, not a reset: without the drain, the server
    /// closed with the client's data unread, the kernel answered with a reset and the client saw a bare
    /// `SSLEOFError` (5 of 5 attempts) instead of the alert.
    static let keepWritingClient = """
        import socket, ssl, sys
        port, ca, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_verify_locations(ca)
        context.load_cert_chain(cert, key)
        with socket.create_connection(("127.0.0.1", port), timeout=20) as raw:
            with context.wrap_socket(raw, server_hostname="gateway.test") as tls:
                try:
                    tls.sendall(b"x" * (4 << 20))
                    tls.recv(1)
                    print("OUTCOME accepted")
                except ssl.SSLError as error:
                    print("OUTCOME", error.reason, type(error).__name__)
                except OSError as error:
                    print("OUTCOME", type(error).__name__)
        """

    @Test func aRefusedClientThatKeepsWritingReadsTheAlertNotAReset() async throws {
        let python = try ProgramLocations.requiredTool("python3")
        let pki = try PKIDirectory()
        let rogue = try TestCertificateAuthority.makeRoot(commonName: "rogue device")
        let cert = try pki.write("rogue.pem", rogue.certificate.certificatePEM)
        let key = try pki.write("rogue.key", rogue.certificate.privateKeyPEM)
        try await EchoGateway.run(EchoGateway.configuration(pki)) { port, events in
            var outcomes: [String: Int] = [:]
            for _ in 1...5 {
                let result = try await ChildProcess.run(
                    python, ["-c", Self.keepWritingClient, "\(port)", pki.root, cert, key], timeout: .seconds(60))
                let outcome =
                    result.output.split(separator: "\n").first { $0.hasPrefix("OUTCOME") }.map(String.init)
                    ?? "\(result)"
                outcomes[outcome, default: 0] += 1
            }
            #expect(outcomes == ["OUTCOME TLSV1_ALERT_UNKNOWN_CA SSLError": 5], "\(outcomes)")
            #expect(await events.waitForText(containing: "error=unknownCA"), "\(events.allText)")
        }
    }

    /// How a raw connection ended.
    enum End: Equatable {
        case eof
        case reset
        case timeout
    }

    /// Sends `bytes` (bounded by a send timeout); returns the errno of a failed send, or 0.
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Int32 {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += sent
        }
        return 0
    }

    /// Everything received, and how the connection ended (the receive timeout of ``RawSocket`` bounds it).
    static func receiveUntilEnd(_ fd: Int32) -> (data: [UInt8], end: End) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.count < 1 << 20 {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += buffer.prefix(count)
            } else if count == 0 {
                return (received, .eof)
            } else if errno != EINTR {
                return (received, errno == ECONNRESET ? .reset : .timeout)
            }
        }
        return (received, .timeout)
    }

    /// A client that sends a malformed ClientHello followed by 2 MiB it is still writing when the server
    /// refuses: every byte is accepted (the server drains), and the client reads the fatal alert and then the
    /// server's FIN. Without the drain, the server closes with unread input, the kernel answers with a reset,
    /// and the client's send fails or its read ends in ECONNRESET.
    @Test func aClientStillWritingAfterAFatalAlertGetsTheAlertAndAFinNotAReset() async throws {
        let pki = try PKIDirectory()
        try await EchoGateway.run(EchoGateway.configuration(pki)) { port, events in
            let socket = try RawSocket.connect(port: port, receiveTimeout: 20)
            defer { close(socket) }
            let malformedHello: [UInt8] = [22, 3, 1, 0, 8, 1, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef]
            let sendError = Self.sendAll(socket, malformedHello + [UInt8](repeating: 0x42, count: 2 << 20))
            #expect(sendError == 0, "the client's write failed with errno \(sendError)")
            shutdown(socket, Int32(SHUT_WR))
            let (data, end) = Self.receiveUntilEnd(socket)
            #expect(end == .eof, "the connection ended with \(end) after \(data)")
            #expect(
                data.count == 7 && data.first == 21 && data.dropFirst(5).first == 2,
                "not one fatal alert record: \(data)")
            let alert = data.last.map { "alert=\($0)" } ?? "?"
            #expect(await events.waitForText(containing: alert), "\(events.allText)")
        }
    }

    // MARK: - Events name the alert that was sent

    // An application-data record that does not authenticate: NegativeMatrixTests
    // .aProtocolFailureAfterTheHandshakeIsLogged checks that its event names bad_record_mac (20).

    @Test func aMalformedClientHelloEventNamesTheAlertSent() throws {
        let channel = EmbeddedChannel()
        let recorder = RecordingLogHandler()
        let handler = TLSHandler(
            serverContext: try Fixtures.context(Fixtures.serverConfiguration(), logger: recorder.logger))
        try channel.pipeline.syncOperations.addHandlers(handler, EmbeddedPair.Collector())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        // A handshake record holding a ClientHello whose body is 4 bytes of nonsense: decode_error (50).
        try channel.writeInbound(ByteBuffer(bytes: [22, 3, 1, 0, 8, 1, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef]))
        let failure = try #require(recorder.events("samd.tls.handshake-failed").first)
        let sent = try #require(try channel.readOutbound(as: ByteBuffer.self))
        // The alert record's last byte is its description: the event names exactly that one.
        #expect(failure.metadata["alert"] == "\(sent.readableBytesView.last ?? 0)", "\(failure.metadata)")
        #expect(sent.readableBytesView.first == 21)
        #expect(failure.metadata["alert"] != nil)
    }
}
