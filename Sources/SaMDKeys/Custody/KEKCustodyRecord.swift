/// The record of a store's ``KEKCustody`` kept in its metadata (and covered by its MAC), so that opening
/// the store finds its custody again and a later command needs only the secret: the passphrase, or a
/// token's PIN.
public struct KEKCustodyRecord: Sendable, Hashable {
    /// The key-derivation parameters of ``PassphraseCustody``: `keystore.json`'s `kdf` block.
    public struct PassphraseKDF: Sendable, Hashable {
        /// `argon2id` (RFC 9106), the only one a store opens with.
        public var algorithm: String
        /// Argon2id passes.
        public var iterations: UInt32
        /// Argon2id memory, in bytes (not KiB).
        public var memoryByteCount: Int
        /// The Argon2id salt, 16 bytes.
        public var salt: [UInt8]

        /// The parameters as given; bounded only when a store is opened with them.
        public init(algorithm: String, iterations: UInt32, memoryByteCount: Int, salt: [UInt8]) {
            self.algorithm = algorithm
            self.iterations = iterations
            self.memoryByteCount = memoryByteCount
            self.salt = salt
        }
    }

    enum Storage: Sendable, Hashable {
        case passphrase(PassphraseKDF)
        case pkcs11(uri: String)
    }

    let storage: Storage

    /// A ``PassphraseCustody``'s record.
    public static func passphrase(_ kdf: PassphraseKDF) -> KEKCustodyRecord {
        KEKCustodyRecord(storage: .passphrase(kdf))
    }

    /// A PKCS#11 custody's record: the RFC 7512 URI of its token, `pkcs11:…`, at most 4 096 bytes and never
    /// with `pin-value` (a store refuses to record or read such a URI). Recorded by format version 2 only.
    public static func pkcs11(uri: String) -> KEKCustodyRecord {
        KEKCustodyRecord(storage: .pkcs11(uri: uri))
    }

    /// `passphrase` or `pkcs11`.
    public var type: String {
        switch self.storage {
        case .passphrase: "passphrase"
        case .pkcs11: "pkcs11"
        }
    }

    /// The KDF parameters of a passphrase custody; otherwise `nil`.
    public var passphraseKDF: PassphraseKDF? {
        guard case .passphrase(let kdf) = self.storage else { return nil }
        return kdf
    }

    /// The token URI of a PKCS#11 custody; otherwise `nil`.
    public var pkcs11URI: String? {
        guard case .pkcs11(let uri) = self.storage else { return nil }
        return uri
    }
}
