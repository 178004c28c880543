import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDOpenSSLSupport
import SaMDTestSupport
import Testing

@testable import SaMDKeys

/// KEK custody in a real SoftHSM2 token (in this process), checked from outside with `pkcs11-tool`.
@Suite("PKCS#11 custody: KEKs generated in the token, never leaving it")
struct PKCS11CustodyTests {
    /// SoftHSM2 reads `SOFTHSM2_CONF` once, when this process first initialises it: before any test here does.
    init() { _ = SoftHSMToken.processConfigurationDirectory }

    static func pin(_ text: String = SoftHSMToken.testPIN) throws -> SecureBytes {
        try SecureBytes(copying: Array(text.utf8))
    }

    static func directory() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("samd-p11-store-\(UUID().uuidString)").path
    }

    static func uri(_ token: SoftHSMToken) throws -> PKCS11URI {
        try PKCS11URI(parsing: token.uri(object: "records"))
    }

    @Test("a token store seals and opens with subject keys, rotates, rewraps, destroys, and reopens with the PIN")
    func lifecycle() async throws {
        let token = try await SoftHSMToken.inProcess()
        defer { token.remove() }
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let custody = try PKCS11Custody.create(uri: try Self.uri(token), pin: try Self.pin())
        let store = try FileKeyStore.create(at: directory, custody: custody)

        let key = try store.subjectSealingKey(subject: "patient-0001")
        let context = try EncryptionContext(["subject": "patient-0001"])
        let envelope = try Envelope.seal(Array("a record".utf8), context: context, to: key)
        #expect(try Envelope.open(envelope, context: context, keys: store) == Array("a record".utf8))
        // KEKs never leave the token: no envelope is sealed directly under one.
        #expect(envelopeCode { try store.sealingKey(named: FileKeyStore.defaultKeyName) } == .keyNotUsable)

        _ = try store.rotate(named: FileKeyStore.defaultKeyName)
        let report = try store.rewrapSubjectKeys(named: FileKeyStore.defaultKeyName)
        #expect(report.rewrapped == 1 && report.failed.isEmpty)
        let old = try KeyIdentifier(name: FileKeyStore.defaultKeyName, version: 1)
        _ = try store.destroy(old)

        // Reopened from its record with the PIN alone; the record opens what was sealed.
        let reopened = try FileKeyStore(
            opening: directory, custody: { try PKCS11Custody(opening: $0, pin: try Self.pin()) })
        #expect(try Envelope.open(envelope, context: context, keys: reopened) == Array("a record".utf8))
        #expect(try reopened.list().map(\.identifier.description) == ["records:1", "records:2"])

        // From outside: the live KEK and the store's keys are sensitive and never extractable; records:1 is gone.
        let listing = try await token.pkcs11Tool(["--list-objects", "--type", "secrkey"])
        #expect(listing.status == 0, "\(listing)")
        #expect(listing.output.contains("records:2") && !listing.output.contains("records:1"))
        #expect(listing.output.contains(PKCS11Custody.indexWrapKeyLabel))
        #expect(listing.output.contains(PKCS11Custody.metadataMACKeyLabel))
        for block in listing.output.components(separatedBy: "Secret Key Object").dropFirst() {
            #expect(block.contains("sensitive") && block.contains("never extractable"), "\(block)")
        }
        let read = try await token.pkcs11Tool(["--read-object", "--type", "secrkey", "--label", "records:2"])
        #expect(read.status != 0)
    }

    /// KeyStoreFormat.md's token store, checked from outside SaMDKit: the independent reader parses `keystore.json`
    /// and the subject files (the custody `{type, uri}` with `pkcs11:token=…;id=<16 bytes>?module-path=…`, every
    /// live KEK version's `object` naming its label and the store id, no wrapped KEK, 60-byte wrapped keys) and
    /// writes the version 2 MAC input it derives from the document alone; `pkcs11-tool` has the token's
    /// `samd-metadata-mac` key compute HMAC-SHA-256 over it, which must be the stored `mac`.
    @Test("a token store's documents have the documented shape, and the token's MAC key signs the documented MAC input")
    func documentsMatchTheFormat() async throws {
        let token = try await SoftHSMToken.inProcess()
        defer { token.remove() }
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let custody = try PKCS11Custody.create(uri: try Self.uri(token), pin: try Self.pin())
        let store = try FileKeyStore.create(at: directory, custody: custody)
        _ = try store.subjectSealingKey(subject: "patient-0001")
        _ = try store.rotate(named: FileKeyStore.defaultKeyName)
        _ = try store.rewrapSubjectKeys(named: FileKeyStore.defaultKeyName)
        _ = try store.destroy(try KeyIdentifier(name: FileKeyStore.defaultKeyName, version: 1))

        let reader = try #require(Bundle.module.url(forResource: "keystore_reader", withExtension: "py"))
        let macInput = directory + "/mac-input.bin"
        let read = try await ChildProcess.run(
            try KeyStoreFormatVectorTests.python(), [reader.path, "--token-store", directory, macInput],
            timeout: .seconds(60))
        #expect(read.status == 0, "\(read)")
        let lines = read.output.split(separator: "\n").map(String.init)
        #expect(lines.contains("token \(token.label)"), "\(read.output)")
        #expect(lines.contains("id \(custody.storeID.map { String(format: "%02x", $0) }.joined())"), "\(read.output)")
        #expect(lines.contains("module-path \(SoftHSMToken.modulePath)"), "\(read.output)")
        #expect(lines.contains("keks records:1 records:2") && lines.contains("subjects 1"), "\(read.output)")
        let storedMAC = try #require(lines.first { $0.hasPrefix("mac ") }).dropFirst(4)

        // The token computes HMAC-SHA-256 over the reader's MAC input with the store's samd-metadata-mac key
        // (pkcs11-tool 0.23 cannot be used: it picks the secret key to sign with by CKA_ID alone, and every object
        // of a store carries the store's CKA_ID).
        let session = try PKCS11Token(
            module: try PKCS11Module.load(path: SoftHSMToken.modulePath), label: token.label, pin: try Self.pin())
        let macKey = try session.findSecretKey(label: PKCS11Custody.metadataMACKeyLabel)
        #expect(macKey.id == custody.storeID)
        let code = try session.authenticationCode(
            key: macKey, message: Array(try Data(contentsOf: URL(fileURLWithPath: macInput))))
        #expect(
            code.map { String(format: "%02x", $0) }.joined() == storedMAC,
            "the token's HMAC of the documented MAC input is not the stored mac")
        // Only the MAC key may sign: the KEK version and the index-wrap key are for CKA_ENCRYPT/CKA_DECRYPT alone.
        for label in ["records:2", PKCS11Custody.indexWrapKeyLabel] {
            let key = try session.findSecretKey(label: label)
            #expect(throws: PKCS11Error.self) { _ = try session.authenticationCode(key: key, message: [1, 2, 3]) }
        }
    }

    /// In one process PKCS#11 logins are per application: once a token is logged in, a later `C_Login` answers
    /// `CKR_USER_ALREADY_LOGGED_IN` whatever the PIN. So the wrong PIN is tried first, on a token no one logged in
    /// to (samd-vault's tests try it on a store made by another process).
    @Test("a wrong PIN is PKCS11Error.pinIncorrect, makes nothing in the token, and its text appears in no message")
    func wrongPIN() async throws {
        let token = try await SoftHSMToken.inProcess()
        defer { token.remove() }
        let wrong = "9999-not-the-pin"
        let error = try #require(throws: PKCS11Error.self) {
            _ = try PKCS11Custody.create(uri: try Self.uri(token), pin: try Self.pin(wrong))
        }
        #expect(error.code == .pinIncorrect)
        #expect(!"\(error)".contains(wrong))
        let listing = try await token.pkcs11Tool(["--list-objects", "--type", "secrkey"])
        #expect(listing.status == 0 && !listing.output.contains("samd-"), "\(listing)")
    }

    @Test("an absent token is PKCS11Error.tokenAbsent; a URI without a module path is refused")
    func absentToken() async throws {
        let uri = try PKCS11URI(
            parsing: "pkcs11:token=no-such-token;object=records?module-path=\(SoftHSMToken.modulePath)")
        let error = try #require(throws: PKCS11Error.self) {
            _ = try PKCS11Custody.create(uri: uri, pin: try Self.pin())
        }
        #expect(error.code == .tokenAbsent)
        let noModule = try PKCS11URI(parsing: "pkcs11:token=x;object=records")
        #expect(envelopeCode { _ = try PKCS11Custody.create(uri: noModule, pin: try Self.pin()) } == .keyStore)
    }
}

/// The module a token store records is read before its MAC can be checked (the MAC key is in the token): a
/// `keystore.json` changed to name another library must not make the process load it.
@Suite("PKCS#11 custody: the recorded module is checked before it is loaded")
struct PKCS11ModuleCheckTests {
    init() { _ = SoftHSMToken.processConfigurationDirectory }

    @Test("a module in a directory others can write, or not allowed, is refused and never loaded")
    func untrustedModule() async throws {
        let token = try await SoftHSMToken.inProcess()
        defer { token.remove() }
        let directory = PKCS11CustodyTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try FileKeyStore.create(
            at: directory,
            custody: try PKCS11Custody.create(uri: try PKCS11CustodyTests.uri(token), pin: try PKCS11CustodyTests.pin())
        )

        // A copy of a real module in a world-writable directory, named by the store.
        let planted = FileManager.default.temporaryDirectory.appendingPathComponent("samd-planted-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: planted, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: planted) }
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: planted.path)
        let module = planted.appendingPathComponent("libplanted.so").path
        // The file itself (the module's path is a symbolic link, which copyItem would copy as a link).
        let real = URL(fileURLWithPath: SoftHSMToken.modulePath).resolvingSymlinksInPath().path
        try FileManager.default.copyItem(atPath: real, toPath: module)
        let metadata = directory + "/keystore.json"
        let original = try String(contentsOfFile: metadata, encoding: .utf8)
        let escapedModule = SoftHSMToken.modulePath.replacingOccurrences(of: "/", with: "\\/")
        let changed = original.replacingOccurrences(of: SoftHSMToken.modulePath, with: module)
            .replacingOccurrences(of: escapedModule, with: module.replacingOccurrences(of: "/", with: "\\/"))
        #expect(changed != original)
        try Data(changed.utf8).write(to: URL(fileURLWithPath: metadata))

        let error = try #require(throws: EnvelopeError.self) {
            _ = try FileKeyStore(
                opening: directory, custody: { try PKCS11Custody(opening: $0, pin: try PKCS11CustodyTests.pin()) })
        }
        #expect(error.code == .keyStore && "\(error)".contains("writable by group or others"), "\(error)")
        // A private directory and module of a user other than root (the service's own user, who can write
        // keystore.json): refused as well, before anything is loaded.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: planted.path)
        if geteuid() == 0 {
            _ = chown(planted.path, 65534, 65534)
            _ = chown(module, 65534, 65534)
        }
        let owned = try #require(throws: EnvelopeError.self) {
            _ = try FileKeyStore(
                opening: directory, custody: { try PKCS11Custody(opening: $0, pin: try PKCS11CustodyTests.pin()) })
        }
        #expect(owned.code == .keyStore && "\(owned)".contains("not owned by root"), "\(owned)")
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        #expect(!maps.contains("libplanted.so"))

        // The genuine module, but not in the allowed list given: refused as well.
        try Data(original.utf8).write(to: URL(fileURLWithPath: metadata))
        let refused = try #require(throws: EnvelopeError.self) {
            _ = try FileKeyStore(
                opening: directory,
                custody: {
                    try PKCS11Custody(
                        opening: $0, pin: try PKCS11CustodyTests.pin(), allowedModulePaths: ["/opt/hsm/libvendor.so"])
                })
        }
        #expect("\(refused)".contains("not among the modules allowed"))
        // Allowed: opens.
        _ = try FileKeyStore(
            opening: directory,
            custody: {
                try PKCS11Custody(
                    opening: $0, pin: try PKCS11CustodyTests.pin(), allowedModulePaths: [SoftHSMToken.modulePath])
            })
    }
}

/// The path checked is the path loaded: resolved once, with every directory above it root's, so a symbolic link
/// swapped between the check and `dlopen` (the service's user racing it) is never followed again.
@Suite("PKCS#11 custody: the module checked is the module loaded")
struct PKCS11ModulePathTests {
    @Test(
        "a recorded symbolic link is loaded as the file it resolved to; a directory above the module not root's is refused"
    )
    func resolvedOnce() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-module-path-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let link = base.appendingPathComponent("module-link.so").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: SoftHSMToken.modulePath)
        let real = URL(fileURLWithPath: SoftHSMToken.modulePath).resolvingSymlinksInPath().path
        #expect(try PKCS11Custody.checkModule(link, allowed: nil) == real)
        #expect(try PKCS11Custody.checkModule(SoftHSMToken.modulePath, allowed: nil) == real)

        // A root-owned module in a root-owned directory, under a directory that is not root's: refused.
        let outer = base.appendingPathComponent("outer")
        let inner = outer.appendingPathComponent("inner")
        try FileManager.default.createDirectory(at: inner, withIntermediateDirectories: true)
        let module = inner.appendingPathComponent("libcopy.so").path
        try FileManager.default.copyItem(atPath: real, toPath: module)
        for path in [outer.path, inner.path] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
        if geteuid() == 0 { _ = chown(outer.path, 65534, 65534) }
        let error = try #require(throws: EnvelopeError.self) { _ = try PKCS11Custody.checkModule(module, allowed: nil) }
        #expect("\(error)".contains("not owned by root"), "\(error)")
        if geteuid() == 0 { #expect("\(error)".contains(outer.path + "\" is not owned"), "\(error)") }
    }
}

/// Someone with the PIN could put a key whose value they know in place of a store object (same label and id): the
/// custody uses only objects generated in the token, sensitive and never extractable.
@Suite("PKCS#11 custody: an object not generated in the token is refused")
struct PKCS11ObjectCheckTests {
    init() { _ = SoftHSMToken.processConfigurationDirectory }

    @Test("a KEK replaced by an imported key of the same label and id is refused, and nothing is wrapped under it")
    func importedKEKRefused() async throws {
        let token = try await SoftHSMToken.inProcess()
        defer { token.remove() }
        let directory = PKCS11CustodyTests.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let custody = try PKCS11Custody.create(
            uri: try PKCS11CustodyTests.uri(token), pin: try PKCS11CustodyTests.pin())
        let store = try FileKeyStore.create(at: directory, custody: custody)
        _ = try store.subjectSealingKey(subject: "alice")
        _ = try store.rotate(named: FileKeyStore.defaultKeyName)
        _ = try store.rewrapSubjectKeys(named: FileKeyStore.defaultKeyName)

        // records:2 destroyed and a known value imported under its label and the store's id.
        let genuine = try custody.token.findSecretKey(label: "records:2", id: custody.storeID)
        try custody.token.destroyObject(genuine)
        let known = FileManager.default.temporaryDirectory.appendingPathComponent("samd-known-\(UUID().uuidString)")
        try Data(repeating: 0x42, count: 32).write(to: known)
        defer { try? FileManager.default.removeItem(at: known) }
        let id = custody.storeID.map { String(format: "%02x", $0) }.joined()
        let written = try await token.pkcs11Tool([
            "--write-object", known.path, "--type", "secrkey", "--key-type", "AES:32", "--label", "records:2", "--id",
            id,
        ])
        #expect(written.status == 0, "\(written)")

        // A new instance (no handle known yet) refuses it: a new subject's key is not wrapped under it.
        let reopened = try FileKeyStore(
            opening: directory, custody: { try PKCS11Custody(opening: $0, pin: try PKCS11CustodyTests.pin()) })
        let error = try #require(throws: EnvelopeError.self) { _ = try reopened.subjectSealingKey(subject: "bob") }
        #expect(error.code == .keyStore && "\(error)".contains("not generated in the token"), "\(error)")
        let bob = "s-" + (try reopened.subjectIndex(of: "bob"))
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/subjects/\(bob).json"))
    }
}
