// Shared helpers for the tests that drive `samd-tls` and other programs (openssl, curl, sslyze) as child
// processes: bounded waits only, loopback only, and every child killed when its test ends.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Where things are.
enum Locations {
    /// The package root, derived from this file's path (Tests/SaMDTLSTests/Support/CLIProcess.swift).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent() // Support
        .deletingLastPathComponent() // SaMDTLSTests
        .deletingLastPathComponent() // Tests
        .deletingLastPathComponent()

    /// The `samd-tls` binary: beside the test bundle in the build directory.
    static func samdTLS() throws -> URL {
        var directory = Bundle.module.bundleURL.deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("samd-tls")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw CocoaError(
            .fileNoSuchFile, userInfo: [NSFilePathErrorKey: "samd-tls next to \(Bundle.module.bundleURL.path)"])
    }

    /// A program on PATH (or the usual system directories), or `nil`.
    static func tool(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/bin", "/usr/local/bin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// A required program; a missing one fails the test and names `Scripts/setup`.
    static func requiredTool(_ name: String) throws -> URL {
        guard let url = self.tool(name) else {
            throw SetupError("\(name) is not installed; run Scripts/setup (CI runs it) to install what the tests drive")
        }
        return url
    }
}

struct SetupError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A test PKI written to a fresh temporary directory, removed when the value is released.
final class PKIDirectory: Sendable {
    let files: TestPKIFiles
    let pki: TestPKI
    var directory: URL { self.files.directory }

    init() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("samd-tls-tests-\(UUID().uuidString)", isDirectory: true)
        self.pki = try TestPKI()
        self.files = try self.pki.write(to: directory)
    }

    deinit {
        try? FileManager.default.removeItem(at: self.files.directory)
    }

    func cert(_ name: String) -> String { self.files.certificate(name) }
    func key(_ name: String) -> String { self.files.key(name) }
    var root: String { self.files.rootCA }

    /// Writes `text` into the PKI directory and returns its path.
    func write(_ name: String, _ text: String) throws -> String {
        let path = self.directory.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// Bytes gathered from a pipe by a background thread.
final class PipeCollector: Sendable {
    private let storage = Mutex<(data: Data, closed: Bool)>((Data(), false))

    init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                self.storage.withLock { $0.data.append(chunk) }
            }
            self.storage.withLock { $0.closed = true }
        }
        thread.start()
    }

    var data: Data { self.storage.withLock { $0.data } }
    var text: String { String(decoding: self.data, as: UTF8.self) }
    var isClosed: Bool { self.storage.withLock { $0.closed } }
}

/// A child process with collected standard output and error. Killed (SIGKILL) when released if still running;
/// call ``kill()`` in a `defer` to make that explicit.
final class ChildProcess: @unchecked Sendable {
    let process = Process()
    let standardOutput: PipeCollector
    let standardError: PipeCollector
    private let input: Pipe?
    let name: String

    /// Starts `executable` with `arguments`. With `keepStandardInputOpen`, standard input is a pipe fed by
    /// ``send(_:)`` and ended by ``closeStandardInput()``; otherwise it is `stdin` bytes (possibly empty), then EOF.
    init(_ executable: URL, _ arguments: [String], stdin: Data = Data(), keepStandardInputOpen: Bool = false) throws {
        _ = Self.ignoreSIGPIPE
        self.name = executable.lastPathComponent
        self.process.executableURL = executable
        self.process.arguments = arguments
        let output = Pipe()
        let error = Pipe()
        let input = Pipe()
        self.process.standardOutput = output
        self.process.standardError = error
        self.process.standardInput = input
        try self.process.run()
        // The parent's copies of the child's ends.
        try? output.fileHandleForWriting.close()
        try? error.fileHandleForWriting.close()
        try? input.fileHandleForReading.close()
        self.standardOutput = PipeCollector(output.fileHandleForReading)
        self.standardError = PipeCollector(error.fileHandleForReading)
        if keepStandardInputOpen {
            self.input = input
            if !stdin.isEmpty { self.send(stdin) }
        } else {
            self.input = nil
            let writer = input.fileHandleForWriting
            // A background writer: the child may not read all of it before it writes back.
            Thread {
                try? writer.write(contentsOf: stdin)
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

    var processIdentifier: Int32 { self.process.processIdentifier }
    var isRunning: Bool { self.process.isRunning }

    func send(_ data: Data) {
        guard let writer = self.input?.fileHandleForWriting else { return }
        Thread {
            try? writer.write(contentsOf: data)
        }.start()
    }

    func closeStandardInput() {
        try? self.input?.fileHandleForWriting.close()
    }

    func signal(_ number: Int32) {
        if self.process.isRunning { Glibc.kill(self.process.processIdentifier, number) }
    }

    /// SIGKILL if still running, and reap.
    func kill() {
        if self.process.isRunning {
            Glibc.kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
    }

    /// Waits at most `timeout` seconds for the exit; kills the child and returns `nil` when it did not.
    @discardableResult
    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date() + timeout
        while self.process.isRunning && Date() < deadline {
            usleep(10_000)
        }
        if self.process.isRunning {
            self.kill()
            return nil
        }
        self.process.waitUntilExit()
        // Let the collectors drain what the child wrote last.
        let drained = Date() + 2
        while (!self.standardOutput.isClosed || !self.standardError.isClosed) && Date() < drained {
            usleep(5_000)
        }
        return self.process.terminationStatus
    }

    /// Waits at most `timeout` seconds until `condition` holds; returns whether it did.
    func wait(timeout: Double, until condition: () -> Bool) -> Bool {
        let deadline = Date() + timeout
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// Waits for standard error to contain `needle`.
    func waitForStandardError(containing needle: String, timeout: Double = 10) -> Bool {
        self.wait(timeout: timeout) { self.standardError.text.contains(needle) }
    }

    /// Waits for standard output to contain `needle`.
    func waitForStandardOutput(containing needle: String, timeout: Double = 10) -> Bool {
        self.wait(timeout: timeout) { self.standardOutput.text.contains(needle) }
    }
}

/// The outcome of a program run to its end.
struct Run: CustomStringConvertible {
    /// The exit status; `nil` when the program had to be killed after the timeout.
    let status: Int32?
    let standardOutput: Data
    let standardError: String
    /// Whether the program died of a signal (then `status` is the signal number: 6 is SIGABRT, a crash).
    var killedBySignal = false

    var output: String { String(decoding: self.standardOutput, as: UTF8.self) }

    var description: String {
        let status =
            self.status.map { self.killedBySignal ? "killed by signal \($0) (crash)" : "status \($0)" }
            ?? "timed out (killed)"
        return "\(status); stderr: \(self.standardError.prefix(4000))"
    }
}

/// Runs a program to its end (at most `timeout` seconds).
func run(_ executable: URL, _ arguments: [String], stdin: Data = Data(), timeout: Double = 30) throws -> Run {
    let child = try ChildProcess(executable, arguments, stdin: stdin)
    defer { child.kill() }
    let status = child.waitForExit(timeout: timeout)
    return Run(
        status: status,
        standardOutput: child.standardOutput.data,
        standardError: child.standardError.text,
        killedBySignal: status != nil && child.process.terminationReason == .uncaughtSignal
    )
}

/// Runs `samd-tls` with `arguments`.
func samdTLS(_ arguments: [String], stdin: Data = Data(), timeout: Double = 30) throws -> Run {
    try run(try Locations.samdTLS(), arguments, stdin: stdin, timeout: timeout)
}

/// A running `samd-tls serve`, its port read from its first output line.
final class ServeProcess: @unchecked Sendable {
    let child: ChildProcess
    let host: String
    let port: Int

    /// Starts `samd-tls serve --listen HOST:0 ARGUMENTS…` and waits (bounded) for `listening on HOST:PORT`.
    init(host: String = "127.0.0.1", _ arguments: [String]) throws {
        let listen = host.contains(":") ? "[\(host)]:0" : "\(host):0"
        let child = try ChildProcess(
            try Locations.samdTLS(), ["serve", "--listen", listen] + arguments, keepStandardInputOpen: true)
        self.child = child
        self.host = host
        let ready = child.wait(timeout: 15) { child.standardOutput.text.contains("\n") || !child.isRunning }
        let firstLine =
            child.standardOutput.text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
            ?? ""
        let prefix = host.contains(":") ? "listening on [\(host)]:" : "listening on \(host):"
        guard ready, firstLine.hasPrefix(prefix), let port = Int(firstLine.dropFirst(prefix.count)), port > 0 else {
            child.kill()
            throw SetupError(
                "samd-tls serve did not start: first line \"\(firstLine)\"; stderr: \(child.standardError.text)")
        }
        self.port = port
    }

    deinit {
        self.child.kill()
    }

    /// `HOST:PORT` to pass to connect.
    var endpoint: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
    var log: String { self.child.standardError.text }

    func stop() { self.child.kill() }

    /// Waits for the log to contain `needle`.
    @discardableResult
    func waitForLog(_ needle: String, timeout: Double = 10) -> Bool {
        self.child.waitForStandardError(containing: needle, timeout: timeout)
    }
}

/// POSIX sockets for the raw-TCP cases.
enum RawSocket {
    /// A connected socket to 127.0.0.1:`port` with a receive timeout.
    static func connect(port: Int, receiveTimeout: Int = 5) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SetupError("socket: \(errno)") }
        var timeout = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            throw SetupError("connect: \(errno)")
        }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) {
        self.send(fd, bytes: Array(text.utf8))
    }

    static func send(_ fd: Int32, bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Everything received until the peer closes, an error, or the receive timeout; and whether the connection
    /// ended (EOF or reset) rather than timed out.
    static func receiveAll(_ fd: Int32) -> (data: [UInt8], closed: Bool) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                received += buffer.prefix(count)
                continue
            }
            if count == 0 { return (received, true) }
            if errno == EINTR { continue }
            return (received, errno == ECONNRESET)
        }
    }
}

/// A plaintext TCP server on 127.0.0.1 that answers every connection with `HTTP/1.1 400 Bad Request` and
/// closes it: a peer that does not speak TLS.
final class PlaintextHTTPServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        (self.fd, self.port) = try LoopbackPort.listening()
        let fd = self.fd
        Thread { [fd] in
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 {
                    if errno == EINTR { continue }
                    return // the listening socket was shut down
                }
                var buffer = [UInt8](repeating: 0, count: 4096)
                var timeout = timeval(tv_sec: 2, tv_usec: 0)
                setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                _ = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                RawSocket.send(client, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                close(client)
            }
        }.start()
    }

    deinit {
        shutdown(self.fd, Int32(SHUT_RDWR))
        close(self.fd)
    }
}

/// A TCP listener on 127.0.0.1 that never accepts: the kernel completes the TCP handshake, then nothing is
/// ever said — a TLS handshake against it can only time out.
final class SilentTCPServer: @unchecked Sendable {
    let port: Int
    private let fd: Int32

    init() throws {
        (self.fd, self.port) = try LoopbackPort.listening()
    }

    deinit {
        close(self.fd)
    }
}
