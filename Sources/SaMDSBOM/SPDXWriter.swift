import Foundation
import SaMDCrypto

/// SPDX 2.3 JSON: one package per component, `DEPENDS_ON` / `CONTAINS` / `TEST_DEPENDENCY_OF` /
/// `OPTIONAL_DEPENDENCY_OF` relationships, `validUntilDate` for the end of support, and the FDA
/// support level and other facts as annotations. The CBOM is CycloneDX-only; SPDX 2.3 has no place for it.
/// - SeeAlso: https://spdx.github.io/spdx-spec/v2.3/
struct SPDXWriter {
    let inventory: SBOMInventory
    /// The SPDX id of each component reference, unique in the document.
    private let identifiers: [String: String]

    init(inventory: SBOMInventory) {
        self.inventory = inventory
        self.identifiers = Self.identifiers(for: inventory.allComponents.map(\.reference))
    }

    static func identifier(_ reference: String) -> String {
        "SPDXRef-" + String(reference.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "-" })
    }

    /// `identifier(_:)` of each reference, made unique: two references that spell the same id (`so:/a/b-c.so` and
    /// `so:/a/b/c.so`) get `-2`, `-3`… after the first, in document order (SPDX 2.3 §7.2: an SPDX id is unique
    /// within the document).
    static func identifiers(for references: [String]) -> [String: String] {
        var result: [String: String] = [:]
        var taken: Set<String> = []
        for reference in references where result[reference] == nil {
            let base = self.identifier(reference)
            var candidate = base
            var suffix = 2
            while taken.contains(candidate) {
                candidate = "\(base)-\(suffix)"
                suffix += 1
            }
            taken.insert(candidate)
            result[reference] = candidate
        }
        return result
    }

    private func id(_ reference: String) -> String {
        self.identifiers[reference] ?? Self.identifier(reference)
    }

    func data() throws -> Data {
        let created = SBOMJSON.timestamp(self.inventory.timestamp)
        let tool = "Tool: \(SBOMInventory.toolName)-\(SaMDKit.version)"
        var packages: [[String: Any]] = []
        var relationships: [[String: String]] = [
            [
                "spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                "relatedSpdxElement": self.id(self.inventory.subject.reference),
            ]
        ]
        let all = self.inventory.allComponents
        let known = Set(all.map(\.reference))
        func add(_ component: SBOMComponent) {
            packages.append(self.package(component, created: created, tool: tool))
            let id = self.id(component.reference)
            for dependency in component.dependsOn where known.contains(dependency) {
                let target = all.first { $0.reference == dependency }!
                switch target.scope {
                case .excluded where component.reference == self.inventory.subject.reference:
                    relationships.append([
                        "spdxElementId": self.id(dependency), "relationshipType": "TEST_DEPENDENCY_OF",
                        "relatedSpdxElement": id,
                    ])
                case .optional where component.reference == self.inventory.subject.reference:
                    relationships.append([
                        "spdxElementId": self.id(dependency), "relationshipType": "OPTIONAL_DEPENDENCY_OF",
                        "relatedSpdxElement": id,
                    ])
                default:
                    relationships.append([
                        "spdxElementId": id, "relationshipType": "DEPENDS_ON",
                        "relatedSpdxElement": self.id(dependency),
                    ])
                }
            }
            for sub in component.subcomponents {
                relationships.append([
                    "spdxElementId": id, "relationshipType": "CONTAINS",
                    "relatedSpdxElement": self.id(sub.reference),
                ])
                add(sub)
            }
        }
        add(self.inventory.subject)
        self.inventory.components.forEach(add)

        let document: [String: Any] = [
            "spdxVersion": "SPDX-2.3",
            "dataLicense": "CC0-1.0",
            "SPDXID": "SPDXRef-DOCUMENT",
            "name": "\(self.documentName)-runtime",
            "documentNamespace":
                "https://spdx.org/spdxdocs/\(self.documentName.lowercased())-\(UUID().uuidString.lowercased())",
            "creationInfo": [
                "created": created,
                "creators": [tool, "Organization: \(self.inventory.author ?? "SaMDKit maintainers")"],
                "comment":
                    "Libraries as loaded by the running process (\(self.inventory.subject.properties["samd:process"] ?? "unknown")); \(self.inventory.buildGraphDescription). Support table as of \(self.inventory.supportTableDate).",
            ],
            "documentDescribes": [self.id(self.inventory.subject.reference)],
            "hasExtractedLicensingInfos": self.licenseReferences(in: all).map { reference in
                [
                    "licenseId": reference, "name": reference,
                    "extractedText":
                        "The licence terms \(reference) names, as declared by the component's supplier; not reproduced in this SBOM.",
                ]
            },
            "packages": packages,
            "relationships": relationships,
        ]
        return try SBOMJSON.serialize(document)
    }

    /// The `LicenseRef-…` identifiers the components' licence expressions use (SPDX 2.3 §10: each must be declared
    /// in `hasExtractedLicensingInfos`), sorted.
    private func licenseReferences(in components: [SBOMComponent]) -> [String] {
        let words = components.compactMap(\.license).flatMap { $0.split(whereSeparator: { " ()".contains($0) }) }
        return Set(words.filter { $0.hasPrefix("LicenseRef-") }.map(String.init)).sorted()
    }

    /// The subject's name and version, in the characters an SPDX document name and namespace URI allow.
    private var documentName: String {
        let subject = self.inventory.subject
        let text = subject.name + "-" + (subject.version ?? "unversioned")
        return String(text.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_" ? $0 : "-" })
    }

    private func package(_ component: SBOMComponent, created: String, tool: String) -> [String: Any] {
        var package: [String: Any] = [
            "SPDXID": self.id(component.reference),
            "name": component.name,
            "versionInfo": component.version ?? "NOASSERTION",
            "supplier": component.supplier == "NOASSERTION" ? "NOASSERTION" : "Organization: \(component.supplier)",
            "downloadLocation": component.vcsURL.map { "git+\($0)" + (component.revision.map { "@\($0)" } ?? "") }
                ?? "NOASSERTION",
            "filesAnalyzed": false,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": component.license ?? "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": component.kind == .file
                ? "FILE" : component.kind == .application ? "APPLICATION" : "LIBRARY",
        ]
        if let author = component.author { package["originator"] = "Organization: \(author)" }
        if let summary = component.summary { package["summary"] = summary }
        if let path = component.path { package["packageFileName"] = path }
        let checksums = [("SHA256", component.sha256), ("SHA512", component.sha512)].compactMap { algorithm, value in
            value.map { ["algorithm": algorithm, "checksumValue": $0] }
        }
        if !checksums.isEmpty { package["checksums"] = checksums }
        var references: [[String: String]] = []
        if let purl = component.purl {
            references.append([
                "referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": purl,
            ])
        }
        if let cpe = component.cpe {
            references.append(["referenceCategory": "SECURITY", "referenceType": "cpe23Type", "referenceLocator": cpe])
        }
        if !references.isEmpty { package["externalRefs"] = references }
        var notes = component.properties
        notes["samd:scope"] = component.scope.rawValue
        if let support = component.support {
            if let date = support.endOfSupport { package["validUntilDate"] = date + "T00:00:00Z" }
            notes["fda:supportLevel"] = support.level
            notes["fda:endOfSupport"] = support.endOfSupport ?? "none published"
            notes["fda:supportBasis"] = support.basis
            notes["fda:upstreamSupportLevel"] = support.upstreamLevel
            notes["fda:upstreamEndOfSupport"] = support.upstreamEndOfSupport ?? "none published"
            if let level = support.distributionLevel { notes["fda:distributionSupportLevel"] = level }
            if let date = support.distributionEndOfSupport { notes["fda:distributionEndOfSupport"] = date }
            notes["fda:supportTableDate"] = support.tableDate
            notes["fda:supportSources"] = support.sources.joined(separator: " ")
        }
        package["annotations"] = notes.sorted { $0.key < $1.key }.map { key, value in
            ["annotationDate": created, "annotationType": "OTHER", "annotator": tool, "comment": "\(key)=\(value)"]
        }
        return package
    }
}
