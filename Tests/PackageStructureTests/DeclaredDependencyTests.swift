import Foundation
import SaMDTestSupport
import Testing

/// Each target's `import`s against the dependencies Package.swift declares for it, read from
/// `swift package dump-package` (the manifest as SwiftPM evaluates it, not a parse of its text).
///
/// - An imported module must be a declared dependency of the target itself: a module reached only through
///   another target's dependencies is a layering leak (it builds today and breaks when that target changes).
/// - A declared dependency must be imported by one of the target's Swift files — or, for an example program
///   a test target declares, run by it (named in its sources): a dependency no one uses is weight a device
///   agent links for nothing.
///
/// Swift targets only (C targets include headers, not modules); plugins and their tools are not checked.
@Suite("Declared dependencies match the imports")
struct DeclaredDependencyTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// Modules of the toolchain and the platform, which no manifest declares.
    static let platformModules: Set<String> = [
        "Foundation", "FoundationEssentials", "FoundationNetworking", "Dispatch", "Glibc", "Musl", "Darwin",
        "Android", "WinSDK", "ucrt", "Testing", "XCTest", "Synchronization", "_Concurrency", "os",
    ]
    /// Modules a product provides besides the one of its own name: GRDB's product carries the system SQLite
    /// module it is built on.
    static let productModules: [String: Set<String>] = ["GRDB": ["GRDB", "GRDBSQLite"]]

    struct Manifest: Decodable {
        struct Target: Decodable {
            let name: String
            let type: String
            let path: String?
            let dependencies: [Dependency]
        }
        /// `{"byName": [name, condition]}`, `{"target": [name, condition]}` or
        /// `{"product": [name, package, aliases, condition]}`; only the name matters here.
        struct Dependency: Decodable {
            let name: String
            let isProduct: Bool

            init(from decoder: any Decoder) throws {
                let container = try decoder.container(keyedBy: Key.self)
                for key in [Key.byName, .target, .product] where container.contains(key) {
                    var fields = try container.nestedUnkeyedContainer(forKey: key)
                    self.name = try fields.decode(String.self)
                    self.isProduct = key == .product
                    return
                }
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "dependency"))
            }

            enum Key: String, CodingKey { case byName, target, product }
        }
        let targets: [Target]
    }

    static func manifest() async throws -> Manifest {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("samd-dump-package-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        // A scratch path of its own: `swift test`, which runs this, holds the package's .build lock.
        let run = try await ChildProcess.run(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "swift", "package", "--package-path", Self.packageRoot.path, "--scratch-path", scratch.path,
                "dump-package",
            ],
            timeout: .seconds(120))
        #expect(run.status == 0, "swift package dump-package: \(run)")
        return try JSONDecoder().decode(Manifest.self, from: run.standardOutput)
    }

    /// The module each `import` line of `source` names (`import X`, `public import X`, `@testable import X`,
    /// `import struct X.Y`…).
    static func importedModules(in source: String) -> Set<String> {
        var modules: Set<String> = []
        var inMultilineString = false
        for line in source.split(separator: "\n") {
            // Lines of a multi-line string literal (a script the test runs, say) are not Swift.
            if line.components(separatedBy: "\"\"\"").count % 2 == 0 { inMultilineString.toggle() }
            if inMultilineString || line.contains("\"\"\"") { continue }
            var words = line.split(separator: " ").map(String.init)
            while let first = words.first, first.hasPrefix("@") { words.removeFirst() }
            if let first = words.first, ["public", "package", "internal", "fileprivate", "private"].contains(first) {
                words.removeFirst()
            }
            guard words.count >= 2, words[0] == "import" else { continue }
            var name = words[1]
            if ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"].contains(name),
                words.count >= 3
            {
                name = words[2]
            }
            modules.insert(String(name.prefix { $0 != "." }))
        }
        return modules
    }

    static func swiftSources(of target: Manifest.Target) throws -> [String] {
        let directory = Self.packageRoot.appendingPathComponent(
            target.path ?? (target.type == "test" ? "Tests/\(target.name)" : "Sources/\(target.name)"))
        guard let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else {
            return []
        }
        var sources: [String] = []
        for case let file as URL in files where file.pathExtension == "swift" {
            sources.append(try String(contentsOf: file, encoding: .utf8))
        }
        return sources
    }

    @Test func everyImportIsDeclaredAndEveryDeclaredDependencyIsUsed() async throws {
        let manifest = try await Self.manifest()
        let executables = Set(manifest.targets.filter { $0.type == "executable" }.map(\.name))
        var checked = 0
        for target in manifest.targets where ["regular", "executable", "test"].contains(target.type) {
            let sources = try Self.swiftSources(of: target)
            guard !sources.isEmpty else { continue } // a C target
            checked += 1
            let imported = sources.reduce(into: Set<String>()) { $0.formUnion(Self.importedModules(in: $1)) }
            var declaredModules: Set<String> = []
            for dependency in target.dependencies {
                let modules =
                    dependency.isProduct
                    ? Self.productModules[dependency.name, default: [dependency.name]]
                    : [dependency.name.replacingOccurrences(of: "-", with: "_")]
                declaredModules.formUnion(modules)
                let used =
                    !modules.isDisjoint(with: imported)
                    || (target.type == "test" && executables.contains(dependency.name)
                        && sources.contains { $0.contains("\"\(dependency.name)\"") })
                #expect(used, "\(target.name) declares \(dependency.name) but neither imports nor runs it")
            }
            for module in imported.subtracting(Self.platformModules).subtracting([target.name]).sorted() {
                #expect(declaredModules.contains(module), "\(target.name) imports \(module) without declaring it")
            }
        }
        #expect(checked >= 20, "only \(checked) Swift targets were found in the manifest")
    }

    @Test func importLinesAreReadInEverySpelling() {
        let source = """
            import Foundation
            public import NIOCore
            @testable import samd_vault
            @_spi(Testing) package import SaMDTLS
            import struct GRDB.Row
            // import Commented
            let notAnImport = "import Nothing"
            let script = \"\"\"
                import sys
                \"\"\"
            """
        #expect(Self.importedModules(in: source) == ["Foundation", "NIOCore", "samd_vault", "SaMDTLS", "GRDB"])
    }
}
