import Foundation
import Logging
import SaMDCrypto
public import SaMDEnvelope

/// KEK administration (NIST SP 800-57 Part 1 Rev. 5, §7): new versions (generated in the custody), their
/// states and cryptoperiods, destruction (in the metadata, then in the custody). Every change is a
/// ``mutate(_:)`` of the persisted state under the store lock held exclusive.
extension FileKeyStore {
    public func list() throws -> [ManagedKey] {
        try self.reload().keys.map(\.metadata).sorted { $0.identifier < $1.identifier }
    }

    public func rotate(named name: String) throws -> ManagedKey {
        let key = try self.mutate { state, now in
            let key = try self.appendVersion(of: name, to: &state, now: now)
            Self.activate(key.metadata.identifier, in: &state, now: now)
            return state.keys.last!.metadata
        }
        self.logger.notice("key rotated", metadata: ["event": "samd.keys.rotated", "key": "\(key.identifier)"])
        return key
    }

    public func generate(named name: String) throws -> ManagedKey {
        let key = try self.mutate { state, now in
            try self.appendVersion(of: name, to: &state, now: now).metadata
        }
        self.logger.notice("key generated", metadata: ["event": "samd.keys.generated", "key": "\(key.identifier)"])
        return key
    }

    public func activate(_ key: KeyIdentifier) throws -> ManagedKey {
        let metadata = try self.mutate { state, now in
            guard let index = state.keys.firstIndex(where: { $0.metadata.identifier == key }) else {
                throw EnvelopeError(.keyNotFound, "no key \(key)")
            }
            guard state.keys[index].metadata.state == .preActivation else {
                throw EnvelopeError(
                    .keyNotUsable,
                    "\(key) is \(state.keys[index].metadata.state); only a pre-activation key can be activated")
            }
            Self.activate(key, in: &state, now: now)
            return state.keys[index].metadata
        }
        self.logger.notice("key activated", metadata: ["event": "samd.keys.activated", "key": "\(key)"])
        return metadata
    }

    /// A new pre-activation version of `name`, with the cryptoperiod of its latest version.
    private func appendVersion(of name: String, to state: inout StoreFormat.State, now: Date) throws
        -> StoreFormat.StoredKey
    {
        guard !name.hasPrefix(Self.subjectPrefix) else {
            throw EnvelopeError(
                .malformed, "KEK names may not start with \"\(Self.subjectPrefix)\", which names subject keys")
        }
        guard name != StoreFormat.recipientKeyName else {
            throw EnvelopeError(
                .malformed, "\"\(StoreFormat.recipientKeyName)\" names the store's recipient key, not a KEK")
        }
        let versions = state.keys.filter { $0.metadata.identifier.name == name }.map(\.metadata.identifier.version)
        let cryptoperiod =
            state.keys.last { $0.metadata.identifier.name == name }?.metadata.cryptoperiod ?? Self.defaultCryptoperiod
        let (version, overflow) = (versions.max() ?? 0).addingReportingOverflow(1)
        guard !overflow else {
            throw EnvelopeError(.keyNotUsable, "\(name) has no version left after \(UInt32.max)")
        }
        let identifier = try KeyIdentifier(name: name, version: version)
        let key = StoreFormat.StoredKey(
            metadata: ManagedKey(
                identifier: identifier, state: .preActivation, createdAt: now, activatedAt: nil,
                cryptoperiod: cryptoperiod),
            reference: try self.custody.generateKEK(identifier))
        state.keys.append(key)
        return key
    }

    /// Makes `key` the active version of its name; the previous active version is deactivated.
    private static func activate(_ key: KeyIdentifier, in state: inout StoreFormat.State, now: Date) {
        for index in state.keys.indices where state.keys[index].metadata.identifier.name == key.name {
            if state.keys[index].metadata.identifier == key {
                state.keys[index].metadata.state = .active
                state.keys[index].metadata.activatedAt = now
            } else if state.keys[index].metadata.state == .active {
                state.keys[index].metadata.state = .deactivated
                state.keys[index].metadata.deactivatedAt = now
            }
        }
    }

    public func retire(_ key: KeyIdentifier) throws -> ManagedKey {
        let metadata = try self.changeState(of: key, to: .deactivated, allowedFrom: [.active, .preActivation])
        self.logger.notice("key retired", metadata: ["event": "samd.keys.retired", "key": "\(key)"])
        return metadata
    }

    public func markCompromised(_ key: KeyIdentifier) throws -> ManagedKey {
        let metadata =
            key.name.hasPrefix(Self.subjectPrefix)
            ? try self.markSubjectKeyCompromised(key)
            : try self.changeState(of: key, to: .compromised, allowedFrom: [.active, .deactivated, .preActivation])
        self.logger.critical("key marked compromised", metadata: ["event": "samd.keys.compromised", "key": "\(key)"])
        return metadata
    }

    public func destroy(_ key: KeyIdentifier) throws -> DestructionReceipt {
        // Subject keys are only ever wrapped under the active version, by writers holding the store lock
        // shared. Once this version is seen inactive under the exclusive lock, no writer can wrap a subject
        // key under it any more: the scan of every subject file runs without holding the store lock (with
        // many subjects it is long, and every PUT would wait), and the state is checked again before the
        // version is destroyed.
        let checked = try { () throws -> ManagedKey in
            let lock = try self.storeLock(.exclusive)
            defer { withExtendedLifetime(lock) {} }
            let state = try self.reload()
            return state.keys[try Self.checkDestroyable(key, in: state)].metadata
        }()
        let stillWrapped = try self.subjectKeysWrapped(under: key)
        guard stillWrapped.isEmpty else {
            throw EnvelopeError(
                .keyNotUsable,
                "\(stillWrapped.count) subject key(s) are still wrapped under \(key); rotate (which rewraps them) before destroying it"
            )
        }
        let receipt = try self.mutate { state, now in
            let index = try Self.checkDestroyable(key, in: state)
            // Activated and deactivated again during the scan, it may wrap subject keys the scan did not see.
            guard state.keys[index].metadata == checked else {
                throw EnvelopeError(
                    .keyNotUsable, "\(key) changed state while its subject keys were checked; try again")
            }
            // The custody's material first, then the record: a custody that fails (a token unreachable) leaves
            // the version as it was, and a write that fails after it leaves a version a rerun destroys again —
            // never material that no version refers to any more. (Damaged wrapped material is dropped all the
            // same: it has nothing the custody could destroy.)
            if let reference = try? state.keys[index].reference() {
                try self.custody.destroyKEK(key, reference)
            }
            state.keys[index].metadata.state = .destroyed
            state.keys[index].metadata.destroyedAt = now
            state.keys[index].dropReference()
            return DestructionReceipt(key: key, destroyedAt: now, subjectIndex: nil)
        }
        self.logger.notice("key destroyed", metadata: ["event": "samd.keys.destroyed", "key": "\(key)"])
        self.keep(receipt)
        return receipt
    }

    /// The index of `key` in `state` when it may be destroyed: present, neither active nor destroyed already.
    private static func checkDestroyable(_ key: KeyIdentifier, in state: StoreFormat.State) throws -> Int {
        guard let index = state.keys.firstIndex(where: { $0.metadata.identifier == key }) else {
            throw EnvelopeError(.keyNotFound, "no key \(key)")
        }
        switch state.keys[index].metadata.state {
        case .active:
            throw EnvelopeError(.keyNotUsable, "\(key) is active; rotate or retire it before destroying it")
        case .destroyed:
            throw EnvelopeError(.keyDestroyed, "\(key) is already destroyed")
        default:
            // The recipient key is rewrapped with every write once another version is active: one still under
            // this version could not be (its material unreachable then) — destroying would lose it.
            let recipients = Self.recipientKeysWrapped(under: key, in: state)
            guard recipients == 0 else {
                throw EnvelopeError(
                    .keyNotUsable,
                    "the recipient key is still wrapped under \(key); rotate (which rewraps it) before destroying it")
            }
            return index
        }
    }

    public func setMinimumOpeningVersion(_ version: UInt32, named name: String) throws {
        try self.mutate { state, _ in
            state.minimumVersions[name] = version
        }
        self.logger.notice(
            "minimum opening version set",
            metadata: ["event": "samd.keys.minimum-version-set", "name": "\(name)", "version": "\(version)"])
    }

    // MARK: Internals

    private func changeState(of key: KeyIdentifier, to newState: KeyState, allowedFrom: Set<KeyState>) throws
        -> ManagedKey
    {
        try self.mutate { state, now in
            guard let index = state.keys.firstIndex(where: { $0.metadata.identifier == key }) else {
                throw EnvelopeError(.keyNotFound, "no key \(key)")
            }
            let current = state.keys[index].metadata.state
            guard allowedFrom.contains(current) else {
                throw EnvelopeError(.keyNotUsable, "\(key) is \(current); it cannot become \(newState)")
            }
            state.keys[index].metadata.state = newState
            switch newState {
            case .deactivated: state.keys[index].metadata.deactivatedAt = now
            case .compromised: state.keys[index].metadata.compromisedAt = now
            default: break
            }
            return state.keys[index].metadata
        }
    }
}
