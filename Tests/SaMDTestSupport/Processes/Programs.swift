// Runs `samd-pki` and `openssl` as child processes (ChildProcess): every wait bounded.

public import Foundation
import Testing

/// A program that could not be run to its end (not installed, or still running at its deadline).
public struct ProgramError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// The package's `samd-pki` and the system's `openssl`, run to their end through ``ChildProcess``.
public enum Programs {
    /// The `samd-pki` binary: beside the test bundle in the build products directory.
    public static func samdPKI() throws -> URL {
        try ProgramLocations.binary("samd-pki")
    }

    /// The `openssl` command-line tool, or `nil` when it is not installed.
    public static let openssl: URL? = ProgramLocations.tool("openssl")

    public static var opensslAvailable: Bool { self.openssl != nil }

    /// Runs `samd-pki` with `arguments`.
    public static func samdPKI(_ arguments: [String]) async throws -> ChildProcess.Run {
        try await self.run(try self.samdPKI(), arguments)
    }

    /// Runs `openssl` with `arguments`.
    public static func openssl(_ arguments: [String]) async throws -> ChildProcess.Run {
        guard let openssl = self.openssl else { throw ProgramError("openssl is not installed") }
        return try await self.run(openssl, arguments)
    }

    /// Runs `executable` to its end, waiting at most `timeout`; a program still running then is killed and
    /// the run fails (``ProgramError``): the run returned always has a ``ChildProcess/Run/status``.
    public static func run(_ executable: URL, _ arguments: [String], timeout: Duration = .seconds(120)) async throws
        -> ChildProcess.Run
    {
        let run = try await ChildProcess.run(executable, arguments, timeout: timeout)
        guard run.status != nil else {
            throw ProgramError(
                "\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not finish in \(timeout)")
        }
        return run
    }
}

/// A fresh temporary directory, removed when the value is released.
public final class TemporaryDirectory: Sendable {
    public let url: URL

    public init() throws {
        self.url = FileManager.default.temporaryDirectory.appendingPathComponent("samd-pki-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: self.url)
    }

    /// `name` inside the directory.
    public func path(_ name: String) -> String {
        self.url.appendingPathComponent(name).path
    }

    /// The permission bits of `path`.
    public static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require((attributes[.posixPermissions] as? NSNumber)?.intValue)
    }
}
