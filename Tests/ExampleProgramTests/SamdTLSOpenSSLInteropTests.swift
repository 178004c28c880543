// `samd-tls connect` against the `openssl s_server` tool: its exit status and output; and `samd-tls serve
// --tls12` against `openssl s_client -tls1_2`. (s_server and s_client send only the first certificate of -cert;
// -cert_chain adds the intermediate.)

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("samd-tls against the openssl tool")
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

    /// `--tls12` sets what SaMDTLSTests' OpenSSLInteropTests.tls12OnlyWithTheFlag checks in the library
    /// (`allowsTLS12`): without it a TLS 1.2 client is refused, with it served over TLS 1.2.
    @Test func serveTakesTLS12OnlyWithTheFlag() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        for (flags, accepted) in [([], false), (["--tls12"], true)] as [([String], Bool)] {
            let server = try await SamdTLSCLITests.gateway(pki, flags)
            defer { server.stop() }
            let client = try await ChildProcess.run(
                openssl,
                ["s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", pki.root, "-verify_return_error"]
                    + ["-cert", pki.cert("device"), "-cert_chain", pki.cert("device"), "-key", pki.key("device")]
                    + ["-tls1_2"],
                timeout: .seconds(15))
            #expect((client.status == 0) == accepted, "\(flags): \(client)")
            let log = accepted ? "tls_version=TLSv1.2" : "error=protocolVersion"
            #expect(await server.waitForLog(log), "\(flags): \(server.log)")
            if accepted { #expect(client.output.contains("Protocol  : TLSv1.2"), "\(client.output)") }
        }
    }
}
