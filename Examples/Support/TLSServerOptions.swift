public import ArgumentParser
public import SaMDTLS

/// The TLS options of the example servers (`samd-tls serve`, `samd-gateway serve`): the server's identity
/// (`--cert`, `--key` — a PEM file or a `pkcs11:` URI of a key in a token —, `--key-passphrase-file`, `--pin-file`), the CA certificates a client must chain to (`--client-ca`;
/// `--ca`, the spelling `samd-gateway` first had, is a hidden alias) and the CRLs client chains are checked
/// against (`--crl`). A program that requires client certificates asks for ``requiredClientCA()``.
/// - SeeAlso: RFC 8446 §4.3.2 (CertificateRequest), RFC 5280 §6.3 (CRL validation)
public struct TLSServerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The server's certificate chain (PEM, leaf first).", valueName: "file"))
    public var cert: String

    @Option(name: .long, help: PrivateKeyArgument.help("The server's private key"))
    public var key: String

    @OptionGroup public var keyPassphrase: KeyPassphraseOption

    @OptionGroup public var pin: PKCS11PINOption

    @Option(
        name: .customLong("client-ca"),
        help: ArgumentHelp(
            "Require client certificates chaining to the CA certificates in this file (PEM; one file: put every CA "
                + "in it), with EKU clientAuth.",
            valueName: "file")
    )
    var clientCAOption: [String] = []

    /// `--ca`: the old spelling of `--client-ca`, kept so that existing scripts run.
    @Option(name: .customLong("ca"), help: .hidden)
    var clientCAAlias: [String] = []

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Check client chains against these CRLs (PEM; repeatable; needs --client-ca).", valueName: "file")
    )
    public var crl: [String] = []

    public init() {}

    /// The file of CA certificates client certificates must chain to (`--client-ca` or `--ca`), or `nil`.
    public var clientCA: String? { self.clientCAOption.first ?? self.clientCAAlias.first }

    /// Every file the options name, for ``requireReadable(_:regularFilesOnly:)`` before anything is built.
    /// A `pkcs11:` key is not a file (its PIN file is read, with its own checks, when the context is built).
    public var files: [String?] {
        [self.cert, (try? PrivateKeyArgument.parse(self.key))?.path, self.clientCA] + self.crl
    }

    /// The server identity from `--cert`, `--key` (a PEM file or a `pkcs11:` URI) and `--key-passphrase-file` or
    /// `--pin-file`. Exit 66 when the passphrase file cannot be used (``KeyPassphraseOption/read()``).
    public func identity() throws -> TLSIdentitySource {
        try identitySource(
            certificateChain: self.cert, key: self.key, passphrase: self.keyPassphrase, pin: self.pin,
            pinFileMayOpenKeyStore: true)
    }

    /// The CRLs of `--crl`, each a PEM file.
    public var revocationLists: [TLSPEMSource] { self.crl.map { .file($0) } }

    /// The `--client-ca` (or `--ca`) file, for a server that requires client certificates; a usage error
    /// (`ValidationError`, exit 64) when neither is given.
    public func requiredClientCA() throws -> String {
        guard let file = self.clientCA else { throw ValidationError("Missing expected argument '--client-ca <file>'") }
        return file
    }

    public func validate() throws {
        // `--pin-file` may also open a key store in a token (samd-gateway): a program whose `--pin-file` is only for
        // the key checks that itself (``validateKeyOptions(key:passphrase:pin:)``).
        try validateKeyOptions(
            key: self.key, passphrase: self.keyPassphrase, pin: self.pin, pinFileMayOpenKeyStore: true)
        if !self.clientCAOption.isEmpty, !self.clientCAAlias.isEmpty {
            throw ValidationError("--ca is another spelling of --client-ca: give one of them")
        }
        // Read as one value, a repeated option would keep only its last file and trust less than was asked.
        if self.clientCAOption.count + self.clientCAAlias.count > 1 {
            throw ValidationError("--client-ca takes one file: put every CA certificate clients may chain to in it")
        }
        if self.clientCA == nil, !self.crl.isEmpty { throw ValidationError("--crl needs --client-ca") }
    }
}
