public import Foundation

/// Where the programs the tests run are: the package's executables, built beside the test bundle, and tools
/// on PATH.
public enum ProgramLocations {
    /// A program of this package (`samd-tls`, `samd-gateway`, …): beside the test bundle in the build
    /// products directory. Throws ``SetupFailure`` when it is not there.
    public static func binary(_ name: String) throws -> URL {
        var starts = [Bundle.main.bundleURL]
        if let executable = Bundle.main.executableURL { starts.append(executable.deletingLastPathComponent()) }
        if let first = CommandLine.arguments.first {
            starts.append(URL(fileURLWithPath: first).deletingLastPathComponent())
        }
        for start in starts {
            var directory = start
            for _ in 0..<4 {
                let candidate = directory.appendingPathComponent(name)
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                directory.deleteLastPathComponent()
            }
        }
        throw SetupFailure("\(name) not found beside \(Bundle.main.bundleURL.path)")
    }

    /// A program on PATH (or the usual system directories), or `nil`.
    public static func tool(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// A required program; a missing one fails the test and names `Scripts/setup`.
    public static func requiredTool(_ name: String) throws -> URL {
        guard let url = self.tool(name) else {
            throw SetupFailure(
                "\(name) is not installed; run Scripts/setup (CI runs it) to install what the tests drive")
        }
        return url
    }
}

/// A test could not set up what it needs (a program missing, a server that did not start).
public struct SetupFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
