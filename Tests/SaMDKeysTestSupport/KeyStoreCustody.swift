public import Foundation
public import Logging
public import SaMDCrypto
public import SaMDEnvelope
public import SaMDKeys
import SaMDOpenSSLSupport
public import SaMDTestSupport
public import Testing

/// The custodies a key store's KEKs can be in, for the suites that run against each of them
/// (`@Test(arguments: KeyStoreCustody.allCases)`): the passphrase file and a PKCS#11 token (SoftHSM2, in this
/// process).
///
/// What differs by design: a token's KEKs never leave it, so a token store seals only with subject keys
/// (`sealingKey(named:)` throws `EnvelopeError.Code.keyNotUsable`); see ``exportsKEKs``.
public enum KeyStoreCustody: String, CaseIterable, Sendable, CustomTestStringConvertible {
    /// ``PassphraseCustody`` with ``fastKDF``: KEKs wrapped in `keystore.json` under a passphrase-derived key.
    case passphrase
    /// ``PKCS11Custody`` on a fresh ``SoftHSMToken/inProcess(label:)`` token: KEKs generated in the token.
    case token

    /// The passphrase of every passphrase test store (test-only).
    public static let passphraseText = "correct horse battery staple"
    /// Argon2id parameters cheap enough for tests: 1 pass over 64 KiB.
    public static let fastKDF = Argon2id.Parameters(iterations: 1, memoryByteCount: 64 << 10)

    public var testDescription: String { self.rawValue }

    /// Whether this custody gives KEK material out, so that an envelope can be sealed directly under a KEK
    /// version (`FileKeyStore.sealingKey(named:)`). A token never does.
    public var exportsKEKs: Bool { self == .passphrase }

    /// The key a test seals a record with: the active version of `name` itself where the custody gives KEKs out;
    /// a token's never leave it — `sealingKey(named:)` is refused with `keyNotUsable`, checked here — so there a
    /// subject key (of `subject`) wrapped under that version.
    public func recordSealingKey(
        _ store: FileKeyStore, named name: String = FileKeyStore.defaultKeyName, subject: String = "MRN-record"
    ) throws -> SealingKey {
        guard self.exportsKEKs else {
            #expect(envelopeCode { try store.sealingKey(named: name) } == .keyNotUsable)
            return try store.subjectSealingKey(subject: subject)
        }
        return try store.sealingKey(named: name)
    }

    /// A new custody of this kind, for one key store: a passphrase custody with a new salt, or a new token holding
    /// a new store's keys.
    /// - Throws: `SetupFailure` when SoftHSM2 is not installed; what the custody's `create` throws.
    public func makeCustodian() throws -> KeyStoreCustodian {
        switch self {
        case .passphrase:
            return try KeyStoreCustodian.passphraseCustodian()
        case .token:
            // SoftHSM2 reads SOFTHSM2_CONF once, when this process first initialises the module: set it first.
            _ = SoftHSMToken.processConfigurationDirectory
            let token = try SoftHSMToken.inProcess()
            do {
                let uri = try PKCS11URI(parsing: token.uri(object: FileKeyStore.defaultKeyName))
                let custody = try PKCS11Custody.create(uri: uri, pin: try KeyStoreCustodian.pin())
                return KeyStoreCustodian(kind: .token, custody: custody, token: token)
            } catch {
                token.remove()
                throw error
            }
        }
    }
}

/// One key store's custody, made by ``KeyStoreCustody/makeCustodian()``: creates the store, opens it again as
/// another process would (a new custody from the record the store keeps, with the passphrase or the PIN), and
/// removes the token it made (``remove()``).
public final class KeyStoreCustodian: Sendable {
    /// Which custody.
    public let kind: KeyStoreCustody
    /// The custody the store is created with.
    public let custody: any KEKCustody
    /// The token holding the KEKs, for ``KeyStoreCustody/token``.
    public let token: SoftHSMToken?

    init(kind: KeyStoreCustody, custody: any KEKCustody, token: SoftHSMToken?) {
        self.kind = kind
        self.custody = custody
        self.token = token
    }

    /// A passphrase custody, made without a token (so without `await`).
    public static func passphraseCustodian() throws -> KeyStoreCustodian {
        let custody = try PassphraseCustody.create(
            passphrase: try Self.passphraseBytes(), kdf: KeyStoreCustody.fastKDF)
        return KeyStoreCustodian(kind: .passphrase, custody: custody, token: nil)
    }

    /// ``KeyStoreCustody/passphraseText`` as bytes.
    public static func passphraseBytes() throws -> SecureBytes {
        try SecureBytes(copying: Array(KeyStoreCustody.passphraseText.utf8))
    }

    /// The test tokens' user PIN as bytes.
    public static func pin() throws -> SecureBytes {
        try SecureBytes(copying: Array(SoftHSMToken.testPIN.utf8))
    }

    /// Creates a key store in `directory` with this custody (`FileKeyStore.create(at:custody:…)`).
    public func create(
        at directory: String, cryptoperiod: Duration = FileKeyStore.defaultCryptoperiod,
        lockTimeout: Duration = FileKeyStore.defaultLockTimeout, now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
        subjectKeyCache: SubjectKeyCache.Policy = .default
    ) throws -> FileKeyStore {
        try FileKeyStore.create(
            at: directory, custody: self.custody, cryptoperiod: cryptoperiod, lockTimeout: lockTimeout, now: now,
            logger: logger, subjectKeyCache: subjectKeyCache)
    }

    /// Opens the key store in `directory` as another process would: the custody made again from the record
    /// the store keeps, with the passphrase or the PIN (`FileKeyStore(opening:custody:…)`).
    public func open(
        _ directory: String, lockTimeout: Duration = FileKeyStore.defaultLockTimeout,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws -> FileKeyStore {
        try FileKeyStore(
            opening: directory, custody: { try self.reopenCustody($0) }, lockTimeout: lockTimeout, now: now,
            logger: logger)
    }

    /// The custody a store's `record` names, made again with the passphrase or the PIN.
    public func reopenCustody(_ record: KEKCustodyRecord) throws -> any KEKCustody {
        switch self.kind {
        case .passphrase: try PassphraseCustody(opening: record, passphrase: try Self.passphraseBytes())
        case .token: try PKCS11Custody(opening: record, pin: try Self.pin())
        }
    }

    /// Deletes the token, if this custody made one (the passphrase custody has nothing outside the store).
    public func remove() {
        self.token?.remove()
    }
}
