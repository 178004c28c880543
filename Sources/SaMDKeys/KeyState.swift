public import Foundation
public import SaMDEnvelope

/// The states of a key (NIST SP 800-57 Part 1 Rev. 5, §7).
public enum KeyState: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Generated, not yet usable.
    case preActivation = "pre-activation"
    /// Seals and opens, within its cryptoperiod.
    case active
    /// Opens only (retired from sealing).
    case deactivated
    /// Suspected or known to be compromised: never seals; opens only so data can be rewrapped away from it.
    case compromised
    /// Its material is gone; whatever it protected cannot be opened again.
    case destroyed

    public var description: String {
        self.rawValue
    }
}

/// What a key store knows of one key version: identity, state, dates — never its material.
public struct ManagedKey: Sendable, Hashable, Codable {
    public var identifier: KeyIdentifier
    public var state: KeyState
    public var createdAt: Date
    public var activatedAt: Date?
    public var deactivatedAt: Date?
    public var compromisedAt: Date?
    public var destroyedAt: Date?
    /// How long after activation the key may seal, in seconds (its originator-usage period).
    public var cryptoperiod: TimeInterval

    /// When sealing with the key stops being allowed.
    public var sealingEndsAt: Date? {
        self.activatedAt.map { $0.addingTimeInterval(self.cryptoperiod) }
    }

    /// Whether the key may seal at `now`: active and within its cryptoperiod.
    public func maySeal(at now: Date) -> Bool {
        self.state == .active && (self.sealingEndsAt.map { now < $0 } ?? false)
    }
}

/// The record of a destruction (a KEK version or a subject key): which key, when. Kept and logged.
public struct DestructionReceipt: Sendable, Hashable, Codable {
    /// The destroyed key.
    public let key: KeyIdentifier
    /// When its material was erased.
    public let destroyedAt: Date
    /// For a subject key: the subject's blind index (hex), never the subject identifier itself.
    public let subjectIndex: String?

    /// A receipt as a key store issued it; public for stores that keep receipts elsewhere (a database).
    public init(key: KeyIdentifier, destroyedAt: Date, subjectIndex: String?) {
        self.key = key
        self.destroyedAt = destroyedAt
        self.subjectIndex = subjectIndex
    }
}
