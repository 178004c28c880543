// samd-gateway with its TLS server key generated in a SoftHSM2 token (`--key pkcs11:…`), driven by curl.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("samd-gateway with the server key in a PKCS #11 token")
struct GatewayTokenKeyTests {
    static func tokenWithServerKey() async throws -> (
        token: SoftHSMToken, chain: String, work: Harness.TemporaryDirectory
    ) {
        let token = try await SoftHSMToken.create(label: "gateway")
        do {
            try await token.generateKeyPair(label: "gateway-tls", id: "01")
            let work = try Harness.TemporaryDirectory()
            let chain = try await token.issueCertificate(
                forKey: "gateway-tls", by: Harness.pki.pki.intermediate, commonName: "gateway.test",
                subjectAltNames: "DNS:gateway.test,DNS:localhost,IP:127.0.0.1", in: URL(fileURLWithPath: work.path))
            return (token, chain, work)
        } catch {
            token.remove()
            throw error
        }
    }

    @Test("curl stores a record over HTTPS served with the token-held key")
    func curlAgainstTokenHeldServerKey() async throws {
        let curl = try ProgramLocations.requiredTool("curl")
        let (token, chain, work) = try await Self.tokenWithServerKey()
        defer { token.remove() }
        let stores = try Harness.Stores()
        let gateway = try await Harness.GatewayProcess(
            Harness.GatewayProcess.standardArguments(
                stores, server: (cert: chain, key: token.uri(object: "gateway-tls", type: "private"))),
            environment: token.environment.merging(["SAMD_PKCS11_PIN": SoftHSMToken.testPIN]) { $1 })
        defer { gateway.stop() }
        let upload = work.file("reading.json")
        try Data("{\"spo2\":97}".utf8).write(to: URL(fileURLWithPath: upload))
        let pki = Harness.pki
        let put = try await ChildProcess.run(
            curl,
            [
                "--silent", "--show-error", "--max-time", "30", "--cacert", pki.root, "--cert", pki.cert("device"),
                "--key", pki.key("device"), "-X", "PUT", "-H", "Content-Type: application/json", "--data-binary",
                "@" + upload, "-w", "\n%{http_code}", "https://127.0.0.1:\(gateway.port)/records/patient-0042/reading",
            ],
            timeout: .seconds(40))
        #expect(put.status == 0, "\(put)")
        #expect(put.output == "{\"revision\":1}\n201", "\(put)")
        #expect(!gateway.log.contains(SoftHSMToken.testPIN))
    }

    @Test("samd-agent uploads with its device key in the token to a gateway whose key is in the token too")
    func agentAndGatewayBothWithTokenKeys() async throws {
        let (token, chain, work) = try await Self.tokenWithServerKey()
        defer { token.remove() }
        try await token.generateKeyPair(label: "device-tls", id: "02")
        let deviceChain = try await token.issueCertificate(
            forKey: "device-tls", by: Harness.pki.pki.intermediate, commonName: "device-token",
            subjectAltNames: "URI:\(TestPKI.deviceURI)", serverAuth: false, clientAuth: true,
            in: URL(fileURLWithPath: work.path))
        let environment = token.environment.merging(["SAMD_PKCS11_PIN": SoftHSMToken.testPIN]) { $1 }
        let stores = try Harness.Stores()
        let gateway = try await Harness.GatewayProcess(
            Harness.GatewayProcess.standardArguments(
                stores, server: (cert: chain, key: token.uri(object: "gateway-tls", type: "private"))),
            environment: environment)
        defer { gateway.stop() }
        let upload = work.file("reading.json")
        try Data("{\"heart_rate\":61}".utf8).write(to: URL(fileURLWithPath: upload))
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("samd-agent"),
            [
                "--connect", "127.0.0.1:\(gateway.port)", "--cert", deviceChain, "--key",
                token.uri(object: "device-tls", type: "private"), "--ca", Harness.pki.root, "--subject",
                "patient-0042", upload,
            ],
            environment: environment, timeout: .seconds(60))
        #expect(run.status == 0, "\(run)")
        #expect(run.output.hasPrefix("reading.json: 17 bytes, 201 Created, revision 1\n"), "\(run)")
        #expect(!run.standardError.contains(SoftHSMToken.testPIN))
    }

    @Test("a wrong PIN is 69 and nothing is written: the record store is not created")
    func wrongPINIs69AndWritesNothing() async throws {
        let (token, chain, work) = try await Self.tokenWithServerKey()
        defer { token.remove() }
        let stores = try Harness.Stores()
        let freshStore = work.file("records-never-created")
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("samd-gateway"),
            [
                "serve", "--listen", "127.0.0.1:0", "--cert", chain, "--key",
                token.uri(object: "gateway-tls", type: "private"), "--ca", Harness.pki.root, "--store", freshStore,
                "--keystore", stores.keysPath,
            ],
            environment: token.environment.merging([
                "SAMD_PKCS11_PIN": "0000-wrong", "SAMD_PASSPHRASE": Harness.passphrase,
            ]) { $1 },
            timeout: .seconds(30))
        #expect(run.status == 69, "\(run)")
        #expect(run.standardError.contains("pkcs11PINIncorrect"), "\(run)")
        #expect(!run.standardError.contains("0000-wrong"))
        #expect(run.output.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: freshStore))
    }
}
