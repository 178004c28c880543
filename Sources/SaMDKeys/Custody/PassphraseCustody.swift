public import SaMDCrypto
public import SaMDEnvelope

/// KEK custody under a passphrase, the embedded default: a root secret derived from the passphrase with
/// Argon2id (RFC 9106, version 0x13; parameters and a 16-byte salt in the record), then with HKDF-SHA-256
/// *Expand* only (RFC 5869 §2.3: no Extract, no salt) a 32-byte wrap key (info `samd-keystore-v1 wrap`)
/// and a 32-byte MAC key (info `samd-keystore-v1 mac`).
///
/// Every KEK version is 32 random bytes kept AES-KWP-wrapped (RFC 5649) under the wrap key in the store's
/// metadata; so is the index key. The metadata is authenticated with HMAC-SHA-256 under the MAC key.
/// Subject keys are wrapped with AES-256-GCM under the KEK material, here in process memory. The derived
/// keys are held in guarded memory (`SecureBytes`) for the custody's lifetime. See <doc:KeyStoreFormat>.
public struct PassphraseCustody: KEKCustody {
    /// The shortest passphrase a new store accepts, in bytes: ``FileKeyStore/minimumNewPassphraseByteCount``.
    public static let minimumNewPassphraseByteCount = 12

    public let record: KEKCustodyRecord
    let wrapKey: SecureBytes
    let macKey: SecureBytes

    /// A custody for a new store: a fresh random salt, and keys derived from `passphrase` with `kdf`.
    /// - Parameters:
    ///   - passphrase: from ``Passphrase``; at least ``minimumNewPassphraseByteCount`` (12) bytes.
    ///   - kdf: the Argon2id cost (`Argon2id.Parameters.moderate` unless tests need speed).
    /// - Throws: `EnvelopeError.Code.keyStore` when the passphrase is too short; `EnvelopeError.Code.crypto`.
    public static func create(passphrase: SecureBytes, kdf: Argon2id.Parameters = .moderate) throws
        -> PassphraseCustody
    {
        guard passphrase.count >= Self.minimumNewPassphraseByteCount else {
            throw EnvelopeError(
                .keyStore,
                "a new key store's passphrase is at least \(Self.minimumNewPassphraseByteCount) bytes (e.g. openssl rand -base64 24)"
            )
        }
        let salt = try cryptoCall { try SecureRandom.bytes(count: Argon2id.saltByteCount) }
        return try PassphraseCustody(
            opening: .passphrase(
                KEKCustodyRecord.PassphraseKDF(
                    algorithm: "argon2id", iterations: kdf.iterations, memoryByteCount: kdf.memoryByteCount,
                    salt: salt)),
            passphrase: passphrase)
    }

    /// The custody a store's record names, with its keys derived from `passphrase`. A wrong passphrase is
    /// found when the store's MAC does not verify.
    /// - Throws: `EnvelopeError.Code.keyStore` for a record that is not a passphrase custody's, an algorithm
    ///   other than `argon2id`, a salt that is not 16 bytes or parameters out of bounds;
    ///   `EnvelopeError.Code.crypto`.
    public init(opening record: KEKCustodyRecord, passphrase: SecureBytes) throws {
        guard let kdf = record.passphraseKDF else {
            throw EnvelopeError(
                .keyStore, "the key store's KEKs are in \(record.type) custody, not under a passphrase")
        }
        try Self.check(kdf)
        guard kdf.algorithm == "argon2id" else {
            throw EnvelopeError(.keyStore, "unknown key-store KDF \(kdf.algorithm)")
        }
        let parameters = Argon2id.Parameters(iterations: kdf.iterations, memoryByteCount: kdf.memoryByteCount)
        (self.wrapKey, self.macKey) = try cryptoCall {
            let root = try Argon2id.deriveKey(passphrase: passphrase, salt: kdf.salt, parameters: parameters)
            let wrap = try HKDF.expand(
                hash: .sha256, pseudoRandomKey: root, info: Array("samd-keystore-v1 wrap".utf8), outputByteCount: 32)
            let mac = try HKDF.expand(
                hash: .sha256, pseudoRandomKey: root, info: Array("samd-keystore-v1 mac".utf8), outputByteCount: 32)
            return (wrap, mac)
        }
        self.record = record
    }

    /// A custody with keys given, for the fuzz targets and tests: no derivation.
    init(record: KEKCustodyRecord, wrapKey: SecureBytes, macKey: SecureBytes) {
        self.record = record
        self.wrapKey = wrapKey
        self.macKey = macKey
    }

    /// Bounds a record read from a store file before any derivation: a 16-byte salt, and Argon2id costs
    /// within `Argon2id.Parameters.validate()` (a hostile cost must not commit memory).
    /// - Throws: `EnvelopeError.Code.keyStore`.
    static func check(_ kdf: KEKCustodyRecord.PassphraseKDF) throws {
        guard kdf.salt.count == Argon2id.saltByteCount else {
            throw EnvelopeError(.keyStore, "the key store's KDF salt is not \(Argon2id.saltByteCount) bytes")
        }
        do {
            try Argon2id.Parameters(iterations: kdf.iterations, memoryByteCount: kdf.memoryByteCount).validate()
        } catch let error as CryptoError {
            throw EnvelopeError(.keyStore, "the key store's KDF parameters are out of bounds", underlying: error)
        }
    }

    public func generateKEK(_ identifier: KeyIdentifier) throws -> KEKReference {
        let material = try cryptoCall { try SecureBytes(randomByteCount: 32) }
        return .wrappedMaterial(try self.wrapStoreSecret(material))
    }

    public func destroyKEK(_ identifier: KeyIdentifier, _ reference: KEKReference) throws {
        // The material exists only wrapped in the store's metadata, which no longer holds it.
    }

    public func exportKEK(_ identifier: KeyIdentifier, _ reference: KEKReference) throws -> SecureBytes {
        try self.unwrap(reference, identifier)
    }

    public func wrapSubjectKey(
        _ subjectKey: SecureBytes, underKEK identifier: KeyIdentifier, _ reference: KEKReference,
        associatedData: [UInt8]
    ) throws -> [UInt8] {
        let kek = try self.unwrap(reference, identifier)
        return try cryptoCall { try AEADKeyWrap.wrap(subjectKey, using: kek, associatedData: associatedData) }
    }

    public func unwrapSubjectKey(
        _ wrapped: [UInt8], underKEK identifier: KeyIdentifier, _ reference: KEKReference, associatedData: [UInt8]
    ) throws -> SecureBytes {
        let kek = try self.unwrap(reference, identifier)
        do {
            return try AEADKeyWrap.unwrap(wrapped, using: kek, associatedData: associatedData)
        } catch let error as CryptoError where error.code == .authenticationFailed {
            throw EnvelopeError(.keyStore, "the wrapped subject key does not authenticate", underlying: error)
        } catch let error as CryptoError {
            throw EnvelopeError(.crypto, error.reason, underlying: error)
        }
    }

    public func wrapStoreSecret(_ secret: SecureBytes) throws -> [UInt8] {
        try cryptoCall { try AESKeyWrap.wrapWithPadding(secret, using: self.wrapKey) }
    }

    public func unwrapStoreSecret(_ wrapped: [UInt8]) throws -> SecureBytes {
        try self.unwrap(wrapped, what: "index key")
    }

    public func authenticationCode(for message: [UInt8]) throws -> [UInt8] {
        try cryptoCall { try DigestAlgorithm.sha256.authenticationCode(for: message, key: self.macKey) }
    }

    public func isValidAuthenticationCode(_ code: [UInt8], for message: [UInt8]) throws -> Bool {
        let expected = try cryptoCall { try SecureBytes(copying: try self.authenticationCode(for: message)) }
        return expected.constantTimeEquals(code)
    }

    private func unwrap(_ reference: KEKReference, _ identifier: KeyIdentifier) throws -> SecureBytes {
        guard let wrapped = reference.wrappedMaterial else {
            throw EnvelopeError(.keyStore, "\(identifier) is a token object, not material under a passphrase")
        }
        return try self.unwrap(wrapped, what: "\(identifier)")
    }

    private func unwrap(_ wrapped: [UInt8], what: String) throws -> SecureBytes {
        do {
            return try AESKeyWrap.unwrapWithPadding(wrapped, using: self.wrapKey)
        } catch let error as CryptoError {
            throw EnvelopeError(
                .keyStore, "the wrapped \(what) does not unwrap: the store was modified", underlying: error)
        }
    }
}
