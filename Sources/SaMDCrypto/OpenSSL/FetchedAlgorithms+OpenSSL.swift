import CSaMDOpenSSL
import Synchronization

/// OpenSSL 3 algorithms fetched once per crypto profile and kept for the life of the process.
///
/// An implicit fetch (`EVP_aes_256_gcm()` passed to an init function, `EVP_KDF_fetch` per call) looks the
/// algorithm up by name each time: string compares under a lock, which profiling showed to be an eighth of
/// sealing a 1 KiB envelope (Docs/Performance.md). Fetching explicitly once gives the same implementation
/// without the lookup. The cache is keyed by the active ``CryptoProfile``: activating `nist` sets the default
/// property query to `fips=yes`, and the next use fetches again, so the FIPS provider's implementation is
/// the one used from then on.
enum FetchedAlgorithms {
    private enum Kind: Hashable { case cipher, kdf }

    private struct Key: Hashable {
        let profile: CryptoProfile
        let kind: Kind
        let name: String
    }

    /// Fetched objects, as addresses (an `OpaquePointer` is not `Sendable`); each holds one reference that is
    /// never released.
    private static let cache = Mutex<[Key: UInt]>([:])

    /// An `EVP_CIPHER` such as "AES-256-GCM" or "ChaCha20-Poly1305".
    static func cipher(_ name: String) throws -> OpaquePointer {
        try self.fetch(.cipher, name) { EVP_CIPHER_fetch(nil, name, nil) }
    }

    /// An `EVP_KDF` such as "HKDF".
    static func kdf(_ name: String) throws -> OpaquePointer {
        try self.fetch(.kdf, name) { EVP_KDF_fetch(nil, name, nil) }
    }

    private static func fetch(_ kind: Kind, _ name: String, _ fetch: () -> OpaquePointer?) throws -> OpaquePointer {
        let key = Key(profile: CryptoProfile.active, kind: kind, name: name)
        let address = try self.cache.withLock { cache -> UInt in
            if let address = cache[key] { return address }
            guard let fetched = fetch() else {
                throw CryptoError.openSSL("fetching the \(kind) \(name) failed")
            }
            let address = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(fetched)))
            cache[key] = address
            return address
        }
        return OpaquePointer(bitPattern: Int(bitPattern: address))!
    }
}
