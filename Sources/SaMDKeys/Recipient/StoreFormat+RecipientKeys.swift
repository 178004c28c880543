import Foundation
import SaMDEnvelope

/// The recipient key's versions in the key store's state (format version 3, `recipientKeys`; see
/// <doc:KeyStoreFormat>): metadata and the public key in clear, the private key wrapped under a KEK version by
/// the custody — like a subject key — and the whole covered by the metadata MAC.
extension StoreFormat {
    /// The name every recipient key version has (`recipient:N`).
    static let recipientKeyName = RecipientPublicKey.keyName

    /// One version of the store's X25519 recipient key.
    struct RecipientKeyVersion: Codable {
        var version: UInt32
        /// `active` (the version devices are given), `deactivated` (opens what outboxes still hold) or `destroyed`.
        var state: KeyState
        var createdAt: Date
        var deactivatedAt: Date?
        var destroyedAt: Date?
        /// Base64 of the 32-byte X25519 public key.
        var publicKey: String
        /// The KEK version the private key is wrapped under; nil once destroyed.
        var wrappedBy: KeyIdentifier?
        /// Base64 of nonce ‖ AES-256-GCM(KEK, private key, AAD = ``recipientBinding(version:kek:publicKey:)``) ‖
        /// tag (60 bytes); nil once destroyed.
        var wrapped: String?
    }

    /// The associated data of a wrapped recipient private key: `"samd-recipient-key-v1" ‖ 0x00 ‖ "recipient:N" ‖
    /// 0x00 ‖ KEK identifier (`name:version`) ‖ 0x00 ‖ the 32-byte public key`.
    static func recipientBinding(version: UInt32, kek: KeyIdentifier, publicKey: [UInt8]) -> [UInt8] {
        Array("samd-recipient-key-v1".utf8) + [0] + Array("\(recipientKeyName):\(version)".utf8) + [0]
            + Array(kek.description.utf8) + [0] + publicKey
    }
}
