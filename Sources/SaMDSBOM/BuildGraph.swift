import CSaMDShims
import Foundation

/// What a binary is built from, as SaMDBuildGraphPlugin captured it at build time (its `GraphRecord`, the same
/// shape): the product's own graph when the binary's executable target applied the plugin, else SaMDKit's
/// package graph, compiled into SaMDSBOM as the fallback (`kind` says which).
struct BuildGraphRecord: Decodable, Sendable {
    enum Kind: String, Decodable, Sendable {
        /// The graph of the product's executable target: its subject and exactly the packages it links.
        case product
        /// SaMDKit's own package graph: the binary did not apply the plugin.
        case library
    }
    struct SubjectRecord: Decodable, Sendable {
        var name: String
        var version: String?
        var supplier: String?
        var author: String?
        var summary: String?
        var license: String?
        var packageIdentity: String
        var packageDisplayName: String
        var revision: String?
        var target: String?
        /// The targets of the subject's package built into the binary (for the fallback: those SaMDKit's library
        /// products are built from).
        var modules: [String]
    }
    struct PackageRecord: Decodable, Sendable {
        var identity: String
        var displayName: String
        var url: String?
        var version: String?
        var revision: String?
        var license: String?
        var scope: String
        var products: [String]
        /// The targets of this package built into the binary (product kind); empty for the fallback.
        var modules: [String]
        var dependencies: [String]
        var vendored: [VendoredRecord]
    }
    struct VendoredRecord: Decodable, Sendable {
        var name: String
        /// The package's C target that holds the copy (`CNIOBoringSSL`, `CCryptoBoringSSL`).
        var module: String
        var url: String
        var revision: String?
        var license: String?
    }
    var kind: Kind
    var subject: SubjectRecord
    var toolchain: String?
    var rootDependencies: [String]
    var packages: [PackageRecord]

    /// The longest product graph read through the C symbol: its end must be found within this many bytes.
    static let maximumProductGraphBytes = 16 << 20

    /// The graph this binary was built with: the product's when the generated symbol is linked in, else SaMDKit's.
    /// A graph that does not decode (the plugin and SaMDSBOM built from different SaMDKit checkouts) is
    /// ``SBOMError/Code/malformedInput``.
    static let captured: Result<BuildGraphRecord, SBOMError> = {
        if let pointer = CSaMDShims_product_build_graph() {
            let length = pointer.withMemoryRebound(to: CChar.self, capacity: 1) {
                strnlen($0, Self.maximumProductGraphBytes + 1)
            }
            guard length <= Self.maximumProductGraphBytes else {
                return .failure(SBOMError(.malformedInput, "the product's build graph has no end within 16 MiB"))
            }
            return Self.decode(Data(bytes: pointer, count: length), what: "the product's build graph")
        }
        return Self.decode(Data(capturedBuildGraphJSON.utf8), what: "SaMDKit's build graph")
    }()

    /// Whether the binary is built with SaMDKit's target `module` (e.g. "SaMDPostgres"): SaMDKit is the subject's
    /// package and builds it in (SaMDKit's own programs; for the fallback, a target of SaMDKit's library products,
    /// which that graph describes), or SaMDKit is one of the packages and the product links it through a product.
    func links(samdKitModule module: String) -> Bool {
        let samdKit = SBOMInventory.samdKitPackageName
        if self.subject.packageDisplayName == samdKit && self.subject.modules.contains(module) { return true }
        return self.packages.contains { $0.displayName == samdKit && $0.modules.contains(module) }
    }

    static func decode(_ data: Data, what: String) -> Result<BuildGraphRecord, SBOMError> {
        do {
            return .success(try JSONDecoder().decode(BuildGraphRecord.self, from: data))
        } catch {
            return .failure(
                SBOMError(
                    .malformedInput,
                    "\(what) does not decode: SaMDBuildGraphPlugin and SaMDSBOM come from different SaMDKit versions"))
        }
    }
}
