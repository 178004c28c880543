import Logging
public import SaMDCrypto
public import SaMDEnvelope
public import SaMDOpenSSLSupport
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

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
/// Making or opening the custody (loading the module, finding the token, logging in) throws `PKCS11Error` as
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
    /// Where the custody's security events go (`samd.keys.*`).
    private static let logger = Logger(label: "samdkit.keys")
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
    ///   - pin: the user PIN (`PKCS11PIN`), read and not kept.
    /// - Throws: `EnvelopeError.Code.keyStore` for a URI without `token` or an absolute `module-path`, another
    ///   object name, or a token that already holds a key store's objects; `PKCS11Error` when the module, the
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

    /// ``create(uri:pin:)`` with the URI as text.
    /// - Throws: `PKCS11URIError` for a URI that does not parse (`pin-value` included); what
    ///   ``create(uri:pin:)`` throws.
    public static func create(uri text: String, pin: SecureBytes) throws -> PKCS11Custody {
        try self.create(uri: try PKCS11URI(parsing: text), pin: pin)
    }

    /// Opens the custody a store recorded, logging in with `pin`.
    ///
    /// The record names the module to load, and it is read before the store's MAC can be checked (the MAC key is
    /// in the token): so the module is checked first. When `allowedModulePaths` is given, the recorded path must
    /// be one of them (the deployment's configuration, not the store, names the module); otherwise the module file
    /// (symbolic links resolved) and its directory must be owned by root and not writable by group or others, as
    /// system libraries are — whoever can change `keystore.json` (this service's user) cannot plant such a file.
    /// - Throws: `EnvelopeError.Code.keyStore` for a record that is not a PKCS#11 one, a URI out of shape, or a
    ///   module path refused by the check above; `PKCS11Error` when the module, the token or the login fails (a
    ///   wrong PIN: code `pinIncorrect`).
    public convenience init(
        opening record: KEKCustodyRecord, pin: SecureBytes, allowedModulePaths: Set<String>? = nil
    ) throws {
        guard let text = record.pkcs11URI else {
            throw EnvelopeError(.keyStore, "the key store's KEKs are in \(record.type) custody, not in a PKCS#11 token")
        }
        let uri: PKCS11URI
        do {
            uri = try PKCS11URI(parsing: text)
        } catch {
            throw EnvelopeError(.keyStore, "the key store's PKCS#11 URI does not parse: \(error)")
        }
        // The path checked is the path loaded: resolved once, every directory on the way root's, so nothing can
        // swap the file between the check and dlopen (a symbolic link changed meanwhile is never followed again).
        let load = try uri.modulePath.map { try Self.checkModule($0, allowed: allowedModulePaths) }
        try self.init(recording: uri, pin: pin, loading: load)
    }

    /// The check of ``init(opening:pin:allowedModulePaths:)`` on a recorded module path; returns the path to load:
    /// the recorded one with its symbolic links resolved (or as recorded when no file is there: loading reports it).
    static func checkModule(_ path: String, allowed: Set<String>?) throws -> String {
        if let allowed, !allowed.contains(path) {
            throw EnvelopeError(
                .keyStore,
                "the key store names PKCS#11 module \(PKCS11Text.escaped(path)), which is not among the modules allowed"
            )
        }
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        let file = String(cString: resolved)
        guard allowed == nil else { return file }
        // Root's, as the system's libraries are, with every directory above it: whoever can change keystore.json
        // (this service's user) cannot make or replace such a file. A module installed otherwise is named in
        // allowedModulePaths.
        var targets = [(what: "module", path: file, regularFile: true)]
        var directory = file
        while let slash = directory.lastIndex(of: "/") {
            directory = slash == directory.startIndex ? "/" : String(directory[..<slash])
            targets.append(("module's directory", directory, false))
            if directory == "/" { break }
        }
        for target in targets {
            var info = stat()
            guard lstat(target.path, &info) == 0 else {
                throw EnvelopeError(
                    .keyStore, "cannot check the PKCS#11 \(target.what) \(PKCS11Text.escaped(target.path))")
            }
            let type = info.st_mode & S_IFMT
            guard type == (target.regularFile ? S_IFREG : S_IFDIR) else {
                throw EnvelopeError(
                    .keyStore,
                    "the PKCS#11 \(target.what) \(PKCS11Text.escaped(target.path)) is not a regular "
                        + (target.regularFile ? "file" : "directory"))
            }
            guard info.st_uid == 0, info.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
                throw EnvelopeError(
                    .keyStore,
                    "the PKCS#11 \(target.what) \(PKCS11Text.escaped(target.path)) is not owned by root or is writable by "
                        + "group or others: not loaded (name a module installed elsewhere in allowedModulePaths)")
            }
        }
        return file
    }

    private init(recording uri: PKCS11URI, pin: SecureBytes, loading checkedModule: String? = nil) throws {
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
        self.token = try PKCS11Token(
            module: try PKCS11Module.load(path: checkedModule ?? modulePath), label: tokenLabel, pin: pin)
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
            key = try self.token.findSecretKey(label: label, id: self.storeID)
        } catch let error as PKCS11Error where error.code == .objectNotFound && !required {
            return nil
        }
        try self.checkGeneratedInToken(key)
        self.objects.withLock { $0[label] = key }
        return key
    }

    /// Refuses an object of this store's label and id that was not made as ``create(uri:pin:)`` and
    /// ``generateKEK(_:)`` make them: of the wrong type or length, ever extractable or not sensitive, or not
    /// generated inside the token (`CKA_LOCAL` false: imported, so its value was known outside). Someone with the
    /// PIN could otherwise put a key whose value they know in place of a KEK or of the MAC key.
    private func checkGeneratedInToken(_ key: PKCS11SecretKey) throws {
        self.operations.add(1, ordering: .relaxed)
        let attributes = try self.token.securityAttributes(of: key)
        let expectedType: PKCS11SecretKey.KeyType = key.label == Self.metadataMACKeyLabel ? .genericSecret : .aes
        var faults: [String] = []
        if key.keyType != expectedType { faults.append("key type") }
        if attributes.valueLengthBytes != 32 { faults.append("length \(attributes.valueLengthBytes)") }
        if !attributes.token { faults.append("not a token object") }
        if !attributes.sensitive || !attributes.alwaysSensitive { faults.append("not always sensitive") }
        if attributes.extractable || !attributes.neverExtractable { faults.append("extractable, now or once") }
        if !attributes.local { faults.append("not generated in the token (CKA_LOCAL false)") }
        guard faults.isEmpty else {
            Self.logger.critical(
                "a key-store object in the token is not one SaMDKit made",
                metadata: ["event": "samd.keys.token-object-refused", "object": "\(PKCS11Text.escaped(key.label))"])
            throw EnvelopeError(
                .keyStore,
                "token \(PKCS11Text.escaped(self.token.label)) holds \(PKCS11Text.escaped(key.label)) with this store's id, "
                    + "but not as SaMDKit generated it (\(faults.joined(separator: ", "))): refused; it may have been replaced"
            )
        }
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
