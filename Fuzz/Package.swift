// swift-tools-version:6.1
//
// libFuzzer targets over SaMDKit's parsers of untrusted input: the envelope header (and the whole open
// path behind it) and the key-store reader. A package of its own, so that `-parse-as-library` (libFuzzer
// supplies `main`) and the sanitizer flags never reach library users. Build and run with Scripts/fuzz, which
// passes -sanitize=fuzzer,address and -parse-as-library to every module (see Docs/Fuzzing.md).

import PackageDescription

let fuzzSettings: [SwiftSetting] = [.swiftLanguageMode(.v6), .unsafeFlags(["-parse-as-library"])]

let package = Package(
    name: "SaMDKitFuzz",
    dependencies: [
        .package(name: "SaMDKit", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "FuzzEnvelopeHeader",
            dependencies: [
                .product(name: "SaMDEnvelope", package: "SaMDKit"),
                .product(name: "SaMDCrypto", package: "SaMDKit"),
            ],
            swiftSettings: fuzzSettings
        ),
        .executableTarget(
            name: "FuzzKeyStore",
            dependencies: [.product(name: "SaMDKeys", package: "SaMDKit")],
            swiftSettings: fuzzSettings
        ),
    ]
)
