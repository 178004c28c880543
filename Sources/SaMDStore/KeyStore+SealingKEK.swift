// Which KEK version seals now, read from the key store's metadata: the jobs need its identifier, never its material.

import Foundation
import SaMDEnvelope
import SaMDKeys

extension KeyStore {
    /// The identifier of the version of `name` that seals now (active, within its cryptoperiod at `now`), from
    /// ``KeyAdministration/list()``: unlike ``KeyRing/sealingKey(named:)`` it exports no KEK material, so it
    /// answers for a custody that never lets a KEK leave it (a PKCS #11 token) as for a passphrase store.
    /// - Throws: `EnvelopeError.Code.keyNotFound` when no version of `name` exists; `keyNotUsable` when none is
    ///   active or the active one's cryptoperiod has ended (as `sealingKey(named:)`); the store's errors.
    func sealingKEKIdentifier(named name: String, now: Date = Date()) throws -> KeyIdentifier {
        let versions = try self.list().filter { $0.identifier.name == name }
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
