public import Foundation
public import SaMDCrypto

/// Everything an SBOM of this process says: the product (the subject) and the Swift packages it links, both
/// captured at build time by SaMDBuildGraphPlugin; the OpenSSL and libsodium the process loaded and every other
/// shared object it has mapped (version, path, SHA-256 and SHA-512, Debian package; the Swift runtime with the
/// toolchain's version); the FDA support fields; and the cryptographic assets of the active profile (the CBOM).
///
/// A binary whose executable target did not apply SaMDBuildGraphPlugin gets SaMDKit's own package graph instead,
/// and the inventory says so (``buildGraphSource`` is ``BuildGraphSource/samdKit``): SaMDKit is then the subject.
public struct SBOMInventory: Sendable {
    /// Whose build graph the subject and the Swift packages come from.
    public enum BuildGraphSource: String, Sendable, Hashable {
        /// The product's own: its executable target applied SaMDBuildGraphPlugin, so the subject is the product
        /// and the Swift packages are exactly those it links.
        case product
        /// SaMDKit's package graph, the fallback: no target of this binary applied the plugin, so the subject is
        /// SaMDKit and the Swift packages are those SaMDKit resolves, not the product's.
        case samdKit
    }

    /// When the inventory was taken (the SBOM timestamp).
    public var timestamp: Date
    /// The cryptographic runtime report the library components come from.
    public var runtime: RuntimeReport
    /// The SBOM's subject: the product (kind `application`), or SaMDKit when ``buildGraphSource`` is
    /// ``BuildGraphSource/samdKit``. Its supplier, author and version may be set before making a document.
    public var subject: SBOMComponent
    /// Whose build graph ``subject`` and the Swift package components describe.
    public var buildGraphSource: BuildGraphSource
    /// The Swift toolchain that built the binary (`swiftc --version`'s first line, e.g. "Swift version 6.3.1
    /// (swift-6.3.1-RELEASE)"), as captured at build time; nil when the plugin could not run the compiler.
    public var swiftToolchain: String?
    /// The other components, each possibly with subcomponents.
    public var components: [SBOMComponent]
    /// The CBOM: algorithms and protocols of the active profile.
    public var cryptographicAssets: [CryptographicAsset]
    /// The support table's `as_of` date (`YYYY-MM-DD`).
    public var supportTableDate: String
    /// The operating system key ("debian-12"), when os-release names one.
    public var operatingSystem: String?
    /// The organisation that makes this SBOM — the device manufacturer embedding SaMDKit (NTIA "author of SBOM
    /// data"). `nil`: the tool is named as author.
    public var author: String?
    /// The name of the tool that makes the document ("SaMDSBOM").
    public static let toolName = "SaMDSBOM"

    /// Takes the inventory of the running process.
    /// - Parameter timestamp: the time to record (default: now).
    /// - Throws: ``SBOMError/Code/runtimeUnavailable`` when SaMDCrypto's library gate fails;
    ///   ``SBOMError/Code/limitExceeded`` / ``SBOMError/Code/malformedInput`` when `/proc/self/maps` is beyond
    ///   its bounds or not proc(5)'s format;
    ///   ``SBOMError/Code/resourceMissing`` / ``SBOMError/Code/malformedInput`` for a broken support or transition
    ///   table, and ``SBOMError/Code/malformedInput`` when the captured build graph does not decode (the plugin and
    ///   SaMDSBOM were built from different SaMDKit versions).
    public static func current(timestamp: Date = Date()) throws -> SBOMInventory {
        let runtime: RuntimeReport
        do {
            runtime = try RuntimeReport.current()
        } catch {
            throw SBOMError(.runtimeUnavailable, "\(error)")
        }
        let table = try SupportTable.bundled()
        let system = OperatingSystem.current()
        let graph = try BuildGraphRecord.captured.get()
        let executable = Self.processPath()
        let paths = [runtime.openSSL.libsslPath, runtime.openSSL.libcryptoPath, runtime.sodium.path].compactMap { $0 }
        let loaded = try LoadedObjects.current(
            excluding: Set(paths), executable: executable, toolchain: graph.toolchain)
        let owners = DpkgDatabase().owners(of: paths + (loaded?.paths ?? []))

        var components: [SBOMComponent] = []
        components.append(Self.openSSL(runtime, owners, system, table))
        components.append(Self.sodium(runtime, owners, system, table))
        let loadedComponents = loaded?.components(owners: owners, system: system) ?? []
        components.append(contentsOf: loadedComponents)
        let swiftPackages = Self.swiftPackages(graph, table)
        components.append(contentsOf: swiftPackages)

        var subject = Self.subject(graph, table)
        subject.dependsOn =
            ["openssl", "libsodium"] + loadedComponents.map(\.reference) + graph.rootDependencies.map { "swift:\($0)" }
        if loaded == nil { subject.properties["samd:loadedObjects"] = "unknown: /proc/self/maps cannot be read" }
        subject.properties["samd:cryptoProfile"] = runtime.profile.rawValue
        subject.properties["samd:fipsProviderAvailable"] = String(runtime.openSSL.fipsProviderAvailable)
        subject.properties["samd:fipsProviderActive"] = String(runtime.openSSL.fipsProviderActive)
        subject.properties["samd:process"] = executable
        if graph.kind == .product {
            // The product is the running executable: its own bytes (with a statically linked Swift runtime in
            // them) are hashed like every loaded library. The fallback's subject, SaMDKit, is not this file.
            subject.path = executable
            (subject.sha256, subject.sha512) = Self.digests(ofFile: executable)
        }

        return SBOMInventory(
            timestamp: timestamp,
            runtime: runtime,
            subject: subject,
            buildGraphSource: graph.kind == .product ? .product : .samdKit,
            swiftToolchain: graph.toolchain,
            components: components,
            cryptographicAssets: try Self.cryptographicAssets(runtime, components: loadedComponents + swiftPackages),
            supportTableDate: table.as_of,
            operatingSystem: system?.key,
            author: nil
        )
    }

    /// The CBOM: the assets of the active profile of `runtime`, then those of the components found to provide
    /// more — each loaded PKCS#11 module (the mechanisms SaMDKit calls in its tokens) and, where the binary links
    /// SaMDPostgres, swift-crypto's BoringSSL (the PostgreSQL login) —, classified by the transition table.
    /// - Throws: ``SBOMError/Code/resourceMissing`` / ``SBOMError/Code/malformedInput`` for a broken transition
    ///   table.
    static func cryptographicAssets(_ runtime: RuntimeReport, components: [SBOMComponent]) throws
        -> [CryptographicAsset]
    {
        let all = components.flatMap(\.flattened)
        return try AlgorithmTransitionTable.bundled().classify(
            CryptographicAsset.assets(for: runtime)
                + all.filter { $0.properties[PKCS11Modules.moduleProperty] != nil }.flatMap(
                    PKCS11Modules.assets(module:))
                + all.filter { $0.properties[PostgresLogin.providerProperty] != nil }.flatMap(
                    PostgresLogin.assets(provider:)))
    }

    /// Every component, the subject first, subcomponents after their parents.
    public var allComponents: [SBOMComponent] {
        [self.subject] + self.components.flatMap(\.flattened)
    }

    /// The document in `format`, as UTF-8 JSON.
    public func document(_ format: SBOMFormat) throws -> Data {
        switch format {
        case .cycloneDX: try CycloneDXWriter(inventory: self).data()
        case .spdx: try SPDXWriter(inventory: self).data()
        }
    }

    // MARK: - Components

    /// "OpenSSL 3.0.19 27 Jan 2026" → "3.0.19".
    static func openSSLVersion(_ versionString: String) -> String {
        let words = versionString.split(separator: " ")
        return words.count >= 2 ? String(words[1]) : versionString
    }

    private static func openSSL(
        _ runtime: RuntimeReport, _ owners: [String: DebianPackage], _ system: OperatingSystem?, _ table: SupportTable
    ) -> SBOMComponent {
        let version = self.openSSLVersion(runtime.openSSL.version)
        var component = self.loadedLibrary(
            LoadedLibrary(
                name: "openssl", upstreamSupplier: "OpenSSL Software Foundation", author: "The OpenSSL Project",
                summary:
                    "OpenSSL \(version) as loaded by this process (libssl, libcrypto): TLS and the AES-GCM, HKDF, HMAC, SHA-2, key wrap and DRBG primitives",
                cpeVendor: "openssl", license: "Apache-2.0", vcsURL: "https://github.com/openssl/openssl"),
            version: version, path: runtime.openSSL.libcryptoPath, owners, system, table)
        component.properties["samd:runtimeVersion"] = runtime.openSSL.version
        component.properties["samd:versionNumber"] = runtime.openSSL.versionNumberHex
        component.properties["samd:headerVersionNumber"] = runtime.openSSL.headerVersionNumberHex
        if let modules = runtime.openSSL.modulesDirectory { component.properties["samd:modulesDirectory"] = modules }
        component.properties["samd:fipsProviderAvailable"] = String(runtime.openSSL.fipsProviderAvailable)
        component.properties["samd:fipsProviderActive"] = String(runtime.openSSL.fipsProviderActive)
        component.subcomponents = [
            (runtime.openSSL.libsslPath, "libssl"), (runtime.openSSL.libcryptoPath, "libcrypto"),
        ].compactMap { path, name in path.map { self.file($0, name: name, parent: component, owners: owners) } }
        return component
    }

    private static func sodium(
        _ runtime: RuntimeReport, _ owners: [String: DebianPackage], _ system: OperatingSystem?, _ table: SupportTable
    ) -> SBOMComponent {
        let version = runtime.sodium.version
        var component = self.loadedLibrary(
            LoadedLibrary(
                name: "libsodium", upstreamSupplier: "libsodium (Frank Denis)", author: "Frank Denis",
                summary:
                    "libsodium \(version) as loaded by this process: XChaCha20-Poly1305, X25519, sealed boxes, Ed25519, Argon2id, guarded memory",
                cpeVendor: "libsodium_project", license: "ISC", vcsURL: "https://github.com/jedisct1/libsodium"),
            version: version, path: runtime.sodium.path, owners, system, table)
        component.properties["samd:libraryVersion"] = runtime.sodium.libraryVersion
        if let path = runtime.sodium.path {
            // libsodium is one file: the component itself carries its path and hash.
            component.path = path
            (component.sha256, component.sha512) = self.digests(ofFile: path)
        }
        return component
    }

    /// What the SBOM says of a C library the process loaded, besides its version.
    private struct LoadedLibrary {
        /// The upstream project's name: the component's name, reference and purl name.
        let name: String
        /// The supplier when the library is not a distribution's package.
        let upstreamSupplier: String
        /// Who wrote it.
        let author: String
        /// One line: the version as loaded and what SaMDKit takes from it.
        let summary: String
        /// The vendor part of its CPE 2.3 name (NVD's dictionary).
        let cpeVendor: String
        /// Its SPDX license identifier.
        let license: String
        /// Its upstream source repository.
        let vcsURL: String
    }

    /// The component of a loaded C library at `path`: identity, CPE, purls, the advisory key, the Debian package
    /// that owns the file (when one does) and its support status.
    private static func loadedLibrary(
        _ library: LoadedLibrary, version: String, path: String?, _ owners: [String: DebianPackage],
        _ system: OperatingSystem?, _ table: SupportTable
    ) -> SBOMComponent {
        let debian = path.flatMap { owners[$0] }
        var component = SBOMComponent(
            reference: library.name, kind: .library, name: library.name, version: version,
            supplier: debian == nil ? library.upstreamSupplier : "Debian"
        )
        component.author = library.author
        component.summary = library.summary
        component.cpe = "cpe:2.3:a:\(library.cpeVendor):\(library.name):\(version):*:*:*:*:*:*:*"
        component.license = library.license
        component.vcsURL = library.vcsURL
        component.alternatePurls = ["pkg:generic/\(library.name)@\(PackageURL.encode(version))"]
        component.advisoryKeys = [.init(ecosystem: "OSS-Fuzz", name: library.name, version: version)]
        self.applyDebian(debian, system, to: &component, upstreamName: library.name)
        component.support = table.status(
            component: library.name, version: version, distribution: debian == nil ? nil : system?.key)
        return component
    }

    static func applyDebian(
        _ debian: DebianPackage?, _ system: OperatingSystem?, to component: inout SBOMComponent, upstreamName: String
    ) {
        guard let debian else {
            component.purl = component.alternatePurls.first
            return
        }
        component.debianPackage = debian
        var qualifiers: [String] = []
        if let architecture = debian.architecture { qualifiers.append("arch=\(architecture)") }
        if let system { qualifiers.append("distro=\(system.key)") }
        let namespace = system?.id ?? "debian"
        component.purl =
            "pkg:deb/\(namespace)/\(debian.name)@\(PackageURL.encode(debian.version))"
            + (qualifiers.isEmpty ? "" : "?" + qualifiers.joined(separator: "&"))
        if let system, let version = system.versionID {
            component.advisoryKeys.append(
                .init(ecosystem: "Debian:\(version)", name: debian.source, version: debian.version))
        }
        component.properties["samd:debianPackage"] = "\(debian.name) \(debian.version)"
        component.properties["samd:debianSource"] = debian.source
    }

    private static func file(_ path: String, name: String, parent: SBOMComponent, owners: [String: DebianPackage])
        -> SBOMComponent
    {
        var file = SBOMComponent(
            reference: "\(parent.reference):\(name)", kind: .file, name: (path as NSString).lastPathComponent,
            version: parent.version, supplier: parent.supplier
        )
        file.author = parent.author
        file.summary = "\(name) of \(parent.name), loaded from \(path)"
        file.path = path
        (file.sha256, file.sha512) = self.digests(ofFile: path)
        file.license = parent.license
        file.purl = parent.purl
        file.debianPackage = owners[path]
        file.support = parent.support
        return file
    }

    /// Lower-case hexadecimal SHA-256 and SHA-512 of a file (at most 512 MiB, read once), each nil when the file
    /// cannot be read.
    static func digests(ofFile path: String) -> (sha256: String?, sha512: String?) {
        guard let data = BoundedFile.read(path, limit: 512 << 20) else { return (nil, nil) }
        func hex(_ algorithm: DigestAlgorithm) -> String? {
            (try? algorithm.hash(data))?.lowercaseHexadecimal
        }
        return (hex(.sha256), hex(.sha512))
    }

    /// "https://github.com/apple/swift-nio.git" → "github.com/apple/swift-nio" (OSV's SwiftURL names).
    static func repositoryLocation(_ url: String) -> String {
        var location = Substring(url)
        for scheme in ["https://", "http://", "ssh://", "git@"] where location.hasPrefix(scheme) {
            location = location.dropFirst(scheme.count)
        }
        if location.hasSuffix(".git") { location = location.dropLast(4) }
        return location.replacingOccurrences(of: ":", with: "/").lowercased()
    }

    static func processPath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments.first
            ?? "unknown"
    }
}

/// The two document formats.
public enum SBOMFormat: String, Sendable, Hashable, CaseIterable {
    /// CycloneDX 1.6 JSON, with the CBOM.
    case cycloneDX = "cyclonedx"
    /// SPDX 2.3 JSON.
    case spdx
}
