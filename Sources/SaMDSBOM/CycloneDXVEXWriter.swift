import Foundation

/// CycloneDX 1.6 VEX: the SBOM of ``CycloneDXWriter`` with a `vulnerabilities` section, so that every
/// `affects[].ref` is a `bom-ref` of the same document (the SBOM's serial number is new at each run, so a
/// VEX-only BOM would link to nothing stable). One vulnerability per advisory and analysis: the components
/// with the same analysis of one advisory share an entry.
/// - SeeAlso: CycloneDX 1.6 `vulnerabilities` (https://cyclonedx.org/docs/1.6/json/#vulnerabilities),
///   CycloneDX "Vulnerability Exploitability eXchange (VEX)" guide; OpenVEX 0.2.0 §Status Labels.
struct CycloneDXVEXWriter {
    let inventory: SBOMInventory
    let assessments: [VulnerabilityAssessment]

    func data() throws -> Data {
        var document = CycloneDXWriter(inventory: self.inventory).object()
        document["vulnerabilities"] = self.vulnerabilities()
        return try SBOMJSON.serialize(document)
    }

    /// OpenVEX status → CycloneDX `analysis.state`.
    static func state(_ status: VulnerabilityAssessment.Status) -> String {
        switch status {
        case .affected: "exploitable"
        case .notAffected: "not_affected"
        case .fixed: "resolved"
        case .underInvestigation: "in_triage"
        }
    }

    /// OpenVEX justification → CycloneDX `analysis.justification`.
    static func justification(_ justification: VulnerabilityAssessment.Justification) -> String {
        switch justification {
        case .componentNotPresent, .vulnerableCodeNotPresent: "code_not_present"
        case .vulnerableCodeNotInExecutePath: "code_not_reachable"
        case .vulnerableCodeCannotBeControlledByAdversary: "requires_environment"
        case .inlineMitigationsAlreadyExist: "protected_by_mitigating_control"
        }
    }

    /// OpenVEX status → CycloneDX `affects[].versions[].status`.
    static func versionStatus(_ status: VulnerabilityAssessment.Status) -> String {
        switch status {
        case .affected: "affected"
        case .notAffected, .fixed: "unaffected"
        case .underInvestigation: "unknown"
        }
    }

    /// Who published an id: NVD for CVE ids, GitHub for GHSA ids, else the OSV record it came in.
    static func source(_ id: String, references: [String]) -> [String: String] {
        if VulnerabilityAssessment.isCVE(id) {
            return ["name": "NVD", "url": "https://nvd.nist.gov/vuln/detail/\(id)"]
        }
        if id.range(of: #"^GHSA(-[23456789cfghjmpqrvwx]{4}){3}$"#, options: .regularExpression) != nil {
            return ["name": "GitHub", "url": "https://github.com/advisories/\(id)"]
        }
        var source = ["name": "OSV"]
        if let first = references.first { source["url"] = first }
        return source
    }

    private func vulnerabilities() -> [[String: Any]] {
        // The components with the same analysis of one advisory share an entry (analysis is per vulnerability).
        var groups: [(key: VulnerabilityAssessment, members: [VulnerabilityAssessment])] = []
        for assessment in self.assessments {
            var key = assessment
            key.component = ""
            key.componentVersion = ""
            if let index = groups.firstIndex(where: { $0.key == key }) {
                groups[index].members.append(assessment)
            } else {
                groups.append((key, [assessment]))
            }
        }
        let components = Dictionary(
            self.inventory.allComponents.map { ($0.reference, $0) }, uniquingKeysWith: { first, _ in first })
        // By id, then in the order first seen (component order): the same input gives the same document.
        let ordered = groups.enumerated().sorted {
            ($0.element.key.vulnerability, $0.offset) < ($1.element.key.vulnerability, $1.offset)
        }
        return ordered.map(\.element).map { key, members in
            var entry: [String: Any] = [
                "id": key.vulnerability,
                "source": Self.source(key.vulnerability, references: key.references),
                "affects": members.map { member -> [String: Any] in
                    var affect: [String: Any] = ["ref": member.component]
                    if let version = components[member.component]?.version {
                        affect["versions"] = [["version": version, "status": Self.versionStatus(member.status)]]
                    }
                    return affect
                },
                "analysis": self.analysis(key),
            ]
            // CycloneDX's justifications are finer than OpenVEX's and the mapping is not one to one: the OpenVEX
            // words are kept as they were.
            var properties = [["name": "samd:openvex:status", "value": key.status.rawValue]]
            if let justification = key.justification {
                properties.append(["name": "samd:openvex:justification", "value": justification.rawValue])
            }
            entry["properties"] = properties
            if let summary = key.statedSummary { entry["description"] = summary }
            let aliases = key.aliases.filter { $0 != key.vulnerability }
            if !aliases.isEmpty {
                entry["references"] = aliases.map { ["id": $0, "source": Self.source($0, references: [])] }
            }
            if !key.ratings.isEmpty {
                entry["ratings"] = key.ratings.map { rating in
                    let method =
                        switch rating.version {
                        case .v2: "CVSSv2"
                        case .v3_0: "CVSSv3"
                        case .v3_1: "CVSSv31"
                        case .v4: "CVSSv4"
                        }
                    return ["method": method, "vector": rating.vector]
                }
            }
            if !key.references.isEmpty { entry["advisories"] = key.references.map { ["url": $0] } }
            if key.status == .affected, let recommendation = self.recommendation(key, members) {
                entry["recommendation"] = recommendation
            }
            return entry
        }
    }

    private func analysis(_ key: VulnerabilityAssessment) -> [String: Any] {
        var analysis: [String: Any] = ["state": Self.state(key.status)]
        if key.status == .notAffected, let justification = key.justification {
            analysis["justification"] = Self.justification(justification)
        }
        if key.status == .affected {
            if key.fixedIn != nil {
                analysis["response"] = ["update"]
            } else if key.actionStatement != nil {
                analysis["response"] = ["workaround_available"]
            }
        }
        let detail = [key.impactStatement, key.actionStatement, key.statusNotes].compactMap { $0 }
        analysis["detail"] =
            detail.isEmpty
            ? (key.statementTimestamp == nil
                ? "The advisory's affected range contains the running version; no VEX statement concerns it."
                : "As stated by VEX (\(key.status.rawValue)).")
            : detail.joined(separator: "\n\n")
        if let time = key.statementTimestamp { analysis["lastUpdated"] = SBOMJSON.timestamp(time) }
        return analysis
    }

    private func recommendation(_ key: VulnerabilityAssessment, _ members: [VulnerabilityAssessment]) -> String? {
        let names = members.map { $0.componentVersion }.joined(separator: ", ")
        let update = key.fixedIn.map {
            "Update \(names) to \($0) or later (the first version the advisory names as fixed)."
        }
        let text = [update, key.actionStatement].compactMap { $0 }.joined(separator: " ")
        return text.isEmpty ? nil : text
    }
}
