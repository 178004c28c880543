// samd-tls against the `openssl` command-line tool, both directions. (s_client and s_server send only the
// first certificate of -cert; -cert_chain adds the intermediate.)

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("OpenSSL interop")
struct OpenSSLInteropTests {
    @Test func opensslClientAgainstServe() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let server = try await SamdTLSCLITests.gateway(pki)
        defer { server.stop() }

        let client = try ChildProcess(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)",
                "-cert", pki.cert("device"), "-cert_chain", pki.cert("device"), "-key", pki.key("device"), "-CAfile",
                pki.root,
                "-verify_return_error", "-verify_ip", "127.0.0.1", "-tls1_3",
            ], standardInput: .open)
        defer { client.kill() }
        let line = "hello from s_client \(UUID().uuidString)\n"
        // s_client sends a line as soon as it reads it; close standard input (s_client then sends close_notify)
        // only once the echo came back.
        #expect(
            await client.waitForStandardOutput(containing: "Verify return code: 0"), "\(client.standardOutput.text)")
        client.send(Data(line.utf8))
        #expect(
            await client.waitForStandardOutput(containing: line),
            "\(client.standardOutput.text)\n\(client.standardError.text)")
        client.closeStandardInput()
        let status = await client.waitForExit(timeout: .seconds(15))
        #expect(status == 0, "\(client.standardError.text)")
        let output = client.standardOutput.text
        #expect(output.contains("Protocol  : TLSv1.3") || output.contains("New, TLSv1.3"), "\(output)")
        #expect(await server.waitForLog("peer=\(TestPKI.deviceURI)"), "\(server.log)")
        #expect(server.log.contains("samd.tls.handshake-succeeded"))
    }

    @Test func tls12OnlyWithTheFlag() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let strict = try await SamdTLSCLITests.gateway(pki)
        defer { strict.stop() }
        let lenient = try await SamdTLSCLITests.gateway(pki, ["--tls12"])
        defer { lenient.stop() }
        let arguments = { (port: Int) in
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-cert", pki.cert("device"), "-cert_chain",
                pki.cert("device"),
                "-key", pki.key("device"), "-CAfile", pki.root, "-verify_return_error", "-tls1_2",
            ]
        }
        let refused = try await ChildProcess.run(openssl, arguments(strict.port), timeout: .seconds(15))
        #expect(refused.status != 0, "\(refused)")
        #expect(await strict.waitForLog("error=protocolVersion"), "\(strict.log)")

        let accepted = try await ChildProcess.run(openssl, arguments(lenient.port), timeout: .seconds(15))
        #expect(accepted.status == 0, "\(accepted)")
        #expect(accepted.output.contains("Protocol  : TLSv1.2"), "\(accepted.output)")
        #expect(await lenient.waitForLog("tls_version=TLSv1.2"), "\(lenient.log)")
    }

    @Test func opensslClientWithoutCertificateGetsAlert116() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let server = try await SamdTLSCLITests.gateway(pki)
        defer { server.stop() }

        let client = try ChildProcess(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-CAfile", pki.root, "-verify_return_error",
                "-tls1_3",
            ], standardInput: .open)
        defer { client.kill() }
        client.send(Data("anyone there?\n".utf8))
        // In TLS 1.3 the refusal comes after the client's handshake, on its read.
        let refused = await client.wait(timeout: .seconds(15)) {
            let all = client.standardOutput.text + client.standardError.text
            return all.contains("alert number 116") || all.contains("certificate required")
        }
        let all = client.standardOutput.text + client.standardError.text
        #expect(refused, "\(all)")
        #expect(!all.contains("anyone there?"), "data was echoed to a client without a certificate")
        client.closeStandardInput()
        await client.waitForExit(timeout: .seconds(10))
        #expect(await server.waitForLog("error=certificateRequired"), "\(server.log)")
    }

    /// Client certificates that samd-tls itself would not present (expired, wrong EKU), offered by s_client:
    /// the gateway refuses them with the precise alert.
    @Test(arguments: [
        ("expiredDevice", "certificateExpired", "alert number 45"),
        ("wrongPurposeDevice", "unsupportedCertificate", "alert number 43"),
        ("unknownCADevice", "unknownCA", "alert number 48"),
    ])
    func gatewayRefusesBadClientCertificates(client: String, code: String, alert: String) async throws {
        let pki = try PKIDirectory()
        try await Self.expectGatewayRefuses(
            certificate: pki.cert(client), key: pki.key(client), pki: pki, code: code, alert: alert)
    }

    /// `openssl s_client` presents `certificate` (chain) and `key` to `samd-tls serve --client-ca`: it must
    /// read `alert` (e.g. "alert number 43"), nothing is echoed, and the server logs `error=<code>`.
    static func expectGatewayRefuses(certificate: String, key: String, pki: PKIDirectory, code: String, alert: String)
        async throws
    {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let server = try await SamdTLSCLITests.gateway(pki)
        defer { server.stop() }

        let child = try ChildProcess(
            openssl,
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-cert", certificate, "-cert_chain", certificate,
                "-key", key,
                "-CAfile", pki.root, "-verify_return_error", "-tls1_3",
            ], standardInput: .open)
        defer { child.kill() }
        child.send(Data("let me in\n".utf8))
        let refused = await child.wait(timeout: .seconds(15)) {
            (child.standardOutput.text + child.standardError.text).contains(alert)
        }
        let all = child.standardOutput.text + child.standardError.text
        #expect(refused, "\(all)")
        #expect(!all.contains("let me in"), "data was echoed")
        child.closeStandardInput()
        await child.waitForExit(timeout: .seconds(10))
        #expect(await server.waitForLog("error=\(code)"), "\(server.log)")
    }

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
