import Foundation
import SaMDCrypto

/// CycloneDX 1.6 JSON: components with NTIA minimum elements, FDA support fields, dependencies
/// (with `provides` from the libraries to the cryptographic assets they implement) and the CBOM.
/// - SeeAlso: https://cyclonedx.org/docs/1.6/json/
struct CycloneDXWriter {
    let inventory: SBOMInventory

    func data() throws -> Data {
        try SBOMJSON.serialize(self.object())
    }

    /// The document as a JSON object (the VEX writer adds its `vulnerabilities` to it).
    func object() -> [String: Any] {
        let all = self.inventory.allComponents
        var dependencies: [[String: Any]] = all.map { component in
            var entry: [String: Any] = [
                "ref": component.reference,
                "dependsOn": component.dependsOn.filter { ref in all.contains { $0.reference == ref } },
            ]
            let provided = self.inventory.cryptographicAssets.filter { $0.implementedBy == component.reference }.map(
                \.reference)
            if !provided.isEmpty { entry["provides"] = provided }
            return entry
        }
        for asset in self.inventory.cryptographicAssets {
            let uses = asset.cipherSuites.flatMap(\.algorithms) + asset.cryptoReferences + asset.uses
            let known = Set(self.inventory.cryptographicAssets.map(\.reference))
            dependencies.append(["ref": asset.reference, "dependsOn": Array(Set(uses).intersection(known)).sorted()])
        }
        return [
            "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
            "bomFormat": "CycloneDX",
            "specVersion": "1.6",
            "serialNumber": "urn:uuid:\(UUID().uuidString.lowercased())",
            "version": 1,
            "metadata": [
                "timestamp": SBOMJSON.timestamp(self.inventory.timestamp),
                "lifecycles": [["phase": "operations"]],
                "tools": [
                    "components": [
                        [
                            "type": "library", "name": SBOMInventory.toolName, "version": SaMDKit.version,
                            "supplier": ["name": "SaMDKit maintainers"],
                        ]
                    ]
                ],
                "authors": [
                    [
                        "name": self.inventory.author
                            ?? "\(SBOMInventory.toolName) \(SaMDKit.version) (SaMDKit), run in process \(self.inventory.subject.properties["samd:process"] ?? "unknown")"
                    ]
                ],
                "supplier": ["name": self.inventory.subject.supplier],
                "component": self.component(self.inventory.subject, nested: false),
                "properties": self.properties([
                    "samd:supportTable:asOf": self.inventory.supportTableDate,
                    "samd:generationContext":
                        "runtime: libraries as loaded by the running process; \(self.inventory.buildGraphDescription)",
                    "samd:buildGraph": self.inventory.buildGraphSource.rawValue,
                    "samd:operatingSystem": self.inventory.operatingSystem ?? "unknown",
                ]),
            ],
            "components": self.inventory.components.map { self.component($0, nested: true) }
                + self.inventory.cryptographicAssets.map(self.asset),
            "dependencies": dependencies,
        ]
    }

    private func properties(_ values: [String: String]) -> [[String: String]] {
        values.sorted { $0.key < $1.key }.map { ["name": $0.key, "value": $0.value] }
    }

    private func component(_ component: SBOMComponent, nested: Bool) -> [String: Any] {
        var object: [String: Any] = [
            "type": component.kind.rawValue,
            "bom-ref": component.reference,
            "name": component.name,
            "supplier": ["name": component.supplier],
        ]
        if nested { object["scope"] = component.scope.rawValue }
        if let version = component.version { object["version"] = version }
        if let author = component.author { object["authors"] = [["name": author]] }
        if let summary = component.summary { object["description"] = summary }
        if let purl = component.purl { object["purl"] = purl }
        if let cpe = component.cpe { object["cpe"] = cpe }
        let hashes = [("SHA-256", component.sha256), ("SHA-512", component.sha512)].compactMap { algorithm, value in
            value.map { ["alg": algorithm, "content": $0] }
        }
        if !hashes.isEmpty { object["hashes"] = hashes }
        if let license = component.license {
            // An expression, or a LicenseRef (not on the SPDX list, so not a license `id`), goes as an expression.
            object["licenses"] =
                license.contains(" ") || license.hasPrefix("LicenseRef-")
                ? [["expression": license]] : [["license": ["id": license]]]
        }
        if let vcs = component.vcsURL { object["externalReferences"] = [["type": "vcs", "url": vcs]] }
        var properties = component.properties
        if let path = component.path { properties["samd:path"] = path }
        if let support = component.support {
            properties["samd:fda:supportLevel"] = support.level
            properties["samd:fda:supportBasis"] = support.basis
            properties["samd:fda:upstreamSupportLevel"] = support.upstreamLevel
            properties["samd:fda:supportTableDate"] = support.tableDate
            properties["samd:fda:supportSources"] = support.sources.joined(separator: " ")
            if let date = support.endOfSupport { properties["cdx:lifecycle:milestone:endOfSupport"] = date }
            if let date = support.upstreamEndOfSupport { properties["samd:fda:upstreamEndOfSupport"] = date }
            if let level = support.distributionLevel { properties["samd:fda:distributionSupportLevel"] = level }
            if let date = support.distributionEndOfSupport { properties["samd:fda:distributionEndOfSupport"] = date }
        }
        if !properties.isEmpty { object["properties"] = self.properties(properties) }
        if !component.subcomponents.isEmpty {
            object["components"] = component.subcomponents.map { self.component($0, nested: true) }
        }
        return object
    }

    private func asset(_ asset: CryptographicAsset) -> [String: Any] {
        var crypto: [String: Any] = ["assetType": asset.assetType.rawValue]
        if let oid = asset.oid { crypto["oid"] = oid }
        switch asset.assetType {
        case .algorithm:
            var algorithm: [String: Any] = [
                "executionEnvironment": "software-plain-ram",
                "implementationPlatform": Self.platform,
                "certificationLevel": [asset.certificationLevel],
                "cryptoFunctions": asset.functions,
            ]
            if let primitive = asset.primitive { algorithm["primitive"] = primitive }
            if let mode = asset.mode { algorithm["mode"] = mode }
            if let parameterSet = asset.parameterSet { algorithm["parameterSetIdentifier"] = parameterSet }
            if let curve = asset.curve { algorithm["curve"] = curve }
            if let level = asset.classicalSecurityLevel { algorithm["classicalSecurityLevel"] = level }
            if let level = asset.nistQuantumSecurityLevel { algorithm["nistQuantumSecurityLevel"] = level }
            crypto["algorithmProperties"] = algorithm
        case .protocol:
            var properties: [String: Any] = [
                "type": asset.protocolType,
                "cipherSuites": asset.cipherSuites.map { suite in
                    ["name": suite.name, "algorithms": suite.algorithms, "identifiers": suite.identifiers]
                        as [String: Any]
                },
                "cryptoRefArray": asset.cryptoReferences.filter { ref in
                    self.inventory.cryptographicAssets.contains { $0.reference == ref }
                },
            ]
            if let version = asset.protocolVersion { properties["version"] = version }
            crypto["protocolProperties"] = properties
        }
        var properties = asset.properties.merging([
            "samd:usage": asset.usage, "samd:profile": self.inventory.runtime.profile.rawValue,
        ]) { _, new in new }.merging(asset.transitionProperties) { _, new in new }
        if let implementer = asset.implementedBy { properties["samd:implementedBy"] = implementer }
        if !asset.groups.isEmpty { properties["samd:tls:groups"] = asset.groups.joined(separator: ":") }
        return [
            "type": "cryptographic-asset",
            "bom-ref": asset.reference,
            "name": asset.name,
            "cryptoProperties": crypto,
            "properties": self.properties(properties),
        ]
    }

    static var platform: String {
        #if arch(x86_64)
            "x86_64"
        #elseif arch(arm64)
            "armv8-a"
        #else
            "other"
        #endif
    }
}
