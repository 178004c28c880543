import SaMDCrypto
import SaMDEnvelope
import Synchronization

/// Blind indexes: HMAC-SHA-256 under the store's index key (a store secret its custody wraps), so records
/// are found by subject or identifier without the identifiers being stored.
extension FileKeyStore {
    public func subjectIndex(of subject: String) throws -> String {
        // NFC, as encryption-context values: one patient id typed composed or decomposed is one subject, so
        // its length is measured after normalising too (as blindIndex does). The standard library's NFC, as
        // the encryption context's (CanonicalNormalization; KeyStoreFormat.md, "Unicode normalisation").
        let normalised = CanonicalNormalization.nfcUTF8(subject)
        guard !normalised.isEmpty, normalised.count <= 512 else {
            throw EnvelopeError(.invalidContext, "a subject id is 1 to 512 bytes after NFC normalisation")
        }
        let mac = try self.indexMAC(Array("samd-subject-v1".utf8) + [0] + normalised)
        return mac.prefix(16).lowercaseHexadecimal
    }

    public func blindIndex(domain: String, _ components: [String]) throws -> [UInt8] {
        guard !domain.isEmpty, domain.utf8.count <= 64 else {
            throw EnvelopeError(.invalidContext, "a blind-index domain is 1 to 64 bytes")
        }
        var message = Array("samd-blind-v1".utf8) + [0] + Array(domain.utf8) + [0]
        for component in components {
            let bytes = CanonicalNormalization.nfcUTF8(component)
            guard !bytes.isEmpty, bytes.count <= 512 else {
                throw EnvelopeError(.invalidContext, "an identifier in a blind index is 1 to 512 bytes")
            }
            message += [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xff)] + bytes
        }
        return try self.indexMAC(message)
    }

    /// HMAC-SHA-256 under the index key (unwrapped on first use, then kept: every put and get computes two
    /// or three indexes).
    private func indexMAC(_ message: [UInt8]) throws -> [UInt8] {
        let wrapped = try self.current().indexKey
        let indexKey = try self.indexKeyCache.withLock { cache throws -> SecureBytes in
            if let cache, cache.wrapped == wrapped { return cache.key }
            let key = try self.custody.unwrapStoreSecret(
                try StoreFormat.decodeBase64(wrapped, limit: 4104, "wrapped index key"))
            cache = (wrapped, key)
            return key
        }
        return try cryptoCall { try DigestAlgorithm.sha256.authenticationCode(for: message, key: indexKey) }
    }
}
