// Where things are, for the tests that run tools installed beside the package (sslyze in .build/tools).

import Foundation

/// Where things are.
enum Locations {
    /// The package root, derived from this file's path (Tests/SaMDTLSTests/Support/Locations.swift).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // Support
        .deletingLastPathComponent() // SaMDTLSTests
        .deletingLastPathComponent() // Tests
        .deletingLastPathComponent()
}
