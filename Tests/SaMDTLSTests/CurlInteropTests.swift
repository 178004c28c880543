// curl (OpenSSL backend) against the in-process echo gateway (EchoGateway). It is no HTTP server — it echoes
// the request back, which curl cannot take as a response — so these tests judge the TLS handshake only: curl's
// verbose log and the server's security events. (HTTPCompositionTests puts an HTTP server behind TLSHandler.)

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("curl interop")
struct CurlInteropTests {
    @Test func curlWithClientCertificateCompletesTheHandshake() async throws {
        let curl = try ProgramLocations.requiredTool("curl")
        let pki = try PKIDirectory()
        try await EchoGateway.run(EchoGateway.configuration(pki)) { port, events in
            let result = try await ChildProcess.run(
                curl,
                [
                    "-v", "--max-time", "10", "--tlsv1.3",
                    "--cert", pki.cert("device"), "--key", pki.key("device"), "--cacert", pki.root,
                    "https://127.0.0.1:\(port)/",
                ], timeout: .seconds(30))
            #expect(result.status != nil, "curl did not finish")
            #expect(result.standardError.contains("SSL connection using TLSv1.3"), "\(result.standardError)")
            #expect(result.standardError.contains("SSL certificate verify ok"), "\(result.standardError)")
            #expect(await events.waitForText(containing: "samd.tls.handshake-succeeded"), "\(events.allText)")
            #expect(events.allText.contains("peer=\(TestPKI.deviceURI)"), "\(events.allText)")
            #expect(!events.allText.contains("samd.tls.handshake-failed"), "\(events.allText)")
        }
    }

    @Test func curlWithoutClientCertificateIsRefused() async throws {
        let curl = try ProgramLocations.requiredTool("curl")
        let pki = try PKIDirectory()
        try await EchoGateway.run(EchoGateway.configuration(pki)) { port, events in
            let result = try await ChildProcess.run(
                curl,
                [
                    "-v", "--max-time", "10", "--tlsv1.3", "--cacert", pki.root, "https://127.0.0.1:\(port)/",
                ], timeout: .seconds(30))
            // 56: failure receiving (TLS 1.3: the refusal arrives after curl's handshake); 35: handshake failure.
            #expect(result.status == 56 || result.status == 35, "\(result)")
            #expect(await events.waitForText(containing: "error=certificateRequired"), "\(events.allText)")
            #expect(!events.allText.contains("samd.tls.handshake-succeeded"), "\(events.allText)")
        }
    }
}
