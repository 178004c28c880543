// The gateway the interop tests (openssl, curl, Python's ssl, sslyze, raw sockets) connect to: SaMDTLS in
// this process — a TLSServer on 127.0.0.1, port 0, with the gateway configuration over a PKIDirectory's files,
// echoing what each client sends — its security events recorded for the test to read.

import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport

/// An in-process mutual-TLS echo gateway over a ``PKIDirectory``.
enum EchoGateway {
    /// `.gatewayServer` with the PKI's server identity and its root as the client trust root (TLS 1.3 only,
    /// client certificates required), checking client chains against the CRL files `crls` (PEM) when given.
    static func configuration(_ pki: PKIDirectory, crls: [String] = []) -> TLSConfiguration {
        var configuration = TLSConfiguration.gatewayServer(
            identity: .files(certificateChain: pki.cert("server"), privateKey: pki.key("server")),
            clientTrustRoots: .file(pki.root)
        )
        configuration.certificateRevocationLists = crls.map { .file($0) }
        return configuration
    }

    /// Runs an echo server for `configuration` (AsyncLoopbackTests.withEchoServer) and calls `body` with its
    /// port and the record of the server's security events (`samd.tls.*`); stops the server when `body`
    /// returns.
    static func run<Result: Sendable>(
        _ configuration: TLSConfiguration,
        _ body: @Sendable (_ port: Int, _ events: RecordingLogHandler) async throws -> Result
    ) async throws -> Result {
        let events = RecordingLogHandler()
        return try await AsyncLoopbackTests.withEchoServer(configuration, logger: events) { port in
            try await body(port, events)
        }
    }
}
