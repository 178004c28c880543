public import SaMDCrypto

/// How an envelope's payload is encrypted: C2SP chunked encryption (c2sp.org/chunked-encryption)
/// instantiated with HKDF-SHA-512 and one AEAD.
public enum PayloadSuite: UInt8, Sendable, Hashable, CaseIterable, Codable, CustomStringConvertible {
    /// Cobblestone-256: HKDF-SHA-512 and AES-256-GCM, 16 KiB chunks. The default.
    case cobblestone256 = 1
    /// The same construction over XChaCha20-Poly1305 (24-byte base nonce), for devices without AES
    /// instructions. Never the default; not FIPS-approved (refused under `nist`).
    case xChaCha20Poly1305 = 2

    /// The AEAD run on each chunk.
    public var algorithm: AEADAlgorithm {
        switch self {
        case .cobblestone256: .aes256GCM
        case .xChaCha20Poly1305: .xChaCha20Poly1305
        }
    }

    /// The AEAD's name in the HKDF `info` (IANA AEAD registry name; for XChaCha20-Poly1305 the name of
    /// draft-irtf-cfrg-xchacha).
    public var aeadName: String {
        switch self {
        case .cobblestone256: "AEAD_AES_256_GCM"
        case .xChaCha20Poly1305: "AEAD_XCHACHA20_POLY1305"
        }
    }

    public var description: String {
        switch self {
        case .cobblestone256: "Cobblestone-256"
        case .xChaCha20Poly1305: "Chunked-XChaCha20-Poly1305"
        }
    }
}
