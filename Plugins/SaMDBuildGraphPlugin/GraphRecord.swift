/// What the plugin records; SaMDSBOM decodes the same shape (`BuildGraphRecord`). The two are built from one
/// checkout, so they change together.
struct GraphRecord: Codable {
    /// "product": the graph of one executable target that applied the plugin (its SBOM subject);
    /// "library": SaMDKit's own package graph, compiled into SaMDSBOM as the fallback for a binary that did not.
    var kind: String
    var subject: SubjectRecord
    /// `swift --version`'s first line for the toolchain that built the binary, when the plugin could run it.
    var toolchain: String?
    /// Identities of the packages the subject uses directly.
    var rootDependencies: [String]
    var packages: [PackageRecord]

    /// The product (or, for the fallback, SaMDKit) and its package.
    struct SubjectRecord: Codable {
        /// The product's name (the executable product, else the target), or "SaMDKit" for the fallback.
        var name: String
        /// From `samd-sbom.json` at the package root (filled in by the build command, at every build); the package
        /// manifest has no version.
        var version: String?
        var supplier: String?
        var author: String?
        var summary: String?
        var license: String?
        var packageIdentity: String
        var packageDisplayName: String
        /// The commit checked out in the package's directory, when it is a git work tree (the build command's).
        var revision: String?
        /// The executable target the plugin was applied to (product kind only).
        var target: String?
        /// The targets of the subject's package built into the binary, sorted: the executable target and the
        /// targets it depends on in its own package (product kind); for the fallback, the targets SaMDKit's
        /// library products are built from. SaMDSBOM tells from these whether SaMDKit's own programs link a module.
        var modules: [String]
    }

    struct PackageRecord: Codable {
        var identity: String
        var displayName: String
        var url: String?
        var version: String?
        var revision: String?
        /// A local package's directory, for the build command to read its checked-out commit; not embedded.
        var directory: String?
        var license: String?
        /// "required" (linked: every package of a product graph; SaMDKit's library products for the
        /// fallback), "optional" (only SaMDKit's executable products), "excluded" (only SaMDKit's tests).
        var scope: String
        /// The products of this package the subject links (product kind), sorted; empty for the fallback.
        var products: [String]
        /// The targets of this package built into the binary through those products (product kind), sorted; empty
        /// for the fallback.
        var modules: [String]
        var dependencies: [String]
        var vendored: [VendoredRecord]
    }

    /// A copy of third-party C code a package builds from source (BoringSSL), found by the `hash.txt` beside it.
    struct VendoredRecord: Codable {
        /// What it is a copy of ("boringssl").
        var name: String
        /// The package's C target that holds it (`CNIOBoringSSL`, `CCryptoBoringSSL`).
        var module: String
        var url: String
        var revision: String?
        var license: String?
    }
}
