import Foundation
import SaMDCrypto

/// CSAF 2.0 VEX (profile 5, `document.category` `csaf_vex`): the assessed components as products (with purl,
/// CPE and file hashes), one vulnerability per CVE (or per OSV id when it has no CVE alias) with its
/// product status, an impact statement (flag and/or impact threat) for every known_not_affected product and a
/// remediation for every known_affected one.
/// - SeeAlso: CSAF 2.0 §4.5 (profile VEX), §3.2.1.12 (tracking), §3.2.2 (product tree), §3.2.3.5 (flags),
///   §3.2.3.9 (product status), §3.2.3.12 (remediations), §3.2.3.14 (threats), §6.1.27.7–6.1.27.11.
struct CSAFVEXWriter {
    let inventory: SBOMInventory
    let assessments: [VulnerabilityAssessment]
    /// `document.publisher.namespace`: a URL the publisher controls.
    let publisherNamespace: String

    func data() throws -> Data {
        let date = SBOMJSON.timestamp(self.inventory.timestamp)
        let subject = self.inventory.subject
        let day = String(date.prefix(10)).replacingOccurrences(of: "-", with: "")
        let document: [String: Any] = [
            "document": [
                "category": "csaf_vex",
                "csaf_version": "2.0",
                "lang": "en",
                "title": "\(subject.name) \(subject.version ?? ""): vulnerability assessment of its components (VEX)",
                "publisher": [
                    "category": self.inventory.author == nil ? "other" : "vendor",
                    "name": self.inventory.author ?? "\(SBOMInventory.toolName) \(SaMDKit.version) (SaMDKit)",
                    "namespace": self.publisherNamespace,
                ],
                "notes": [
                    [
                        "category": "summary", "title": "Scope",
                        "text":
                            "The components of \(subject.name) as running in process \(subject.properties["samd:process"] ?? "unknown"), checked against OSV advisories: a running version the advisory includes has the status of the latest OpenVEX statement that concerns it (known_affected when none does); one it leaves out is fixed (the fix is in it) or known_not_affected.",
                    ]
                ],
                "tracking": [
                    "id": "SAMD-VEX-\(day)-\(UUID().uuidString.prefix(8))",
                    "status": "final",
                    "version": "1",
                    "initial_release_date": date,
                    "current_release_date": date,
                    "revision_history": [["date": date, "number": "1", "summary": "Initial version."]],
                    "generator": [
                        "date": date, "engine": ["name": SBOMInventory.toolName, "version": SaMDKit.version],
                    ],
                ],
            ],
            "product_tree": ["full_product_names": self.products()],
            "vulnerabilities": self.vulnerabilities(),
        ]
        return try SBOMJSON.serialize(document)
    }

    /// Each assessed component, in inventory order, as a full product name; `product_id` is its `bom-ref`.
    private func products() -> [[String: Any]] {
        let assessed = Set(self.assessments.map(\.component))
        return self.inventory.allComponents.filter { assessed.contains($0.reference) }.map { component in
            var product: [String: Any] = [
                "product_id": component.reference,
                "name": [component.name, component.version].compactMap { $0 }.joined(separator: " "),
            ]
            var helper: [String: Any] = [:]
            if let purl = component.purl { helper["purl"] = purl }
            if let cpe = component.cpe { helper["cpe"] = cpe }
            let hashes = component.flattened.compactMap { file -> [String: Any]? in
                guard let path = file.path else { return nil }
                let digests = [("sha256", file.sha256), ("sha512", file.sha512)].compactMap { algorithm, value in
                    value.map { ["algorithm": algorithm, "value": $0] }
                }
                guard !digests.isEmpty else { return nil }
                return ["filename": (path as NSString).lastPathComponent, "file_hashes": digests]
            }
            if !hashes.isEmpty { helper["hashes"] = hashes }
            if !helper.isEmpty { product["product_identification_helper"] = helper }
            return product
        }
    }

    /// Where two advisories of one CVE judge a component differently, the reporting status decides: affected,
    /// then under_investigation, fixed, not_affected (a lower rank wins).
    private static func rank(_ status: VulnerabilityAssessment.Status) -> Int {
        switch status {
        case .affected: 0
        case .underInvestigation: 1
        case .fixed: 2
        case .notAffected: 3
        }
    }

    private func vulnerabilities() -> [[String: Any]] {
        var groups: [String: [VulnerabilityAssessment]] = [:]
        for assessment in self.assessments {
            groups[assessment.cve ?? assessment.vulnerability, default: []].append(assessment)
        }
        return groups.sorted { $0.key < $1.key }.map { key, members in
            // One status per product (CSAF 2.0 §6.1.6: no contradicting product status).
            var decisive: [String: VulnerabilityAssessment] = [:]
            for member in members
            where decisive[member.component].map({ Self.rank(member.status) < Self.rank($0.status) }) ?? true {
                decisive[member.component] = member
            }
            let judged = decisive.values.sorted { $0.component < $1.component }
            var entry: [String: Any] = [:]
            if VulnerabilityAssessment.isCVE(key) { entry["cve"] = key }
            // Every id but the one in `cve`: without a CVE, the OSV id is the vulnerability's id (§6.1.27.8).
            let otherIDs = Self.unique(members.flatMap { [$0.vulnerability] + $0.aliases }).filter {
                $0 != entry["cve"] as? String
            }
            if !otherIDs.isEmpty {
                entry["ids"] = otherIDs.map { id in
                    ["system_name": id.split(separator: "-").first.map(String.init) ?? "OSV", "text": id]
                }
            }
            let summaries = Self.unique(members.compactMap(\.statedSummary))
            entry["notes"] =
                [
                    [
                        "category": "description", "title": "Summary",
                        "text": summaries.isEmpty
                            ? "The advisory gives no summary." : summaries.joined(separator: "\n\n"),
                    ]
                ]
                + judged.compactMap { member in
                    member.statusNotes.map {
                        ["category": "details", "title": "Status notes on \(member.componentVersion)", "text": $0]
                    }
                }
            let references = Self.unique(members.flatMap(\.references))
            if !references.isEmpty {
                entry["references"] = references.map { ["category": "external", "summary": "Advisory", "url": $0] }
            }
            var status: [String: [String]] = [:]
            for member in judged {
                let name =
                    switch member.status {
                    case .affected: "known_affected"
                    case .notAffected: "known_not_affected"
                    case .fixed: "fixed"
                    case .underInvestigation: "under_investigation"
                    }
                status[name, default: []].append(member.component)
            }
            entry["product_status"] = status
            let notAffected = judged.filter { $0.status == .notAffected }
            var flags: [String: [String]] = [:]
            for member in notAffected {
                if let label = member.justification?.rawValue { flags[label, default: []].append(member.component) }
            }
            if !flags.isEmpty {
                entry["flags"] = flags.sorted { $0.key < $1.key }.map { label, products in
                    ["label": label, "product_ids": products] as [String: Any]
                }
            }
            let threats = notAffected.compactMap { member in
                member.impactStatement.map {
                    ["category": "impact", "details": $0, "product_ids": [member.component]] as [String: Any]
                }
            }
            if !threats.isEmpty { entry["threats"] = threats }
            let remediations = judged.filter { $0.status == .affected }.map(Self.remediation)
            if !remediations.isEmpty { entry["remediations"] = remediations }
            return entry
        }
    }

    /// The action statement CSAF 2.0 §6.1.27.10 requires for a known_affected product: the advisory's fixed version
    /// as a vendor fix, else the VEX statement's action statement as a mitigation, else "none available".
    private static func remediation(_ member: VulnerabilityAssessment) -> [String: Any] {
        let update = member.fixedIn.map {
            "Update \(member.componentVersion) to \($0) or later (the first version the advisory names as fixed)."
        }
        let details = [update, member.actionStatement].compactMap { $0 }.joined(separator: " ")
        return [
            "category": member.fixedIn != nil
                ? "vendor_fix" : member.actionStatement != nil ? "mitigation" : "none_available",
            "details": details.isEmpty ? "The advisory names no fixed version." : details,
            "product_ids": [member.component],
        ]
    }

    /// `values` without repeats, in first-seen order.
    private static func unique(_ values: [String]) -> [String] {
        var seen: Set<String> = []
        return values.filter { seen.insert($0).inserted }
    }
}
