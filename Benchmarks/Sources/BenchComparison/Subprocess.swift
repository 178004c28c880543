import Foundation

/// The programs bench-compare runs (swift, openssl, the device script), found on `PATH`.
enum Subprocess {
    /// Where a program's standard error goes.
    enum StandardError {
        /// Into the output, after standard output's bytes as they come.
        case merged
        case discarded
        /// To bench-compare's own standard error.
        case inherited
    }

    /// Runs `arguments` to the end.
    /// - Parameter environment: added to this process's environment.
    /// - Returns: the exit status and the standard output.
    /// - Throws: when the program cannot be started.
    static func run(
        _ arguments: [String], standardError: StandardError = .merged, environment: [String: String] = [:],
        directory: URL? = nil
    ) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let directory { process.currentDirectoryURL = directory }
        let pipe = Pipe()
        process.standardOutput = pipe
        switch standardError {
        case .merged: process.standardError = pipe
        case .discarded: process.standardError = FileHandle.nullDevice
        case .inherited: break
        }
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// The standard output of `arguments`, whatever its exit status.
    static func output(_ arguments: [String], standardError: StandardError = .merged) throws -> String {
        try self.run(arguments, standardError: standardError).output
    }
}
