public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A program under test as a child process: standard output and error collected as they come, every wait
/// async and bounded by a deadline (the waiting task sleeps until the child writes or exits, or the deadline
/// passes — no polling, no blocked cooperative thread), and the child SIGKILLed when released if still
/// running. The one process runner of the test targets.
/// `@unchecked Sendable`: `process` is only started, signalled and waited for; the rest is locked.
public final class ChildProcess: @unchecked Sendable {
    /// What the child reads on standard input.
    public enum StandardInput: Sendable {
        /// `/dev/null`.
        case none
        /// These bytes, written by a background thread, then end of file.
        case bytes(Data)
        /// A pipe that stays open: fed by ``send(_:)``, ended by ``closeStandardInput()``.
        case open
    }

    /// The outcome of a program run to its end.
    public struct Run: Sendable, CustomStringConvertible {
        /// The exit status, or 128 + the signal's number when a signal ended the program (134 is SIGABRT, a
        /// crash); `nil` when the program was killed at the deadline.
        public let status: Int32?
        /// Whether a signal ended the program (`status` is then 128 + its number).
        public let killedBySignal: Bool
        public let standardOutput: Data
        public let standardError: String

        /// Standard output as UTF-8.
        public var output: String { String(decoding: self.standardOutput, as: UTF8.self) }

        public var description: String {
            let status =
                self.status.map { self.killedBySignal ? "killed by signal \($0 - 128)" : "status \($0)" }
                ?? "timed out (killed)"
            return "\(status); stdout: \(self.output.prefix(2000)); stderr: \(self.standardError.prefix(4000))"
        }
    }

    public let process = Process()
    public let standardOutput: OutputCollector
    public let standardError: OutputCollector
    /// The program's file name, for messages.
    public let name: String
    private let input: Pipe?
    private let changes = ChangeNotifier()
    private let exited = ExitFlag()

    /// Starts `executable` with `arguments` in `currentDirectory` (default: this process's), `environment`
    /// added to this process's — or, with `inheritsEnvironment` false, `environment` alone.
    public init(
        _ executable: URL, _ arguments: [String], environment: [String: String] = [:],
        inheritsEnvironment: Bool = true, currentDirectory: URL? = nil, standardInput: StandardInput = .none
    ) throws {
        _ = Self.ignoreSIGPIPE
        self.name = executable.lastPathComponent
        self.process.executableURL = executable
        self.process.arguments = arguments
        if !inheritsEnvironment {
            self.process.environment = environment
        } else if !environment.isEmpty {
            self.process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if let currentDirectory { self.process.currentDirectoryURL = currentDirectory }
        let output = Pipe()
        let error = Pipe()
        let input: Pipe? = if case .none = standardInput { nil } else { Pipe() }
        self.process.standardOutput = output
        self.process.standardError = error
        self.process.standardInput = input ?? FileHandle.nullDevice
        let changes = self.changes
        let exited = self.exited
        self.process.terminationHandler = { _ in
            exited.set()
            changes.notify()
        }
        try self.process.run()
        // The parent's copies of the child's ends.
        try? output.fileHandleForWriting.close()
        try? error.fileHandleForWriting.close()
        try? input?.fileHandleForReading.close()
        self.standardOutput = OutputCollector(output.fileHandleForReading, changes: changes)
        self.standardError = OutputCollector(error.fileHandleForReading, changes: changes)
        switch standardInput {
        case .none:
            self.input = nil
        case .open:
            self.input = input
        case .bytes(let bytes):
            self.input = nil
            let writer = input!.fileHandleForWriting
            // A background writer: the child may not read all of it before it writes back.
            Thread {
                try? writer.write(contentsOf: bytes)
                try? writer.close()
            }.start()
        }
    }

    deinit {
        self.kill()
    }

    /// A child that exits before reading all its input must not take the test process down with SIGPIPE.
    private static let ignoreSIGPIPE: Void = {
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
    }()

    public var processIdentifier: Int32 { self.process.processIdentifier }
    public var isRunning: Bool { !self.exited.isSet && self.process.isRunning }

    /// Writes `data` to standard input (``StandardInput/open`` only), from a background thread.
    public func send(_ data: Data) {
        guard let writer = self.input?.fileHandleForWriting else { return }
        Thread { try? writer.write(contentsOf: data) }.start()
    }

    public func closeStandardInput() {
        try? self.input?.fileHandleForWriting.close()
    }

    public func signal(_ number: Int32) {
        if self.process.isRunning { Glibc.kill(self.process.processIdentifier, number) }
    }

    /// SIGKILL if still running, and reap.
    public func kill() {
        if self.process.isRunning {
            Glibc.kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
    }

    /// Waits at most `timeout` until `condition` holds, testing it again each time the child writes or
    /// exits; returns whether it held.
    public func wait(timeout: Duration = .seconds(15), until condition: @escaping @Sendable () -> Bool) async -> Bool {
        await self.changes.wait(timeout: timeout, until: condition)
    }

    /// Waits for standard error to contain `needle`.
    public func waitForStandardError(containing needle: String, timeout: Duration = .seconds(10)) async -> Bool {
        await self.wait(timeout: timeout) { self.standardError.text.contains(needle) }
    }

    /// Waits for standard output to contain `needle`.
    public func waitForStandardOutput(containing needle: String, timeout: Duration = .seconds(10)) async -> Bool {
        await self.wait(timeout: timeout) { self.standardOutput.text.contains(needle) }
    }

    /// Waits at most `timeout` for the exit, then at most 2 s more for the output the child wrote last; kills
    /// the child and returns `nil` when it did not exit. The status is 128 + the signal's number when a signal
    /// ended it.
    @discardableResult
    public func waitForExit(timeout: Duration) async -> Int32? {
        guard await self.wait(timeout: timeout, until: { !self.isRunning }) else {
            self.kill()
            return nil
        }
        self.process.waitUntilExit()
        _ = await self.wait(timeout: .seconds(2)) { self.standardOutput.isClosed && self.standardError.isClosed }
        return self.process.terminationReason == .exit
            ? self.process.terminationStatus : 128 + self.process.terminationStatus
    }

    /// Runs `executable` to its end, waiting at most `timeout`; a program still running then is killed and
    /// its ``Run/status`` is `nil`.
    public static func run(
        _ executable: URL, _ arguments: [String], environment: [String: String] = [:],
        inheritsEnvironment: Bool = true, currentDirectory: URL? = nil, stdin: Data = Data(),
        timeout: Duration = .seconds(60)
    ) async throws -> Run {
        let child = try ChildProcess(
            executable, arguments, environment: environment, inheritsEnvironment: inheritsEnvironment,
            currentDirectory: currentDirectory, standardInput: .bytes(stdin))
        defer { child.kill() }
        let status = await child.waitForExit(timeout: timeout)
        return Run(
            status: status,
            killedBySignal: status != nil && child.process.terminationReason == .uncaughtSignal,
            standardOutput: child.standardOutput.data,
            standardError: child.standardError.text
        )
    }
}

/// Set once, by the process's termination handler.
private final class ExitFlag: Sendable {
    private let value = Mutex(false)

    func set() { self.value.withLock { $0 = true } }
    var isSet: Bool { self.value.withLock { $0 } }
}
