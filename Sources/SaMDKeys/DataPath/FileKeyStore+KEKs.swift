import Foundation
import Logging
public import SaMDCrypto
public import SaMDEnvelope

/// The data path's KEKs: which version seals, which versions open, and the check that a sealing key is still
/// current when a record is made durable. KEK material leaves the custody only for a caller that seals or
/// opens directly under a KEK (``sealingKey(named:)``, `keyEncryptionKey(for:)`); subject keys are wrapped
/// and unwrapped inside the custody.
extension FileKeyStore {
    public func sealingKEKIdentifier(named name: String) throws -> KeyIdentifier {
        try self.sealingKEK(named: name).metadata.identifier
    }

    public func sealingKey(named name: String) throws -> SealingKey {
        let active = try self.sealingKEK(named: name)
        return .keyEncryptionKey(
            active.metadata.identifier, try self.custody.exportKEK(active.metadata.identifier, try active.reference()))
    }

    public func keyEncryptionKey(for identifier: KeyIdentifier) throws -> SecureBytes {
        if identifier.name.hasPrefix(Self.subjectPrefix) {
            return try self.subjectKey(for: identifier)
        }
        let stored = try self.openingKEK(identifier)
        return try self.custody.exportKEK(identifier, try stored.reference())
    }

    public func whileSealingKeyIsCurrent<T>(_ key: KeyIdentifier, _ body: () throws -> T) throws -> T {
        // The fast path for a cached subject key: the subject's lock, shared — a subject key changes only under
        // its lock held exclusive, so it cannot be shredded, re-keyed or rewrapped while `body` runs — and the
        // cached entry still valid. No store-wide lock: a KEK change meanwhile does not touch the subject key the
        // record is sealed under.
        if key.name.hasPrefix(Self.subjectPrefix) {
            _ = try self.current()
            let lock = try self.persistence.lockSubject(named: key.name, .shared)
            defer { withExtendedLifetime(lock) {} }
            if let validity = self.subjectKeyValidity(key.name), self.subjectKeys.isSealingKey(key, validity: validity)
            {
                return try body()
            }
        }
        // A KEK changes state only under the exclusive store lock, a subject key only under its own lock.
        let locks =
            key.name.hasPrefix(Self.subjectPrefix) ? try self.subjectLock(key.name) : (try self.storeLock(.shared), nil)
        defer { withExtendedLifetime(locks) {} }
        if key.name.hasPrefix(Self.subjectPrefix) {
            // The subject's live version, wrapped under the KEK version that seals now.
            let kek = try self.sealingKEK(named: Self.defaultKeyName).metadata.identifier
            guard let record = try self.readSubject(key.name),
                let live = record.versions.last(where: { $0.state == .active }),
                live.version == key.version, live.wrappedBy == kek
            else {
                throw EnvelopeError(
                    .keyNotUsable,
                    "\(key) is no longer a current sealing key (shredded, replaced, or its KEK rotated); seal again")
            }
        } else {
            guard (try? self.sealingKEK(named: key.name))?.metadata.identifier == key else {
                throw EnvelopeError(
                    .keyNotUsable,
                    "\(key) is no longer the sealing version of \(key.name) (rotated, retired, expired or destroyed); seal again"
                )
            }
        }
        return try body()
    }

    /// The version of `name` that seals now: active, within its cryptoperiod, not below the minimum opening
    /// version. Its material stays in the custody.
    /// - Throws: `EnvelopeError.Code.keyNotUsable`; `EnvelopeError.Code.keyNotFound`.
    func sealingKEK(named name: String) throws -> StoreFormat.StoredKey {
        let state = try self.current()
        let now = self.now()
        guard
            let active = state.keys.last(where: { $0.metadata.identifier.name == name && $0.metadata.state == .active })
        else {
            guard state.keys.contains(where: { $0.metadata.identifier.name == name }) else {
                throw EnvelopeError(.keyNotFound, "no key named \(name)")
            }
            throw EnvelopeError(.keyNotUsable, "no version of \(name) is active; rotate to make one")
        }
        guard active.metadata.maySeal(at: now) else {
            throw EnvelopeError(
                .keyNotUsable,
                "the cryptoperiod of \(active.metadata.identifier) ended at \(active.metadata.sealingEndsAt.map { "\($0)" } ?? "activation"); rotate"
            )
        }
        if let minimum = state.minimumVersions[name], active.metadata.identifier.version < minimum {
            throw EnvelopeError(
                .keyNotUsable,
                "\(active.metadata.identifier) is below the minimum opening version \(minimum): what it sealed could not be opened; rotate"
            )
        }
        return active
    }

    /// The KEK version `identifier` when it may open: not destroyed, activated, not below the minimum
    /// opening version (a compromised one opens, and is logged). Its material stays in the custody.
    /// - Throws: `EnvelopeError.Code.keyDestroyed`; `EnvelopeError.Code.keyNotUsable`;
    ///   `EnvelopeError.Code.keyNotFound`.
    func openingKEK(_ identifier: KeyIdentifier) throws -> StoreFormat.StoredKey {
        let state = try self.current()
        guard let stored = state.keys.first(where: { $0.metadata.identifier == identifier }) else {
            throw EnvelopeError(.keyNotFound, "no key \(identifier) in the key store")
        }
        switch stored.metadata.state {
        case .destroyed:
            throw EnvelopeError(.keyDestroyed, "\(identifier) was destroyed; what it wrapped cannot be opened")
        case .preActivation:
            throw EnvelopeError(.keyNotUsable, "\(identifier) is not activated yet")
        case .compromised:
            self.logger.warning(
                "opening with a compromised key",
                metadata: ["event": "samd.keys.compromised-key-used", "key": "\(identifier)"])
        case .active, .deactivated:
            break
        }
        if let minimum = state.minimumVersions[identifier.name], identifier.version < minimum {
            throw EnvelopeError(
                .keyNotUsable, "\(identifier) is below the minimum version \(minimum) allowed for opening")
        }
        return stored
    }
}
