public import SaMDCrypto
public import SaMDEnvelope
public import SaMDOpenSSLSupport
import Synchronization

/// KEK custody in a PKCS#11 token (an HSM, a smart card, a TPM through tpm2-pkcs11; SoftHSM2 in tests): every KEK
/// version is an AES-256 secret key generated **inside** the token, which never leaves it.
///
/// The token holds, for one key store (a token holds one store's objects; all carry the store's random 16-byte
/// `CKA_ID`, which the recorded URI names in its `id` attribute):
/// - one object per KEK version, labelled `NAME:VERSION` (`records:1`, `records:2`, …): `CKK_AES`, 32 bytes,
///   `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE` true, `CKA_EXTRACTABLE` false, usable only to encrypt and decrypt;
///   it wraps subject keys with `CKM_AES_GCM` inside the token (96-bit IV from OpenSSL's DRBG, 128-bit tag,
///   the subject-key binding as additional authenticated data), the same 60 bytes (IV ‖ ciphertext ‖ tag) a
///   passphrase store writes;
/// - ``indexWrapKeyLabel``: AES-256, the same attributes, wrapping the index key of the blind names
///   (`CKM_AES_GCM`, additional data ``indexKeyAssociatedData``);
/// - ``metadataMACKeyLabel``: a 32-byte `CKK_GENERIC_SECRET`, the same attributes, usable only to sign and
///   verify: the MAC of the key store's metadata (`CKM_SHA256_HMAC`, checked inside the token with `C_Verify`).
///
/// KEK material is never exported: envelopes are sealed under subject keys (``exportKEK(_:_:)`` throws
/// `EnvelopeError.Code.keyNotUsable`). Destroying a version is `C_DestroyObject`. The PIN is given when the custody
/// is made and never kept: the token's session pool stays logged in (PKCS#11 logins are per application).
///
/// Making or opening the custody (loading the module, finding the token, logging in) throws ``PKCS11Error`` as
/// the token answered: `moduleMissing`, `notAPKCS11Module`, `tokenAbsent`, `tokenAmbiguous`, `pinIncorrect`,
/// `pinLocked`… — so a program can tell a wrong PIN from an absent token. Operations then throw `EnvelopeError`s
/// whose reason names the token's answer: the token gone, logged out, or no free session in time →
/// `keyUnavailable`; a tag or MAC that does not verify, an object missing or of another store → `keyStore`; a
/// mechanism the token does not offer → `crypto`. No message holds the PIN.
/// - SeeAlso: PKCS#11 v2.40 Base §4.9 (secret key objects), Current Mechanisms §2.12.3 (`CKM_AES_GCM`), §2.14
///   (`CKM_SHA256_HMAC`); RFC 7512 (the URI).
public final class PKCS11Custody: KEKCustody {
    /// The label of the AES-256 key that wraps the store's index key.
    public static let indexWrapKeyLabel = "samd-index-wrap"
    /// The label of the HMAC key that authenticates the store's metadata.
    public static let metadataMACKeyLabel = "samd-metadata-mac"
    /// The length of a store's `CKA_ID`, in bytes.
    public static let storeIDByteCount = 16
    /// The additional authenticated data of the index key's wrap.
    public static let indexKeyAssociatedData = Array("samd-keystore index key".utf8)
    /// The name every KEK of a key store has today (`FileKeyStore.defaultKeyName`).
    static let kekName = "records"

    /// What the store records: `pkcs11:token=T;id=STORE-ID?module-path=/…` (no PIN, no object).
    public let record: KEKCustodyRecord
    /// The recorded URI, parsed.
    public let uri: PKCS11URI
    /// The store's `CKA_ID`.
    public let storeID: [UInt8]
    let token: PKCS11Token
    /// Objects found once (handles stay valid across sessions of this process), by label.
    private let objects = Mutex<[String: PKCS11SecretKey]>([:])
    private let operations = Atomic<Int>(0)

    /// Makes the store's objects in a token: its index-wrap and metadata-MAC keys, with a new random store id.
    /// - Parameters:
    ///   - uri: `pkcs11:token=LABEL[;object=records]?module-path=/absolute/module.so` (RFC 7512). `object`, when
    ///     given, must be `records` (the KEK's name); `pin-value` is refused when the URI is parsed.
    ///   - pin: the user PIN (``PKCS11PIN``), read and not kept.
    /// - Throws: `EnvelopeError.Code.keyStore` for a URI without `token` or an absolute `module-path`, another
    ///   object name, or a token that already holds a key store's objects; ``PKCS11Error`` when the module, the
    ///   token or the login fails.
    public static func create(uri: PKCS11URI, pin: SecureBytes) throws -> PKCS11Custody {
        if let object = uri.object, object != Self.kekName {
            throw EnvelopeError(
                .keyStore,
                "the key store's KEK is named \(Self.kekName); the URI names object \(PKCS11Text.escaped(object))")
        }
        let storeID = try cryptoCall { try SecureRandom.bytes(count: Self.storeIDByteCount) }
        var recorded = PKCS11URI()
        recorded.token = uri.token
        recorded.id = storeID
        recorded.modulePath = uri.modulePath
        let custody = try PKCS11Custody(recording: recorded, pin: pin)
        try custody.call("make the store's keys") {
            for label in [Self.indexWrapKeyLabel, Self.metadataMACKeyLabel, "\(Self.kekName):1"] {
                if (try? custody.token.findSecretKey(label: label)) != nil {
                    throw EnvelopeError(
                        .keyStore,
                        "token \(PKCS11Text.escaped(custody.token.label)) already holds \(label): a token holds one key store's keys"
                    )
                }
            }
            let wrap = try custody.token.generateAESKey(label: Self.indexWrapKeyLabel, id: storeID)
            let mac = try custody.token.generateHMACKey(label: Self.metadataMACKeyLabel, id: storeID)
            custody.objects.withLock {
                $0[wrap.label] = wrap
                $0[mac.label] = mac
            }
        }
        return custody
    }

    /// Opens the custody a store recorded, logging in with `pin`.
    /// - Throws: `EnvelopeError.Code.keyStore` for a record that is not a PKCS#11 one or a URI out of shape;
    ///   ``PKCS11Error`` when the module, the token or the login fails (a wrong PIN: code `pinIncorrect`).
    public convenience init(opening record: KEKCustodyRecord, pin: SecureBytes) throws {
        guard let text = record.pkcs11URI else {
            throw EnvelopeError(.keyStore, "the key store's KEKs are in \(record.type) custody, not in a PKCS#11 token")
        }
        let uri: PKCS11URI
        do {
            uri = try PKCS11URI(parsing: text)
        } catch {
            throw EnvelopeError(.keyStore, "the key store's PKCS#11 URI does not parse: \(error)")
        }
        try self.init(recording: uri, pin: pin)
    }

    private init(recording uri: PKCS11URI, pin: SecureBytes) throws {
        guard let tokenLabel = uri.token, !tokenLabel.isEmpty else {
            throw EnvelopeError(.keyStore, "a PKCS#11 key store URI names its token (token=LABEL)")
        }
        guard let modulePath = uri.modulePath, modulePath.hasPrefix("/") else {
            throw EnvelopeError(
                .keyStore, "a PKCS#11 key store URI names its module by absolute path (?module-path=/…/module.so)")
        }
        guard let id = uri.id, id.count == Self.storeIDByteCount else {
            throw EnvelopeError(.keyStore, "a PKCS#11 key store URI carries its \(Self.storeIDByteCount)-byte store id")
        }
        self.uri = uri
        self.storeID = id
        self.record = .pkcs11(uri: uri.description)
        // Not mapped: the caller tells a wrong PIN from an absent token by the PKCS11Error's code.
        self.token = try PKCS11Token(module: try PKCS11Module.load(path: modulePath), label: tokenLabel, pin: pin)
    }

    /// How many operations this custody ran in the token (each a `C_*Init` and its `C_*` call, or a lookup):
    /// what the subject-key cache saves.
    public var tokenOperationCount: Int { self.operations.load(ordering: .relaxed) }

    // MARK: KEKCustody

    public func generateKEK(_ identifier: KeyIdentifier) throws -> KEKReference {
        let label = "\(identifier.name):\(identifier.version)"
        return try self.call("generate \(label)") {
            // The store has not recorded this version: an object of this store under its label is an orphan of a
            // generation whose record was never written (a crash), never used for anything.
            if let orphan = try self.find(label, required: false) {
                try self.token.destroyObject(orphan)
                self.objects.withLock { $0[label] = nil }
            }
            let key = try self.token.generateAESKey(label: label, id: self.storeID)
            self.objects.withLock { $0[label] = key }
            return .tokenObject(label: label, id: self.storeID)
        }
    }

    public func destroyKEK(_ identifier: KeyIdentifier, _ reference: KEKReference) throws {
        let label = try self.label(of: reference, identifier)
        try self.call("destroy \(label)") {
            guard let key = try self.find(label, required: false) else { return } // gone already: resumed
            do {
                try self.token.destroyObject(key)
            } catch let error as PKCS11Error where error.code == .objectNotFound {
            }
            self.objects.withLock { $0[label] = nil }
        }
    }

    public func exportKEK(_ identifier: KeyIdentifier, _ reference: KEKReference) throws -> SecureBytes {
        throw EnvelopeError(
            .keyNotUsable,
            "\(identifier) is held in PKCS#11 token \(PKCS11Text.escaped(self.token.label)) and never leaves it: seal with subject keys"
        )
    }

    public func wrapSubjectKey(
        _ subjectKey: SecureBytes, underKEK identifier: KeyIdentifier, _ reference: KEKReference,
        associatedData: [UInt8]
    ) throws -> [UInt8] {
        let label = try self.label(of: reference, identifier)
        return try self.call("wrap a subject key under \(label)") {
            try self.withObject(label) { key in
                try self.token.encrypt(key: key, plaintext: subjectKey, associatedData: associatedData)
            }
        }
    }

    public func unwrapSubjectKey(
        _ wrapped: [UInt8], underKEK identifier: KeyIdentifier, _ reference: KEKReference, associatedData: [UInt8]
    ) throws -> SecureBytes {
        let label = try self.label(of: reference, identifier)
        return try self.call("unwrap a subject key under \(label)") {
            try self.withObject(label) { key in
                try self.token.decrypt(key: key, sealed: wrapped, associatedData: associatedData, as: SecureBytes.self)
            }
        }
    }

    public func wrapStoreSecret(_ secret: SecureBytes) throws -> [UInt8] {
        try self.call("wrap the index key") {
            try self.withObject(Self.indexWrapKeyLabel) { key in
                try self.token.encrypt(key: key, plaintext: secret, associatedData: Self.indexKeyAssociatedData)
            }
        }
    }

    public func unwrapStoreSecret(_ wrapped: [UInt8]) throws -> SecureBytes {
        try self.call("unwrap the index key") {
            try self.withObject(Self.indexWrapKeyLabel) { key in
                try self.token.decrypt(
                    key: key, sealed: wrapped, associatedData: Self.indexKeyAssociatedData, as: SecureBytes.self)
            }
        }
    }

    public func authenticationCode(for message: [UInt8]) throws -> [UInt8] {
        try self.call("authenticate the key store's metadata") {
            try self.withObject(Self.metadataMACKeyLabel) { key in
                try self.token.authenticationCode(key: key, message: message)
            }
        }
    }

    public func isValidAuthenticationCode(_ code: [UInt8], for message: [UInt8]) throws -> Bool {
        try self.call("verify the key store's metadata") {
            try self.withObject(Self.metadataMACKeyLabel) { key in
                try self.token.verifyAuthenticationCode(key: key, message: message, code: code)
            }
        }
    }

    // MARK: Internals

    /// The label a reference names, checked to be this version's and this store's.
    private func label(of reference: KEKReference, _ identifier: KeyIdentifier) throws -> String {
        let label = "\(identifier.name):\(identifier.version)"
        guard let object = reference.tokenObject, object.label == label, object.id == self.storeID else {
            throw EnvelopeError(
                .keyStore, "the key store's record of \(identifier) does not name this store's token object \(label)")
        }
        return label
    }

    /// The store's object labelled `label`: from the handles found before, else found in the token and checked to
    /// carry this store's id. `nil` when absent and not `required`.
    private func find(_ label: String, required: Bool = true) throws -> PKCS11SecretKey? {
        if let known = self.objects.withLock({ $0[label] }) { return known }
        let key: PKCS11SecretKey
        do {
            self.operations.add(1, ordering: .relaxed)
            key = try self.token.findSecretKey(label: label)
        } catch let error as PKCS11Error where error.code == .objectNotFound && !required {
            return nil
        }
        guard key.id == self.storeID else {
            throw EnvelopeError(
                .keyStore,
                "token \(PKCS11Text.escaped(self.token.label)) holds \(label) of another key store (its CKA_ID differs)"
            )
        }
        self.objects.withLock { $0[label] = key }
        return key
    }

    /// Runs `body` with the object labelled `label`, finding it again once if its handle went stale (the token was
    /// reinserted; another process destroyed and remade nothing of ours meanwhile, or the id check fails).
    private func withObject<T>(_ label: String, _ body: (PKCS11SecretKey) throws -> T) throws -> T {
        guard let key = try self.find(label) else {
            throw EnvelopeError(.keyStore, "token \(PKCS11Text.escaped(self.token.label)) no longer holds \(label)")
        }
        self.operations.add(1, ordering: .relaxed)
        do {
            return try body(key)
        } catch let error as PKCS11Error where error.code == .objectNotFound {
            self.objects.withLock { $0[label] = nil }
            guard let again = try self.find(label) else { throw Self.envelopeError(error, "use \(label)") }
            self.operations.add(1, ordering: .relaxed)
            return try body(again)
        }
    }

    /// Runs a token operation, mapping its errors.
    private func call<T>(_ operation: String, _ body: () throws -> T) throws -> T {
        try Self.map(operation, body)
    }

    private static func map<T>(_ operation: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as EnvelopeError {
            throw error
        } catch let error as PKCS11Error {
            throw Self.envelopeError(error, operation)
        } catch let error as CryptoError {
            throw EnvelopeError(.crypto, error.reason, underlying: error)
        }
    }

    /// The `EnvelopeError` of a token failure (see the type's comment).
    static func envelopeError(_ error: PKCS11Error, _ operation: String) -> EnvelopeError {
        let reason = "PKCS#11: cannot \(operation): \(error.reason)"
        switch error.code {
        case .authenticationFailed:
            return EnvelopeError(
                .keyStore, "PKCS#11: cannot \(operation): it does not authenticate (modified, or of another store)")
        case .objectNotFound, .objectAmbiguous:
            return EnvelopeError(.keyStore, reason)
        case .mechanismUnsupported, .invalidInput:
            return EnvelopeError(.crypto, reason)
        default:
            return EnvelopeError(.keyUnavailable, reason)
        }
    }
}
