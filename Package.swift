// swift-tools-version:6.1
//
// SaMDKit — TLS/mTLS channels, envelope encryption and key lifecycle for
// Software-as-a-Medical-Device, on the system OpenSSL 3 and libsodium.
// See Docs/Architecture.md for the layers.

import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0335-existential-any.md
    .enableUpcomingFeature("ExistentialAny"),
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0444-member-import-visibility.md
    .enableUpcomingFeature("MemberImportVisibility"),
    // https://github.com/swiftlang/swift-evolution/blob/main/proposals/0409-access-level-on-imports.md
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "SaMDKit",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SaMDCrypto", targets: ["SaMDCrypto"]),
        .library(name: "SaMDEnvelope", targets: ["SaMDEnvelope"]),
        .library(name: "SaMDKeys", targets: ["SaMDKeys"]),
        .library(name: "SaMDTLS", targets: ["SaMDTLS"]),
        .library(name: "SaMDHummingbird", targets: ["SaMDHummingbird"]),
        .executable(name: "samd-vault", targets: ["samd-vault"]),
        .executable(name: "samd-tls", targets: ["samd-tls"]),
        .library(name: "SaMDSBOM", targets: ["SaMDSBOM"]),
        // Applied by an integrator to their executable target, so that its SBOM describes their product.
        .plugin(name: "SaMDBuildGraphPlugin", targets: ["SaMDBuildGraphPlugin"]),
        .executable(name: "samd-sbom", targets: ["samd-sbom"]),
        .library(name: "SaMDStore", targets: ["SaMDStore"]),
        .library(name: "SaMDPostgres", targets: ["SaMDPostgres"]),
        // A PostgreSQL server of its own in a directory, for demos, tests and benchmarks (the Benchmarks package).
        .library(name: "SaMDLocalPostgres", targets: ["SaMDLocalPostgres"]),
        .library(name: "SaMDDevPKI", targets: ["SaMDDevPKI"]),
        .executable(name: "samd-pki", targets: ["samd-pki"]),
        .executable(name: "samd-gateway", targets: ["samd-gateway"]),
        .executable(name: "samd-agent", targets: ["samd-agent"]),
        .executable(name: "samd-demo", targets: ["samd-demo"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        // SQLite, for the embedded encrypted record store (links the system libsqlite3).
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        // HTTP services on SaMDTLS (SaMDHummingbird, the records gateway). Only the targets that serve HTTP
        // depend on it: a device agent never links a web framework.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.20.0"),
        // PostgreSQL (SaMDPostgres): the wire protocol and its connection pool. Up to the next minor version only:
        // SaMDPostgres uses the pool through postgres-nio's `_ConnectionPoolModule`, whose API is not yet stable.
        .package(url: "https://github.com/vapor/postgres-nio.git", .upToNextMinor(from: "1.33.2")),
        // Documentation only: `swift package generate-documentation` builds the modules' DocC catalogs.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // Test-only: the interop peer for SaMDTLS (BoringSSL-based). Not a dependency of any library product.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
    ],
    targets: [
        // MARK: C layer — declarations only, never products.
        .systemLibrary(
            name: "CSaMDOpenSSL",
            pkgConfig: "openssl",
            providers: [
                .apt(["libssl-dev"]),
                .yum(["openssl-devel"]),
                .brew(["openssl@3"]),
            ]
        ),
        .systemLibrary(
            name: "CSaMDSodium",
            pkgConfig: "libsodium",
            providers: [
                .apt(["libsodium-dev"]),
                .yum(["libsodium-devel"]),
                .brew(["libsodium"]),
            ]
        ),
        .target(
            name: "CSaMDShims",
            dependencies: ["CSaMDOpenSSL", "CSaMDSodium"],
            linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]
        ),

        // MARK: OpenSSL support — the one Swift layer over the OpenSSL C API that the modules above share:
        // the pointer owners, the error queue, the memory BIOs, and the TLS parameters (OpenSSL's names) that
        // SaMDTLS configures and SaMDSBOM's CBOM lists. Not a product: its symbols are `package`.
        .target(
            name: "SaMDOpenSSLSupport",
            dependencies: ["CSaMDOpenSSL", "CSaMDShims"],
            swiftSettings: swiftSettings
        ),

        // MARK: Primitives
        .target(
            name: "SaMDCrypto",
            dependencies: ["CSaMDOpenSSL", "CSaMDSodium", "CSaMDShims", "SaMDOpenSSLSupport"],
            swiftSettings: swiftSettings
        ),

        // MARK: Data at rest
        .target(
            name: "SaMDEnvelope",
            dependencies: ["SaMDCrypto", .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: swiftSettings
        ),

        // MARK: Keys
        .target(
            name: "SaMDKeys",
            dependencies: [
                "CSaMDShims",
                "SaMDCrypto",
                "SaMDEnvelope",
                "SaMDOpenSSLSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Channels
        .target(
            name: "SaMDTLS",
            dependencies: [
                "CSaMDOpenSSL",
                "CSaMDShims",
                "SaMDCrypto",
                "SaMDOpenSSLSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: HTTP services — Hummingbird 2 on SaMDTLS: the TLS child channel, the verified peer in the request
        // context, role middleware.
        .target(
            name: "SaMDHummingbird",
            dependencies: [
                "SaMDTLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Storage — the encrypted record store on SQLite.
        .target(
            name: "SaMDStore",
            dependencies: [
                "SaMDCrypto",
                "SaMDEnvelope",
                "SaMDKeys",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Storage on PostgreSQL — records, key metadata and subject keys for several instances over one database,
        // through postgres-nio on SaMDTLS channels. Only the programs that serve several instances depend on it.
        .target(
            name: "SaMDPostgres",
            dependencies: [
                "SaMDCrypto",
                "SaMDEnvelope",
                "SaMDKeys",
                "SaMDStore",
                "SaMDTLS",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Development PKI — certificates for demos and tests, never a production CA.
        .target(
            name: "SaMDDevPKI",
            dependencies: ["CSaMDOpenSSL", "CSaMDShims", "SaMDOpenSSLSupport", "SaMDCrypto"],
            swiftSettings: swiftSettings
        ),

        // MARK: Supply chain — SBOM and CBOM of the running process.
        // The build-tool plugin captures at build time what a product links (applied to its executable target) or,
        // applied to SaMDSBOM, SaMDKit's own package graph, the fallback (Docs/SBOM.md).
        .executableTarget(
            name: "SaMDBuildGraphWriter",
            path: "Plugins/SaMDBuildGraphWriter",
            swiftSettings: swiftSettings
        ),
        .plugin(
            name: "SaMDBuildGraphPlugin",
            capability: .buildTool(),
            dependencies: ["SaMDBuildGraphWriter"],
            path: "Plugins/SaMDBuildGraphPlugin"
        ),
        .target(
            name: "SaMDSBOM",
            dependencies: ["CSaMDShims", "SaMDCrypto", "SaMDOpenSSLSupport"],
            resources: [
                .copy("Resources/support.json"), .copy("Resources/advisories.json"), .copy("Resources/vex.json"),
                .copy("Resources/transitions.json"),
            ],
            swiftSettings: swiftSettings,
            plugins: ["SaMDBuildGraphPlugin"]
        ),

        // MARK: Examples — thin command-line programs over the public API.
        // What the example programs share: signals, messages, file checks, the key-passphrase option. The device
        // agent links it: no key store, no record store (opening a key store is SaMDExampleStorage's).
        .target(
            name: "SaMDExampleSupport",
            dependencies: [
                "SaMDCrypto",
                "SaMDEnvelope",
                "SaMDOpenSSLSupport",
                "SaMDTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/Support",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "samd-tls",
            dependencies: [
                "SaMDExampleSupport",
                "SaMDTLS",
                "SaMDCrypto",
                "SaMDKeys",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/samd-tls",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "samd-vault",
            dependencies: [
                "SaMDOpenSSLSupport",
                "SaMDExampleStorage",
                "SaMDExampleSupport",
                "SaMDPostgres",
                "SaMDCrypto",
                "SaMDEnvelope",
                "SaMDKeys",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Examples/samd-vault",
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "samd-sbom",
            dependencies: [
                "SaMDExampleSupport",
                "SaMDSBOM",
                "SaMDCrypto",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/samd-sbom",
            swiftSettings: swiftSettings,
            plugins: ["SaMDBuildGraphPlugin"]
        ),

        // Locations of the example programs' stores: a directory or a PostgreSQL database, both opened the same way,
        // and the key store with its custody (samd-gateway, samd-vault, samd-demo). The agent does not link it.
        .target(
            name: "SaMDExampleStorage",
            dependencies: [
                "SaMDCrypto", "SaMDEnvelope", "SaMDExampleSupport", "SaMDKeys", "SaMDOpenSSLSupport", "SaMDPostgres",
                "SaMDStore",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/Storage",
            swiftSettings: swiftSettings
        ),
        // The records client and what the agent and gateway share: HTTP/1.1 over SaMDTLS (NIOHTTP1) from the
        // device side. Not a product: example code, built only for the programs below and their tests. The agent
        // links it: no record store, no key store (the address rules are SaMDEnvelope's `RecordAddress`).
        .target(
            name: "SaMDRecordService",
            dependencies: [
                "SaMDCrypto",
                "SaMDEnvelope",
                "SaMDExampleSupport",
                "SaMDTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/RecordService",
            swiftSettings: swiftSettings
        ),
        // The records gateway: a Hummingbird application on SaMDHummingbird in front of SaMDStore. The agent
        // does not link it (nor Hummingbird).
        .target(
            name: "SaMDRecordGateway",
            dependencies: [
                "SaMDExampleSupport",
                "SaMDHummingbird",
                "SaMDKeys",
                "SaMDRecordService",
                "SaMDStore",
                "SaMDTLS",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/RecordGateway",
            swiftSettings: swiftSettings
        ),
        // A PostgreSQL server of its own in a directory (initdb, TLS only, a password file): for samd-demo
        // --postgres, the tests and the benchmarks (a product so that the Benchmarks package can start one).
        .target(
            name: "SaMDLocalPostgres",
            path: "Examples/LocalPostgres",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "samd-pki",
            dependencies: [
                "SaMDDevPKI", "SaMDExampleSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/samd-pki",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "samd-gateway",
            dependencies: [
                "SaMDEnvelope", "SaMDRecordGateway",
                "SaMDRecordService", "SaMDExampleStorage", "SaMDExampleSupport", "SaMDStore", "SaMDTLS", "SaMDKeys", "SaMDCrypto",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/samd-gateway",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "samd-agent",
            dependencies: [
                "SaMDEnvelope", "SaMDRecordService", "SaMDExampleSupport", "SaMDTLS",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Examples/samd-agent",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "samd-demo",
            dependencies: [
                "SaMDRecordService", "SaMDRecordGateway", "SaMDExampleSupport", "SaMDDevPKI", "SaMDStore", "SaMDTLS",
                "SaMDKeys", "SaMDEnvelope", "SaMDCrypto", "SaMDOpenSSLSupport",
                // --postgres: two instances over a PostgreSQL server the demo starts itself.
                "SaMDExampleStorage", "SaMDPostgres", "SaMDLocalPostgres",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/samd-demo",
            exclude: ["README.md"],
            resources: [.copy("Records")],
            swiftSettings: swiftSettings
        ),

        // MARK: Tests
        // zlib, only to inflate the Wycheproof chunked-encryption vectors (their ciphertexts are deflated).
        .systemLibrary(
            name: "CTestZlib",
            path: "Tests/CTestZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(
            name: "SaMDTestSupport",
            dependencies: [
                "SaMDEnvelope", "SaMDCrypto", "SaMDOpenSSLSupport", "CTestZlib",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SaMDTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SaMDCryptoTests",
            dependencies: ["SaMDCrypto", "SaMDTestSupport"],
            resources: [.copy("Resources/wycheproof")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SaMDOpenSSLSupportTests",
            dependencies: ["SaMDOpenSSLSupport", "CSaMDOpenSSL", "CSaMDShims", "SaMDCrypto", "SaMDTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SaMDEnvelopeTests",
            dependencies: [
                .product(name: "SystemPackage", package: "swift-system"), "SaMDEnvelope", "SaMDCrypto",
                "SaMDTestSupport",
            ],
            resources: [
                .copy("Resources/wycheproof"), .copy("Resources/records"), .copy("Resources/envelope-format"),
            ],
            swiftSettings: swiftSettings
        ),
        // A throw-away test PKI, generated at test time through OpenSSL (no certificate is committed).
        .target(
            name: "SaMDTLSTestSupport",
            dependencies: ["SaMDDevPKI", "SaMDTestSupport"],
            path: "Tests/SaMDTLSTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SaMDTLSTests",
            dependencies: [
                "SaMDTLS", "SaMDCrypto", "SaMDOpenSSLSupport", "SaMDTLSTestSupport", "SaMDTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Resources/x509-limbo")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SaMDHummingbirdTests",
            dependencies: [
                "SaMDHummingbird", "SaMDTLS", "SaMDTLSTestSupport", "SaMDTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The custodies a key store's KEKs can be in (a passphrase, a SoftHSM2 token), for the key-store and
        // record-store suites that run against each.
        .target(
            name: "SaMDKeysTestSupport",
            dependencies: [
                "SaMDKeys", "SaMDCrypto", "SaMDEnvelope", "SaMDOpenSSLSupport", "SaMDTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SaMDKeysTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SaMDKeysTests",
            dependencies: [
                "SaMDKeys", "SaMDEnvelope", "SaMDCrypto", "SaMDOpenSSLSupport", "SaMDTestSupport",
                "SaMDKeysTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            // The key-store vectors and the independent Python reader (KeyStoreFormat.md).
            resources: [.copy("Resources/keystore-vectors.json"), .copy("Resources/keystore_reader.py")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SaMDSBOMTests",
            dependencies: ["SaMDSBOM", "SaMDCrypto", "SaMDOpenSSLSupport", "SaMDTestSupport"],
            // The memory map of a program built with the Swift runtime linked statically (LoadedObjectsTests).
            resources: [.copy("Resources/static-swift-stdlib.maps")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SaMDStoreTests",
            dependencies: [
                "SaMDStore", "SaMDKeys", "SaMDEnvelope", "SaMDCrypto", "SaMDOpenSSLSupport", "SaMDTestSupport",
                "SaMDKeysTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // SaMDPostgres against a real PostgreSQL server the tests start themselves (SaMDLocalPostgres), and the
        // conformance suite every record store passes (SQLite and PostgreSQL).
        .testTarget(
            name: "SaMDPostgresTests",
            dependencies: [
                "SaMDPostgres", "SaMDLocalPostgres", "SaMDStore", "SaMDKeys", "SaMDEnvelope", "SaMDCrypto",
                "SaMDTestSupport", "SaMDTLSTestSupport", "SaMDKeysTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The PostgreSQL formats' fixtures: the DDL, its catalog, a version 1 store (PostgresFormat.md).
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SaMDDevPKITests",
            dependencies: [
                "SaMDDevPKI", "SaMDTLS", "SaMDTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The example programs run as their users run them (child processes), beside the record service's own
        // tests: the library test targets call the libraries, not the programs. samd-sbom is run, never linked:
        // a test bundle that linked it would carry samd-sbom's captured build graph (SaMDBuildGraphPlugin), and
        // SaMDSBOMTests check the graph of a binary without one; `swift test` builds it with every product.
        .testTarget(
            name: "ExampleProgramTests",
            dependencies: [
                "samd-gateway", "samd-agent", "samd-demo",
                "SaMDCrypto", "SaMDEnvelope", "SaMDDevPKI", "SaMDSBOM", "SaMDTLSTestSupport", "SaMDTestSupport",
                "samd-vault", "samd-pki", "samd-tls",
            ],
            resources: [.copy("Resources/advisories")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SaMDRecordServiceTests",
            dependencies: [
                "SaMDEnvelope", "SaMDCrypto",
                "SaMDRecordService", "SaMDRecordGateway", "SaMDStore", "SaMDKeys", "SaMDTLS", "SaMDTLSTestSupport",
                "SaMDTestSupport", "SaMDExampleSupport", "samd-gateway", "samd-agent", "samd-demo", "samd-vault",
                "SaMDOpenSSLSupport", "SaMDLocalPostgres", "SaMDExampleStorage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The manifest against the code: each target's imports and declared dependencies agree.
        .testTarget(
            name: "PackageStructureTests",
            dependencies: ["SaMDTestSupport"],
            swiftSettings: swiftSettings
        ),
    ]
)
