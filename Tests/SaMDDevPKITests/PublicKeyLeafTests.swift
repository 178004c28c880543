// A leaf issued for a public key whose private key the PKI never sees (a key in a token): checked with the openssl
// command, an independent verifier.

import Foundation
import SaMDDevPKI
import SaMDTestSupport
import Testing

@Suite("SaMDDevPKI: a leaf for a given SubjectPublicKeyInfo")
struct PublicKeyLeafTests {
    /// A fresh key made by the openssl command: its private key PEM path and its DER SubjectPublicKeyInfo.
    static func externalKey(_ algorithm: [String], in directory: URL) async throws -> (String, [UInt8]) {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let key = directory.appendingPathComponent("key-\(UUID().uuidString.prefix(8)).pem").path
        let made = try await ChildProcess.run(openssl, ["genpkey"] + algorithm + ["-out", key], timeout: .seconds(30))
        guard made.status == 0 else { throw SetupFailure("openssl genpkey failed: \(made)") }
        let spki = key + ".spki.der"
        let exported = try await ChildProcess.run(
            openssl, ["pkey", "-in", key, "-pubout", "-outform", "DER", "-out", spki], timeout: .seconds(30))
        guard exported.status == 0 else { throw SetupFailure("openssl pkey -pubout failed: \(exported)") }
        return (key, Array(try Data(contentsOf: URL(fileURLWithPath: spki))))
    }

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-spki-leaf-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test(
        "the leaf verifies to the root, carries the given key, and has the profile of today's leaves",
        arguments: [["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], ["-algorithm", "RSA"]])
    func leafForAGivenKey(algorithm: [String]) async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (keyPath, spki) = try await Self.externalKey(algorithm, in: directory)
        let pki = try DevelopmentPKI()
        let leaf = try pki.intermediate.issueLeaf(
            forPublicKey: spki, commonName: "gateway.test", sans: DevelopmentPKI.serverSANs, ekus: [.serverAuth])
        #expect(leaf.privateKeyPEM.isEmpty)
        #expect(leaf.subject == "CN=gateway.test,O=\(DevelopmentPKI.organization)")
        #expect(leaf.chainPEM == leaf.certificatePEM + pki.intermediate.certificate.chainPEM)

        let openssl = try ProgramLocations.requiredTool("openssl")
        let files = try pki.write(to: directory.appendingPathComponent("pki"))
        let leafPath = directory.appendingPathComponent("leaf.pem").path
        try Data(leaf.certificatePEM.utf8).write(to: URL(fileURLWithPath: leafPath))
        let verify = try await ChildProcess.run(
            openssl,
            [
                "verify", "-CAfile", files.rootCA, "-untrusted", files.certificate("intermediate"), "-purpose",
                "sslserver", leafPath,
            ], timeout: .seconds(30))
        #expect(verify.status == 0 && verify.output.contains("OK"), "\(verify)")

        // The certificate's key is the given one: the private key made outside the PKI matches it.
        let matches = try await ChildProcess.run(
            openssl, ["x509", "-in", leafPath, "-noout", "-pubkey"], timeout: .seconds(30))
        let expected = try await ChildProcess.run(openssl, ["pkey", "-in", keyPath, "-pubout"], timeout: .seconds(30))
        #expect(matches.status == 0 && matches.output == expected.output, "\(matches)\n\(expected)")

        let text = try await ChildProcess.run(
            openssl, ["x509", "-in", leafPath, "-noout", "-text"], timeout: .seconds(30))
        #expect(text.output.contains("CA:FALSE"), "\(text)")
        #expect(text.output.contains("TLS Web Server Authentication"), "\(text)")
        #expect(text.output.contains("DNS:gateway.test"), "\(text)")
        let rsa = algorithm.contains("RSA")
        #expect(
            text.output.contains(rsa ? "Digital Signature, Key Encipherment" : "Digital Signature"), "\(text)")
        #expect(text.output.contains("Subject Key Identifier") && text.output.contains("Authority Key Identifier"))
    }

    @Test("what is not one DER SubjectPublicKeyInfo of a DevelopmentKeyType is refused: invalidPublicKey")
    func refusals() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let (_, p256) = try await Self.externalKey(
            ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"], in: directory)
        let (_, p521) = try await Self.externalKey(
            ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"], in: directory)
        let pki = try DevelopmentPKI()
        for (what, spki) in [
            ("garbage", [UInt8](repeating: 0x30, count: 12)),
            ("empty", []),
            ("trailing bytes", p256 + [0x00]),
            ("truncated", Array(p256.dropLast())),
            ("a P-521 key", p521),
            (
                "too long",
                p256 + [UInt8](repeating: 0, count: DevelopmentCertificateAuthority.maximumSubjectPublicKeyInfoBytes)
            ),
        ] {
            #expect(throws: DevelopmentPKIError(.invalidPublicKey, ""), "\(what)") {
                try pki.intermediate.issueLeaf(
                    forPublicKey: spki, commonName: "gateway.test", sans: [], ekus: [.serverAuth])
            }
        }
        #expect(throws: DevelopmentPKIError(.invalidSubjectAlternativeName, "")) {
            try pki.intermediate.issueLeaf(
                forPublicKey: p256, commonName: "gateway.test", sans: [.dns("a,b")], ekus: [.serverAuth])
        }
    }
}
