// swift-tools-version:6.1
//
// SaMDKit's benchmarks: a package of their own, so that library users never build
// package-benchmark. Every benchmark runs side by side with a reference (raw OpenSSL or
// libsodium) in the same run. Run: `swift package --package-path Benchmarks benchmark`.

import PackageDescription

let package = Package(
    name: "SaMDKitBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "SaMDKit", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        // The reference: OpenSSL called directly, as a hand-written C-level caller would.
        .systemLibrary(
            name: "CReferenceOpenSSL",
            path: "Sources/CReferenceOpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .executableTarget(
            name: "AEAD",
            dependencies: [
                "CReferenceOpenSSL",
                .product(name: "SaMDCrypto", package: "SaMDKit"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/AEAD",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
