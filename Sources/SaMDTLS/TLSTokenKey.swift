public import SaMDCrypto
public import SaMDOpenSSLSupport

/// A TLS private key held in a PKCS #11 token (an HSM, a smart card, a TPM through tpm2-pkcs11, SoftHSM2 in tests),
/// named by an RFC 7512 URI, used through the token: the key never enters this process's memory.
///
/// How it is reached depends on the OpenSSL underneath. On OpenSSL 3.0 (Debian 12) it is the `pkcs11` ENGINE of
/// libp11 (package `libengine-pkcs11-openssl`): the engine is bound to the URI's `module-path`, logs in with the
/// user PIN (PKCS #11 v2.40 §5.6 `C_Login`, `CKU_USER`) and returns an `EVP_PKEY` whose signatures the token makes.
/// OpenSSL 3 deprecates engines; where `pkcs11-provider` is installed (Debian 13, OpenSSL ≥ 3.2) a later release
/// loads the same URI through the provider (`OSSL_STORE`) instead — the choice is made in one place,
/// `TokenKeyLoader` in SaMDTLS's OpenSSL layer, and nothing here changes.
///
/// Rules (engine path):
/// - the URI needs `module-path` (an absolute path; `module-name` is not resolved) and `object` or `id`; `type`, if
///   given, is `private`; the token is named by `token` (and optionally `manufacturer`, `model`, `serial`). The
///   `library-*` and `slot-*` attributes and vendor path attributes are refused: the engine cannot honour them, and
///   dropping one would widen the match (RFC 7512 §2.5);
/// - one module per process: the engine binds to the first `module-path` used and refuses another;
/// - the PIN is read from ``pin`` at each load (first use and each reload), handed to the engine for that load only
///   and then replaced by an empty one; the token's session stays logged in for the life of the process, so a
///   reload with a changed (even wrong) PIN still uses the logged-in session, and a token added to the module after
///   its first use in the process is not seen until the process restarts;
/// - the certificate's public key must be the token key's (checked with `X509_check_private_key`, which needs the
///   token to hold the public key object too, as when the key pair was generated in the token).
///
/// Tried: P-256 (`EC:prime256v1`) and RSA 2048 key pairs generated in SoftHSM2 2.6.1, TLS 1.3, as server and client.
///
/// - SeeAlso: RFC 7512 (PKCS #11 URIs); PKCS #11 v2.40 §5.6 (session management).
public struct TLSTokenKey: Sendable {
    /// The key's URI, e.g. `pkcs11:token=samd;object=gateway-tls;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so`.
    public var uri: PKCS11URI
    /// Where the user PIN comes from at each load.
    public var pin: PKCS11PIN.Source

    /// A key named by `uri`, logged in to with the PIN from `pin`.
    public init(uri: PKCS11URI, pin: PKCS11PIN.Source) {
        self.uri = uri
        self.pin = pin
    }
}

extension TLSIdentitySource {
    /// An identity whose certificate chain is a PEM file (read at each build and reload) and whose private key is in
    /// a PKCS #11 token (loaded again from the token at each reload).
    public static func token(certificateChain: String, privateKey: TLSTokenKey) -> Self {
        var source = TLSIdentitySource(certificateChain: .file(certificateChain), privateKey: .bytes([]))
        source.tokenKey = privateKey
        return source
    }

    /// An identity whose certificate chain is given (PEM) and whose private key is in a PKCS #11 token.
    public static func token(certificateChain: TLSPEMSource, privateKey: TLSTokenKey) -> Self {
        var source = TLSIdentitySource(certificateChain: certificateChain, privateKey: .bytes([]))
        source.tokenKey = privateKey
        return source
    }
}
