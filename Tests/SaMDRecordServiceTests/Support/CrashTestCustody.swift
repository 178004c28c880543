// The KEK custodies the SIGKILL tests (RotationCrashTests, RekeyCrashTests) run with: one parameterised test each,
// not a copy. The token custody's key store is made and opened in this process through the SoftHSM2 module it
// loads (a token in `SoftHSMToken.processConfigurationDirectory`), and by `samd-gateway rotate` in child processes,
// which get that configuration and the PIN in their environment.

import Foundation
import Logging
import SaMDCrypto
import SaMDKeys
import SaMDOpenSSLSupport
import SaMDTestSupport
import Testing

/// Where a crash test's key store keeps its KEKs.
enum CrashTestCustody: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// `PassphraseCustody`: KEKs wrapped under a passphrase (a cheap Argon2id).
    case passphrase
    /// `PKCS11Custody`: KEKs generated in a SoftHSM2 token.
    case token

    var testDescription: String { self.rawValue }

    /// Makes a key store of this custody at `path` (and its token, for `.token`) in this process; returns how to
    /// open it again and the store made.
    func makeKeyStore(at path: String) async throws -> (CrashTestKeyStore, FileKeyStore) {
        switch self {
        case .passphrase:
            let keys = CrashTestKeyStore(path: path, token: nil)
            let store = try FileKeyStore.create(
                at: path, passphrase: try CrashTestKeyStore.passphraseBytes(),
                kdf: Argon2id.Parameters(iterations: 1, memoryByteCount: 64 << 10), logger: Harness.quiet)
            return (keys, store)
        case .token:
            // SoftHSM2 reads SOFTHSM2_CONF once, when this process first loads it: set before that.
            _ = SoftHSMToken.processConfigurationDirectory
            let token = try await SoftHSMToken.inProcess(label: "crash")
            let keys = CrashTestKeyStore(path: path, token: token)
            let custody = try PKCS11Custody.create(
                uri: try PKCS11URI(parsing: token.uri(object: FileKeyStore.defaultKeyName)),
                pin: try CrashTestKeyStore.pinBytes())
            return (keys, try FileKeyStore.create(at: path, custody: custody, logger: Harness.quiet))
        }
    }
}

/// A crash test's key store: how this process opens it, and the environment a `samd-gateway rotate` child needs.
/// Removes its token when released (unless it is a copy's).
final class CrashTestKeyStore: Sendable {
    static let passphrase = "rotation crash test passphrase"

    let path: String
    let token: SoftHSMToken?
    private let ownsToken: Bool

    init(path: String, token: SoftHSMToken?, ownsToken: Bool = true) {
        self.path = path
        self.token = token
        self.ownsToken = ownsToken
    }

    deinit {
        if self.ownsToken { self.token?.remove() }
    }

    static func passphraseBytes() throws -> SecureBytes { try SecureBytes(copying: Array(Self.passphrase.utf8)) }
    static func pinBytes() throws -> SecureBytes { try SecureBytes(copying: Array(SoftHSMToken.testPIN.utf8)) }

    /// Opens the store with its custody, as a fresh process view would.
    func open() throws -> FileKeyStore {
        if self.token != nil {
            return try FileKeyStore(
                opening: self.path, custody: { try PKCS11Custody(opening: $0, pin: try Self.pinBytes()) },
                logger: Harness.quiet)
        }
        return try FileKeyStore(opening: self.path, passphrase: try Self.passphraseBytes(), logger: Harness.quiet)
    }

    /// A copy of the store's directory at `other`, opened the same way (the same token, which the copy does not
    /// remove: keep this store alive as long as the copy).
    func copy(to other: String) throws -> CrashTestKeyStore {
        try FileManager.default.copyItem(atPath: self.path, toPath: other)
        return CrashTestKeyStore(path: other, token: self.token, ownsToken: false)
    }

    /// What a `samd-gateway rotate` child opens the store with: SAMD_PASSPHRASE, or the token's SOFTHSM2_CONF and
    /// SAMD_PKCS11_PIN.
    var environment: [String: String] {
        if let token = self.token {
            return token.environment.merging(["SAMD_PKCS11_PIN": SoftHSMToken.testPIN]) { $1 }
        }
        return ["SAMD_PASSPHRASE": Self.passphrase]
    }
}
