// The programs under test as child processes: collected output, bounded waits, killed when released.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension Harness {
    /// A program built beside the tests (`samd-gateway`, `samd-agent`).
    static func binary(_ name: String) throws -> URL {
        var starts = [Bundle.main.bundleURL]
        if let executable = Bundle.main.executableURL { starts.append(executable.deletingLastPathComponent()) }
        starts.append(URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent())
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

    /// A program on PATH (or the usual system directories); a missing one fails the test and names Scripts/setup.
    static func tool(_ name: String) throws -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw SetupFailure("\(name) is not installed; run Scripts/setup to install what the tests drive")
    }

    struct SetupFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Bytes gathered from a pipe by a background thread.
    final class PipeCollector: Sendable {
        private let storage = Mutex<(data: Data, closed: Bool)>((Data(), false))

        init(_ handle: FileHandle) {
            Thread { [self] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    self.storage.withLock { $0.data.append(chunk) }
                }
                self.storage.withLock { $0.closed = true }
            }.start()
        }

        var data: Data { self.storage.withLock { $0.data } }
        var text: String { String(decoding: self.data, as: UTF8.self) }
        var isClosed: Bool { self.storage.withLock { $0.closed } }
    }

    /// A child process with collected standard output and error; SIGKILLed when released if still running.
    final class Child: @unchecked Sendable { // `process` is only started, signalled and waited for
        let process = Process()
        let standardOutput: PipeCollector
        let standardError: PipeCollector

        /// Starts `executable` with `arguments`, `environment` added to this process's; standard input is empty.
        init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws {
            _ = Self.ignoreSIGPIPE
            self.process.executableURL = executable
            self.process.arguments = arguments
            self.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            let output = Pipe()
            let error = Pipe()
            self.process.standardOutput = output
            self.process.standardError = error
            self.process.standardInput = FileHandle.nullDevice
            try self.process.run()
            try? output.fileHandleForWriting.close()
            try? error.fileHandleForWriting.close()
            self.standardOutput = PipeCollector(output.fileHandleForReading)
            self.standardError = PipeCollector(error.fileHandleForReading)
        }

        deinit {
            self.kill()
        }

        private static let ignoreSIGPIPE: Void = {
            _ = Glibc.signal(SIGPIPE, SIG_IGN)
        }()

        var isRunning: Bool { self.process.isRunning }

        func signal(_ number: Int32) {
            if self.process.isRunning { Glibc.kill(self.process.processIdentifier, number) }
        }

        func kill() {
            if self.process.isRunning {
                Glibc.kill(self.process.processIdentifier, SIGKILL)
                self.process.waitUntilExit()
            }
        }

        /// Waits at most `timeout` seconds for the exit; kills the child and returns `nil` when it did not end.
        /// Polls with `Task.sleep`: a waiting test must not hold one of the few cooperative threads that the
        /// async tests beside it (clients, gateways) need.
        @discardableResult
        func waitForExit(timeout: Double) async -> Int32? {
            let deadline = Date() + timeout
            while self.process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(10)) }
            if self.process.isRunning {
                self.kill()
                return nil
            }
            self.process.waitUntilExit()
            let drained = Date() + 2
            while (!self.standardOutput.isClosed || !self.standardError.isClosed) && Date() < drained {
                try? await Task.sleep(for: .milliseconds(5))
            }
            return self.process.terminationReason == .exit
                ? self.process.terminationStatus : 128 + self.process.terminationStatus
        }

        /// Waits at most `timeout` seconds until `condition` holds; returns whether it did.
        func wait(timeout: Double = 15, until condition: () -> Bool) async -> Bool {
            let deadline = Date() + timeout
            while Date() < deadline {
                if condition() { return true }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return condition()
        }
    }

    /// The outcome of a program run to its end.
    struct Run: CustomStringConvertible {
        /// The exit status (128 + signal when killed by one); `nil` when it had to be killed after the timeout.
        let status: Int32?
        let standardOutput: Data
        let standardError: String

        var output: String { String(decoding: self.standardOutput, as: UTF8.self) }

        var description: String {
            "\(self.status.map { "status \($0)" } ?? "timed out (killed)"); stdout: \(self.output.prefix(2000)); stderr: \(self.standardError.prefix(4000))"
        }
    }

    /// Runs a program to its end (at most `timeout` seconds), waiting without holding a cooperative thread.
    static func run(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 60)
        async throws -> Run
    {
        let child = try Child(executable, arguments, environment: environment)
        defer { child.kill() }
        let status = await child.waitForExit(timeout: timeout)
        return Run(status: status, standardOutput: child.standardOutput.data, standardError: child.standardError.text)
    }

    /// Runs a program to its end (at most `timeout` seconds), blocking the calling thread: for synchronous
    /// tests. Prefer the async ``run(_:_:environment:timeout:)``, which leaves the thread to the async tests
    /// running beside it.
    @_disfavoredOverload
    static func run(_ executable: URL, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 60)
        throws -> Run
    {
        let child = try Child(executable, arguments, environment: environment)
        defer { child.kill() }
        let deadline = Date() + timeout
        while child.isRunning && Date() < deadline { usleep(10_000) }
        guard !child.isRunning else {
            child.kill()
            return Run(status: nil, standardOutput: child.standardOutput.data, standardError: child.standardError.text)
        }
        child.process.waitUntilExit()
        let drained = Date() + 2
        while (!child.standardOutput.isClosed || !child.standardError.isClosed) && Date() < drained { usleep(5_000) }
        let process = child.process
        let status = process.terminationReason == .exit ? process.terminationStatus : 128 + process.terminationStatus
        return Run(status: status, standardOutput: child.standardOutput.data, standardError: child.standardError.text)
    }

    /// A running `samd-gateway serve` on 127.0.0.1, its port read from its first output line.
    final class GatewayProcess: Sendable {
        let child: Child
        let port: Int

        /// Starts `samd-gateway serve --listen 127.0.0.1:0 ARGUMENTS…` with the key store's passphrase in
        /// SAMD_PASSPHRASE, and waits (bounded) for `listening on 127.0.0.1:PORT`. With `descriptorLimit`, it
        /// runs under `ulimit -n` that many (through `/bin/sh`, which then `exec`s it: the process id stays).
        /// - Parameter tracer: when not empty, the gateway runs under `strace TRACER… samd-gateway …`.
        init(_ arguments: [String], descriptorLimit: Int? = nil, tracer: [String] = []) async throws {
            let gateway = try Harness.binary("samd-gateway")
            let serve = ["serve", "--listen", "127.0.0.1:0"] + arguments
            let child =
                if let descriptorLimit {
                    try Child(
                        URL(fileURLWithPath: "/bin/sh"),
                        ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", gateway.path] + serve,
                        environment: ["SAMD_PASSPHRASE": Harness.passphrase]
                    )
                } else {
                    try Child(
                        tracer.isEmpty ? gateway : try Harness.tool("strace"),
                        tracer.isEmpty ? serve : tracer + [gateway.path] + serve,
                        environment: ["SAMD_PASSPHRASE": Harness.passphrase]
                    )
                }
            self.child = child
            let ready = await child.wait(timeout: 20) { child.standardOutput.text.contains("\n") || !child.isRunning }
            let firstLine = child.standardOutput.text.split(separator: "\n").first.map(String.init) ?? ""
            let prefix = "listening on 127.0.0.1:"
            guard ready, firstLine.hasPrefix(prefix), let port = Int(firstLine.dropFirst(prefix.count)), port > 0 else {
                child.kill()
                throw SetupFailure(
                    "samd-gateway did not start: first line \"\(firstLine)\"; stderr: \(child.standardError.text)")
            }
            self.port = port
        }

        /// The usual arguments: the PKI's server identity and root, the stores, reader and shredder roles.
        static func standardArguments(_ stores: Stores, server: (cert: String, key: String)? = nil) -> [String] {
            let pki = Harness.pki
            return [
                "--cert", server?.cert ?? pki.cert("server"), "--key", server?.key ?? pki.key("server"), "--ca",
                pki.root,
                "--store", stores.storePath, "--keystore", stores.keysPath,
                "--reader", TestPKI.readerURI, "--shredder", Harness.shredderURI,
            ]
        }

        var endpoint: String { "127.0.0.1:\(self.port)" }
        var log: String { self.child.standardError.text }

        /// Waits for the log (standard error) to contain `needle`.
        @discardableResult
        func waitForLog(_ needle: String, timeout: Double = 15) async -> Bool {
            await self.child.wait(timeout: timeout) { self.log.contains(needle) }
        }

        deinit {
            self.stop()
        }

        /// Kills the gateway (SIGKILL) and the tracer it runs under, if any: a tracer killed first would leave
        /// the gateway running, detached.
        func stop() {
            let pid = self.child.process.processIdentifier
            if self.child.isRunning,
                let children = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)
            {
                for traced in children.split(separator: " ").compactMap({ Int32($0) }) { Glibc.kill(traced, SIGKILL) }
            }
            self.child.kill()
        }
    }
}

extension Harness {
    /// Medical records from the shared collection (Tests/SaMDEnvelopeTests/Resources/records), by file name.
    static func medicalRecords(_ names: [String]) throws -> [(name: String, bytes: [UInt8])] {
        let all = try MedicalRecords.load(from: MedicalRecords.packageFolder)
        return try names.map { name in
            guard let found = all.first(where: { $0.0.hasSuffix("/" + name) }) else {
                throw SetupFailure("no shared record \(name)")
            }
            return (name, found.1)
        }
    }
}
