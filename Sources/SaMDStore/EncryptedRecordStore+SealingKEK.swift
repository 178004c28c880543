import Foundation
import SaMDEnvelope
import SaMDKeys

extension EncryptedRecordStore {
    /// The version of the KEK `name` that seals now — active, within its cryptoperiod — read from the key store's
    /// metadata (`list()`), never from its custody: `sealingKey(named:)` would ask for the KEK's material, which a
    /// PKCS#11 token never exports (`EnvelopeError.Code.keyNotUsable`), although the token wraps subject keys
    /// under that version. What the rotation and re-key jobs need is the version, not the material.
    /// - Throws: ``RecordStoreError/Code/keyUnavailable`` when no version of `name` is active or the active one's
    ///   cryptoperiod has ended (rotate first), or the key store cannot be read.
    static func sealingKEK(named name: String, in keys: any KeyStore, now: Date = Date()) throws -> KeyIdentifier {
        try Self.keyCall {
            let versions = try keys.list().filter { $0.identifier.name == name }
            guard !versions.isEmpty else { throw EnvelopeError(.keyNotFound, "no key named \(name)") }
            guard let active = versions.last(where: { $0.state == .active }) else {
                throw EnvelopeError(.keyNotUsable, "no version of \(name) is active; rotate to make one")
            }
            guard active.maySeal(at: now) else {
                throw EnvelopeError(.keyNotUsable, "the cryptoperiod of \(active.identifier) has ended; rotate")
            }
            return active.identifier
        }
    }
}
