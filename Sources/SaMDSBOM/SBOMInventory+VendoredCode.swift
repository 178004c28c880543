/// Third-party C code that Swift packages build from source (BoringSSL), as subcomponents of the package that
/// vendors it — and what SaMDKit runs of each copy. Two copies come with SaMDPostgres: swift-nio-ssl's
/// (`CNIOBoringSSL`), which postgres-nio links for a TLS that SaMDPostgres never uses, and swift-crypto's
/// (`CCryptoBoringSSL`), which computes the PostgreSQL login (``PostgresLogin``).
extension SBOMInventory {
    /// The component of `vendored`, a copy of third-party code in `package`: its upstream revision, the module
    /// that holds it, and what SaMDKit runs of it (`samd:runtimeUse`, also in the summary).
    static func vendoredComponent(
        _ vendored: BuildGraphRecord.VendoredRecord, of package: BuildGraphRecord.PackageRecord,
        in graph: BuildGraphRecord, scope: SBOMComponent.Scope, _ table: SupportTable
    ) -> SBOMComponent {
        var sub = SBOMComponent(
            reference: "swift:\(package.identity):\(vendored.name)", kind: .library, name: vendored.name,
            version: vendored.revision, supplier: "Google LLC", scope: scope
        )
        let use = self.runtimeUse(of: vendored, in: graph)
        sub.author = "The BoringSSL authors"
        sub.summary =
            "BoringSSL vendored by \(package.identity) (\(vendored.module)): \(use.summary)"
            + (scope == .excluded ? "; test-only, linked into no SaMDKit product" : "")
        sub.vcsURL = vendored.url
        sub.revision = vendored.revision
        sub.license = vendored.license
        sub.purl = vendored.revision.map {
            "pkg:generic/\(vendored.name)@\($0)?vcs_url=\(PackageURL.encode("git+" + vendored.url + "@" + $0))"
        }
        sub.support = table.status(component: vendored.name, version: vendored.revision, distribution: nil)
        sub.properties["samd:vendoredBy"] = package.identity
        sub.properties["samd:module"] = vendored.module
        sub.properties["samd:runtimeUse"] = use.statement
        if use.computesPostgresLogin {
            sub.properties[PostgresLogin.providerProperty] =
                "BoringSSL \(vendored.revision ?? "(revision unknown)") vendored by \(package.identity)"
                + (package.version.map { " \($0)" } ?? "") + " (\(vendored.module))"
        }
        return sub
    }

    /// What SaMDKit runs of a vendored copy in the binary `graph` describes: a few words for the summary, the
    /// statement, and whether it computes SaMDPostgres's login (then the CBOM lists it).
    private static func runtimeUse(
        of vendored: BuildGraphRecord.VendoredRecord, in graph: BuildGraphRecord
    ) -> (summary: String, statement: String, computesPostgresLogin: Bool) {
        let postgres = graph.links(samdKitModule: PostgresLogin.module)
        // An integrator's product may call the package itself; SaMDKit can say only what SaMDKit runs.
        let productCode =
            graph.kind == .product && graph.subject.packageDisplayName != Self.samdKitPackageName
            ? "; whether the product's own code runs it is the manufacturer's to state" : ""
        switch vendored.module {
        case PostgresLogin.providerModule where postgres:
            return (
                "runs the PostgreSQL login of SaMDPostgres (SCRAM-SHA-256), nothing else of SaMDKit",
                "runs: the PostgreSQL login of SaMDPostgres — postgres-nio answers the server's SCRAM-SHA-256 "
                    + "challenge (RFC 5802, RFC 7677) with swift-crypto: SHA-256, HMAC-SHA-256 and "
                    + "PBKDF2-HMAC-SHA-256 over the server's iteration count (CBOM \(PostgresLogin.reference)); "
                    + "SaMDKit runs nothing else of it" + productCode,
                true
            )
        case "CNIOBoringSSL" where postgres:
            return (
                "linked through postgres-nio, never run by SaMDKit",
                "linked, not run: postgres-nio links NIOSSL whatever TLS a connection uses, and SaMDPostgres "
                    + "connects over SaMDTLS (the system OpenSSL), never through postgres-nio's TLS" + productCode,
                false
            )
        default:
            return (
                "not run by SaMDKit",
                "not run by SaMDKit: its TLS is SaMDTLS and its primitives SaMDCrypto, on the system OpenSSL and "
                    + "libsodium" + productCode,
                false
            )
        }
    }
}
