// swift-tools-version:6.1
//
// SaMDKit's benchmarks: a package of their own, so that library users never build
// package-benchmark or swift-nio-ssl. Every benchmark runs side by side with a reference (raw OpenSSL,
// raw libsodium, swift-nio-ssl) in the same run. `Scripts/bench-compare` (the BenchCompare program) runs
// them and prints the ratios; a single target runs with `swift package --package-path Benchmarks benchmark
// --target AEAD`.

import PackageDescription

let package = Package(
    name: "SaMDKitBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "SaMDKit", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.0", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.30.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        // The gateway load benchmark's reference: the same routes on HummingbirdTLS (swift-nio-ssl). Here
        // only, never in the root package's products.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        // The PostgreSQL store benchmark's reference: raw postgres-nio statements on SaMDPostgres's own connections.
        // The same version range as the root package's.
        .package(url: "https://github.com/vapor/postgres-nio.git", .upToNextMinor(from: "1.33.2")),
    ],
    targets: [
        // The references: OpenSSL and libsodium called directly, as a hand-written C-level caller would.
        .systemLibrary(
            name: "CReference",
            path: "Sources/CReference",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev", "libsodium-dev", "libsqlite3-dev"])]
        ),
        // The benchmarks' names and shapes, and the ours/reference pairs bench-compare compares: one
        // definition for the benchmark targets and BenchCompare (no dependencies, so BenchCompare builds fast).
        .target(
            name: "BenchmarkCatalog",
            path: "Sources/BenchmarkCatalog",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // bench-compare's work: decode package-benchmark's JMH export, compute and render the rows.
        .target(
            name: "BenchComparison",
            dependencies: ["BenchmarkCatalog"],
            path: "Sources/BenchComparison",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // `Scripts/bench-compare` runs this program.
        .executableTarget(
            name: "BenchCompare",
            dependencies: [
                "BenchComparison",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/BenchCompare",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "BenchComparisonTests",
            dependencies: ["BenchComparison", "BenchmarkCatalog"],
            path: "Tests/BenchComparisonTests",
            resources: [.copy("Fixtures")],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // What the benchmark targets share: sizes, quick mode, result checks.
        .target(
            name: "BenchmarkSupport",
            dependencies: ["BenchmarkCatalog", .product(name: "Benchmark", package: "benchmark")],
            path: "Sources/BenchmarkSupport",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // OpenSSL's own handshake, called directly: the floor under every TLS stack here.
        .target(
            name: "TLSReference",
            dependencies: ["CReference"],
            path: "Sources/TLSReference",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The gateway load benchmark's reference: the records gateway's PUT and GET routes as a plain Hummingbird
        // application on HummingbirdTLS (swift-nio-ssl, client certificates required), storing through the
        // same EncryptedRecordStore. bench-compare runs it beside `samd-gateway serve`.
        .executableTarget(
            name: "GatewayReference",
            dependencies: [
                .product(name: "SaMDKeys", package: "SaMDKit"),
                .product(name: "SaMDStore", package: "SaMDKit"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/GatewayReference",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The gateway load benchmark's client, the same for both servers: kept-alive mutual-TLS connections, each
        // looping PUT and GET of one record; prints a GatewayLoadReport (BenchmarkCatalog) as JSON.
        .executableTarget(
            name: "GatewayLoad",
            dependencies: [
                "BenchmarkCatalog",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/GatewayLoad",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // One hot path in a plain loop, for perf and callgrind.
        .executableTarget(
            name: "Profile",
            dependencies: [
                "TLSReference",
                .product(name: "SaMDCrypto", package: "SaMDKit"),
                .product(name: "SaMDEnvelope", package: "SaMDKit"),
                .product(name: "SaMDTLS", package: "SaMDKit"),
                .product(name: "SaMDDevPKI", package: "SaMDKit"),
                .product(name: "SaMDKeys", package: "SaMDKit"),
                .product(name: "SaMDStore", package: "SaMDKit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Profile",
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "AEAD",
            dependencies: [
                "CReference",
                "BenchmarkCatalog",
                "BenchmarkSupport",
                .product(name: "SaMDCrypto", package: "SaMDKit"),
                .product(name: "SaMDEnvelope", package: "SaMDKit"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/AEAD",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Rewrap",
            dependencies: [
                "CReference",
                "BenchmarkCatalog",
                "BenchmarkSupport",
                .product(name: "SaMDCrypto", package: "SaMDKit"),
                .product(name: "SaMDEnvelope", package: "SaMDKit"),
                .product(name: "SaMDKeys", package: "SaMDKit"),
                .product(name: "SaMDStore", package: "SaMDKit"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Rewrap",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Keys",
            dependencies: [
                "BenchmarkCatalog",
                "BenchmarkSupport",
                .product(name: "SaMDCrypto", package: "SaMDKit"),
                .product(name: "SaMDEnvelope", package: "SaMDKit"),
                .product(name: "SaMDKeys", package: "SaMDKit"),
                .product(name: "SaMDStore", package: "SaMDKit"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Keys",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "TLS",
            dependencies: [
                "CReference",
                "BenchmarkCatalog",
                "TLSReference",
                "BenchmarkSupport",
                .product(name: "SaMDTLS", package: "SaMDKit"),
                .product(name: "SaMDDevPKI", package: "SaMDKit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/TLS",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "Store",
            dependencies: [
                "BenchmarkCatalog",
                "BenchmarkSupport",
                .product(name: "SaMDCrypto", package: "SaMDKit"),
                .product(name: "SaMDEnvelope", package: "SaMDKit"),
                .product(name: "SaMDKeys", package: "SaMDKit"),
                .product(name: "SaMDStore", package: "SaMDKit"),
                .product(name: "SaMDPostgres", package: "SaMDKit"),
                .product(name: "SaMDLocalPostgres", package: "SaMDKit"),
                .product(name: "SaMDDevPKI", package: "SaMDKit"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/Store",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
