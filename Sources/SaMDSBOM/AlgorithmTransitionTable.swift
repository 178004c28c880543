package import Foundation

/// `Resources/transitions.json`: NIST transition dates per algorithm family and security strength, with its
/// `as_of` date and sources (document, date, sections), applied by rule to the CBOM's algorithm assets.
///
/// An entry matches an algorithm asset when all of these hold:
/// - the asset's CycloneDX `primitive` is one of the entry's `primitives`;
/// - the family: the asset's `curve` is one of `curves`, or its OID is one of `oid_prefixes` or lies under one
///   (at a dot), or its `mode` is one of `modes` — unless the entry says `any_family`;
/// - the asset's classical security level lies within `security_bits` (`min`, `max`, in bits), when the entry
///   bounds it.
/// The first matching entry decides; an asset no entry matches has no transition scheduled.
package struct AlgorithmTransitionTable: Sendable {
    struct Source: Decodable, Sendable {
        var id: String
        var document: String
        var date: String
        var sections: String
        var url: String
    }
    struct Bounds: Decodable, Sendable {
        var min: Int?
        var max: Int?
    }
    struct Entry: Decodable, Sendable {
        var id: String
        var family: String
        var primitives: [String]
        var curves: [String]?
        var oid_prefixes: [String]?
        var modes: [String]?
        var any_family: Bool?
        var security_bits: Bounds?
        var deprecated_after: String?
        var disallowed_after: String?
        var source: String
        var row: String
    }
    private struct File: Decodable, Sendable {
        var as_of: String
        var sources: [Source]
        var entries: [Entry]
    }

    /// The table's `as_of` date (`YYYY-MM-DD`).
    package let asOf: String
    let sources: [Source]
    let entries: [Entry]

    /// The largest table accepted, in bytes.
    static let maximumBytes = 256 << 10

    /// The table shipped with SaMDSBOM.
    /// - Throws: ``SBOMError/Code/resourceMissing`` when it is not in the bundle; ``SBOMError/Code/malformedInput``
    ///   when it is not what `init(json:)` requires.
    package static func bundled() throws -> AlgorithmTransitionTable {
        guard let url = SBOMResources.transitionTable else {
            throw SBOMError(.resourceMissing, "transitions.json is missing from the SaMDSBOM resource bundle")
        }
        guard let data = BoundedFile.read(url.path, limit: Self.maximumBytes) else {
            throw SBOMError(.malformedInput, "transitions.json: unreadable or larger than \(Self.maximumBytes) bytes")
        }
        return try AlgorithmTransitionTable(json: data)
    }

    /// Parses and checks a table: at most ``maximumBytes``; `as_of` and every date a real `YYYY-MM-DD`; every
    /// source with a document, date, sections and URL; every entry with a unique id, a family, primitives, a
    /// family criterion (or `any_family`), at least one date (a deprecation not after the disallowance) and a
    /// source the table lists.
    /// - Throws: ``SBOMError/Code/malformedInput`` naming the first fault.
    package init(json data: Data) throws {
        guard data.count <= Self.maximumBytes else {
            throw SBOMError(.malformedInput, "transitions.json: larger than \(Self.maximumBytes) bytes")
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw SBOMError(.malformedInput, "transitions.json: \(error)")
        }
        func fail(_ reason: String) -> SBOMError { SBOMError(.malformedInput, "transitions.json: \(reason)") }
        guard VulnerabilityCheck.isDay(file.as_of) else { throw fail("as_of is not a YYYY-MM-DD date") }
        for source in file.sources
        where [source.id, source.document, source.date, source.sections, source.url].contains(where: \.isEmpty) {
            throw fail("source \(source.id.debugDescription) needs an id, document, date, sections and url")
        }
        let sourceIDs = Set(file.sources.map(\.id))
        var ids: Set<String> = []
        for entry in file.entries {
            let name = entry.id.debugDescription
            guard !entry.id.isEmpty, ids.insert(entry.id).inserted else { throw fail("entry id \(name) is repeated") }
            guard !entry.family.isEmpty, !entry.primitives.isEmpty, !entry.row.isEmpty else {
                throw fail("entry \(name) needs a family, primitives and the row it follows")
            }
            let criteria = (entry.curves ?? []) + (entry.oid_prefixes ?? []) + (entry.modes ?? [])
            guard entry.any_family == true || !criteria.isEmpty else {
                throw fail("entry \(name) needs curves, oid_prefixes or modes (or any_family)")
            }
            guard sourceIDs.contains(entry.source) else { throw fail("entry \(name) names an unknown source") }
            let dates = [entry.deprecated_after, entry.disallowed_after].compactMap { $0 }
            guard !dates.isEmpty, dates.allSatisfy(VulnerabilityCheck.isDay) else {
                throw fail("entry \(name) needs deprecated_after or disallowed_after, each a YYYY-MM-DD date")
            }
            if let deprecated = entry.deprecated_after, let disallowed = entry.disallowed_after,
                deprecated > disallowed
            {
                throw fail("entry \(name) is deprecated after it is disallowed")
            }
            if let bounds = entry.security_bits, let low = bounds.min, let high = bounds.max, low > high {
                throw fail("entry \(name) has security_bits min above max")
            }
        }
        self.asOf = file.as_of
        self.sources = file.sources
        self.entries = file.entries
    }

    /// The transition of `asset`: the first matching entry's dates and source, or "no transition scheduled"
    /// (``AlgorithmTransition/rule`` nil). Protocol assets are not classified (nil): their algorithms are.
    package func transition(for asset: CryptographicAsset) -> AlgorithmTransition? {
        guard asset.assetType == .algorithm else { return nil }
        guard let entry = self.entries.first(where: { Self.matches($0, asset) }) else {
            return AlgorithmTransition(tableDate: self.asOf)
        }
        let source = self.sources.first { $0.id == entry.source }
        return AlgorithmTransition(
            rule: entry.id, family: entry.family, deprecatedAfter: entry.deprecated_after,
            disallowedAfter: entry.disallowed_after,
            source: source.map { "\($0.document) (\($0.date)), \(entry.row)" } ?? entry.row,
            tableDate: self.asOf)
    }

    /// `assets` with ``CryptographicAsset/transition`` set by this table.
    package func classify(_ assets: [CryptographicAsset]) -> [CryptographicAsset] {
        assets.map { asset in
            var asset = asset
            asset.transition = self.transition(for: asset)
            return asset
        }
    }

    private static func matches(_ entry: Entry, _ asset: CryptographicAsset) -> Bool {
        guard let primitive = asset.primitive, entry.primitives.contains(primitive) else { return false }
        if entry.any_family != true {
            let curve = asset.curve.map { (entry.curves ?? []).contains($0) } ?? false
            let oid =
                asset.oid.map { oid in
                    (entry.oid_prefixes ?? []).contains { oid == $0 || oid.hasPrefix($0 + ".") }
                } ?? false
            let mode = asset.mode.map { (entry.modes ?? []).contains($0) } ?? false
            guard curve || oid || mode else { return false }
        }
        if let bounds = entry.security_bits {
            guard let level = asset.classicalSecurityLevel else { return false }
            if let low = bounds.min, level < low { return false }
            if let high = bounds.max, level > high { return false }
        }
        return true
    }
}
