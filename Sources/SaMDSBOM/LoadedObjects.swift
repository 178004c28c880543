import Foundation

/// The shared objects the running process has loaded besides OpenSSL and libsodium (which have components of
/// their own): the C and C++ libraries, the Swift runtime and Foundation when linked dynamically, SQLite when
/// GRDB is linked, a PKCS#11 module once one is loaded — each file with its canonical path, SHA-256 and
/// SHA-512 (BSI TR-03183-2 §5.2.2), version, and the Debian package that installed it.
///
/// Grouped so the document stays readable:
/// - the files of one **Debian package** under one component (`deb:libc6` with `libc.so.6`, `libm.so.6`,
///   `ld-linux-x86-64.so.2`), version, purl and supplier (Debian) from dpkg;
/// - the **Swift runtime** libraries of the toolchain (`…/lib/swift/linux/`, not installed by dpkg) under
///   `swift-runtime`, version = the toolchain's; when `libswiftCore.so` is not mapped the runtime was linked
///   statically (`--static-swift-stdlib`) and the component says so, without files;
/// - any other object as a component of its own, version from its file name (`libfoo.so.1.2.3` → 1.2.3).
struct LoadedObjects {
    /// The property that says how the Swift runtime is linked: "dynamic" or "static".
    static let linkageProperty = "samd:linkage"

    var objects: [LoadedObject]
    /// The toolchain version ("6.3.1", or `swift --version`'s first line); nil when unknown.
    var toolchain: String?

    /// The objects of the running process, without the program itself and without `excluding` (canonical paths
    /// already described elsewhere); nil when `/proc/self/maps` cannot be read.
    /// - Throws: what ``ProcessMemoryMap/current(path:)`` throws.
    static func current(excluding: Set<String>, executable: String?, toolchain: String?) throws -> LoadedObjects? {
        guard let mappings = try ProcessMemoryMap.current() else { return nil }
        return LoadedObjects(mappings: mappings, excluding: excluding, executable: executable, toolchain: toolchain)
    }

    init(mappings: [MemoryMapping], excluding: Set<String>, executable: String?, toolchain: String?) {
        self.objects = ProcessMemoryMap.sharedObjects(in: mappings, executable: executable).filter {
            !excluding.contains($0.path)
        }
        self.toolchain = toolchain
    }

    /// The canonical paths to ask dpkg about (one pass for all, with the other libraries').
    var paths: [String] { self.objects.filter { !$0.deleted }.map(\.path) }

    /// The components: one per Debian package, the Swift runtime, then each other object; each file hashed once.
    func components(owners: [String: DebianPackage], system: OperatingSystem?) -> [SBOMComponent] {
        var references = ReferenceNames()
        var packages: [(DebianPackage, [LoadedObject])] = []
        var runtime: [LoadedObject] = []
        var others: [LoadedObject] = []
        for object in self.objects {
            if !object.deleted, let package = owners[object.path] {
                if let index = packages.firstIndex(where: { $0.0 == package }) {
                    packages[index].1.append(object)
                } else {
                    packages.append((package, [object]))
                }
            } else if Self.isSwiftRuntime(object.path) {
                runtime.append(object)
            } else {
                others.append(object)
            }
        }
        var components = packages.map { package, objects in
            self.debianComponent(package, objects, system: system, references: &references)
        }
        components.append(self.swiftRuntime(runtime, references: &references))
        components += others.map { object in
            var component = self.file(object, version: Self.versionFromFileName(object.path), references: &references)
            component.kind = .library
            component.supplier = "NOASSERTION"
            component.summary =
                "Shared object loaded by this process from \(object.path), installed by no package dpkg knows"
            component.purl =
                "pkg:generic/\(PackageURL.encode(component.name))"
                + (component.version.map { "@" + PackageURL.encode($0) } ?? "")
            return component
        }
        return components
    }

    /// The toolchain's Swift runtime directory (`/opt/swift/usr/lib/swift/linux/libswiftCore.so`).
    static func isSwiftRuntime(_ path: String) -> Bool {
        path.contains("/lib/swift/linux/")
    }

    /// "libfoo.so.1.2.3" → "1.2.3"; nil when the name carries no version after `.so.`.
    static func versionFromFileName(_ path: String) -> String? {
        let name = (path as NSString).lastPathComponent
        guard let range = name.range(of: ".so.", options: .backwards) else { return nil }
        let version = name[range.upperBound...]
        guard let first = version.first, first.isNumber, version.allSatisfy({ $0.isNumber || $0 == "." }) else {
            return nil
        }
        return String(version)
    }

    private func debianComponent(
        _ package: DebianPackage, _ objects: [LoadedObject], system: OperatingSystem?,
        references: inout ReferenceNames
    ) -> SBOMComponent {
        var component = SBOMComponent(
            reference: references.unique("deb:\(package.name)"), kind: .library, name: package.name,
            version: package.version, supplier: "Debian")
        component.summary =
            "Debian package \(package.name) \(package.version) (source \(package.source)), of which this process loaded "
            + objects.map { ($0.path as NSString).lastPathComponent }.joined(separator: ", ")
        SBOMInventory.applyDebian(package, system, to: &component, upstreamName: package.source)
        component.subcomponents = objects.map { object in
            var file = self.file(object, version: package.version, references: &references)
            file.supplier = "Debian"
            file.purl = component.purl
            file.debianPackage = package
            return file
        }
        return component
    }

    private func swiftRuntime(_ objects: [LoadedObject], references: inout ReferenceNames) -> SBOMComponent {
        let version = self.toolchain.flatMap(SwiftToolchain.version(fromVersionLine:))
        // Wherever it was loaded from (a distribution may package the runtime): mapped means linked dynamically.
        let dynamic = self.objects.contains { ($0.path as NSString).lastPathComponent == "libswiftCore.so" }
        var component = SBOMComponent(
            reference: references.unique("swift-runtime"), kind: .library, name: "swift-runtime", version: version,
            supplier: "Apple Inc.")
        component.author = "The Swift Project Authors"
        component.license = "Apache-2.0 WITH Swift-exception"
        component.vcsURL = "https://github.com/swiftlang/swift"
        component.summary =
            "Swift runtime of the toolchain this binary was built with (standard library, Concurrency, Foundation, "
            + "Dispatch): "
            + (dynamic
                ? "loaded dynamically"
                : "statically linked into the executable (--static-swift-stdlib)")
        if let version {
            component.purl = "pkg:generic/swift@\(PackageURL.encode(version))"
            component.cpe = "cpe:2.3:a:apple:swift:\(version):*:*:*:*:*:*:*"
        }
        component.properties[Self.linkageProperty] = dynamic ? "dynamic" : "static (linked into the executable)"
        if let toolchain { component.properties["samd:swiftToolchain"] = toolchain }
        component.subcomponents = objects.map { object in
            var file = self.file(object, version: version, references: &references)
            file.supplier = component.supplier
            file.author = component.author
            file.purl = component.purl
            return file
        }
        return component
    }

    /// The `file` component of one object: name, canonical path, SHA-256 and SHA-512 (file read once).
    private func file(_ object: LoadedObject, version: String?, references: inout ReferenceNames) -> SBOMComponent {
        let name = (object.path as NSString).lastPathComponent
        var file = SBOMComponent(
            reference: references.unique("so:\(name)", else: "so:\(object.path)"), kind: .file, name: name,
            version: version, supplier: "NOASSERTION")
        file.summary = "\(name), loaded by this process from \(object.path)"
        file.path = object.path
        (file.sha256, file.sha512) = SBOMInventory.digests(ofFile: object.readablePath)
        if !object.deleted, PKCS11Modules.isModule(object.path) {
            file.properties[PKCS11Modules.moduleProperty] =
                "true: a PKCS#11 (Cryptoki) module, exporting C_GetFunctionList; its token's mechanisms are CBOM assets"
        }
        if object.deleted {
            file.properties["samd:deleted"] =
                "true: removed or replaced after it was loaded; hashes (when present) are of the mapped file"
        }
        return file
    }
}

/// Component references unique within one document.
private struct ReferenceNames {
    private var used: Set<String> = []

    /// `preferred`, or `fallback` when taken, or `fallback` with a counter.
    mutating func unique(_ preferred: String, else fallback: String? = nil) -> String {
        for candidate in [preferred, fallback].compactMap({ $0 }) where self.used.insert(candidate).inserted {
            return candidate
        }
        var number = 2
        while !self.used.insert("\(fallback ?? preferred)#\(number)").inserted { number += 1 }
        return "\(fallback ?? preferred)#\(number)"
    }
}
