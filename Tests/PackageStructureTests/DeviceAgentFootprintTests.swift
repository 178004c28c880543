import Foundation
import Testing

/// What the device agent (`samd-agent`) links, from the manifest and the sources: no record store, no key
/// store, no database, no web framework, and Foundation only where FoundationEssentials is missing (so that ICU
/// is not linked). Docs/Architecture.md ("The device agent") says why.
@Suite("The device agent links what a device needs")
struct DeviceAgentFootprintTests {
    /// Targets and products the agent must not link, directly or through another target.
    static let forbidden: Set<String> = [
        "SaMDStore", "SaMDKeys", "SaMDPostgres", "SaMDExampleStorage", "SaMDRecordGateway", "SaMDHummingbird",
        "SaMDLocalPostgres", "SaMDSBOM", "SaMDDevPKI", "GRDB", "PostgresNIO", "_ConnectionPoolModule", "Hummingbird",
        "HummingbirdCore", "ServiceLifecycle",
    ]

    /// The targets and products `name` depends on, transitively (products of other packages are leaves).
    static func closure(of name: String, in manifest: DeclaredDependencyTests.Manifest) -> Set<String> {
        let targets = Dictionary(manifest.targets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var seen: Set<String> = []
        var pending = [name]
        while let next = pending.popLast() {
            for dependency in targets[next]?.dependencies ?? [] where seen.insert(dependency.name).inserted {
                if !dependency.isProduct { pending.append(dependency.name) }
            }
        }
        return seen
    }

    @Test func theAgentLinksNoStoreNoKeyStoreNoDatabaseNoWebFramework() async throws {
        let manifest = try await DeclaredDependencyTests.manifest()
        let linked = Self.closure(of: "samd-agent", in: manifest)
        #expect(linked.contains("SaMDRecordService") && linked.contains("SaMDTLS") && linked.contains("SaMDEnvelope"))
        #expect(
            linked.isDisjoint(with: Self.forbidden), "samd-agent links \(linked.intersection(Self.forbidden).sorted())")
        // The check itself: the gateway does link them.
        #expect(
            Self.closure(of: "samd-gateway", in: manifest).isSuperset(of: ["SaMDStore", "SaMDKeys", "Hummingbird"]))
    }

    /// `import Foundation` in a file of a target the agent links is allowed only as the fallback of
    /// `#if canImport(FoundationEssentials)`: Foundation brings ICU (about 34 MiB of data).
    @Test func theAgentsTargetsImportFoundationEssentialsNotFoundation() async throws {
        let manifest = try await DeclaredDependencyTests.manifest()
        let linked = Self.closure(of: "samd-agent", in: manifest).union(["samd-agent"])
        var checked = 0
        for target in manifest.targets where linked.contains(target.name) {
            for source in try DeclaredDependencyTests.swiftSources(of: target) {
                checked += 1
                #expect(
                    Self.foundationImportsOutsideFallback(in: source).isEmpty,
                    "\(target.name) imports Foundation outside `#if canImport(FoundationEssentials) … #else`")
            }
        }
        #expect(checked >= 50, "only \(checked) source files of the agent's targets were read")
    }

    /// Line numbers of `import Foundation` lines that are not in the `#else` branch of
    /// `#if canImport(FoundationEssentials)`.
    static func foundationImportsOutsideFallback(in source: String) -> [Int] {
        var offending: [Int] = []
        var conditions: [(essentials: Bool, inElse: Bool)] = []
        for (number, raw) in source.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#if ") {
                conditions.append((line.contains("canImport(FoundationEssentials)"), false))
            } else if line.hasPrefix("#else") || line.hasPrefix("#elseif") {
                if !conditions.isEmpty { conditions[conditions.count - 1].inElse = true }
            } else if line.hasPrefix("#endif") {
                _ = conditions.popLast()
            } else if DeclaredDependencyTests.importedModules(in: line).contains("Foundation") {
                let fallback = conditions.last.map { $0.essentials && $0.inElse } ?? false
                if !fallback { offending.append(number + 1) }
            }
        }
        return offending
    }

    @Test func foundationImportsAreFoundWhereverTheyAre() {
        let source = """
            #if canImport(FoundationEssentials)
                import FoundationEssentials
            #else
                import Foundation
            #endif
            public import Foundation
            #if canImport(Glibc)
                import Foundation
            #endif
            """
        #expect(Self.foundationImportsOutsideFallback(in: source) == [6, 8])
    }
}
