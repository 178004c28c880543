// SaMDBuildGraphPlugin — captures the resolved Swift package graph at build time for SaMDSBOM.
//
// It walks `context.package.dependencies` recursively, records each package's identity, origin (URL,
// version, revision), licence (from its LICENSE file) and direct dependencies, and how the root package
// uses it (library products, executable products only, or tests only). It writes that as JSON into the
// plugin work directory (only when it changed, so builds stay incremental) and declares a build command:
// SaMDBuildGraphWriter turns the JSON into a Swift source that SaMDSBOM compiles.
import Foundation
import PackagePlugin

@main
struct SaMDBuildGraphPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        let graph = BuildGraph(root: context.package)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(graph.record())

        let directory = context.pluginWorkDirectoryURL
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let input = directory.appendingPathComponent("build-graph.json")
        if (try? Data(contentsOf: input)) != data {
            try data.write(to: input, options: .atomic)
        }
        let output = directory.appendingPathComponent("CapturedBuildGraph.swift")
        return [
            .buildCommand(
                displayName: "Capturing the resolved package graph for the SBOM of \(target.name)",
                executable: try context.tool(named: "SaMDBuildGraphWriter").url,
                arguments: [input.path, output.path],
                inputFiles: [input],
                outputFiles: [output]
            )
        ]
    }
}

/// What the plugin records; SaMDSBOM decodes the same shape (`BuildGraphRecord`).
struct GraphRecord: Codable {
    struct PackageRecord: Codable {
        var identity: String
        var displayName: String
        var url: String?
        var version: String?
        var revision: String?
        var license: String?
        /// "required" (linked by a library product), "optional" (only by executable products, the
        /// examples), "excluded" (only by tests).
        var scope: String
        var dependencies: [String]
        var vendored: [VendoredRecord]
    }
    struct VendoredRecord: Codable {
        var name: String
        var url: String
        var revision: String?
        var license: String?
    }
    var rootIdentity: String
    var rootDisplayName: String
    var rootDependencies: [String]
    var rootLicense: String?
    var packages: [PackageRecord]
}

struct BuildGraph {
    let root: Package

    func record() -> GraphRecord {
        var packages: [String: Package] = [:]
        func visit(_ package: Package) {
            for dependency in package.dependencies where packages[dependency.package.id] == nil {
                packages[dependency.package.id] = dependency.package
                visit(dependency.package)
            }
        }
        visit(self.root)

        // Which package each product comes from.
        var productPackage: [String: String] = [:]
        for package in packages.values {
            for product in package.products { productPackage[product.id] = package.id }
        }
        let library = self.reachedPackages(from: self.rootTargets(of: LibraryProduct.self), productPackage, packages)
        let executable = self.reachedPackages(
            from: self.rootTargets(of: ExecutableProduct.self), productPackage, packages)

        let pins = Self.resolvedRevisions(in: self.root.directoryURL)
        let records = packages.values.sorted { $0.id < $1.id }.map { package -> GraphRecord.PackageRecord in
            var url: String?
            var version: String?
            var revision: String?
            switch package.origin {
            case .repository(let repository, let displayVersion, let scmRevision):
                url = repository
                version = displayVersion
                // SwiftPM can hand plugins a placeholder ("no revision"); only a full commit id counts, else
                // the pin in Package.resolved.
                revision = Self.isCommit(scmRevision) ? scmRevision : pins[package.id]
            case .registry(_, let displayVersion):
                version = displayVersion
            case .root, .local:
                break
            @unknown default:
                break
            }
            let scope =
                library.contains(package.id) ? "required" : executable.contains(package.id) ? "optional" : "excluded"
            return .init(
                identity: package.id,
                displayName: package.displayName,
                url: url,
                version: version,
                revision: revision,
                license: Self.license(in: package.directoryURL),
                scope: scope,
                dependencies: package.dependencies.map(\.package.id).sorted(),
                vendored: Self.vendored(in: package)
            )
        }
        return GraphRecord(
            rootIdentity: self.root.id,
            rootDisplayName: self.root.displayName,
            rootDependencies: self.root.dependencies.map(\.package.id).sorted(),
            rootLicense: Self.license(in: self.root.directoryURL),
            packages: records
        )
    }

    /// The root package's targets that products of kind `P` are built from, with their target
    /// dependencies inside the root package.
    private func rootTargets<P: Product>(of kind: P.Type) -> [any Target] {
        var seen: Set<String> = []
        var result: [any Target] = []
        func add(_ target: any Target) {
            guard seen.insert(target.id).inserted else { return }
            result.append(target)
            for case .target(let dependency) in target.dependencies { add(dependency) }
        }
        for product in self.root.products where product is P {
            product.targets.forEach(add)
        }
        return result
    }

    /// The packages that `targets` reach through product dependencies, with all their own
    /// package dependencies (a package-level closure: an over-approximation that never misses one).
    private func reachedPackages(
        from targets: [any Target], _ productPackage: [String: String], _ packages: [String: Package]
    ) -> Set<String> {
        var reached: Set<String> = []
        func close(_ id: String) {
            guard reached.insert(id).inserted, let package = packages[id] else { return }
            for dependency in package.dependencies { close(dependency.package.id) }
        }
        for target in targets {
            for case .product(let product) in target.dependencies {
                if let id = productPackage[product.id] { close(id) }
            }
        }
        return reached
    }

    /// An SPDX licence expression recognised from the package's LICENSE file (first 64 KiB), or nil.
    /// Whether `text` is a full git commit id (40 hexadecimal digits).
    static func isCommit(_ text: String) -> Bool {
        text.count == 40 && text.allSatisfy(\.isHexDigit)
    }

    /// The pinned commit of each package in `Package.resolved` (versions 2 and 3), by identity.
    static func resolvedRevisions(in directory: URL) -> [String: String] {
        let file = directory.appendingPathComponent("Package.resolved")
        guard let data = try? Data(contentsOf: file), data.count < 1 << 20,
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let pins = object["pins"] as? [[String: Any]]
        else { return [:] }
        var revisions: [String: String] = [:]
        for pin in pins {
            guard let identity = pin["identity"] as? String, let state = pin["state"] as? [String: Any],
                let revision = state["revision"] as? String, Self.isCommit(revision)
            else { continue }
            revisions[identity] = revision
        }
        return revisions
    }

    static func license(in directory: URL) -> String? {
        for name in ["LICENSE.txt", "LICENSE", "LICENSE.md", "COPYING"] {
            guard let handle = try? FileHandle(forReadingFrom: directory.appendingPathComponent(name)) else { continue }
            defer { try? handle.close() }
            guard let data = try? handle.read(upToCount: 64 << 10) else { continue }
            let text = String(decoding: data, as: UTF8.self)
            if text.contains("Apache License") && text.contains("Version 2.0") {
                return text.contains("Runtime Library Exception") ? "Apache-2.0 WITH Swift-exception" : "Apache-2.0"
            }
            if text.contains("MIT License") || text.contains("Permission is hereby granted, free of charge") {
                return "MIT"
            }
            return nil
        }
        return nil
    }

    /// Third-party code a package vendors: swift-nio-ssl's copy of BoringSSL (its `hash.txt` names the
    /// upstream revision).
    static func vendored(in package: Package) -> [GraphRecord.VendoredRecord] {
        let hashFile = package.directoryURL.appendingPathComponent("Sources/CNIOBoringSSL/hash.txt")
        guard let handle = try? FileHandle(forReadingFrom: hashFile) else { return [] }
        defer { try? handle.close() }
        let text = String(decoding: (try? handle.read(upToCount: 4096)) ?? Data(), as: UTF8.self)
        let revision = text.split(whereSeparator: { !$0.isHexDigit }).first { $0.count == 40 }.map(String.init)
        return [
            .init(
                name: "boringssl", url: "https://boringssl.googlesource.com/boringssl", revision: revision, license: nil
            )
        ]
    }
}
