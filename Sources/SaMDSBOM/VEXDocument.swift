public import Foundation

/// The two formats a vulnerability assessment is handed on in.
public enum VEXFormat: String, Sendable, Hashable, CaseIterable {
    /// CycloneDX 1.6: the SBOM with a `vulnerabilities` section (VEX embedded in the BOM).
    case cycloneDX = "cyclonedx"
    /// CSAF 2.0, profile VEX (`csaf_vex`).
    case csaf
}

extension SBOMInventory {
    /// The namespace of the publisher when no manufacturer (``author``) is named: SaMDKit's own, as in its
    /// OpenVEX ids.
    public static let defaultPublisherNamespace = "https://samdkit.invalid"

    /// A VEX document of `assessments` (every match, suppressed or not), as UTF-8 JSON; deterministic but for the
    /// CycloneDX serial number, the CSAF tracking id and the timestamps.
    ///
    /// - CycloneDX 1.6: this inventory's SBOM with `vulnerabilities[]` (`id`, `source`, `references` to the
    ///   aliases, `ratings` from the advisory's CVSS vectors, `affects[].ref` = the components' `bom-ref`s,
    ///   `analysis` with `state`, `justification`, `detail`, `response`; `recommendation` for an affected one).
    /// - CSAF 2.0 `csaf_vex`: publisher = ``author`` (category vendor) or the tool (category other), tracking
    ///   final version 1, the assessed components as products, one vulnerability per CVE (or OSV id).
    /// - Parameters:
    ///   - format: CycloneDX 1.6 (this SBOM with a `vulnerabilities` section) or CSAF 2.0 (`csaf_vex`).
    ///   - assessments: from ``VulnerabilityCheck/assessments(for:advisories:vex:)`` on this inventory.
    ///   - publisherNamespace: CSAF `document.publisher.namespace`, an absolute http(s) URL the publisher
    ///     controls; default ``defaultPublisherNamespace``. Not used by CycloneDX.
    /// - Throws: ``SBOMError/Code/malformedInput`` when `publisherNamespace` is not an absolute http(s) URL;
    ///   ``SBOMError/Code/nothingToState`` for CSAF when `assessments` is empty (a CSAF VEX document needs a
    ///   vulnerability; the CycloneDX document then has an empty `vulnerabilities`).
    /// - SeeAlso: CycloneDX 1.6 `vulnerabilities`; CSAF 2.0 §4.5 (profile VEX) and §6.1.27.
    public func vexDocument(
        _ format: VEXFormat, assessments: [VulnerabilityAssessment], publisherNamespace: String? = nil
    ) throws -> Data {
        switch format {
        case .cycloneDX:
            return try CycloneDXVEXWriter(inventory: self, assessments: assessments).data()
        case .csaf:
            let namespace = publisherNamespace ?? Self.defaultPublisherNamespace
            guard Self.isAbsoluteHTTPURL(namespace) else {
                throw SBOMError(.malformedInput, "the publisher namespace must be an absolute http(s) URL")
            }
            guard !assessments.isEmpty else {
                throw SBOMError(
                    .nothingToState,
                    "no advisory names a running component: a CSAF VEX document needs at least one vulnerability (CSAF 2.0 §6.1.27.11)"
                )
            }
            return try CSAFVEXWriter(inventory: self, assessments: assessments, publisherNamespace: namespace).data()
        }
    }
}
