public import SaMDEnvelope

extension KeyStore {
    /// The identifier of the version of the KEK `name` that seals now — active, within its cryptoperiod, not
    /// below the minimum opening version: the one new subject keys are wrapped under — found without its
    /// material, so whatever the custody. `sealingKey(named:)` gives the material too, which a token custody
    /// never gives out (it throws `EnvelopeError.Code.keyNotUsable` there); ask this instead to learn the version.
    /// - Throws: `EnvelopeError.Code.keyNotFound` when no version of `name` exists;
    ///   `EnvelopeError.Code.keyNotUsable` when none may seal (none active, its cryptoperiod over, below the
    ///   minimum opening version); `EnvelopeError.Code.keyUnavailable` past the lock timeout;
    ///   `EnvelopeError.Code.keyStore`.
    public func sealingKEKIdentifier(named name: String) throws -> KeyIdentifier {
        let versions = try self.list().filter { $0.identifier.name == name }
        guard !versions.isEmpty else { throw EnvelopeError(.keyNotFound, "no key named \(name)") }
        guard
            let active = versions.filter({ $0.state == .active }).max(by: {
                $0.identifier.version < $1.identifier.version
            })
        else {
            throw EnvelopeError(.keyNotUsable, "no version of \(name) is active; rotate to make one")
        }
        // The store's own check of the version that seals now (cryptoperiod, minimum opening version).
        return try self.whileSealingKeyIsCurrent(active.identifier) { active.identifier }
    }
}
