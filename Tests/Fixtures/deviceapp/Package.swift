// swift-tools-version:6.1
//
// An integrator's product, as the SBOM tests build it (Tests/ExampleProgramTests/ProductSBOMTests.swift): an
// executable that links SaMDKit's SaMDSBOM (by path) and one other package, Yams, and applies
// SaMDBuildGraphPlugin so that its SBOM describes it. `deviceapp-unplugged` is the same program without the
// plugin: its SBOM must say that it describes SaMDKit's package graph instead.
import Foundation
import PackageDescription

// SaMDKit by path (three levels up, or SAMDKIT_PACKAGE_PATH for a copy of this fixture made elsewhere): its
// package identity is its directory's name, whatever the clone is called.
let samdKit =
    Context.environment["SAMDKIT_PACKAGE_PATH"].map { URL(fileURLWithPath: $0) }
    ?? URL(fileURLWithPath: Context.packageDirectory).appendingPathComponent("../../..").standardized

let package = Package(
    name: "deviceapp",
    dependencies: [
        .package(path: samdKit.path),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
    ],
    targets: [
        .executableTarget(
            name: "deviceapp",
            dependencies: [
                .product(name: "SaMDSBOM", package: samdKit.lastPathComponent),
                .product(name: "Yams", package: "Yams"),
            ],
            plugins: [.plugin(name: "SaMDBuildGraphPlugin", package: samdKit.lastPathComponent)]
        ),
        .executableTarget(
            name: "deviceapp-unplugged",
            dependencies: [
                .product(name: "SaMDSBOM", package: samdKit.lastPathComponent),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
    ]
)
