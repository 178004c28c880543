import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The servers and clients bench-compare starts, and the directories it makes for them: killed and removed when
/// it stops them, when it returns or throws (their owners' `defer`), and when bench-compare receives SIGINT,
/// SIGTERM or SIGHUP (``installSignalHandlers()``), so none outlives it.
enum ChildProcesses {
    private static let running = Mutex<[Int32: Process]>([:])
    private static let directories = Mutex<Set<String>>([])
    private static let signalSources = Mutex<[any DispatchSourceSignal]>([])

    /// Starts `executable` with `arguments` in `directory`, standard output and error into the files given.
    /// - Throws: when the program cannot be started.
    static func start(
        _ executable: URL, _ arguments: [String], directory: URL, standardOutput: URL, standardError: URL
    ) throws -> Process {
        self.installSignalHandlers()
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.currentDirectoryURL = directory
        _ = FileManager.default.createFile(atPath: standardOutput.path, contents: nil)
        _ = FileManager.default.createFile(atPath: standardError.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: standardOutput)
        process.standardError = try FileHandle(forWritingTo: standardError)
        process.standardInput = FileHandle.nullDevice
        try self.running.withLock { running in
            try process.run()
            running[process.processIdentifier] = process
        }
        return process
    }

    /// Waits for `process` to exit, at most `timeout`; then kills it (SIGKILL).
    /// - Returns: whether it exited by itself in time.
    @discardableResult
    static func wait(_ process: Process, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
        let inTime = !process.isRunning
        if !inTime {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        _ = self.running.withLock { $0.removeValue(forKey: process.processIdentifier) }
        return inTime
    }

    /// Stops `process`: SIGTERM, then SIGKILL after `grace`.
    static func stop(_ process: Process, grace: Duration = .seconds(15)) {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        self.wait(process, timeout: grace)
    }

    /// A new directory under `base`, removed by ``removeDirectory(_:)`` or on a signal.
    static func makeDirectory(under base: URL, prefix: String) throws -> URL {
        self.installSignalHandlers()
        let directory = base.appendingPathComponent(prefix + UUID().uuidString)
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        _ = self.directories.withLock { $0.insert(directory.path) }
        return directory
    }

    static func removeDirectory(_ directory: URL) {
        try? FileManager.default.removeItem(at: directory)
        _ = self.directories.withLock { $0.remove(directory.path) }
    }

    /// On SIGINT, SIGTERM or SIGHUP: every child killed, every directory removed, exit 2. Installed once.
    static func installSignalHandlers() {
        self.signalSources.withLock { sources in
            guard sources.isEmpty else { return }
            for number in [SIGINT, SIGTERM, SIGHUP] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    for process in self.running.withLock({ Array($0.values) }) {
                        kill(process.processIdentifier, SIGKILL)
                    }
                    for path in self.directories.withLock({ Array($0) }) {
                        try? FileManager.default.removeItem(atPath: path)
                    }
                    FileHandle.standardError.write(Data("bench-compare: stopped by signal \(number)\n".utf8))
                    exit(2)
                }
                source.resume()
                sources.append(source)
            }
        }
    }
}
