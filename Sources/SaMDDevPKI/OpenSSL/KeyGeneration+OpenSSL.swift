// Fresh keys and serial numbers from OpenSSL's default DRBG.

import CSaMDOpenSSL
import SaMDOpenSSLSupport

enum OpenSSLKeys {
    static func generate(_ type: DevelopmentKeyType) throws -> PrivateKey {
        let algorithm: String
        switch type {
        case .p256, .p384: algorithm = "EC"
        case .rsa2048: algorithm = "RSA"
        case .ed25519: algorithm = "ED25519"
        }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw DevelopmentPKIError.openSSL("EVP_PKEY_CTX_new_from_name(\(algorithm))")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else { throw DevelopmentPKIError.openSSL("EVP_PKEY_keygen_init") }
        switch type {
        case .p256, .p384:
            let group = type == .p256 ? "P-256" : "P-384"
            guard EVP_PKEY_CTX_set_group_name(context, group) == 1 else {
                throw DevelopmentPKIError.openSSL("EVP_PKEY_CTX_set_group_name(\(group))")
            }
        case .rsa2048:
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(context, 2048) == 1 else {
                throw DevelopmentPKIError.openSSL("EVP_PKEY_CTX_set_rsa_keygen_bits(2048)")
            }
        case .ed25519:
            break
        }
        var key: OpaquePointer? = nil
        guard EVP_PKEY_generate(context, &key) == 1, let key else {
            throw DevelopmentPKIError.openSSL("EVP_PKEY_generate")
        }
        return PrivateKey(takingOwnership: key)
    }

    /// The algorithm of `key`, or `nil` when it is none of ``DevelopmentKeyType``.
    static func type(of key: PrivateKey) -> DevelopmentKeyType? {
        if EVP_PKEY_is_a(key.pointer, "ED25519") == 1 { return .ed25519 }
        if EVP_PKEY_is_a(key.pointer, "RSA") == 1 { return EVP_PKEY_get_bits(key.pointer) == 2048 ? .rsa2048 : nil }
        guard EVP_PKEY_is_a(key.pointer, "EC") == 1 else { return nil }
        var name = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_group_name(key.pointer, &name, name.count, &length) == 1 else {
            OpenSSLErrorQueue.clear()
            return nil
        }
        switch String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self) {
        case "prime256v1", "P-256": return .p256
        case "secp384r1", "P-384": return .p384
        default: return nil
        }
    }

    /// The digest to sign with: SHA-256, or none for Ed25519 (a pure signature scheme, RFC 8410 §6).
    static func signingDigest(_ type: DevelopmentKeyType) -> OpaquePointer? {
        type == .ed25519 ? nil : EVP_sha256()
    }

    /// A random positive 63-bit serial number, never 0 (RFC 5280 §4.1.2.2: positive, at most 20 octets).
    static func randomSerial() throws -> UInt64 {
        while true {
            var bytes = [UInt8](repeating: 0, count: 8)
            guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else { throw DevelopmentPKIError.openSSL("RAND_bytes") }
            let value = bytes.reduce(UInt64(0)) { ($0 << 8) | UInt64($1) } & 0x7FFF_FFFF_FFFF_FFFF
            if value != 0 { return value }
        }
    }
}
