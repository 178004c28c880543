import SaMDCrypto

/// The components that come from the build graph: the subject and the Swift packages.
extension SBOMInventory {
    /// The display name of SaMDKit's package, by which it is recognised in a product's graph (its identity is
    /// its URL's last part, or its directory's name when it is a dependency by path).
    static let samdKitPackageName = "SaMDKit"
    static let samdKitSupplier = "SaMDKit maintainers"
    static let samdKitSummary =
        "TLS/mTLS channels, envelope encryption and key lifecycle for SaMD, on the system OpenSSL 3 and libsodium"

    /// What the fallback subject says about itself, so that an SBOM of SaMDKit is never taken for the product's.
    static let fallbackNotice =
        "this binary did not apply SaMDBuildGraphPlugin to its executable target: the subject and the Swift "
        + "packages listed are SaMDKit's own package graph, not the product's (Docs/SBOM.md)"

    /// One sentence for a document's generation context: where the subject and the Swift packages come from.
    var buildGraphDescription: String {
        switch self.buildGraphSource {
        case .product:
            "the product and the Swift packages it links as captured at build time by SaMDBuildGraphPlugin"
        case .samdKit:
            "Swift packages as SaMDKit resolves them at build time — " + Self.fallbackNotice
        }
    }

    /// The subject: the product named by the build graph, or SaMDKit for the fallback.
    static func subject(_ graph: BuildGraphRecord, _ table: SupportTable) -> SBOMComponent {
        let record = graph.subject
        var subject: SBOMComponent
        if graph.kind == .product {
            // SaMDKit's own programs take SaMDKit's version and supplier unless samd-sbom.json says otherwise.
            let ownProgram = record.packageDisplayName == Self.samdKitPackageName
            let version = record.version ?? (ownProgram ? SaMDKit.version : nil)
            let supplier = record.supplier ?? record.author ?? (ownProgram ? Self.samdKitSupplier : nil)
            subject = SBOMComponent(
                reference: "product", kind: .application, name: record.name, version: version,
                supplier: supplier ?? "not stated (set \"supplier\" in samd-sbom.json)")
            subject.author = record.author ?? supplier
            subject.summary =
                record.summary ?? "\(record.name), built from the Swift package \(record.packageDisplayName)"
            subject.purl = version.map {
                "pkg:generic/\(PackageURL.encode(record.name.lowercased()))@\(PackageURL.encode($0))"
            }
            if ownProgram {
                subject.support = table.status(component: "samdkit", version: SaMDKit.version, distribution: nil)
            }
            subject.properties["samd:buildGraph"] = "product"
            subject.properties["samd:package"] = record.packageDisplayName
            if let target = record.target { subject.properties["samd:target"] = target }
            if record.version == nil && !ownProgram {
                subject.properties["samd:versionNotice"] = "no version: set \"version\" in samd-sbom.json"
            }
        } else {
            subject = SBOMComponent(
                reference: "samdkit", kind: .library, name: Self.samdKitPackageName, version: SaMDKit.version,
                supplier: Self.samdKitSupplier)
            subject.author = Self.samdKitSupplier
            subject.summary = Self.samdKitSummary + " — " + Self.fallbackNotice
            subject.purl = "pkg:generic/samdkit@\(PackageURL.encode(SaMDKit.version))"
            subject.support = table.status(component: "samdkit", version: SaMDKit.version, distribution: nil)
            subject.properties["samd:buildGraph"] = "samdkit (fallback): " + Self.fallbackNotice
        }
        subject.license = record.license
        if let revision = record.revision { subject.properties["samd:scmRevision"] = revision }
        if let toolchain = graph.toolchain { subject.properties["samd:swiftToolchain"] = toolchain }
        return subject
    }

    /// One component per Swift package of the graph (BoringSSL as a subcomponent of the package vendoring it,
    /// saying what SaMDKit runs of it: SBOMInventory+VendoredCode.swift).
    static func swiftPackages(_ graph: BuildGraphRecord, _ table: SupportTable) -> [SBOMComponent] {
        graph.packages.map { package in
            let scope = SBOMComponent.Scope(rawValue: package.scope) ?? .required
            let isSaMDKit = package.displayName == Self.samdKitPackageName
            let location = package.url.map(Self.repositoryLocation)
            let owner = location?.split(separator: "/").dropFirst().first.map(String.init)
            let supplier =
                isSaMDKit
                ? Self.samdKitSupplier
                : owner.map { ["apple", "swiftlang"].contains($0.lowercased()) ? "Apple Inc." : $0 }
                    ?? package.displayName
            // SaMDKit by path has no version in SwiftPM; the running library knows its own.
            let version = package.version ?? (isSaMDKit ? SaMDKit.version : nil)
            var component = SBOMComponent(
                reference: "swift:\(package.identity)", kind: .library,
                name: isSaMDKit ? Self.samdKitPackageName : package.identity, version: version,
                supplier: supplier, scope: scope
            )
            component.author = supplier
            component.summary =
                (isSaMDKit ? Self.samdKitSummary : "Swift package \(package.displayName)")
                + (package.products.isEmpty ? "" : " (products linked: \(package.products.joined(separator: ", ")))")
                + (scope == .excluded
                    ? " (test-only dependency of SaMDKit; in no product)"
                    : scope == .optional ? " (used only by SaMDKit's example executables)" : "")
            component.license = package.license
            component.vcsURL = package.url
            component.revision = package.revision
            if let location, let version {
                component.purl = "pkg:swift/\(location)@\(PackageURL.encode(version))"
                component.advisoryKeys = [.init(ecosystem: "SwiftURL", name: location, version: version)]
            } else if isSaMDKit, let version {
                component.purl = "pkg:generic/samdkit@\(PackageURL.encode(version))"
            }
            if let revision = package.revision { component.properties["samd:scmRevision"] = revision }
            if !package.products.isEmpty {
                component.properties["samd:productsLinked"] = package.products.joined(separator: " ")
            }
            component.properties["samd:usage"] =
                graph.kind == .product
                ? "linked" : scope == .required ? "library" : scope == .optional ? "examples" : "tests"
            // A package's own entry when the table has one, else the entry for every Swift package.
            component.support =
                table.status(component: isSaMDKit ? "samdkit" : package.identity, version: version, distribution: nil)
                ?? table.status(component: "swift-package", version: version, distribution: nil)
            component.dependsOn = package.dependencies.map { "swift:\($0)" }
            component.subcomponents = package.vendored.map { vendored in
                self.vendoredComponent(vendored, of: package, in: graph, scope: scope, table)
            }
            return component
        }
    }
}
