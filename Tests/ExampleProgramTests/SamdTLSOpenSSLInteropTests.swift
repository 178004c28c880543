// `samd-tls connect` against the `openssl s_server` tool: its exit status and output. (s_server sends only
// the first certificate of -cert; -cert_chain adds the intermediate.)

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("samd-tls connect against openssl s_server")
struct SamdTLSOpenSSLInteropTests {
    @Test func connectAgainstOpenSSLServer() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let server = try await OpenSSLServer.start(
            openssl,
            [
                "-cert", pki.cert("server"), "-cert_chain", pki.cert("server"), "-key", pki.key("server"), "-CAfile",
                pki.root,
                "-Verify", "1", "-verify_return_error", "-tls1_3", "-rev", "-naccept", "1",
            ])
        defer { server.child.kill() }

        let result = try await samdTLS(
            SamdTLSCLITests.clientArguments(pki, "127.0.0.1:\(server.port)", as: "device"),
            stdin: Data("interop\n".utf8)
        )
        #expect(result.status == 0, "\(result)")
        // -rev answers each line reversed.
        #expect(result.output.contains("poretni"), "\(result.output)")
        #expect(result.standardError.contains("(TLSv1.3, TLS_"), "\(result.standardError)")
        // s_server saw and verified the device certificate.
        #expect(
            await server.child.wait(timeout: .seconds(10)) {
                (server.child.standardError.text + server.child.standardOutput.text).contains("device-0001")
            },
            "\(server.child.standardOutput.text)\n\(server.child.standardError.text)"
        )
    }

    @Test func connectRefusedByOpenSSLServerExits77() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        // s_server requires a certificate from "otherRoot": the device's is refused.
        let server = try await OpenSSLServer.start(
            openssl,
            [
                "-cert", pki.cert("server"), "-cert_chain", pki.cert("server"), "-key", pki.key("server"), "-CAfile",
                pki.files.otherRootCA,
                "-Verify", "1", "-verify_return_error", "-tls1_3", "-rev", "-naccept", "1",
            ])
        defer { server.child.kill() }
        let result = try await samdTLS(
            SamdTLSCLITests.clientArguments(pki, "127.0.0.1:\(server.port)", as: "device"),
            stdin: Data("interop\n".utf8)
        )
        #expect(result.status == 77, "\(result)")
        #expect(result.standardOutput.isEmpty)
    }
}
