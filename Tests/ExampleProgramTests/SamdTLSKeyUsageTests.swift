// samd-tls and a leaf whose keyUsage forbids signing (RFC 5280 §4.2.1.3, RFC 8446 §4.4.2.2): as its own
// identity it is a configuration error (78) before any connection; presented by a server it is refused (77),
// where the `openssl` tool accepts it (openssl/openssl#12721).

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

/// The refusals of SaMDTLSTests' KeyUsageTests in real handshakes, as a user of samd-tls meets them.
@Suite("Leaf key usage: samd-tls")
struct SamdTLSKeyUsageTests {
    @Test func serveWithAServerLeafThatMayNotSignExits78() async throws {
        let pki = try PKIDirectory()
        let files = try pki.write(try pki.keyAgreementLeaves().server, as: "keyAgreementServer")
        let result = try await samdTLS([
            "serve", "--listen", "127.0.0.1:0", "--cert", files.cert, "--key", files.key, "--client-ca", pki.root,
        ])
        #expect(result.status == 78, "\(result)")
        #expect(
            result.standardError.contains("invalidIdentity") && result.standardError.contains("digitalSignature"),
            "\(result)")
    }

    @Test func connectWithAClientLeafThatMayNotSignExits78BeforeConnecting() async throws {
        let pki = try PKIDirectory()
        let server = try await SamdTLSCLITests.gateway(pki)
        defer { server.stop() }
        let files = try pki.write(try pki.keyAgreementLeaves().device, as: "keyAgreementDevice")
        let result = try await samdTLS(
            ["connect", server.endpoint, "--ca", pki.root, "--cert", files.cert, "--key", files.key],
            stdin: Data("knock\n".utf8))
        #expect(result.status == 78, "\(result)")
        #expect(result.standardError.contains("invalidIdentity"), "\(result.standardError)")
        #expect(!server.log.contains("samd.tls.handshake"), "a connection was made: \(server.log)")
    }

    /// OpenSSL itself does not check keyUsage in TLS (openssl/openssl#12721): `openssl s_client` verifies a
    /// server leaf that may only agree keys ("Verify return code: 0"), and `openssl s_server` accepts such a
    /// client leaf; samd-tls connect refuses the same server (77, unsupportedCertificate).
    @Test func openSSLAcceptsWhatSaMDTLSRefuses() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let leaves = try pki.keyAgreementLeaves()
        let serverFiles = try pki.write(leaves.server, as: "keyAgreementServer")
        let deviceFiles = try pki.write(leaves.device, as: "keyAgreementDevice")
        let server = try await OpenSSLServer.start(
            openssl,
            [
                "-cert", serverFiles.cert, "-cert_chain", serverFiles.cert, "-key", serverFiles.key, "-CAfile",
                pki.root,
                "-Verify", "1", "-verify_return_error", "-tls1_3", "-rev", "-naccept", "2",
            ])
        defer { server.child.kill() }

        // 1. OpenSSL on both sides: the client verifies the server, the server verifies the client, data flows.
        let opensslClient = try await ChildProcess.run(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-cert", deviceFiles.cert, "-cert_chain",
                deviceFiles.cert,
                "-key", deviceFiles.key, "-CAfile", pki.root, "-verify_return_error", "-verify_hostname",
                "gateway.test",
                "-tls1_3", "-ign_eof",
            ], stdin: Data("interop\n".utf8), timeout: .seconds(20))
        #expect(opensslClient.output.contains("Verify return code: 0 (ok)"), "\(opensslClient)")
        #expect(opensslClient.output.contains("poretni"), "s_server did not answer: \(opensslClient)")

        // 2. samd-tls against the same server: refused, typed.
        let result = try await samdTLS(
            ["connect", "127.0.0.1:\(server.port)", "--server-name", "gateway.test"]
                + ["--ca", pki.root, "--cert", pki.cert("device"), "--key", pki.key("device")],
            stdin: Data("interop\n".utf8))
        #expect(result.status == 77, "\(result)")
        #expect(result.standardError.contains("unsupportedCertificate"), "\(result.standardError)")
        #expect(result.standardOutput.isEmpty)
    }
}
