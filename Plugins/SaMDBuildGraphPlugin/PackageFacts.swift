import Foundation
import PackagePlugin

/// What the plugin reads about a package besides the graph: origin, licence, vendored code, the pinned and the
/// checked-out commit. Every file read is bounded.
enum PackageFacts {
    /// The record of `package` with the given scope, linked products and dependencies.
    static func record(
        _ package: Package, scope: String, products: [String], modules: [String], dependencies: [String],
        pins: [String: String]
    ) -> GraphRecord.PackageRecord {
        var url: String?
        var version: String?
        var revision: String?
        var directory: String?
        switch package.origin {
        case .repository(let repository, let displayVersion, let scmRevision):
            url = repository
            version = displayVersion
            // SwiftPM can hand plugins a placeholder ("no revision"); only a full commit id counts, else the pin.
            revision = Self.isCommit(scmRevision) ? scmRevision : pins[package.id]
        case .registry(_, let displayVersion):
            version = displayVersion
        case .root, .local:
            // A package by path has no version in SwiftPM; the build command reads the commit its directory has
            // checked out, at every build.
            directory = package.directoryURL.path
        @unknown default:
            break
        }
        return .init(
            identity: package.id, displayName: package.displayName, url: url, version: version, revision: revision,
            directory: directory,
            license: Self.license(in: package.directoryURL), scope: scope, products: products.sorted(),
            modules: modules.sorted(), dependencies: dependencies.sorted(), vendored: Self.vendored(in: package)
        )
    }

    /// `root` and every package it depends on, transitively, by identity.
    static func packages(from root: Package) -> [String: Package] {
        var packages: [String: Package] = [:]
        func visit(_ package: Package) {
            for dependency in package.dependencies where packages[dependency.package.id] == nil {
                packages[dependency.package.id] = dependency.package
                visit(dependency.package)
            }
        }
        visit(root)
        return packages
    }

    /// The identity of the package each product of `packages` comes from, by product id.
    static func productOwners(_ packages: [String: Package]) -> [String: String] {
        var owners: [String: String] = [:]
        for package in packages.values {
            for product in package.products { owners[product.id] = package.id }
        }
        return owners
    }

    /// Whether `text` is a full git commit id (40 hexadecimal digits).
    static func isCommit(_ text: String) -> Bool {
        text.count == 40 && text.allSatisfy(\.isHexDigit)
    }

    /// The pinned commit of each package in `Package.resolved` (versions 2 and 3), by identity.
    static func resolvedRevisions(in directory: URL) -> [String: String] {
        guard let data = self.read(directory.appendingPathComponent("Package.resolved"), limit: 1 << 20),
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

    /// An SPDX licence expression recognised from the package's LICENSE file (first 64 KiB), or nil.
    static func license(in directory: URL) -> String? {
        for name in ["LICENSE.txt", "LICENSE", "LICENSE.md", "COPYING"] {
            guard let text = self.readText(directory.appendingPathComponent(name), limit: 64 << 10, truncate: true)
            else { continue }
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

    /// Third-party code a package vendors: a copy of BoringSSL in one of its C targets, recognised by the
    /// `hash.txt` that the package's vendoring script (`scripts/vendor-boringssl.sh`) leaves beside it ("derived
    /// from BoringSSL cloned from https://boringssl.googlesource.com/boringssl at revision …"), which names the
    /// upstream revision — swift-nio-ssl's `CNIOBoringSSL` and swift-crypto's `CCryptoBoringSSL`, each with the
    /// target's name, sorted.
    static func vendored(in package: Package) -> [GraphRecord.VendoredRecord] {
        package.targets.compactMap { target -> GraphRecord.VendoredRecord? in
            guard let module = target as? ClangSourceModuleTarget,
                let text = self.readText(
                    module.directoryURL.appendingPathComponent("hash.txt"), limit: 4096, truncate: true),
                text.lowercased().contains("boringssl.googlesource.com/boringssl")
            else { return nil }
            let revision = text.split(whereSeparator: { !$0.isHexDigit }).first { $0.count == 40 }.map(String.init)
            return .init(
                name: "boringssl", module: module.name, url: "https://boringssl.googlesource.com/boringssl",
                revision: revision, license: nil)
        }
        .sorted { $0.module < $1.module }
    }

    /// At most `limit` bytes of a file; nil when it cannot be read, or is longer and `truncate` is false.
    static func read(_ url: URL, limit: Int, truncate: Bool = false) -> Data? {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: limit + 1) else { return nil }
        if data.count > limit { return truncate ? data.prefix(limit) : nil }
        return data
    }

    static func readText(_ url: URL, limit: Int, truncate: Bool = false) -> String? {
        self.read(url, limit: limit, truncate: truncate).map { String(decoding: $0, as: UTF8.self) }
    }
}
