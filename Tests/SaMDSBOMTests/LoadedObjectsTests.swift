// What actually runs: the shared objects in /proc/self/maps, parsed defensively, grouped by Debian package and
// Swift runtime, each file with SHA-256 and SHA-512 (BSI TR-03183-2) equal to sha256sum's and sha512sum's.

import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

@testable import SaMDSBOM

// Serialized: two tests dlopen libraries, which every inventory taken meanwhile would see.
@Suite("Loaded shared objects (/proc/self/maps)", .serialized)
struct LoadedObjectsTests {
    static func maps(_ lines: [String]) -> Data { Data(lines.joined(separator: "\n").utf8) }

    /// Paths with spaces, a deleted file, pseudo-paths, anonymous and shared mappings, the program itself.
    @Test func oddLinesAreReadAsTheKernelWroteThem() throws {
        let mappings = try ProcessMemoryMap.parse(
            Self.maps([
                "55d0c0000000-55d0c0001000 r-xp 00001000 fe:00 100 /opt/device app/bin/deviceapp",
                "7f0000000000-7f0000010000 r--p 00000000 fe:00 201     /opt/device app/lib/libvendor.so.2.1.0",
                "7f0000010000-7f0000020000 r-xp 00010000 fe:00 201     /opt/device app/lib/libvendor.so.2.1.0",
                "7f0000020000-7f0000030000 r-xp 00000000 fe:00 202     /usr/lib/x86_64-linux-gnu/libold.so.1 (deleted)",
                "7f0000030000-7f0000040000 r--s 00000000 fe:00 203     /usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
                "7f0000040000-7f0000050000 r--p 00000000 fe:00 204     /usr/lib/locale/C.utf8/LC_CTYPE",
                "7f0000050000-7f0000060000 rw-p 00000000 00:00 0 ",
                "7f0000060000-7f0000070000 rw-p 00000000 00:00 0",
                "7f0000070000-7f0000072000 r-xp 00000000 00:00 0                          [vdso]",
                "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]",
                "7f0000080000-7f0000090000 r--p 00000000 fe:00 205     /usr/lib/x86_64-linux-gnu/libdataonly.so",
                "7f0000090000-7f00000a0000 r-xp 00000000 fe:00 206     /srv/plugins/line\\012break.so",
            ]))
        #expect(mappings.count == 12)
        #expect(mappings[1].path == "/opt/device app/lib/libvendor.so.2.1.0" && mappings[1].offset == 0)
        #expect(mappings[3].deleted && mappings[3].path == "/usr/lib/x86_64-linux-gnu/libold.so.1")
        #expect(mappings[6].path == nil && mappings[7].path == nil && !mappings[6].isFileBacked)
        #expect(mappings[8].path == "[vdso]" && !mappings[8].isFileBacked)
        #expect(mappings[11].path == "/srv/plugins/line\nbreak.so")

        let objects = ProcessMemoryMap.sharedObjects(in: mappings, executable: "/opt/device app/bin/deviceapp")
        #expect(
            objects.map(\.path) == [
                "/opt/device app/lib/libvendor.so.2.1.0", "/usr/lib/x86_64-linux-gnu/libold.so.1",
                "/usr/lib/x86_64-linux-gnu/libdataonly.so", "/srv/plugins/line\nbreak.so",
            ])
        // A deleted file is read through its map_files entry, never through the path now holding another file.
        #expect(objects[1].deleted && objects[1].readablePath == "/proc/self/map_files/7f0000020000-7f0000030000")
        #expect(!objects[0].deleted && objects[0].readablePath == objects[0].path)
    }

    @Test func noFileBackedObjectGivesNoComponentButTheSwiftRuntime() throws {
        let mappings = try ProcessMemoryMap.parse(
            Self.maps([
                "7f0000050000-7f0000060000 rw-p 00000000 00:00 0",
                "7f0000070000-7f0000072000 r-xp 00000000 00:00 0                          [vdso]",
            ]))
        let loaded = LoadedObjects(mappings: mappings, excluding: [], executable: nil, toolchain: nil)
        #expect(loaded.objects.isEmpty)
        let components = loaded.components(owners: [:], system: nil)
        // The Swift runtime is always in the process: not mapped means linked statically; version unknown here.
        #expect(components.map(\.reference) == ["swift-runtime"])
        #expect(components[0].version == nil && components[0].subcomponents.isEmpty)
        #expect(try ProcessMemoryMap.parse(Data()).isEmpty)
        // No procfs: nothing is claimed (the inventory then says the loaded objects are unknown).
        #expect(try ProcessMemoryMap.current(path: "/nonexistent/proc/self/maps") == nil)
    }

    @Test func inputBeyondItsBoundsIsRefusedWhole() {
        #expect(throws: SBOMError(.limitExceeded, "")) {
            try ProcessMemoryMap.parse(Data(repeating: UInt8(ascii: " "), count: ProcessMemoryMap.maximumBytes + 1))
        }
        let line = "7f0000050000-7f0000060000 rw-p 00000000 00:00 0"
        let many = Array(repeating: line, count: ProcessMemoryMap.maximumEntries + 1)
        #expect(Self.maps(many).count <= ProcessMemoryMap.maximumBytes)
        #expect(throws: SBOMError(.limitExceeded, "")) { try ProcessMemoryMap.parse(Self.maps(many)) }
        #expect(throws: Never.self) { try ProcessMemoryMap.parse(Self.maps(Array(many.dropLast()))) }
    }

    @Test(arguments: [
        "not a maps line", "7f00-7e00 r-xp 00000000 fe:00 1 /lib/a.so", "7f00-7f10 rwxq 00000000 fe:00 1 /lib/a.so",
        "7f00-7f10 r-xp 0000zz00 fe:00 1 /lib/a.so", "7f00-7f10 r-xp 00000000 fe00 1 /lib/a.so",
        "7f00-7f10 r-xp 00000000 fe:00 -1 /lib/a.so", "7f00 r-xp 00000000 fe:00 1 /lib/a.so",
    ])
    func aLineWithoutProcFieldsIsMalformedInput(line: String) {
        #expect(throws: SBOMError(.malformedInput, "")) { try ProcessMemoryMap.parse(Self.maps([line])) }
    }

    @Test func namesAndVersions() {
        #expect(ProcessMemoryMap.isSharedObjectName("/usr/lib/libc.so.6"))
        #expect(ProcessMemoryMap.isSharedObjectName("/a/lib.soup.so.1.2"))
        #expect(!ProcessMemoryMap.isSharedObjectName("/a/libfoo.sorted"))
        #expect(!ProcessMemoryMap.isSharedObjectName("/a/foo.so.bak"))
        #expect(LoadedObjects.versionFromFileName("/a/libfoo.so.1.2.3") == "1.2.3")
        #expect(LoadedObjects.versionFromFileName("/a/libsodium.so.23.3.0") == "23.3.0")
        #expect(LoadedObjects.versionFromFileName("/a/libfoo.so") == nil)
        #expect(LoadedObjects.versionFromFileName("/a/libfoo.so.x1") == nil)
        #expect(SwiftToolchain.version(fromVersionLine: "Swift version 6.3.1 (swift-6.3.1-RELEASE)") == "6.3.1")
        #expect(SwiftToolchain.version(fromVersionLine: "6.2") == "6.2")
        #expect(SwiftToolchain.version(fromVersionLine: "Swift version") == nil)
        #expect(SwiftToolchain.version(fromVersionLine: "garbage text here") == nil)
    }

    /// The memory map of a program with the Swift runtime and Foundation linked statically, captured once on
    /// Debian 12 with Swift 6.3.1:
    /// `swiftc -static-stdlib -O main.swift -o samd-static-probe && ./samd-static-probe > static-swift-stdlib.maps`,
    /// where main.swift is `import Foundation` and
    /// `print(try String(contentsOfFile: "/proc/self/maps", encoding: .utf8), terminator: "")`.
    @Test func aStaticallyLinkedSwiftRuntimeIsNamedWithTheToolchainVersion() throws {
        let url = try #require(Bundle.module.url(forResource: "static-swift-stdlib", withExtension: "maps"))
        let mappings = try ProcessMemoryMap.parse(try Data(contentsOf: url))
        let loaded = LoadedObjects(
            mappings: mappings, excluding: [], executable: "/tmp/samd-static-probe/samd-static-probe",
            toolchain: "Swift version 6.3.1 (swift-6.3.1-RELEASE)")
        let names = loaded.objects.map { ($0.path as NSString).lastPathComponent }
        #expect(
            names.sorted() == [
                "ld-linux-x86-64.so.2", "libc.so.6", "libgcc_s.so.1", "libm.so.6", "libstdc++.so.6.0.30",
            ])
        let runtime = try #require(
            loaded.components(owners: [:], system: nil).first { $0.reference == "swift-runtime" })
        #expect(runtime.version == "6.3.1")
        #expect(runtime.properties[LoadedObjects.linkageProperty] == "static (linked into the executable)")
        #expect(runtime.properties["samd:swiftToolchain"] == "Swift version 6.3.1 (swift-6.3.1-RELEASE)")
        #expect(runtime.subcomponents.isEmpty)
        #expect(runtime.purl == "pkg:generic/swift@6.3.1")
    }

    // MARK: - The running test process

    /// sha256sum's or sha512sum's digest of `path`, run as a process.
    static func digest(_ tool: String, _ path: String) async throws -> String {
        let run = try await ChildProcess.run(URL(fileURLWithPath: "/usr/bin/\(tool)"), [path], timeout: .seconds(60))
        #expect(run.status == 0, "\(tool): \(run.standardError)")
        return String(run.output.split(separator: " ").first ?? "")
    }

    static func expectHashes(_ file: SBOMComponent) async throws {
        let path = try #require(file.path)
        #expect(file.sha256 == (try await Self.digest("sha256sum", path)), "\(path)")
        #expect(file.sha512 == (try await Self.digest("sha512sum", path)), "\(path)")
    }

    @Test func theLiveInventoryListsWhatThisProcessLoaded() async throws {
        let inventory = try SBOMInventory.current()
        let all = inventory.allComponents
        let report = try RuntimeReport.current()

        // glibc, from Debian's libc6, with both hashes of each file.
        let libc6 = try #require(inventory.components.first { $0.reference == "deb:libc6" })
        #expect(libc6.supplier == "Debian" && libc6.debianPackage?.source == "glibc")
        #expect(libc6.purl?.hasPrefix("pkg:deb/debian/libc6@") ?? false)
        let libc = try #require(libc6.subcomponents.first { $0.name == "libc.so.6" })
        #expect(libc.kind == .file && libc.version == libc6.version && libc.debianPackage?.name == "libc6")
        try await Self.expectHashes(libc)
        #expect(inventory.subject.dependsOn.contains("deb:libc6"))

        // libssl and libcrypto once (under openssl), libsodium once.
        for path in [report.openSSL.libsslPath, report.openSSL.libcryptoPath, report.sodium.path] {
            let path = try #require(path)
            #expect(all.filter { $0.path == path }.count == 1, "\(path)")
        }
        // No file twice anywhere.
        let paths = all.compactMap(\.path)
        #expect(Set(paths).count == paths.count)

        // The Swift runtime, dynamically linked in the test process, with the toolchain's version.
        let runtime = try #require(inventory.components.first { $0.reference == "swift-runtime" })
        // The version the build recorded (`swiftc --version` at build time) is the one of the `swift` on PATH.
        let swift = try await ChildProcess.run(URL(fileURLWithPath: "/usr/bin/env"), ["swift", "--version"])
        let line = try #require(swift.output.split(separator: "\n").first { $0.contains("Swift version") })
        #expect(inventory.swiftToolchain == String(line))
        #expect(runtime.version != nil && runtime.version == SwiftToolchain.version(fromVersionLine: String(line)))
        #expect(runtime.properties[LoadedObjects.linkageProperty] == "dynamic")
        let core = try #require(runtime.subcomponents.first { $0.name == "libswiftCore.so" })
        #expect(core.version == runtime.version)
        try await Self.expectHashes(core)
        #expect(runtime.subcomponents.contains { $0.name == "libFoundationEssentials.so" })
        #expect(inventory.subject.dependsOn.contains("swift-runtime"))

        // Every loaded file carries SHA-256 and SHA-512.
        for file in all where file.path != nil {
            #expect(file.sha256?.count == 64 && file.sha512?.count == 128, "\(file.reference)")
        }
    }

    /// A library removed from disk after it was loaded (an upgrade under a running process) is marked deleted and
    /// hashed from what is mapped (`/proc/self/map_files`), never from whatever its path holds now.
    @Test func aLibraryDeletedAfterLoadingIsHashedFromTheMappedFile() async throws {
        let before = try SBOMInventory.current()
        let original = try #require(before.allComponents.first { $0.name == "libBlocksRuntime.so" }?.path)
        let directory = FileManager.default.temporaryDirectory.resolvingSymlinksInPath()
            .appendingPathComponent("samd sbom \(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("libBlocksRuntime.so").path
        try FileManager.default.copyItem(atPath: original, toPath: copy)
        let sha256 = try await Self.digest("sha256sum", copy)
        let sha512 = try await Self.digest("sha512sum", copy)
        let handle = try #require(dlopen(copy, RTLD_NOW | RTLD_LOCAL), "dlopen: \(String(cString: dlerror()))")
        defer { dlclose(handle) }
        try FileManager.default.removeItem(atPath: copy)
        try Data("not the library".utf8).write(to: URL(fileURLWithPath: copy))

        let inventory = try SBOMInventory.current()
        let component = try #require(inventory.allComponents.first { $0.path == copy })
        #expect(component.properties["samd:deleted"] != nil)
        // Its file name is the Swift runtime's file's too: the reference falls back to the path, unique.
        #expect(component.reference == "so:\(copy)")
        #expect(component.sha256 == sha256 && component.sha512 == sha512)
    }

    /// A PKCS#11 module appears like any other loaded object: SoftHSM2's, dlopen'd in this process.
    @Test func aDlopenedPKCS11ModuleIsListedWithItsDebianPackageAndBothHashes() async throws {
        let module = "/usr/lib/softhsm/libsofthsm2.so"
        guard FileManager.default.fileExists(atPath: module) else {
            Issue.record("\(module) is missing: run Scripts/setup (it installs softhsm2)")
            return
        }
        let handle = try #require(dlopen(module, RTLD_NOW | RTLD_LOCAL), "dlopen: \(String(cString: dlerror()))")
        defer { dlclose(handle) }
        let inventory = try SBOMInventory.current()
        // The module is a link; the map names the file.
        let real = try FileManager.default.destinationOfSymbolicLink(atPath: module)
        let resolved = URL(fileURLWithPath: real, relativeTo: URL(fileURLWithPath: module)).standardizedFileURL.path
        let file = try #require(inventory.allComponents.first { $0.path == resolved })
        #expect(file.debianPackage?.name == "libsofthsm2" && file.debianPackage?.source == "softhsm2")
        let package = try #require(inventory.components.first { $0.subcomponents.contains(file) })
        #expect(package.reference == "deb:libsofthsm2" && package.supplier == "Debian")
        #expect(inventory.subject.dependsOn.contains(package.reference))
        try await Self.expectHashes(file)

        // Recognised as a PKCS#11 module by its C_GetFunctionList, not its name; other libraries are not.
        #expect(file.properties[PKCS11Modules.moduleProperty]?.hasPrefix("true") == true)
        let libc = try #require(inventory.allComponents.first { $0.name == "libc.so.6" })
        #expect(libc.properties[PKCS11Modules.moduleProperty] == nil)
        // Its token's mechanisms are CBOM assets implemented by that file, named by their CKM_ constants.
        let token = inventory.cryptographicAssets.filter { $0.implementedBy == file.reference }
        #expect(
            Set(token.compactMap { $0.properties["samd:pkcs11Mechanism"] })
                == ["CKM_AES_GCM (0x1087)", "CKM_SHA256_HMAC (0x0251)", "CKM_ECDSA (0x1041)"])
        #expect(
            token.allSatisfy { $0.certificationLevel == "unknown" && $0.properties["samd:pkcs11Module"] == resolved })
        let references = inventory.cryptographicAssets.map(\.reference)
        #expect(Set(references).count == references.count)
        // And the CycloneDX document says the module provides them.
        let document = try #require(
            try JSONSerialization.jsonObject(with: inventory.document(.cycloneDX)) as? [String: Any])
        let dependencies = try #require(document["dependencies"] as? [[String: Any]])
        let provides = dependencies.first { $0["ref"] as? String == file.reference }?["provides"] as? [String]
        #expect(Set(provides ?? []) == Set(token.map(\.reference)))
    }

    /// The CBOM names token mechanisms for each PKCS#11 module loaded, and none without one.
    @Test func tokenAssetsFollowTheModulesLoaded() throws {
        let inventory = try SBOMInventory.current()
        let modules = inventory.allComponents.filter { $0.properties[PKCS11Modules.moduleProperty] != nil }
        let tokenAssets = inventory.cryptographicAssets.filter { $0.properties["samd:pkcs11Mechanism"] != nil }
        #expect(tokenAssets.count == 3 * modules.count)
    }
}
