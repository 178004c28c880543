import Foundation

/// PKCS#11 (Cryptoki) modules among the loaded objects, and the mechanisms SaMDKit calls in their tokens.
///
/// A module is recognised by what it is, not by its name: a loaded shared object that exports
/// `C_GetFunctionList` (PKCS#11 v2.40 §5.2; v3.0 §5.4). It is found whoever loaded it — SaMDKit's KEK custody,
/// or OpenSSL's `pkcs11` engine for a TLS private key — and is described with its path, hashes and package like
/// every loaded object, plus the ``moduleProperty``; its token's mechanisms become CBOM assets implemented by it.
enum PKCS11Modules {
    /// The property that marks a file component as a PKCS#11 module.
    static let moduleProperty = "samd:pkcs11Module"

    /// Whether the loaded object at `path` is a PKCS#11 module. Looks only at objects already loaded
    /// (`RTLD_NOLOAD`): never loads one.
    static func isModule(_ path: String) -> Bool {
        guard let handle = dlopen(path, RTLD_LAZY | RTLD_NOLOAD) else { return false }
        defer { dlclose(handle) }
        return dlsym(handle, "C_GetFunctionList") != nil
    }

    /// The mechanisms SaMDKit calls in a token of the module `component` (a file component): KEK custody
    /// (AES-256 keys generated in the token, AES-256-GCM wrapping of subject keys and the index key, HMAC-SHA-256
    /// over the key store's metadata) and TLS private keys (ECDSA signatures). The token's own certification is
    /// not known to SaMDKit: `unknown`.
    static func assets(module component: SBOMComponent) -> [CryptographicAsset] {
        let prefix = "crypto/pkcs11/\(component.name)"
        let mechanisms = { (name: String, code: String) in
            ["samd:pkcs11Mechanism": "\(name) (\(code))", "samd:pkcs11Module": component.path ?? component.name]
        }
        return [
            .init(
                "\(prefix)/aes-256-gcm", "AES-256-GCM (PKCS#11 token)", primitive: "ae", mode: "gcm",
                parameterSet: "256", functions: ["encrypt", "decrypt", "tag"], security: 256,
                oid: "2.16.840.1.101.3.4.1.46", by: component.reference,
                usage:
                    "KEK custody in a PKCS#11 token: subject keys and the index key wrapped inside the token under AES-256 KEKs generated there (CKM_AES_KEY_GEN; CKA_SENSITIVE, not CKA_EXTRACTABLE)",
                certification: "unknown",
                properties: mechanisms("CKM_AES_GCM", "0x1087").merging(
                    ["samd:nonceBits": "96", "samd:tagBits": "128"], uniquingKeysWith: { first, _ in first })),
            .init(
                "\(prefix)/hmac-sha-256", "HMAC-SHA-256 (PKCS#11 token)", primitive: "mac", parameterSet: "256",
                functions: ["tag"], security: 256, oid: "1.2.840.113549.2.9", by: component.reference,
                usage: "KEK custody in a PKCS#11 token: the key store's metadata authenticated under a token-held key",
                certification: "unknown", properties: mechanisms("CKM_SHA256_HMAC", "0x0251")),
            .init(
                "\(prefix)/ecdsa", "ECDSA (PKCS#11 token)", primitive: "signature", parameterSet: "256",
                curve: "secp256r1", functions: ["sign"], security: 128, oid: "1.2.840.10045.2.1",
                by: component.reference,
                usage:
                    "TLS private keys held in a PKCS#11 token (pkcs11: URI), signing the handshake through OpenSSL's pkcs11 engine",
                certification: "unknown", properties: mechanisms("CKM_ECDSA", "0x1041")),
        ]
    }
}
