// `--key pkcs11:…` and `--pin-file`: a TLS private key held in a PKCS #11 token, and the token's user PIN.

public import ArgumentParser
public import SaMDCrypto
public import SaMDOpenSSLSupport
public import SaMDTLS

/// What a `--key` option names: a PEM file, or (a value starting `pkcs11:`) an RFC 7512 URI of a private key held
/// in a PKCS #11 token.
public enum PrivateKeyArgument: Sendable {
    /// A PEM private-key file.
    case file(String)
    /// A key in a token.
    case token(PKCS11URI)

    /// The help text of a `--key` option, after `what` ("The server's private key").
    public static func help(_ what: String) -> ArgumentHelp {
        ArgumentHelp(
            "\(what): a PEM file, or an RFC 7512 URI of a key held in a PKCS #11 token "
                + "(pkcs11:token=LABEL;object=LABEL?module-path=/path/module.so). The token's user PIN comes from "
                + "--pin-file or SAMD_PKCS11_PIN; a PIN in the URI (pin-value) or on the command line is refused.",
            valueName: "file|pkcs11-uri")
    }

    /// `value` read as a URI when it starts with `pkcs11:` (any case), else as a file path.
    /// - Throws: `ValidationError` (exit 64) for a URI that is not RFC 7512, that holds `pin-value`, or that names
    ///   no `module-path`.
    public static func parse(_ value: String) throws -> PrivateKeyArgument {
        guard value.lowercased().hasPrefix("pkcs11:") else { return .file(value) }
        let uri: PKCS11URI
        do {
            uri = try PKCS11URI(parsing: value)
        } catch let error as PKCS11URIError {
            throw ValidationError("--key: \(error.reason)")
        }
        guard uri.modulePath != nil else {
            throw ValidationError("--key: the PKCS #11 URI needs ?module-path=/path/to/module.so")
        }
        return .token(uri)
    }

    /// The file path, for a file key.
    public var path: String? {
        if case .file(let path) = self { return path }
        return nil
    }
}

/// `--pin-file`: the user PIN of the token holding the private key (`--key pkcs11:…`), from a file (a regular file
/// of this user, mode 0600 or 0400) or else from `SAMD_PKCS11_PIN`. `--pin` exists only to be refused with exit 64:
/// a PIN on a command line is visible to every user of the machine.
public struct PKCS11PINOption: ParsableArguments {
    @Option(
        name: .customLong("pin-file"),
        help: ArgumentHelp(
            "A file holding the user PIN of the PKCS #11 token a pkcs11: --key, or a key store's KEKs, are in (one "
                + "line; a regular file of this user, mode 0600 or 0400). Without it the PIN is read from "
                + "SAMD_PKCS11_PIN. A store under a passphrase needs none.",
            valueName: "file"))
    public var file: String?

    @Option(name: .customLong("pin"), help: .hidden)
    var refusedPIN: String?

    public init() {}

    public func validate() throws {
        if self.refusedPIN != nil {
            throw ValidationError(
                "--pin is refused: a PIN is never taken from a command line; use --pin-file FILE or SAMD_PKCS11_PIN")
        }
    }

    /// Where the PIN of a key named by `uri` comes from: `--pin-file`, else the URI's `pin-source`, else
    /// `SAMD_PKCS11_PIN`. Read when the TLS context is built (and at each reload).
    public func source(for uri: PKCS11URI) -> PKCS11PIN.Source {
        .choose(file: self.file, pinSource: uri.pinSource)
    }
}

/// The identity of `--cert` and `--key`: a PEM key file (with `--key-passphrase-file`) or a key in a token (with the
/// PIN of `pin`).
/// - Throws: `ValidationError` (exit 64) for a bad `pkcs11:` URI, `--key-passphrase-file` with a token key, or
///   `--pin-file` with a file key; `ExitCode` 66 for an unusable passphrase file.
/// - Parameter pinFileMayOpenKeyStore: as ``validateKeyOptions(key:passphrase:pin:pinFileMayOpenKeyStore:)``.
public func identitySource(
    certificateChain: String, key: String, passphrase: KeyPassphraseOption, pin: PKCS11PINOption,
    pinFileMayOpenKeyStore: Bool = false
) throws -> TLSIdentitySource {
    try validateKeyOptions(key: key, passphrase: passphrase, pin: pin, pinFileMayOpenKeyStore: pinFileMayOpenKeyStore)
    switch try PrivateKeyArgument.parse(key) {
    case .file(let path):
        return .files(certificateChain: certificateChain, privateKey: path, passphrase: try passphrase.read())
    case .token(let uri):
        return .token(certificateChain: certificateChain, privateKey: TLSTokenKey(uri: uri, pin: pin.source(for: uri)))
    }
}

/// Checks `--key` with `--key-passphrase-file` and `--pin-file`, for a command's `validate()`.
/// - Parameter pinFileMayOpenKeyStore: whether `--pin-file` may be given with a file key because it also opens a key
///   store whose KEKs are in a token (`samd-gateway serve`); that program checks it when it opens the key store.
/// - Throws: `ValidationError` (exit 64) as ``identitySource(certificateChain:key:passphrase:pin:)``.
public func validateKeyOptions(
    key: String?, passphrase: KeyPassphraseOption, pin: PKCS11PINOption, pinFileMayOpenKeyStore: Bool = false
) throws {
    let argument = try key.map(PrivateKeyArgument.parse)
    switch argument {
    case .token:
        if passphrase.file != nil {
            throw ValidationError("--key-passphrase-file is for a PEM key file; a pkcs11: key takes --pin-file")
        }
    case .file, nil:
        if pin.file != nil, !pinFileMayOpenKeyStore { throw ValidationError("--pin-file is for a pkcs11: --key") }
    }
}
