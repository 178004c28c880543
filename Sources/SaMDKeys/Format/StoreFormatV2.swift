import Foundation
import SaMDCrypto
import SaMDEnvelope

/// Format versions 2 and 3 of `keystore.json`: the custody recorded as an object, and a MAC over every field.
/// Version 3 has the same shape and MAC input (its own format name first); its state may hold the recipient key,
/// which a reader of version 2 would drop on its next write: hence the new version, which such a reader refuses.
extension StoreFormat {
    /// `keystore.json`, format version 2.
    struct EnvelopeV2: Codable {
        var format: String
        var custody: Custody
        /// Base64 of the JSON ``State``.
        var state: String
        /// Base64 of the MAC over ``macInputV2(custody:state:)``.
        var mac: String
    }

    /// The `custody` object: `{"type": "passphrase", "kdf": …}` or `{"type": "pkcs11", "uri": …}`.
    struct Custody: Codable {
        var type: String
        var kdf: KDF?
        var uri: String?
    }

    /// Just the `format` field, to choose the version's reader.
    struct FormatField: Codable {
        var format: String
    }

    /// The longest token URI a store records, in bytes.
    static let custodyURILimit = 4096

    /// The MAC input of format versions 2 and 3 (`format` is the document's format name, version 2's by default): every field of the document but the MAC, each variable-length one
    /// preceded by its length.
    /// - Throws: `EnvelopeError.Code.keyStore` for a field over its length prefix.
    static func macInputV2(custody: KEKCustodyRecord, state: [UInt8], format: String = formatV2) throws
        -> [UInt8]
    {
        var bytes = Array(format.utf8) + [0]
        try Self.appendString(custody.type, to: &bytes)
        switch custody.storage {
        case .passphrase(let kdf):
            try Self.appendString(kdf.algorithm, to: &bytes)
            bytes += withUnsafeBytes(of: kdf.iterations.bigEndian, Array.init)
            bytes += withUnsafeBytes(of: UInt64(kdf.memoryByteCount).bigEndian, Array.init)
            try Self.appendBytes(kdf.salt, to: &bytes)
        case .pkcs11(let uri):
            try Self.appendString(uri, to: &bytes)
        }
        bytes += withUnsafeBytes(of: UInt64(state.count).bigEndian, Array.init)
        return bytes + state
    }

    private static func appendString(_ text: String, to bytes: inout [UInt8]) throws {
        try self.appendBytes(Array(text.utf8), to: &bytes)
    }

    /// `length (u16, big-endian) ‖ bytes`.
    private static func appendBytes(_ field: [UInt8], to bytes: inout [UInt8]) throws {
        guard field.count <= Int(UInt16.max) else {
            throw EnvelopeError(.keyStore, "a key-store field is over \(UInt16.max) bytes")
        }
        bytes += [UInt8(field.count >> 8), UInt8(field.count & 0xff)] + field
    }

    /// The custody record a version 2 document names, bounds-checked (before any key derivation or token
    /// call).
    /// - Throws: `EnvelopeError.Code.keyStore` for an unknown type, a missing field, a salt that is not 16
    ///   bytes, Argon2id costs out of range, or a token URI that is not `pkcs11:`, is over
    ///   ``custodyURILimit`` bytes, or holds a PIN (`pin-value`, RFC 7512 §2.3).
    static func custodyRecord(_ custody: Custody) throws -> KEKCustodyRecord {
        switch custody.type {
        case "passphrase":
            guard let kdf = custody.kdf, custody.uri == nil else {
                throw EnvelopeError(.keyStore, "a passphrase custody records its kdf, and only that")
            }
            let record = KEKCustodyRecord.PassphraseKDF(
                algorithm: kdf.algorithm, iterations: kdf.iterations, memoryByteCount: kdf.memory,
                salt: try Self.decodeBase64(kdf.salt, limit: Argon2id.saltByteCount, "KDF salt"))
            try PassphraseCustody.check(record)
            return .passphrase(record)
        case "pkcs11":
            guard let uri = custody.uri, custody.kdf == nil else {
                throw EnvelopeError(.keyStore, "a pkcs11 custody records its token URI, and only that")
            }
            try Self.checkTokenURI(uri)
            return .pkcs11(uri: uri)
        default:
            throw EnvelopeError(.keyStore, "unknown key-store custody \(custody.type.prefix(40).debugDescription)")
        }
    }

    /// The `custody` object of a record.
    static func custody(_ record: KEKCustodyRecord) throws -> Custody {
        switch record.storage {
        case .passphrase(let kdf):
            return Custody(type: record.type, kdf: KDF(kdf), uri: nil)
        case .pkcs11(let uri):
            try Self.checkTokenURI(uri)
            return Custody(type: record.type, kdf: nil, uri: uri)
        }
    }

    /// A token URI a store may record: `pkcs11:`, at most ``custodyURILimit`` bytes, no PIN in it.
    static func checkTokenURI(_ uri: String) throws {
        guard uri.hasPrefix("pkcs11:"), uri.utf8.count <= Self.custodyURILimit else {
            throw EnvelopeError(
                .keyStore, "a token custody's URI is a pkcs11: URI (RFC 7512) of at most \(Self.custodyURILimit) bytes")
        }
        guard !uri.lowercased().contains("pin-value") else {
            throw EnvelopeError(.keyStore, "a key store never records a PIN (pin-value) in its token URI")
        }
    }
}
