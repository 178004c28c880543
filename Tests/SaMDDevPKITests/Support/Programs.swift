// Runs `samd-pki` and `openssl` as child processes: output to files (no pipe can fill up), every wait bounded.

import Foundation
import Testing

/// The outcome of a program run to its end.
struct ProgramRun: CustomStringConvertible {
    let status: Int32
    let standardOutput: String
    let standardError: String

    var description: String {
        "status \(self.status); stdout: \(self.standardOutput.prefix(2000)); stderr: \(self.standardError.prefix(2000))"
    }
}

struct ProgramError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

enum Programs {
    /// The `samd-pki` binary: beside the test bundle in the build products directory.
    static func samdPKI() throws -> URL {
        var starts: [URL] = [Bundle.main.bundleURL]
        if let executable = Bundle.main.executableURL { starts.append(executable.deletingLastPathComponent()) }
        if let first = CommandLine.arguments.first {
            starts.append(URL(fileURLWithPath: first).deletingLastPathComponent())
        }
        for start in starts {
            var directory = start
            for _ in 0..<4 {
                let candidate = directory.appendingPathComponent("samd-pki")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                directory.deleteLastPathComponent()
            }
        }
        throw ProgramError("samd-pki not found near \(Bundle.main.bundleURL.path)")
    }

    /// The `openssl` command-line tool, or `nil` when it is not installed.
    static let openssl: URL? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent("openssl")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }()

    static var opensslAvailable: Bool { self.openssl != nil }

    /// Runs `samd-pki` with `arguments`.
    static func samdPKI(_ arguments: [String]) async throws -> ProgramRun {
        try await self.run(try self.samdPKI(), arguments)
    }

    /// Runs `openssl` with `arguments`.
    static func openssl(_ arguments: [String]) async throws -> ProgramRun {
        guard let openssl = self.openssl else { throw ProgramError("openssl is not installed") }
        return try await self.run(openssl, arguments)
    }

    /// Runs `executable` to its end, waiting at most `timeout`; a program still running then is killed and
    /// the run fails.
    static func run(_ executable: URL, _ arguments: [String], timeout: Duration = .seconds(120)) async throws
        -> ProgramRun
    {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("samd-pki-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outputURL = scratch.appendingPathComponent("stdout")
        let errorURL = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
        let output = try FileHandle(forWritingTo: outputURL)
        let error = try FileHandle(forWritingTo: errorURL)
        defer {
            try? output.close()
            try? error.close()
        }

        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = error
        let (exited, continuation) = AsyncStream<Void>.makeStream()
        process.terminationHandler = { _ in
            continuation.yield()
            continuation.finish()
        }
        try process.run()
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in exited { return true }
                return false
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !finished {
            process.terminate()
            process.waitUntilExit()
            throw ProgramError(
                "\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not finish in \(timeout)")
        }
        process.waitUntilExit()
        return ProgramRun(
            status: process.terminationStatus,
            standardOutput: String(decoding: try Data(contentsOf: outputURL), as: UTF8.self),
            standardError: String(decoding: try Data(contentsOf: errorURL), as: UTF8.self)
        )
    }
}

/// A fresh temporary directory, removed when the value is released.
final class TemporaryDirectory: Sendable {
    let url: URL

    init() throws {
        self.url = FileManager.default.temporaryDirectory.appendingPathComponent("samd-pki-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.url, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: self.url)
    }

    /// `name` inside the directory.
    func path(_ name: String) -> String {
        self.url.appendingPathComponent(name).path
    }

    /// The permission bits of `path`.
    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require((attributes[.posixPermissions] as? NSNumber)?.intValue)
    }
}
