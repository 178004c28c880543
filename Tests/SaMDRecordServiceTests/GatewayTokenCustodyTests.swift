// samd-gateway over a key store whose KEKs are in a SoftHSM2 token (made by `samd-vault keys init --kek pkcs11:…`),
// with the gateway's TLS server key in the same token: one module, one login, records served over mutual TLS.

import Foundation
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("samd-gateway with its key store's KEKs in a PKCS #11 token")
struct GatewayTokenCustodyTests {
    /// A token holding the gateway's TLS key pair (certified by the test PKI) and a key store made in it by samd-vault.
    final class Setup {
        let token: SoftHSMToken
        let work: Harness.TemporaryDirectory
        let chain: String

        init() async throws {
            let (token, chain, work) = try await GatewayTokenKeyTests.tokenWithServerKey()
            self.token = token
            self.chain = chain
            self.work = work
            let run = try await ChildProcess.run(
                try ProgramLocations.binary("samd-vault"),
                ["keys", "init", "--keystore", self.keysPath, "--kek", token.uri(object: "records")],
                environment: self.environment(), timeout: .seconds(60))
            #expect(run.status == 0, "\(run)")
        }

        deinit { self.token.remove() }

        var keysPath: String { self.work.file("keys") }
        var storePath: String { self.work.file("records") }
        var serverKey: String { self.token.uri(object: "gateway-tls", type: "private") }

        func environment(pin: String = SoftHSMToken.testPIN) -> [String: String] {
            self.token.environment.merging(["SAMD_PKCS11_PIN": pin]) { $1 }
        }

        func serveArguments(key: String? = nil, cert: String? = nil) -> [String] {
            [
                "--cert", cert ?? self.chain, "--key", key ?? self.serverKey, "--client-ca", Harness.pki.root,
                "--store", self.storePath, "--keystore", self.keysPath, "--reader", TestPKI.readerURI,
            ]
        }

        /// Every file under the key store directory with its bytes: what "nothing written" compares.
        func keyStoreFiles() throws -> [String: Data] {
            var files: [String: Data] = [:]
            let enumerator = try #require(FileManager.default.enumerator(atPath: self.keysPath))
            while let relative = enumerator.nextObject() as? String {
                var isDirectory: ObjCBool = false
                let full = self.keysPath + "/" + relative
                if FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory.boolValue {
                    files[relative] = try Data(contentsOf: URL(fileURLWithPath: full))
                }
            }
            return files
        }
    }

    @Test("serve with the TLS key and the KEKs in one token: records stored and read over mTLS, rotated while serving")
    func serveAndRotateWithTheKeyStoreAndTheTLSKeyInOneToken() async throws {
        let setup = try await Setup()
        let gateway = try await Harness.GatewayProcess(setup.serveArguments(), environment: setup.environment())
        defer { gateway.stop() }
        let device = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("device"))
        let reader = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("reader"))
        for index in 0..<6 {
            let put = try await device.put(
                subject: "patient-\(index)", recordID: "r", body: Array("spo2 9\(index)".utf8))
            #expect(put.status == 201, "\(put)")
        }

        // Rotation in another process, beside the serving gateway: records:2 is made in the token.
        let rotation = try await ChildProcess.run(
            try ProgramLocations.binary("samd-gateway"),
            ["rotate", "--store", setup.storePath, "--keystore", setup.keysPath, "--new-version", "--batch-size", "4"],
            environment: setup.environment(), timeout: .seconds(60))
        #expect(rotation.status == 0, "\(rotation)")
        #expect(rotation.output.contains("rotation finished: records:2, 6 subject keys"), "\(rotation)")
        let listing = try await setup.token.pkcs11Tool(["--list-objects", "--type", "secrkey"])
        #expect(listing.output.contains("records:1") && listing.output.contains("records:2"), "\(listing)")

        // The serving gateway reads every record, their subject keys now under records:2, and stores new ones.
        for index in 0..<6 {
            let read = try await reader.get(subject: "patient-\(index)", recordID: "r")
            #expect(read.status == 200, "\(read)")
            #expect(read.body == Array("spo2 9\(index)".utf8))
        }
        #expect(try await device.put(subject: "patient-new", recordID: "r", body: [1]).status == 201)
        await device.close()
        await reader.close()
        #expect(!gateway.log.contains(SoftHSMToken.testPIN))
    }

    @Test("the KEKs in a token and a TLS key file: --pin-file opens the key store; --passphrase-file is 64")
    func pinFileOpensATokenKeyStoreBesideAFileKey() async throws {
        let setup = try await Setup()
        let pinFile = setup.work.file("pin")
        try Data((SoftHSMToken.testPIN + "\n").utf8).write(to: URL(fileURLWithPath: pinFile))
        chmod(pinFile, 0o600)
        let pki = Harness.pki
        let gateway = try await Harness.GatewayProcess(
            setup.serveArguments(key: pki.key("server"), cert: pki.cert("server")) + ["--pin-file", pinFile],
            environment: setup.token.environment)
        defer { gateway.stop() }
        let device = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("device"))
        #expect(try await device.put(subject: "patient-1", recordID: "r", body: [7]).status == 201)
        await device.close()
        gateway.stop()

        let passphraseFile = setup.work.file("passphrase")
        try Data("a passphrase that is not needed\n".utf8).write(to: URL(fileURLWithPath: passphraseFile))
        chmod(passphraseFile, 0o600)
        let rotate = try await ChildProcess.run(
            try ProgramLocations.binary("samd-gateway"),
            [
                "rotate", "--store", setup.storePath, "--keystore", setup.keysPath, "--passphrase-file", passphraseFile,
            ],
            environment: setup.environment(), timeout: .seconds(60))
        #expect(rotate.status == 64, "\(rotate)")
        #expect(rotate.standardError.contains("SAMD_PKCS11_PIN"), "\(rotate)")
        let pin = try await ChildProcess.run(
            try ProgramLocations.binary("samd-gateway"),
            ["rotate", "--store", setup.storePath, "--keystore", setup.keysPath, "--pin", SoftHSMToken.testPIN],
            environment: setup.token.environment, timeout: .seconds(60))
        #expect(pin.status == 64, "\(pin)")
        #expect(!pin.standardError.contains(SoftHSMToken.testPIN), "\(pin)")
    }

    @Test("a wrong PIN or an absent token: serve and rotate exit 69 and write nothing")
    func wrongPINOrAbsentTokenIs69AndWritesNothing() async throws {
        let setup = try await Setup()
        let before = try setup.keyStoreFiles()
        let pki = Harness.pki
        let gatewayBinary = try ProgramLocations.binary("samd-gateway")
        let elsewhere = try await SoftHSMToken.create(label: "another-token")
        defer { elsewhere.remove() }
        let absent = elsewhere.environment.merging(["SAMD_PKCS11_PIN": SoftHSMToken.testPIN]) { $1 }
        for (environment, expected) in [
            (setup.environment(pin: "0000-wrong"), "pinIncorrect"), (absent, "tokenAbsent"),
        ] {
            // A TLS key file, so that the key store is the first thing to log in to the token.
            let serve = try await ChildProcess.run(
                gatewayBinary,
                ["serve", "--listen", "127.0.0.1:0"]
                    + setup.serveArguments(key: pki.key("server"), cert: pki.cert("server")),
                environment: environment, timeout: .seconds(30))
            #expect(serve.status == 69, "\(serve)")
            #expect(serve.standardError.contains(expected), "\(serve)")
            #expect(serve.output.isEmpty, "\(serve)")
            #expect(!FileManager.default.fileExists(atPath: setup.storePath), "the record store was created")

            try FileManager.default.createDirectory(
                atPath: setup.storePath, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            FileManager.default.createFile(atPath: setup.storePath + "/records.sqlite", contents: Data())
            let rotate = try await ChildProcess.run(
                gatewayBinary,
                ["rotate", "--store", setup.storePath, "--keystore", setup.keysPath, "--new-version"],
                environment: environment, timeout: .seconds(30))
            #expect(rotate.status == 69, "\(rotate)")
            #expect(rotate.standardError.contains(expected), "\(rotate)")
            #expect(!rotate.standardError.contains("0000-wrong"))
            #expect(try Data(contentsOf: URL(fileURLWithPath: setup.storePath + "/records.sqlite")).isEmpty)
            try FileManager.default.removeItem(atPath: setup.storePath)
            #expect(try setup.keyStoreFiles() == before, "the key store changed")
        }
        let listing = try await setup.token.pkcs11Tool(["--list-objects", "--type", "secrkey"])
        #expect(listing.output.contains("records:1") && !listing.output.contains("records:2"), "\(listing)")
    }

    @Test("serve --help and rotate --help say how a key store in a token is opened")
    func helpExplainsTokenKeyStores() async throws {
        let gateway = try ProgramLocations.binary("samd-gateway")
        for command in ["serve", "rotate"] {
            let run = try await ChildProcess.run(gateway, [command, "--help"])
            let text = run.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            for needle in ["--pin-file", "PKCS #11 token", "69"] {
                #expect(text.contains(needle), "\(command) --help lacks \(needle): \(text)")
            }
            #expect(!text.contains("--pin <"), "\(command) --help offers --pin")
        }
        let serve = try await ChildProcess.run(gateway, ["serve", "--help"])
        #expect(
            serve.output.split(whereSeparator: \.isWhitespace).joined(separator: " ").contains("SAMD_PKCS11_PIN"),
            "\(serve.output)")
    }

    @Test("--pin-file with a key file: 64 for samd-tls serve, and for samd-gateway serve over a passphrase key store")
    func pinFileWithoutAnyTokenIsAUsageError() async throws {
        let pki = Harness.pki
        let work = try Harness.TemporaryDirectory()
        let pinFile = work.file("pin")
        try Data((SoftHSMToken.testPIN + "\n").utf8).write(to: URL(fileURLWithPath: pinFile))
        chmod(pinFile, 0o600)
        let tls = try await ChildProcess.run(
            try ProgramLocations.binary("samd-tls"),
            [
                "serve", "--listen", "127.0.0.1:0", "--cert", pki.cert("server"), "--key", pki.key("server"),
                "--pin-file", pinFile,
            ],
            timeout: .seconds(30))
        #expect(tls.status == 64, "\(tls)")
        #expect(tls.standardError.contains("--pin-file is for a pkcs11: --key"), "\(tls)")

        let stores = try Harness.Stores()
        let freshStore = work.file("records-never-created")
        let gateway = try await ChildProcess.run(
            try ProgramLocations.binary("samd-gateway"),
            [
                "serve", "--listen", "127.0.0.1:0", "--cert", pki.cert("server"), "--key", pki.key("server"),
                "--client-ca", pki.root, "--store", freshStore, "--keystore", stores.keysPath, "--pin-file", pinFile,
            ],
            environment: ["SAMD_PASSPHRASE": Harness.passphrase], timeout: .seconds(30))
        #expect(gateway.status == 64, "\(gateway)")
        #expect(gateway.standardError.contains("under a passphrase"), "\(gateway)")
        #expect(!FileManager.default.fileExists(atPath: freshStore))
    }
}
