// samd-gateway and samd-agent refuse to load their own leaf when its keyUsage lacks digitalSignature
// (RFC 5280 §4.2.1.3, RFC 8446 §4.4.2.2): a configuration error (78), before anything listens or connects —
// the ExitStatus mapping of `invalidIdentity` (SaMDExampleSupport), shared with samd-tls.

import Foundation
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("Own leaf without digitalSignature: record service programs")
struct KeyUsageExitTests {
    /// Writes `certificate` into `work` and returns its chain and key paths.
    static func files(_ certificate: TestCertificate, in work: Harness.TemporaryDirectory, as name: String) throws -> (
        String, String
    ) {
        let cert = work.file("\(name).pem")
        let key = work.file("\(name).key")
        try Harness.writePrivate(certificate.chainPEM, to: cert)
        try Harness.writePrivate(certificate.privateKeyPEM, to: key)
        return (cert, key)
    }

    @Test func theGatewayWithAKeyAgreementServerLeafExits78() async throws {
        let stores = try Harness.Stores()
        let work = try Harness.TemporaryDirectory()
        let leaf = try Harness.pki.pki.intermediate.issueLeaf(
            commonName: "gateway.test", sans: TestPKI.serverSANs, ekus: [.serverAuth],
            keyUsage: .critical([.keyAgreement]))
        let (cert, key) = try Self.files(leaf, in: work, as: "keyAgreementServer")
        var arguments = ["serve", "--listen", "127.0.0.1:0"] + Harness.GatewayProcess.standardArguments(stores)
        arguments[arguments.firstIndex(of: "--cert")! + 1] = cert
        arguments[arguments.firstIndex(of: "--key")! + 1] = key
        let result = try await ChildProcess.run(
            try ProgramLocations.binary("samd-gateway"), arguments, environment: ["SAMD_PASSPHRASE": Harness.passphrase]
        )
        #expect(result.status == 78, "\(result)")
        #expect(
            result.standardError.contains("invalidIdentity") && result.standardError.contains("digitalSignature"),
            "\(result)")
    }

    @Test func theAgentWithAKeyAgreementDeviceLeafExits78WithoutConnecting() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let work = try Harness.TemporaryDirectory()
        let leaf = try Harness.pki.pki.intermediate.issueLeaf(
            commonName: "device-0009", sans: [.uri("urn:samd:device:0009")], ekus: [.clientAuth],
            keyUsage: .critical([.keyAgreement]))
        let (cert, key) = try Self.files(leaf, in: work, as: "keyAgreementDevice")
        let path = work.file("patient.json")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: path))
        let arguments = [
            "--connect", "127.0.0.1:\(gateway.port)", "--cert", cert, "--key", key, "--ca", Harness.pki.root,
            "--subject", "patient-0815", path,
        ]
        let result = try await ChildProcess.run(try ProgramLocations.binary("samd-agent"), arguments)
        #expect(result.status == 78, "\(result)")
        #expect(result.standardError.contains("invalidIdentity"), "\(result)")
        #expect(gateway.gateway.statistics.handshakesSucceeded + gateway.gateway.statistics.handshakesFailed == 0)
        await gateway.stop()
    }
}
