public import Foundation
import Logging
public import SaMDCrypto
public import SaMDEnvelope

/// The store's recipient key: an X25519 key pair, versioned `recipient:N`, whose public half devices seal their
/// outboxes to (``RecipientPublicKey``) and whose private half opens those envelopes on the gateway, once, to
/// check them and rewrap their headers to the patient's subject key. The versions are kept in the metadata
/// document (covered by its MAC); each private key is wrapped under the KEK version that seals now by the custody
/// (AES-256-GCM with the KEK: in the token for a PKCS#11 custody), exactly as subject keys are, and rewrapped when
/// that version changes. See <doc:KeyManagement>.
extension FileKeyStore {
    /// The public half of the current (active) recipient key version, making version 1 when the store has none and
    /// `createIfAbsent` is set.
    /// - Throws: `EnvelopeError.Code.keyNotFound` when there is none and `createIfAbsent` is `false`;
    ///   `EnvelopeError.Code.keyNotUsable` when no KEK version seals now (none active, its cryptoperiod over);
    ///   the custody's and the persistence's errors.
    public func recipientPublicKey(createIfAbsent: Bool) throws -> RecipientPublicKey {
        if let current = try Self.currentRecipient(in: self.current()) { return current }
        guard createIfAbsent else {
            throw EnvelopeError(.keyNotFound, "the key store has no recipient key yet")
        }
        let (key, created) = try self.mutate { state, now -> (RecipientPublicKey, Bool) in
            // Made by another process meanwhile: that one.
            if let current = try Self.currentRecipient(in: state) { return (current, false) }
            return (try self.appendRecipientVersion(to: &state, now: now), true)
        }
        if created {
            self.logger.notice(
                "recipient key created",
                metadata: ["event": "samd.keys.recipient-created", "key": "\(key.keyIdentifier)"])
        }
        return key
    }

    /// Makes a new recipient key version the current one (version 1 when there is none). The previous current
    /// version is deactivated: it no longer is handed to devices, but it still opens what outboxes sealed to it
    /// hold, until it is destroyed (``destroyRecipientKey(version:)``).
    /// - Returns: the new version's public half.
    /// - Throws: as ``recipientPublicKey(createIfAbsent:)``.
    public func rotateRecipientKey() throws -> RecipientPublicKey {
        let key = try self.mutate { state, now in
            try self.appendRecipientVersion(to: &state, now: now)
        }
        self.logger.notice(
            "recipient key rotated", metadata: ["event": "samd.keys.recipient-rotated", "key": "\(key.keyIdentifier)"])
        return key
    }

    /// Destroys a deactivated recipient key version: its private key is erased from the store. Envelopes still in
    /// devices' outboxes sealed to it can never be opened again — the gateway refuses them
    /// (`recipient-key-unknown`) and their records are lost unless the device still has them in clear. Rotate
    /// first, then wait until every device has delivered what it sealed to the old version.
    /// - Parameter version: the version `N` of `recipient:N`.
    /// - Returns: the receipt (also kept under `receipts/` and logged).
    /// - Throws: `EnvelopeError.Code.keyNotFound` for a version the store never had;
    ///   `EnvelopeError.Code.keyNotUsable` for the current version (rotate first); the persistence's errors.
    ///   Destroying a destroyed version again returns a fresh receipt of the same key.
    public func destroyRecipientKey(version: UInt32) throws -> DestructionReceipt {
        let identifier = try KeyIdentifier(name: StoreFormat.recipientKeyName, version: version)
        let receipt = try self.mutate { state, now -> DestructionReceipt in
            guard var versions = state.recipientKeys,
                let index = versions.firstIndex(where: { $0.version == version })
            else {
                throw EnvelopeError(.keyNotFound, "no recipient key \(identifier)")
            }
            guard versions[index].state != .active else {
                throw EnvelopeError(
                    .keyNotUsable, "\(identifier) is the current recipient key; rotate it before destroying it")
            }
            if versions[index].state != .destroyed {
                versions[index].state = .destroyed
                versions[index].destroyedAt = now
                versions[index].wrapped = nil
                versions[index].wrappedBy = nil
                state.recipientKeys = versions
            }
            return DestructionReceipt(
                key: identifier, destroyedAt: versions[index].destroyedAt ?? now, subjectIndex: nil)
        }
        self.logger.notice(
            "recipient key destroyed", metadata: ["event": "samd.keys.recipient-destroyed", "key": "\(identifier)"])
        self.keep(receipt)
        return receipt
    }

    /// Every recipient key version: identifier, state and dates (never a key), in version order.
    /// - Throws: the persistence's errors; `EnvelopeError.Code.keyStore` for a damaged store.
    public func recipientKeyVersions() throws -> [RecipientKeyStatus] {
        try (self.current().recipientKeys ?? []).map { stored in
            RecipientKeyStatus(
                identifier: try KeyIdentifier(name: StoreFormat.recipientKeyName, version: stored.version),
                state: stored.state, createdAt: stored.createdAt, deactivatedAt: stored.deactivatedAt,
                destroyedAt: stored.destroyedAt)
        }
    }

    /// The private key of recipient key version `identifier` (`recipient:N`), unwrapped by the custody, for
    /// opening an envelope sealed to it (`EnvelopeHeader.WrapMode.recipient`).
    /// - Throws: `EnvelopeError.Code.keyNotFound` for a name other than `recipient` or a version the store does
    ///   not have; `EnvelopeError.Code.keyDestroyed` for a destroyed version; `EnvelopeError.Code.keyStore` when
    ///   the wrapped key does not unwrap (the store was modified); the custody's errors.
    public func recipientPrivateKey(for identifier: KeyIdentifier) throws -> X25519.PrivateKey {
        guard identifier.name == StoreFormat.recipientKeyName else {
            throw EnvelopeError(.keyNotFound, "no recipient key \(identifier)")
        }
        guard let stored = try self.current().recipientKeys?.first(where: { $0.version == identifier.version })
        else {
            throw EnvelopeError(.keyNotFound, "no recipient key \(identifier)")
        }
        guard stored.state != .destroyed, let wrapped = stored.wrapped, let kekID = stored.wrappedBy else {
            throw EnvelopeError(.keyDestroyed, "the recipient key \(identifier) was destroyed")
        }
        let publicKey = try Self.recipientPublicKeyBytes(stored)
        let kek = try self.openingKEK(kekID)
        let bytes = try StoreFormat.decodeBase64(wrapped, limit: 60, "wrapped recipient key")
        guard bytes.count == 60 else { throw EnvelopeError(.keyStore, "a wrapped recipient key is 60 bytes") }
        let material: SecureBytes
        do {
            material = try self.custody.unwrapSubjectKey(
                bytes, underKEK: kekID, try kek.reference(),
                associatedData: StoreFormat.recipientBinding(version: stored.version, kek: kekID, publicKey: publicKey))
        } catch let error as EnvelopeError where error.code == .keyStore {
            throw EnvelopeError(
                .keyStore, "the wrapped recipient key \(identifier) does not unwrap: keystore.json was modified",
                underlying: error.underlying)
        }
        let privateKey = try cryptoCall { try X25519.PrivateKey(rawRepresentation: material) }
        guard privateKey.publicKey.rawRepresentation == publicKey else {
            throw EnvelopeError(.keyStore, "the recipient key \(identifier) does not match its public key")
        }
        return privateKey
    }

    /// Brings every live recipient key version under the version of the default KEK that is active now, in the
    /// state being written by ``mutate(_:)``: after a rotation or activation, the private keys follow the KEK as
    /// subject keys do, in the same write. A version that cannot be rewrapped (its KEK's material unreachable)
    /// stays as it is and is logged; the KEK it names cannot be destroyed while it does.
    func rewrapRecipientKeys(in state: inout StoreFormat.State) {
        guard var versions = state.recipientKeys,
            let kek = state.keys.last(where: {
                $0.metadata.identifier.name == Self.defaultKeyName && $0.metadata.state == .active
            })
        else { return }
        let kekID = kek.metadata.identifier
        var changed = false
        for index in versions.indices where versions[index].state != .destroyed && versions[index].wrappedBy != kekID {
            let stored = versions[index]
            do {
                guard let oldID = stored.wrappedBy, let wrapped = stored.wrapped,
                    let old = state.keys.first(where: { $0.metadata.identifier == oldID })
                else {
                    throw EnvelopeError(.keyStore, "the recipient key names no KEK version")
                }
                let publicKey = try Self.recipientPublicKeyBytes(stored)
                let material = try self.custody.unwrapSubjectKey(
                    try StoreFormat.decodeBase64(wrapped, limit: 60, "wrapped recipient key"), underKEK: oldID,
                    try old.reference(),
                    associatedData: StoreFormat.recipientBinding(
                        version: stored.version, kek: oldID, publicKey: publicKey))
                let rewrapped = try self.custody.wrapSubjectKey(
                    material, underKEK: kekID, try kek.reference(),
                    associatedData: StoreFormat.recipientBinding(
                        version: stored.version, kek: kekID, publicKey: publicKey))
                versions[index].wrapped = Data(rewrapped).base64EncodedString()
                versions[index].wrappedBy = kekID
                changed = true
            } catch {
                self.logger.error(
                    "recipient key not rewrapped",
                    metadata: [
                        "event": "samd.keys.recipient-rewrap-failed",
                        "key": "\(StoreFormat.recipientKeyName):\(stored.version)",
                        "reason": "\((error as? EnvelopeError)?.code.description ?? "io")",
                    ])
            }
        }
        if changed { state.recipientKeys = versions }
    }

    /// Whether a live recipient key version is still wrapped under KEK version `kek` (which then cannot be
    /// destroyed).
    static func recipientKeysWrapped(under kek: KeyIdentifier, in state: StoreFormat.State) -> Int {
        (state.recipientKeys ?? []).filter { $0.state != .destroyed && $0.wrappedBy == kek }.count
    }

    /// The current recipient version's public half, if any.
    private static func currentRecipient(in state: StoreFormat.State) throws -> RecipientPublicKey? {
        guard let stored = state.recipientKeys?.last(where: { $0.state == .active }) else { return nil }
        return RecipientPublicKey(
            keyIdentifier: try KeyIdentifier(name: StoreFormat.recipientKeyName, version: stored.version),
            publicKey: try cryptoCall {
                try X25519.PublicKey(rawRepresentation: try Self.recipientPublicKeyBytes(stored))
            })
    }

    private static func recipientPublicKeyBytes(_ stored: StoreFormat.RecipientKeyVersion) throws -> [UInt8] {
        let bytes = try StoreFormat.decodeBase64(stored.publicKey, limit: 32, "recipient public key")
        guard bytes.count == 32 else { throw EnvelopeError(.keyStore, "a recipient public key is 32 bytes") }
        return bytes
    }

    /// A fresh key pair as the next version, wrapped under the KEK version that seals now, the previous current
    /// version deactivated.
    private func appendRecipientVersion(to state: inout StoreFormat.State, now: Date) throws -> RecipientPublicKey {
        guard
            let kek = state.keys.last(where: {
                $0.metadata.identifier.name == Self.defaultKeyName && $0.metadata.state == .active
            }), kek.metadata.maySeal(at: now)
        else {
            throw EnvelopeError(
                .keyNotUsable, "no version of \(Self.defaultKeyName) seals now to wrap the recipient key under; rotate")
        }
        var versions = state.recipientKeys ?? []
        let (version, overflow) = (versions.map(\.version).max() ?? 0).addingReportingOverflow(1)
        guard !overflow else { throw EnvelopeError(.keyNotUsable, "the recipient key has no version left") }
        let privateKey = try cryptoCall { try X25519.PrivateKey() }
        let publicKey = privateKey.publicKey.rawRepresentation
        let kekID = kek.metadata.identifier
        let wrapped = try self.custody.wrapSubjectKey(
            privateKey.rawRepresentation, underKEK: kekID, try kek.reference(),
            associatedData: StoreFormat.recipientBinding(version: version, kek: kekID, publicKey: publicKey))
        for index in versions.indices where versions[index].state == .active {
            versions[index].state = .deactivated
            versions[index].deactivatedAt = now
        }
        versions.append(
            StoreFormat.RecipientKeyVersion(
                version: version, state: .active, createdAt: now, publicKey: Data(publicKey).base64EncodedString(),
                wrappedBy: kekID, wrapped: Data(wrapped).base64EncodedString()))
        state.recipientKeys = versions
        return RecipientPublicKey(
            keyIdentifier: try KeyIdentifier(name: StoreFormat.recipientKeyName, version: version),
            publicKey: privateKey.publicKey)
    }
}

/// What a key store tells of one recipient key version: never a key.
public struct RecipientKeyStatus: Sendable, Hashable {
    /// `recipient:N`.
    public let identifier: KeyIdentifier
    /// `active` (current: handed to devices), `deactivated` (still opens) or `destroyed`.
    public let state: KeyState
    public let createdAt: Date
    public let deactivatedAt: Date?
    public let destroyedAt: Date?
}
