import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

/// `--key-passphrase-file` for encrypted private keys, and what `--allow-peer` refuses to guess.
@Suite("samd-tls encrypted keys and allow-list values")
struct SamdTLSKeyPassphraseTests {
    /// Writes the device's key encrypted under `passphrase`, and a 0600 passphrase file holding `given`.
    static func encryptedDevice(_ pki: PKIDirectory, passphrase: String, given: String, mode: Int = 0o600) throws -> (
        key: String, passphraseFile: String
    ) {
        let key = try pki.write("device-encrypted.key", pki.pki.device.encryptedPrivateKeyPEM(passphrase: passphrase))
        let file = try pki.write("passphrase-\(UUID().uuidString)", given + "\n")
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        return (key, file)
    }

    static func connect(_ pki: PKIDirectory, _ server: ServeProcess, key: String, passphraseFile: String) async throws
        -> ChildProcess.Run
    {
        try await samdTLS(
            [
                "connect", server.endpoint, "--ca", pki.root, "--cert", pki.cert("device"), "--key", key,
                "--key-passphrase-file", passphraseFile,
            ],
            stdin: Data("sealed\n".utf8)
        )
    }

    @Test func anEncryptedKeyWorksWithItsPassphraseFile() async throws {
        let pki = try PKIDirectory()
        let server = try await SamdTLSCLITests.gateway(pki)
        defer { server.stop() }
        let (key, file) = try Self.encryptedDevice(pki, passphrase: "correct horse", given: "correct horse")
        let result = try await Self.connect(pki, server, key: key, passphraseFile: file)
        #expect(result.status == 0, "\(result)")
        #expect(result.output == "sealed\n")
        #expect(!result.standardError.contains("correct horse"))
    }

    @Test func aWrongPassphraseIs78AndAnExposedPassphraseFileIs66() async throws {
        let pki = try PKIDirectory()
        let server = try await SamdTLSCLITests.gateway(pki)
        defer { server.stop() }
        let wrong = try Self.encryptedDevice(pki, passphrase: "correct horse", given: "battery staple")
        let refused = try await Self.connect(pki, server, key: wrong.key, passphraseFile: wrong.passphraseFile)
        #expect(refused.status == 78, "\(refused)")
        #expect(!refused.standardError.contains("battery staple"))
        let exposed = try Self.encryptedDevice(pki, passphrase: "correct horse", given: "correct horse", mode: 0o644)
        let unread = try await Self.connect(pki, server, key: exposed.key, passphraseFile: exposed.passphraseFile)
        #expect(unread.status == 66, "\(unread)")
    }

    @Test func serveReadsAnEncryptedKeyToo() async throws {
        let pki = try PKIDirectory()
        let key = try pki.write(
            "server-encrypted.key", pki.pki.server.encryptedPrivateKeyPEM(passphrase: "gateway secret"))
        let file = try pki.write("server-passphrase", "gateway secret\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        let server = try await ServeProcess([
            "--cert", pki.cert("server"), "--key", key, "--key-passphrase-file", file, "--client-ca", pki.root,
        ])
        defer { server.stop() }
        let result = try await samdTLS(
            SamdTLSCLITests.clientArguments(pki, server.endpoint, as: "device"), stdin: Data("hi\n".utf8))
        #expect(result.status == 0, "\(result)")
    }

    @Test func anIPAddressIsNotAcceptedAsAnAllowListEntry() async throws {
        let pki = try PKIDirectory()
        for value in ["127.0.0.1", "::1"] {
            let result = try await samdTLS(
                [
                    "serve", "--listen", "127.0.0.1:0", "--cert", pki.cert("server"), "--key", pki.key("server"),
                    "--client-ca", pki.root, "--allow-peer", value,
                ]
            )
            #expect(result.status == 64, "\(value): \(result)")
        }
    }
}
