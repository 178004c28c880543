import Foundation
import SaMDCrypto
import SaMDEnvelope

/// The on-disk shapes of a FileKeyStore (see <doc:KeyManagement>).
enum StoreFormat {
    static let format = "samd-keystore-v1"
    static let storeFileLimit = 16 << 20
    static let subjectFileLimit = 1 << 20

    /// `keystore.json`.
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
    }

    struct StoredKey: Codable {
        var metadata: ManagedKey
        /// Base64 of AES-KWP(wrap key, material); nil once destroyed.
        var wrapped: String?
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

    static func macInput(kdf: KDF, salt: [UInt8], state: [UInt8]) -> [UInt8] {
        var bytes = Array(format.utf8) + [0]
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
    /// A KEK version as format v1 keeps it: its metadata and its custody reference's wrapped material.
    /// - Throws: `EnvelopeError.Code.keyStore` for a reference format v1 cannot record (a token object).
    init(metadata: ManagedKey, reference: KEKReference) throws {
        guard let wrapped = reference.wrappedMaterial else {
            throw EnvelopeError(
                .keyStore, "\(StoreFormat.format) cannot record \(metadata.identifier) as a token object")
        }
        self.init(metadata: metadata, wrapped: Data(wrapped).base64EncodedString())
    }

    /// The custody's reference to this version's material.
    /// - Throws: `EnvelopeError.Code.keyDestroyed` once it was destroyed; `EnvelopeError.Code.keyStore` for
    ///   wrapped material that is not base64 of at most 4104 bytes.
    func reference() throws -> KEKReference {
        guard let wrapped = self.wrapped else {
            throw EnvelopeError(.keyDestroyed, "\(self.metadata.identifier) was destroyed")
        }
        return .wrappedMaterial(
            try StoreFormat.decodeBase64(wrapped, limit: 4104, "wrapped \(self.metadata.identifier)"))
    }
}
