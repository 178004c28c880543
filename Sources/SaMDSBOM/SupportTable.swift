import Foundation

/// The FDA support fields of one component: level of support and end-of-support date.
///
/// Both the upstream project's and the distribution's (Debian LTS) values are kept. The **effective**
/// values are the distribution's when dpkg shows that distribution's package installed the loaded
/// file (the distribution then ships the fixes), and upstream's otherwise.
public struct SupportStatus: Sendable, Hashable, Codable {
    /// "actively maintained", "no longer maintained" or "abandoned" (FDA's terms).
    public var level: String
    /// The effective end of support, `YYYY-MM-DD`; nil when none is published.
    public var endOfSupport: String?
    /// Where the effective values come from: "upstream" or a distribution key such as "debian-12".
    public var basis: String
    public var upstreamLevel: String
    public var upstreamEndOfSupport: String?
    public var distributionLevel: String?
    public var distributionEndOfSupport: String?
    /// The support table's `as_of` date.
    public var tableDate: String
    /// Source URLs of the table entries used.
    public var sources: [String]

    /// Whether the effective end of support lies before `day` (`YYYY-MM-DD`, UTC).
    public func isExpired(on day: String) -> Bool {
        guard let endOfSupport else { return false }
        return endOfSupport < day
    }
}

/// `Resources/support.json`.
struct SupportTable: Decodable, Sendable {
    struct Source: Decodable, Sendable {
        var id: String
        var url: String
    }
    struct Support: Decodable, Sendable {
        var level: String
        var end_of_support: String?
        var source: String
    }
    struct Entry: Decodable, Sendable {
        var component: String
        var series: String
        var upstream: Support
        var distributions: [String: Support]?
    }
    var as_of: String
    var sources: [Source]
    var entries: [Entry]

    static func bundled() throws -> SupportTable {
        guard let url = Bundle.module.url(forResource: "support", withExtension: "json") else {
            throw SBOMError(.resourceMissing, "support.json is missing from the SaMDSBOM resource bundle")
        }
        do {
            return try JSONDecoder().decode(SupportTable.self, from: Data(contentsOf: url))
        } catch {
            throw SBOMError(.malformedInput, "support.json: \(error)")
        }
    }

    /// The status of `component` at `version`; `distribution` is the OS key when dpkg owns the file.
    func status(component: String, version: String?, distribution: String?) -> SupportStatus? {
        let entry = self.entries.first { entry in
            guard entry.component == component else { return false }
            guard entry.series != "*" else { return true }
            guard let version else { return false }
            return version == entry.series || version.hasPrefix(entry.series + ".")
        }
        guard let entry else { return nil }
        let distributionSupport = distribution.flatMap { entry.distributions?[$0] }
        let url = { (id: String) in self.sources.first { $0.id == id }?.url ?? id }
        let effective = distributionSupport ?? entry.upstream
        return SupportStatus(
            level: effective.level,
            endOfSupport: effective.end_of_support,
            basis: distributionSupport == nil ? "upstream" : distribution!,
            upstreamLevel: entry.upstream.level,
            upstreamEndOfSupport: entry.upstream.end_of_support,
            distributionLevel: distributionSupport?.level,
            distributionEndOfSupport: distributionSupport?.end_of_support,
            tableDate: self.as_of,
            sources: [url(entry.upstream.source)] + (distributionSupport.map { [url($0.source)] } ?? [])
        )
    }
}
