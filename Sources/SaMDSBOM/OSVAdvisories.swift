import Foundation

extension VulnerabilityCheck {
    /// One OSV record, as far as the check and the VEX documents read it.
    /// - SeeAlso: https://ossf.github.io/osv-schema/ (§id, §aliases, §summary, §severity, §affected, §references)
    struct Advisory: Sendable {
        struct Affected: Sendable {
            var ecosystem: String
            var name: String
            var ranges: [(type: String, events: [(kind: String, version: String)])]
            var versions: [String]
        }
        var id: String
        var aliases: [String]
        var summary: String?
        var affected: [Affected]
        /// `severity[]`: the CVSS vectors (`type` CVSS_V2, CVSS_V3 or CVSS_V4; `score` the vector string).
        var severity: [VulnerabilityAssessment.Rating] = []
        /// `references[].url` that are absolute http(s) URLs, in record order.
        var references: [String] = []
    }

    static func parseAdvisories(_ data: Data) throws -> [Advisory] {
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw SBOMError(.malformedInput, "the advisories file is not JSON")
        }
        let list: [Any]
        if let array = json as? [Any] {
            list = array
        } else if let object = json as? [String: Any], let vulns = object["vulns"] as? [Any] {
            list = vulns
        } else if let object = json as? [String: Any], object["id"] != nil {
            list = [object]
        } else {
            throw SBOMError(
                .malformedInput,
                "the advisories file is neither an OSV record, an array of them, nor {\"vulns\": [...]}")
        }
        return try list.enumerated().map { index, item in
            // A blank text counts as absent, wherever the check reads one.
            guard let record = item as? [String: Any], let id = Self.text(record["id"]) else {
                throw SBOMError(.malformedInput, "advisory #\(index) has no non-blank string \"id\"")
            }
            // Every field the check reads is type-checked: a record silently read as empty would hide an advisory.
            guard let affectedList = try Self.optionalArray(record["affected"], "advisory \(id): affected") else {
                return Advisory(
                    id: id, aliases: try Self.strings(record["aliases"], "advisory \(id): aliases"),
                    summary: Self.text(record["summary"]), affected: [], severity: try Self.severity(record, id),
                    references: try Self.references(record, id))
            }
            let affected = try affectedList.map { item -> Advisory.Affected in
                guard let entry = item as? [String: Any], let package = entry["package"] as? [String: Any],
                    let ecosystem = Self.text(package["ecosystem"]), let name = Self.text(package["name"])
                else {
                    throw SBOMError(
                        .malformedInput,
                        "advisory \(id): affected[] needs a non-blank package.ecosystem and package.name")
                }
                let ranges = try (Self.optionalArray(entry["ranges"], "advisory \(id): ranges") ?? []).map {
                    item -> (type: String, events: [(kind: String, version: String)]) in
                    guard let range = item as? [String: Any], let type = range["type"] as? String,
                        let events = range["events"] as? [[String: Any]],
                        !events.isEmpty
                    else {
                        throw SBOMError(.malformedInput, "advisory \(id): a range needs a type and at least one event")
                    }
                    return (
                        type,
                        try events.map { event in
                            // OSV: each event is one of introduced / fixed / last_affected / limit, with a string version.
                            guard event.count == 1, let (kind, value) = event.first,
                                ["introduced", "fixed", "last_affected", "limit"].contains(kind),
                                let version = Self.text(value)
                            else {
                                throw SBOMError(
                                    .malformedInput,
                                    "advisory \(id): an event is one of introduced, fixed, last_affected, limit with a version string"
                                )
                            }
                            return (kind, version)
                        }
                    )
                }
                return .init(
                    ecosystem: ecosystem, name: name, ranges: ranges,
                    versions: try Self.strings(entry["versions"], "advisory \(id): versions"))
            }
            return Advisory(
                id: id, aliases: try Self.strings(record["aliases"], "advisory \(id): aliases"),
                summary: Self.text(record["summary"]), affected: affected, severity: try Self.severity(record, id),
                references: try Self.references(record, id))
        }
    }

    /// OSV `severity[]`: each entry an object with string `type` and `score`; the CVSS types are kept (the score is
    /// the vector), other types (Ubuntu's priorities) are left out, and so is a CVSS vector that is not of its
    /// type's form (the advisory is kept: its affected versions, not its rating, make the finding).
    static func severity(_ record: [String: Any], _ id: String) throws -> [VulnerabilityAssessment.Rating] {
        try (Self.optionalArray(record["severity"], "advisory \(id): severity") ?? []).compactMap { item in
            guard let entry = item as? [String: Any], let type = entry["type"] as? String,
                let score = entry["score"] as? String
            else {
                throw SBOMError(.malformedInput, "advisory \(id): a severity needs a string type and score")
            }
            return VulnerabilityAssessment.Rating(osvType: type, vector: score)
        }
    }

    /// OSV `references[]`: objects with a string `url`; only absolute http(s) URLs are kept (they are handed on in
    /// documents whose schemas require URIs).
    static func references(_ record: [String: Any], _ id: String) throws -> [String] {
        try (Self.optionalArray(record["references"], "advisory \(id): references") ?? []).compactMap { item in
            guard let entry = item as? [String: Any], let url = entry["url"] as? String else {
                throw SBOMError(.malformedInput, "advisory \(id): a reference needs a string url")
            }
            return SBOMInventory.isAbsoluteHTTPURL(url) ? url : nil
        }
    }

    /// `value` as an array, nil when absent; anything else is malformed.
    static func optionalArray(_ value: Any?, _ what: String) throws -> [Any]? {
        guard let value, !(value is NSNull) else { return nil }
        guard let array = value as? [Any] else { throw SBOMError(.malformedInput, "\(what) must be an array") }
        return array
    }

    /// `value` as an array of strings, empty when absent; anything else is malformed.
    static func strings(_ value: Any?, _ what: String) throws -> [String] {
        guard let array = try self.optionalArray(value, what) else { return [] }
        guard let strings = array as? [String] else {
            throw SBOMError(.malformedInput, "\(what) must be an array of strings")
        }
        return strings
    }

    /// What an advisory says of a component whose key (ecosystem and name) one of its entries names.
    enum Verdict: Sendable, Hashable {
        /// The running version is listed or lies in a range; the first fixed version of that range, if any.
        case affected(fixedIn: String?)
        /// The running version is neither listed nor in a range; the highest `fixed` event at or below it (the fix
        /// the running version carries), if any.
        case unaffected(fixedIn: String?)
    }

    /// nil when no entry of `record` names a key of `component`; otherwise whether the running version is affected.
    static func verdict(_ record: Advisory, _ component: SBOMComponent) -> Verdict? {
        // A distribution backports fixes without changing the upstream version: when the record has an entry for
        // the distribution package that installed the loaded library, that entry alone decides.
        let distributionKeys = component.advisoryKeys.filter { key in
            key.ecosystem.lowercased().hasPrefix("debian")
                && record.affected.contains {
                    $0.ecosystem.lowercased() == key.ecosystem.lowercased()
                        && $0.name.lowercased() == key.name.lowercased()
                }
        }
        var named = false
        var carriedFix: String?
        for key in distributionKeys.isEmpty ? component.advisoryKeys : distributionKeys {
            for affected in record.affected
            where affected.ecosystem.lowercased() == key.ecosystem.lowercased()
                && affected.name.lowercased() == key.name.lowercased()
            {
                named = true
                let debian = key.ecosystem.lowercased().hasPrefix("debian")
                let compare: (String, String) -> Int = {
                    debian ? VersionComparison.compareDebian($0, $1) : VersionComparison.compareUpstream($0, $1)
                }
                if affected.versions.contains(where: { compare($0, key.version) == 0 }) {
                    return .affected(fixedIn: nil)
                }
                for range in affected.ranges where ["ECOSYSTEM", "SEMVER"].contains(range.type) {
                    if let fixed = self.inRange(key.version, range.events, compare) {
                        return .affected(fixedIn: fixed.isEmpty ? nil : fixed)
                    }
                    for event in range.events
                    where event.kind == "fixed" && compare(event.version, key.version) <= 0
                        && carriedFix.map({ compare(event.version, $0) > 0 }) != false
                    {
                        carriedFix = event.version
                    }
                }
            }
        }
        return named ? .unaffected(fixedIn: carriedFix) : nil
    }

    /// OSV range evaluation: events in order; the version is affected after an `introduced` ≤ it until
    /// a `fixed` ≤ it (or a `last_affected` < it).
    static func inRange(
        _ version: String, _ events: [(kind: String, version: String)], _ compare: (String, String) -> Int
    ) -> String? {
        let introduced = events.filter { $0.kind == "introduced" }.map(\.version)
        let limits = events.filter { $0.kind == "fixed" || $0.kind == "last_affected" }
        for start in introduced where start == "0" || compare(start, version) <= 0 {
            // The nearest limit above this introduction.
            let relevant = limits.filter { start == "0" || compare($0.version, start) > 0 }
                .min { compare($0.version, $1.version) < 0 }
            guard let limit = relevant else { return "" }
            let affected =
                limit.kind == "fixed" ? compare(version, limit.version) < 0 : compare(version, limit.version) <= 0
            if affected { return limit.kind == "fixed" ? limit.version : "" }
        }
        return nil
    }
}
