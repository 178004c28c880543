// curl (OpenSSL backend) against `samd-tls serve`. samd-tls is no HTTP server — it echoes the request back,
// which curl cannot take as a response — so these tests judge the TLS handshake only: curl's verbose log and
// the server's security events.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("curl interop")
struct CurlInteropTests {
    @Test func curlWithClientCertificateCompletesTheHandshake() async throws {
        let curl = try ProgramLocations.requiredTool("curl")
        let pki = try PKIDirectory()
        let server = try await SamdTLSCLITests.gateway(pki)
        defer { server.stop() }

        let result = try await ChildProcess.run(
            curl,
            [
                "-v", "--max-time", "10", "--tlsv1.3",
                "--cert", pki.cert("device"), "--key", pki.key("device"), "--cacert", pki.root,
                "https://127.0.0.1:\(server.port)/",
            ], timeout: .seconds(30))
        #expect(result.status != nil, "curl did not finish")
        #expect(result.standardError.contains("SSL connection using TLSv1.3"), "\(result.standardError)")
        #expect(result.standardError.contains("SSL certificate verify ok"), "\(result.standardError)")
        #expect(await server.waitForLog("samd.tls.handshake-succeeded"), "\(server.log)")
        #expect(server.log.contains("peer=\(TestPKI.deviceURI)"), "\(server.log)")
        #expect(!server.log.contains("samd.tls.handshake-failed"), "\(server.log)")
    }

    @Test func curlWithoutClientCertificateIsRefused() async throws {
        let curl = try ProgramLocations.requiredTool("curl")
        let pki = try PKIDirectory()
        let server = try await SamdTLSCLITests.gateway(pki)
        defer { server.stop() }

        let result = try await ChildProcess.run(
            curl,
            [
                "-v", "--max-time", "10", "--tlsv1.3", "--cacert", pki.root, "https://127.0.0.1:\(server.port)/",
            ], timeout: .seconds(30))
        // 56: failure receiving (TLS 1.3: the refusal arrives after curl's handshake); 35: handshake failure.
        #expect(result.status == 56 || result.status == 35, "\(result)")
        #expect(await server.waitForLog("error=certificateRequired"), "\(server.log)")
        #expect(!server.log.contains("samd.tls.handshake-succeeded"), "\(server.log)")
    }
}
