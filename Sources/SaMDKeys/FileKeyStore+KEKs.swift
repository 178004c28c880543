import Foundation
import Logging
public import SaMDCrypto
public import SaMDEnvelope

/// KEK lifecycle (NIST SP 800-57 Part 1 Rev. 5, §7): versions, their states and cryptoperiods, sealing and
/// opening with them, destruction. Persisted through the key-store document (`FileKeyStore+Document.swift`).
extension FileKeyStore {
    public func list() throws -> [ManagedKey] {
        try self.reload().keys.map(\.metadata).sorted { $0.identifier < $1.identifier }
    }

    public func sealingKey(named name: String) throws -> SealingKey {
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
        return .keyEncryptionKey(active.metadata.identifier, try self.unwrap(active))
    }

    public func keyEncryptionKey(for identifier: KeyIdentifier) throws -> SecureBytes {
        if identifier.name.hasPrefix(Self.subjectPrefix) {
            return try self.subjectKey(for: identifier)
        }
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
        return try self.unwrap(stored)
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
        let versions = state.keys.filter { $0.metadata.identifier.name == name }.map(\.metadata.identifier.version)
        let cryptoperiod =
            state.keys.last { $0.metadata.identifier.name == name }?.metadata.cryptoperiod ?? Self.defaultCryptoperiod
        let (version, overflow) = (versions.max() ?? 0).addingReportingOverflow(1)
        guard !overflow else {
            throw EnvelopeError(.keyNotUsable, "\(name) has no version left after \(UInt32.max)")
        }
        var key = try Self.newKey(
            KeyIdentifier(name: name, version: version), cryptoperiod: cryptoperiod, now: now, wrapKey: self.wrapKey)
        key.metadata.state = .preActivation
        key.metadata.activatedAt = nil
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
        let checked = try self.storeLock(.exclusive).withLock { () throws -> ManagedKey in
            let state = try self.reload()
            return state.keys[try Self.checkDestroyable(key, in: state)].metadata
        }
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
            state.keys[index].metadata.state = .destroyed
            state.keys[index].metadata.destroyedAt = now
            state.keys[index].wrapped = nil
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

    public func whileSealingKeyIsCurrent<T>(_ key: KeyIdentifier, _ body: () throws -> T) throws -> T {
        // A KEK changes state only under the exclusive store lock, a subject key only under its own lock.
        let locks =
            key.name.hasPrefix(Self.subjectPrefix) ? try self.subjectLock(key.name) : (try self.storeLock(.shared), nil)
        defer { withExtendedLifetime(locks) {} }
        if key.name.hasPrefix(Self.subjectPrefix) {
            // The subject's live version, wrapped under the KEK version that seals now.
            let kek = try self.sealingKey(named: Self.defaultKeyName).identifier
            guard let record = try self.readSubject(key.name),
                let live = record.versions.last(where: { $0.state == .active }),
                live.version == key.version, live.wrappedBy == kek
            else {
                throw EnvelopeError(
                    .keyNotUsable,
                    "\(key) is no longer a current sealing key (shredded, replaced, or its KEK rotated); seal again")
            }
        } else {
            guard (try? self.sealingKey(named: key.name))?.identifier == key else {
                throw EnvelopeError(
                    .keyNotUsable,
                    "\(key) is no longer the sealing version of \(key.name) (rotated, retired, expired or destroyed); seal again"
                )
            }
        }
        return try body()
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

    func unwrap(_ stored: StoreFormat.StoredKey) throws -> SecureBytes {
        guard let wrapped = stored.wrapped else {
            throw EnvelopeError(.keyDestroyed, "\(stored.metadata.identifier) was destroyed")
        }
        return try Self.unwrap(wrapped, under: self.wrapKey, what: "\(stored.metadata.identifier)")
    }

    static func newKey(_ identifier: KeyIdentifier, cryptoperiod: Duration, now: Date, wrapKey: SecureBytes) throws
        -> StoreFormat.StoredKey
    {
        let material = try self.crypto { try SecureBytes(randomByteCount: 32) }
        return StoreFormat.StoredKey(
            metadata: ManagedKey(
                identifier: identifier, state: .active, createdAt: now, activatedAt: now, cryptoperiod: cryptoperiod),
            wrapped: try self.wrap(material, under: wrapKey)
        )
    }
}
