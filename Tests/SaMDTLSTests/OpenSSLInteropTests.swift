// The `openssl s_client` tool against the in-process echo gateway (EchoGateway). (s_client sends only the
// first certificate of -cert; -cert_chain adds the intermediate.) `samd-tls connect` against `openssl
// s_server` is tested with the program, in ExampleProgramTests.

import Foundation
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("OpenSSL interop")
struct OpenSSLInteropTests {
    @Test func opensslClientAgainstServe() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        try await EchoGateway.run(EchoGateway.configuration(pki)) { port, events in
            let client = try ChildProcess(
                openssl,
                [
                    "s_client", "-connect", "127.0.0.1:\(port)",
                    "-cert", pki.cert("device"), "-cert_chain", pki.cert("device"), "-key", pki.key("device"),
                    "-CAfile", pki.root,
                    "-verify_return_error", "-verify_ip", "127.0.0.1", "-tls1_3",
                ], standardInput: .open)
            defer { client.kill() }
            let line = "hello from s_client \(UUID().uuidString)\n"
            // s_client sends a line as soon as it reads it; close standard input (s_client then sends
            // close_notify) only once the echo came back.
            #expect(
                await client.waitForStandardOutput(containing: "Verify return code: 0"), "\(client.standardOutput.text)"
            )
            client.send(Data(line.utf8))
            #expect(
                await client.waitForStandardOutput(containing: line),
                "\(client.standardOutput.text)\n\(client.standardError.text)")
            client.closeStandardInput()
            let status = await client.waitForExit(timeout: .seconds(15))
            #expect(status == 0, "\(client.standardError.text)")
            let output = client.standardOutput.text
            #expect(output.contains("Protocol  : TLSv1.3") || output.contains("New, TLSv1.3"), "\(output)")
            #expect(await events.waitForText(containing: "peer=\(TestPKI.deviceURI)"), "\(events.allText)")
            #expect(events.allText.contains("samd.tls.handshake-succeeded"))
        }
    }

    /// TLS 1.2 only when the configuration allows it (`allowsTLS12`, what `samd-tls serve --tls12` sets).
    @Test func tls12OnlyWithTheFlag() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        var lenientConfiguration = EchoGateway.configuration(pki)
        lenientConfiguration.allowsTLS12 = true
        let arguments = { @Sendable (port: Int) in
            [
                "s_client", "-connect", "127.0.0.1:\(port)", "-cert", pki.cert("device"), "-cert_chain",
                pki.cert("device"),
                "-key", pki.key("device"), "-CAfile", pki.root, "-verify_return_error", "-tls1_2",
            ]
        }
        try await EchoGateway.run(EchoGateway.configuration(pki)) { port, strict in
            let refused = try await ChildProcess.run(openssl, arguments(port), timeout: .seconds(15))
            #expect(refused.status != 0, "\(refused)")
            #expect(await strict.waitForText(containing: "error=protocolVersion"), "\(strict.allText)")
        }
        try await EchoGateway.run(lenientConfiguration) { port, lenient in
            let accepted = try await ChildProcess.run(openssl, arguments(port), timeout: .seconds(15))
            #expect(accepted.status == 0, "\(accepted)")
            #expect(accepted.output.contains("Protocol  : TLSv1.2"), "\(accepted.output)")
            #expect(await lenient.waitForText(containing: "tls_version=TLSv1.2"), "\(lenient.allText)")
        }
    }

    @Test func opensslClientWithoutCertificateGetsAlert116() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        try await EchoGateway.run(EchoGateway.configuration(pki)) { port, events in
            let client = try ChildProcess(
                openssl,
                [
                    "s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", pki.root, "-verify_return_error",
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
            #expect(await events.waitForText(containing: "error=certificateRequired"), "\(events.allText)")
        }
    }

    /// Client certificates that SaMDTLS itself would not present (expired, wrong EKU), offered by s_client:
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

    /// `openssl s_client` presents `certificate` (chain) and `key` to the gateway (EchoGateway): it must read
    /// `alert` (e.g. "alert number 43"), nothing is echoed, and the server logs `error=<code>`.
    static func expectGatewayRefuses(certificate: String, key: String, pki: PKIDirectory, code: String, alert: String)
        async throws
    {
        let openssl = try ProgramLocations.requiredTool("openssl")
        try await EchoGateway.run(EchoGateway.configuration(pki)) { port, events in
            let child = try ChildProcess(
                openssl,
                [
                    "s_client", "-connect", "127.0.0.1:\(port)", "-cert", certificate, "-cert_chain", certificate,
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
            #expect(await events.waitForText(containing: "error=\(code)"), "\(events.allText)")
        }
    }
}
