import Foundation
import SaMDCrypto
import SaMDEnvelope

/// The on-disk shapes of a FileKeyStore (see <doc:KeyStoreFormat>).
enum StoreFormat {
    /// Format version 1: read, never written (the next write of a version 1 store writes version 3).
    static let formatV1 = "samd-keystore-v1"
    /// Format version 2: read, never written (the next write of a version 2 store writes version 3).
    static let formatV2 = "samd-keystore-v2"
    /// The format written: version 3 (``EnvelopeV2``'s shape; its state may hold the recipient key).
    static let format = "samd-keystore-v3"
    /// The version number of ``format``.
    static let formatVersion = 3
    static let storeFileLimit = 16 << 20
    static let subjectFileLimit = 1 << 20

    /// `keystore.json`, format version 1.
    struct Envelope: Codable {
        var format: String
        var kdf: KDF
        /// Base64 of the JSON ``State``.
        var state: String
        /// Base64 of HMAC-SHA-256 over ``macInput``.
        var mac: String
    }

    struct KDF: Codable {
        var algorithm: String
        var iterations: UInt32
        var memory: Int
        /// Base64, 16 bytes.
        var salt: String
    }

    /// Everything but the passphrase-derived keys: metadata in clear, key material wrapped (AES-KWP)
    /// under the store's wrap key; the whole authenticated by the MAC.
    struct State: Codable {
        var generation: UInt64
        var keys: [StoredKey]
        /// The HMAC key for subject blind indexes, wrapped.
        var indexKey: String
        var minimumVersions: [String: UInt32]
        /// The recipient key's versions (format version 3; absent until the first is made).
        var recipientKeys: [RecipientKeyVersion]? = nil
    }

    struct StoredKey: Codable {
        var metadata: ManagedKey
        /// Base64 of AES-KWP(wrap key, material), for a passphrase custody; nil once destroyed.
        var wrapped: String?
        /// The token object holding the material, for a PKCS#11 custody (format version 2 only); nil once
        /// destroyed.
        var object: TokenObject? = nil
    }

    /// A secret-key object in a PKCS#11 token: `CKA_LABEL` and `CKA_ID` (lower-case hex).
    struct TokenObject: Codable, Equatable {
        var label: String
        var id: String
    }

    /// `subjects/s-<hex>.json`.
    struct Subject: Codable {
        var id: String
        var versions: [SubjectVersion]
    }

    struct SubjectVersion: Codable {
        var version: UInt32
        var state: KeyState
        var createdAt: Date
        var destroyedAt: Date?
        /// The KEK version the subject key is wrapped under.
        var wrappedBy: KeyIdentifier?
        /// Base64 of nonce ‖ AES-256-GCM(KEK, subject key, AAD = binding) ‖ tag; nil once destroyed.
        var wrapped: String?
    }

    /// The MAC input of format version 1.
    static func macInput(kdf: KDF, salt: [UInt8], state: [UInt8]) -> [UInt8] {
        var bytes = Array(formatV1.utf8) + [0]
        bytes += withUnsafeBytes(of: kdf.iterations.bigEndian, Array.init)
        bytes += withUnsafeBytes(of: UInt64(kdf.memory).bigEndian, Array.init)
        bytes += salt
        return bytes + state
    }

    static func subjectBinding(id: String, version: UInt32, kek: KeyIdentifier) -> [UInt8] {
        Array("samd-subject-key-v1".utf8) + [0] + Array("\(id):\(version)".utf8) + [0] + Array(kek.description.utf8)
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    static func decodeBase64(_ text: String, limit: Int, _ what: String) throws -> [UInt8] {
        guard text.utf8.count <= (limit + 2) / 3 * 4, let data = Data(base64Encoded: text), data.count <= limit else {
            throw EnvelopeError(.keyStore, "the key store's \(what) is not valid base64 of at most \(limit) bytes")
        }
        return Array(data)
    }
}

extension StoreFormat.StoredKey {
    /// A KEK version: its metadata and where its custody keeps the material.
    init(metadata: ManagedKey, reference: KEKReference) {
        switch reference.storage {
        case .wrappedMaterial(let bytes):
            self.init(metadata: metadata, wrapped: Data(bytes).base64EncodedString())
        case .tokenObject(let label, let id):
            self.init(
                metadata: metadata, wrapped: nil,
                object: StoreFormat.TokenObject(label: label, id: id.lowercaseHexadecimal))
        }
    }

    /// The custody's reference to this version's material.
    /// - Throws: `EnvelopeError.Code.keyDestroyed` once it was destroyed; `EnvelopeError.Code.keyStore` for
    ///   wrapped material that is not base64 of at most 4104 bytes, or a token object whose id is not hex of
    ///   at most 255 bytes.
    func reference() throws -> KEKReference {
        if let wrapped = self.wrapped {
            return .wrappedMaterial(
                try StoreFormat.decodeBase64(wrapped, limit: 4104, "wrapped \(self.metadata.identifier)"))
        }
        if let object = self.object {
            guard let id = StoreFormat.decodeHex(object.id, limit: 255), !object.label.isEmpty,
                object.label.utf8.count <= 255
            else {
                throw EnvelopeError(.keyStore, "the token object of \(self.metadata.identifier) is malformed")
            }
            return .tokenObject(label: object.label, id: id)
        }
        throw EnvelopeError(.keyDestroyed, "\(self.metadata.identifier) was destroyed")
    }

    /// Forgets where the material was: the version is destroyed.
    mutating func dropReference() {
        self.wrapped = nil
        self.object = nil
    }
}

extension StoreFormat {
    /// Lower-case (or upper-case) hex of at most `limit` bytes, or nil.
    static func decodeHex(_ text: String, limit: Int) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0, digits.count <= 2 * limit else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
