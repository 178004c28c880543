// swift-tools-version:6.1
//
// SaMDKit's benchmarks: a package of their own, so that library users never build
// package-benchmark or swift-nio-ssl. Every benchmark runs side by side with a reference (raw OpenSSL,
// raw libsodium, swift-nio-ssl) in the same run. `Scripts/bench-compare` runs them and prints the
// ratios; a single target runs with `swift package --package-path Benchmarks benchmark --target AEAD`.

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
    ],
    targets: [
        // The references: OpenSSL and libsodium called directly, as a hand-written C-level caller would.
        .systemLibrary(
            name: "CReference",
            path: "Sources/CReference",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev", "libsodium-dev", "libsqlite3-dev"])]
        ),
        // What the benchmark targets share: sizes, quick mode, result checks.
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "Benchmark", package: "benchmark")],
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
            name: "TLS",
            dependencies: [
                "CReference",
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
    ]
)
