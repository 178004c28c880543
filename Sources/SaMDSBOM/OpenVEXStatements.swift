import Foundation

extension VulnerabilityCheck {
    /// One OpenVEX statement, as far as the check and the VEX documents read it.
    /// - SeeAlso: https://github.com/openvex/spec (OpenVEX 0.2.0 §Statement, §Status Labels, §Status Justifications)
    struct Statement: Sendable {
        var vulnerabilities: Set<String>
        var products: [String]
        var status: VulnerabilityAssessment.Status
        /// `justification` (not_affected).
        var justification: VulnerabilityAssessment.Justification? = nil
        /// `impact_statement` (not_affected).
        var impactStatement: String? = nil
        /// `action_statement` (affected).
        var actionStatement: String? = nil
        /// `status_notes`.
        var statusNotes: String? = nil
        /// The statement's `timestamp`, else its document's.
        var timestamp: Date
        /// Its place among all statements given: documents in order, statements in document order.
        var order = 0
    }

    static func parseVEX(_ data: Data) throws -> [Statement] {
        guard let document = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let statements = document["statements"] as? [[String: Any]]
        else {
            throw SBOMError(
                .malformedInput, "the VEX file is not an OpenVEX document (a JSON object with \"statements\")")
        }
        let documentTimestamp = try document["timestamp"].map { try Self.timestamp($0, "the VEX document's timestamp") }
        return try statements.enumerated().map { index, statement in
            guard let statusText = statement["status"] as? String else {
                throw SBOMError(.malformedInput, "VEX statement #\(index) has no status")
            }
            guard let status = VulnerabilityAssessment.Status(rawValue: statusText) else {
                throw SBOMError(
                    .malformedInput, "VEX statement #\(index) has an unknown status \"\(statusText.prefix(40))\"")
            }
            var names: Set<String> = []
            if let vulnerability = statement["vulnerability"] as? [String: Any] {
                // A blank name names nothing (and would match a blank alias).
                if let name = Self.text(vulnerability["name"]) { names.insert(name) }
                if let id = Self.text(vulnerability["@id"]) { names.insert(id) }
                names.formUnion(((vulnerability["aliases"] as? [Any]) ?? []).compactMap(Self.text))
            } else if let name = Self.text(statement["vulnerability"]) {
                names.insert(name)
            }
            guard !names.isEmpty else {
                throw SBOMError(.malformedInput, "VEX statement #\(index) names no vulnerability")
            }
            let products = ((statement["products"] as? [Any]) ?? []).compactMap { item -> String? in
                if let id = Self.text(item) { return id }
                guard let product = item as? [String: Any] else { return nil }
                return Self.text(product["@id"]) ?? Self.text((product["identifiers"] as? [String: Any])?["purl"])
            }
            guard !products.isEmpty else {
                throw SBOMError(.malformedInput, "VEX statement #\(index) names no product")
            }
            // A blank justification or impact statement counts as absent: it justifies nothing.
            if let value = statement["justification"], !(value is NSNull), !(value is String) {
                throw SBOMError(.malformedInput, "VEX statement #\(index): the justification must be a string")
            }
            let justification = try Self.text(statement["justification"]).map { label in
                guard let justification = VulnerabilityAssessment.Justification(rawValue: label) else {
                    throw SBOMError(
                        .malformedInput, "VEX statement #\(index) has an unknown justification \"\(label.prefix(40))\"")
                }
                return justification
            }
            if status == .notAffected {
                guard justification != nil || Self.text(statement["impact_statement"]) != nil else {
                    throw SBOMError(
                        .malformedInput,
                        "VEX statement #\(index): not_affected needs a justification or an impact_statement (not blank)"
                    )
                }
            }
            // Without a time a statement cannot be ordered against another: OpenVEX requires the document's.
            guard
                let timestamp = try statement["timestamp"].map({
                    try Self.timestamp($0, "VEX statement #\(index)'s timestamp")
                }) ?? documentTimestamp
            else {
                throw SBOMError(.malformedInput, "VEX statement #\(index) has no timestamp, nor has its document")
            }
            return Statement(
                vulnerabilities: names, products: products, status: status, justification: justification,
                impactStatement: Self.text(statement["impact_statement"]),
                actionStatement: Self.text(statement["action_statement"]),
                statusNotes: Self.text(statement["status_notes"]), timestamp: timestamp)
        }
    }

    /// `value` when it is a string with something besides white space in it, else nil.
    static func text(_ value: Any?) -> String? {
        guard let text = value as? String, text.contains(where: { !$0.isWhitespace }) else { return nil }
        return text
    }

    /// An RFC 3339 timestamp (`2026-11-30T00:00:00Z`, fractional seconds and offsets allowed).
    static func timestamp(_ value: Any, _ what: String) throws -> Date {
        guard let text = value as? String else { throw SBOMError(.malformedInput, "\(what) must be a string") }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        throw SBOMError(.malformedInput, "\(what) is not an RFC 3339 date-time")
    }

    /// Whether a VEX product purl covers `component`: same type/namespace/name as one of its purls; the
    /// same version when the statement names one (dpkg's equality for `pkg:deb`, else the same text); each
    /// qualifier the statement names present in that purl with the same value; the same subpath when the
    /// statement names one. A statement narrower than the component (another `arch=`) does not cover it.
    static func covers(_ product: String, _ component: SBOMComponent) -> Bool {
        let wanted = PackageURL.split(product)
        let wantedQualifiers = PackageURL.qualifiers(product)
        let wantedSubpath = PackageURL.subpath(product)
        return ([component.purl].compactMap { $0 } + component.alternatePurls).contains { purl in
            let have = PackageURL.split(purl)
            guard have.base == wanted.base else { return false }
            if let version = wanted.version {
                guard let running = have.version else { return false }
                let equal =
                    have.base.hasPrefix("pkg:deb/")
                    ? VersionComparison.compareDebian(version, running) == 0 : version == running
                guard equal else { return false }
            }
            let haveQualifiers = PackageURL.qualifiers(purl)
            guard wantedQualifiers.allSatisfy({ haveQualifiers[$0.key] == $0.value }) else { return false }
            return wantedSubpath == nil || wantedSubpath == PackageURL.subpath(purl)
        }
    }
}
