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
    /// How long after activation the key may seal (its originator-usage period, NIST SP 800-57 Part 1 Rev. 5
    /// §5.3). Kept in `keystore.json` as a number of seconds.
    public var cryptoperiod: Duration

    /// When sealing with the key stops being allowed.
    public var sealingEndsAt: Date? {
        self.activatedAt.map { $0.addingTimeInterval(self.cryptoperiod.timeInterval) }
    }

    /// Whether the key may seal at `now`: active and within its cryptoperiod.
    public func maySeal(at now: Date) -> Bool {
        self.state == .active && (self.sealingEndsAt.map { now < $0 } ?? false)
    }
}

extension ManagedKey {
    private enum CodingKeys: String, CodingKey {
        case identifier, state, createdAt, activatedAt, deactivatedAt, compromisedAt, destroyedAt, cryptoperiod
    }

    /// Decodes the form ``encode(to:)`` writes: the cryptoperiod a number of seconds, as `keystore.json` has
    /// always kept it.
    /// - Throws: `DecodingError` for a missing or mistyped field, or a cryptoperiod that is not a finite
    ///   number of seconds of magnitude under 2^63.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.identifier = try container.decode(KeyIdentifier.self, forKey: .identifier)
        self.state = try container.decode(KeyState.self, forKey: .state)
        self.createdAt = try container.decode(Date.self, forKey: .createdAt)
        self.activatedAt = try container.decodeIfPresent(Date.self, forKey: .activatedAt)
        self.deactivatedAt = try container.decodeIfPresent(Date.self, forKey: .deactivatedAt)
        self.compromisedAt = try container.decodeIfPresent(Date.self, forKey: .compromisedAt)
        self.destroyedAt = try container.decodeIfPresent(Date.self, forKey: .destroyedAt)
        guard let cryptoperiod = Duration(timeInterval: try container.decode(Double.self, forKey: .cryptoperiod)) else {
            throw DecodingError.dataCorruptedError(
                forKey: .cryptoperiod, in: container, debugDescription: "the cryptoperiod is not a number of seconds")
        }
        self.cryptoperiod = cryptoperiod
    }

    /// Encodes the key's metadata with the cryptoperiod as a number of seconds (a JSON number in
    /// `keystore.json`), absent dates left out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.identifier, forKey: .identifier)
        try container.encode(self.state, forKey: .state)
        try container.encode(self.createdAt, forKey: .createdAt)
        try container.encodeIfPresent(self.activatedAt, forKey: .activatedAt)
        try container.encodeIfPresent(self.deactivatedAt, forKey: .deactivatedAt)
        try container.encodeIfPresent(self.compromisedAt, forKey: .compromisedAt)
        try container.encodeIfPresent(self.destroyedAt, forKey: .destroyedAt)
        try container.encode(self.cryptoperiod.timeInterval, forKey: .cryptoperiod)
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
