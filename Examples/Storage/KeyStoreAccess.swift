// Opening a key store with the custody its own record names: a passphrase, or a PKCS #11 token and its PIN.

public import Logging
import SaMDCrypto
import SaMDEnvelope
import SaMDExampleSupport
public import SaMDKeys
package import SaMDOpenSSLSupport

/// A key store that could not be opened for a reason a program reports with its own exit code: the PIN or the
/// token of a token store, or a secret option that does not fit the store's custody. Errors of the store itself
/// (a wrong passphrase, a modified store, I/O) stay `EnvelopeError`s. No message holds the PIN.
public struct KeyStoreAccessError: Error, CustomStringConvertible {
    /// The stable identity of the error.
    public let code: Code
    /// What went wrong, in words, without secrets; control characters not yet escaped (``printError(_:)`` does).
    public let reason: String

    init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// `CODE: REASON`.
    public var description: String { "\(self.code): \(self.reason)" }

    /// The sysexits(3) code of ``code``: 64 ``Code/usage``, 66 ``Code/pinUnavailable``, 69
    /// ``Code/tokenUnavailable``.
    public var exitStatus: Int32 {
        switch self.code {
        case .usage: ExitStatus.usage
        case .pinUnavailable: ExitStatus.noInput
        default: ExitStatus.unavailable
        }
    }

    /// The stable identity of a ``KeyStoreAccessError``.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The code's name, as its property is spelled.
        public let description: String
        private init(_ description: String) { self.description = description }

        /// A secret option that does not fit the store's custody (`--passphrase-file` for a token store,
        /// `--pin-file` for a passphrase store), or a `--kek` that is not a usable RFC 7512 URI.
        public static let usage = Code("usage")
        /// No PIN: neither `--pin-file` nor `SAMD_PKCS11_PIN`, or a PIN file that is unsafe, unreadable or invalid
        /// (`PKCS11PINError`).
        public static let pinUnavailable = Code("pinUnavailable")
        /// The token refused the PIN, is absent, or its module cannot be loaded (`PKCS11Error`: `pinIncorrect`,
        /// `pinLocked`, `tokenAbsent`, `moduleMissing`, …); the reason names the token's answer.
        public static let tokenUnavailable = Code("tokenUnavailable")
    }
}

/// A key store opened by ``openKeyStore(at:passphraseFile:pinFile:pinFileHasOtherUse:lockTimeout:logger:)``, with
/// the custody its metadata records.
public struct OpenedKeyStore: Sendable {
    /// The store.
    public let store: FileKeyStore
    /// Where its KEKs are: `passphrase` or `pkcs11` (``KEKCustodyRecord/type``), with the token's URI.
    public let custody: KEKCustodyRecord

    /// Whether the store's KEKs are in a PKCS #11 token, which never exports them: such a store seals only with
    /// subject keys.
    public var isTokenCustody: Bool { self.custody.pkcs11URI != nil }
}

/// Opens the key store in `directory` with the custody its `keystore.json` records (KeyStoreFormat.md,
/// `samd-keystore-v2`'s `custody`), reading only the secret that custody needs:
/// - a store under a passphrase: the passphrase from `passphraseFile` (mode 0600), else `SAMD_PASSPHRASE`;
/// - a store whose KEKs are in a PKCS #11 token: the user PIN from `pinFile` (``PKCS11PIN/fromFile(_:)``), else
///   `SAMD_PKCS11_PIN`; the module and the token are the ones the store recorded (RFC 7512 URI, never a PIN).
///
/// Opening writes nothing: a wrong PIN or an absent token leaves the store's files as they were.
/// - Parameters:
///   - pinFileHasOtherUse: whether `pinFile` may also be meant for something else (the `pkcs11:` TLS key of
///     `samd-gateway serve`); when false, a `pinFile` given for a passphrase store is refused.
///   - lockTimeout: how long the store's operations wait for its locks.
/// - Throws: ``KeyStoreAccessError`` — `usage` for `passphraseFile` given for a token store (or `pinFile` for a
///   passphrase store), `pinUnavailable` when the PIN cannot be read, `tokenUnavailable` when the module, the token
///   or the login fails (a wrong PIN, an absent token, a missing module); `EnvelopeError` as
///   `FileKeyStore.init(opening:custody:lockTimeout:now:logger:subjectKeyCache:)` (a wrong passphrase, a modified or
///   mis-permissioned store, I/O).
public func openKeyStore(
    at directory: String, passphraseFile: String?, pinFile: String?, pinFileHasOtherUse: Bool = false,
    lockTimeout: Duration = FileKeyStore.defaultLockTimeout, logger: Logger = Logger(label: "samdkit.keys")
) throws -> OpenedKeyStore {
    var recorded: KEKCustodyRecord?
    let store = try FileKeyStore(
        opening: directory,
        custody: { record in
            recorded = record
            return try custodyForOpening(
                record, store: directory, passphraseFile: passphraseFile, pinFile: pinFile,
                pinFileHasOtherUse: pinFileHasOtherUse)
        },
        lockTimeout: lockTimeout, logger: logger)
    guard let recorded else {
        throw EnvelopeError(.keyStore, "key store \(directory): opened without its custody record")
    }
    return OpenedKeyStore(store: store, custody: recorded)
}

/// The custody a key store's `record` names, with the one secret it needs: the token's PIN from `pinFile` or
/// `SAMD_PKCS11_PIN`, or the passphrase from `passphraseFile` or `SAMD_PASSPHRASE` (see
/// ``openKeyStore(at:passphraseFile:pinFile:pinFileHasOtherUse:lockTimeout:logger:)``). `store` names the store in
/// messages (a directory or a database).
/// - Throws: ``KeyStoreAccessError`` — `usage`, `pinUnavailable`, `tokenUnavailable`; `EnvelopeError` (a wrong
///   passphrase).
public func custodyForOpening(
    _ record: KEKCustodyRecord, store: String, passphraseFile: String?, pinFile: String?, pinFileHasOtherUse: Bool
) throws -> any KEKCustody {
    if let uri = record.pkcs11URI {
        if passphraseFile != nil {
            throw KeyStoreAccessError(
                .usage,
                "key store \(store): its KEKs are in a PKCS #11 token; it opens with the token's PIN "
                    + "(--pin-file or SAMD_PKCS11_PIN), not a passphrase file")
        }
        return try openTokenCustody(record, uri: uri, pinFile: pinFile)
    }
    if pinFile != nil, !pinFileHasOtherUse {
        throw KeyStoreAccessError(
            .usage,
            "key store \(store): its KEKs are under a passphrase (--passphrase-file or SAMD_PASSPHRASE); "
                + "--pin-file is for a key store in a PKCS #11 token")
    }
    let passphrase = try passphraseFile.map(Passphrase.fromFile) ?? Passphrase.fromEnvironment()
    return try PassphraseCustody(opening: record, passphrase: passphrase)
}

/// `--kek`'s URI checked as `samd-vault keys init` needs it, before anything is touched: an RFC 7512 URI naming a
/// token and an absolute module path, without `pin-value`, `pin-source` or attributes SaMDKit does not understand.
/// - Throws: ``KeyStoreAccessError`` (`usage`).
package func checkedTokenURI(_ text: String) throws -> PKCS11URI {
    let uri: PKCS11URI
    do {
        uri = try PKCS11URI(parsing: text)
    } catch let error as PKCS11URIError {
        throw KeyStoreAccessError(.usage, "--kek: \(error.reason)")
    }
    // RFC 7512 §2.5: an attribute not understood in the path matches no object — and `pin-value` there would
    // still be a PIN on a command line.
    if let attribute = uri.vendorPathAttributes.first {
        throw KeyStoreAccessError(
            .usage,
            attribute.name == "pin-value"
                ? "--kek: a PIN is never taken from a URI (pin-value): give it in SAMD_PKCS11_PIN or a PIN file"
                : "--kek: the PKCS #11 URI has an attribute SaMDKit does not understand (\(attribute.name))")
    }
    if uri.pinSource != nil {
        throw KeyStoreAccessError(
            .usage, "--kek: the key store records no pin-source; give the PIN with --pin-file or SAMD_PKCS11_PIN")
    }
    guard let token = uri.token, !token.isEmpty else {
        throw KeyStoreAccessError(.usage, "--kek: the PKCS #11 URI names the token (pkcs11:token=LABEL;…)")
    }
    guard let module = uri.modulePath, module.hasPrefix("/") else {
        throw KeyStoreAccessError(
            .usage, "--kek: the PKCS #11 URI names its module by absolute path (?module-path=/path/to/module.so)")
    }
    return uri
}

/// Makes a new token custody for `samd-vault keys init --kek URI`: the PIN read as for opening, the module loaded
/// and the store's keys generated in the token (`PKCS11Custody.create(uri:pin:)`).
/// - Parameter uri: the `--kek` value, `pkcs11:token=LABEL[;object=records]?module-path=/absolute/module.so`.
/// - Throws: ``KeyStoreAccessError`` — `usage` for a value that is not an RFC 7512 URI, holds `pin-value` (in the
///   query or the path), a `pin-source` or an attribute RFC 7512 does not define, or names no token or no absolute
///   module path; `pinUnavailable`; `tokenUnavailable`; `EnvelopeError` from the token (an
///   object name other than `records`, a token that already holds a key store's keys).
public func createTokenCustody(uri text: String, pinFile: String?) throws -> PKCS11Custody {
    let uri = try checkedTokenURI(text)
    let token = uri.token ?? "?"
    let module = uri.modulePath ?? "?"
    let pin = try readPIN(pinFile)
    do {
        return try PKCS11Custody.create(uri: uri, pin: pin)
    } catch let error as PKCS11Error {
        throw tokenUnavailable(error, token: token, module: module)
    }
}

/// The custody `record` names, logged in with the PIN of `pinFile` or `SAMD_PKCS11_PIN`.
private func openTokenCustody(_ record: KEKCustodyRecord, uri: String, pinFile: String?) throws -> PKCS11Custody {
    let pin = try readPIN(pinFile)
    do {
        return try PKCS11Custody(opening: record, pin: pin)
    } catch let error as PKCS11Error {
        let parsed = try? PKCS11URI(parsing: uri)
        throw tokenUnavailable(error, token: parsed?.token ?? "?", module: parsed?.modulePath ?? "?")
    }
}

private func readPIN(_ file: String?) throws -> SecureBytes {
    do {
        return try PKCS11PIN.resolve(file: file)
    } catch let error as PKCS11PINError {
        throw KeyStoreAccessError(.pinUnavailable, "PKCS #11 PIN: \(error.code): \(error.reason)")
    }
}

private func tokenUnavailable(_ error: PKCS11Error, token: String, module: String) -> KeyStoreAccessError {
    KeyStoreAccessError(
        .tokenUnavailable, "PKCS #11 token \(token) (module \(module)): \(error.code): \(error.reason)")
}
