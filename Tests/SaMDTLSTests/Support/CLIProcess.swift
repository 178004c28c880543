// Shared helpers for the tests that drive `samd-tls` and other programs (openssl, curl, sslyze) as child
// processes (SaMDTestSupport's ChildProcess): bounded waits only, loopback only, and every child killed when
// its test ends.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
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
        try ProgramLocations.binary("samd-tls")
    }
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

/// Runs `samd-tls` with `arguments` to its end (at most `timeout`).
func samdTLS(_ arguments: [String], stdin: Data = Data(), timeout: Duration = .seconds(30)) async throws
    -> ChildProcess.Run
{
    try await ChildProcess.run(try Locations.samdTLS(), arguments, stdin: stdin, timeout: timeout)
}

/// A running `samd-tls serve`, its port read from its first output line.
final class ServeProcess: @unchecked Sendable {
    let child: ChildProcess
    let host: String
    let port: Int

    /// Starts `samd-tls serve --listen HOST:0 ARGUMENTS…` and waits (bounded) for `listening on HOST:PORT`.
    init(host: String = "127.0.0.1", _ arguments: [String]) async throws {
        let listen = host.contains(":") ? "[\(host)]:0" : "\(host):0"
        let child = try ChildProcess(
            try Locations.samdTLS(), ["serve", "--listen", listen] + arguments, standardInput: .open)
        self.child = child
        self.host = host
        let ready = await child.wait(timeout: .seconds(15)) {
            child.standardOutput.text.contains("\n") || !child.isRunning
        }
        let firstLine =
            child.standardOutput.text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init)
            ?? ""
        let prefix = host.contains(":") ? "listening on [\(host)]:" : "listening on \(host):"
        guard ready, firstLine.hasPrefix(prefix), let port = Int(firstLine.dropFirst(prefix.count)), port > 0 else {
            child.kill()
            throw SetupFailure(
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
    func waitForLog(_ needle: String, timeout: Duration = .seconds(10)) async -> Bool {
        await self.child.waitForStandardError(containing: needle, timeout: timeout)
    }
}

/// POSIX sockets for the raw-TCP cases.
enum RawSocket {
    /// A connected socket to 127.0.0.1:`port` with a receive timeout.
    static func connect(port: Int, receiveTimeout: Int = 5) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SetupFailure("socket: \(errno)") }
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
            throw SetupFailure("connect: \(errno)")
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
