/// The NIST transition dates of one CBOM algorithm asset, as the bundled transition table
/// (`Resources/transitions.json`) classifies it by rule.
///
/// Two steps, as NIST SP 800-131A Rev. 2 §1.2.2 defines them and NIST IR 8547 (initial public draft, November
/// 2024) §4 schedules them for quantum-vulnerable public-key algorithms:
/// - **deprecated**: "may be used, but there is some security risk": the data owner must examine the risk and
///   accept it. IR 8547 Table 2 (signatures) and Table 4 (key establishment): RSA, ECDSA, finite-field and
///   elliptic-curve DH at 112 bits of security strength are deprecated after 2030.
/// - **disallowed**: no longer to be used. IR 8547: every RSA, ECDSA, EdDSA, DH and ECDH use is disallowed after
///   2035, whatever its strength.
///
/// "Deprecated after 2030" means allowed through 2030-12-31: the dates here are that last day (`YYYY-MM-DD`),
/// and a use is past its step on every day after it (from 2031-01-01 on).
public struct AlgorithmTransition: Sendable, Hashable {
    /// Where an asset stands on a given day.
    public enum Status: String, Sendable, Hashable {
        /// Before every date of its rule (or no rule applies).
        case acceptable
        /// After ``AlgorithmTransition/deprecatedAfter`` and not after ``AlgorithmTransition/disallowedAfter``.
        case deprecated
        /// After ``AlgorithmTransition/disallowedAfter``.
        case disallowed
    }

    /// The table entry that matched (`rsa-signature-112`, …); nil: no rule matched, no transition scheduled.
    public var rule: String?
    /// The family the entry names ("RSA", "Elliptic Curve DH and MQV", …); nil when no rule matched.
    public var family: String?
    /// The last day (`YYYY-MM-DD`) before the use is deprecated; nil when the rule has no deprecation step.
    public var deprecatedAfter: String?
    /// The last day (`YYYY-MM-DD`) before the use is disallowed; nil when the rule has no date for it.
    public var disallowedAfter: String?
    /// The document, its date and the table row the entry follows, e.g. "NIST IR 8547 initial public draft
    /// (2024-11), Table 2: RSA, 112 bits of security strength: deprecated after 2030 and disallowed after 2035".
    public var source: String?
    /// The transition table's `as_of` date (`YYYY-MM-DD`).
    public var tableDate: String

    /// "deprecated after 2030-12-31, disallowed after 2035-12-31", or "no transition scheduled".
    public var dates: String {
        let steps = [
            self.deprecatedAfter.map { "deprecated after \($0)" },
            self.disallowedAfter.map { "disallowed after \($0)" },
        ].compactMap { $0 }
        return self.rule == nil || steps.isEmpty ? "no transition scheduled" : steps.joined(separator: ", ")
    }

    /// The status on `day` (`YYYY-MM-DD`, UTC): past a date means strictly after it.
    public func status(on day: String) -> Status {
        if let disallowedAfter, day > disallowedAfter { return .disallowed }
        if let deprecatedAfter, day > deprecatedAfter { return .deprecated }
        return .acceptable
    }
}

extension CryptographicAsset {
    /// Whether a cryptographically relevant quantum computer breaks the algorithm (Shor's algorithm): true for
    /// the public-key primitives (key agreement, signatures, public-key encryption, KEMs) whose NIST quantum
    /// security category is 0 — RSA, ECDSA, EdDSA, ECDH, X25519, DH; false for symmetric primitives and hash
    /// functions (Grover only halves their strength, which their category already states) and for a KEM with a
    /// category above 0 (ML-KEM). nil for protocol assets and assets without a primitive.
    /// - SeeAlso: NIST IR 8547 ipd §3 (quantum-vulnerable algorithms).
    public var isQuantumVulnerable: Bool? {
        guard self.assetType == .algorithm, let primitive = self.primitive else { return nil }
        guard ["key-agree", "signature", "pke", "kem"].contains(primitive) else { return false }
        return self.nistQuantumSecurityLevel == 0
    }

    /// The CycloneDX properties of the asset's transition and quantum vulnerability (CycloneDX 1.6 has no
    /// field for either; `nistQuantumSecurityLevel` is the category, not a date).
    var transitionProperties: [String: String] {
        var properties: [String: String] = [:]
        if let vulnerable = self.isQuantumVulnerable { properties["samd:quantumVulnerable"] = String(vulnerable) }
        guard let transition = self.transition else { return properties }
        properties["samd:nist:transitionTableDate"] = transition.tableDate
        properties["samd:nist:transition"] = transition.dates
        if let date = transition.deprecatedAfter { properties["samd:nist:deprecatedAfter"] = date }
        if let date = transition.disallowedAfter { properties["samd:nist:disallowedAfter"] = date }
        if let source = transition.source { properties["samd:nist:transitionSource"] = source }
        return properties
    }
}
