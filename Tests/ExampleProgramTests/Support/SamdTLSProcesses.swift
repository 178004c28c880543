// Shared helpers for the tests that drive `samd-tls` as a child process (SaMDTestSupport's ChildProcess):
// bounded waits only, loopback only, and every child killed when its test ends.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The `samd-tls` binary: beside the test bundle in the build directory.
func samdTLSBinary() throws -> URL {
    try ProgramLocations.binary("samd-tls")
}

/// Runs `samd-tls` with `arguments` to its end (at most `timeout`).
func samdTLS(
    _ arguments: [String], stdin: Data = Data(), environment: [String: String] = [:], timeout: Duration = .seconds(30)
) async throws -> ChildProcess.Run {
    try await ChildProcess.run(
        try samdTLSBinary(), arguments, environment: environment, stdin: stdin, timeout: timeout)
}

/// A running `samd-tls serve`, its port read from its first output line.
final class ServeProcess: @unchecked Sendable {
    let child: ChildProcess
    let host: String
    let port: Int

    /// Starts `samd-tls serve --listen HOST:0 ARGUMENTS…` (with `environment` added to this process's) and waits
    /// (bounded) for `listening on HOST:PORT`.
    init(host: String = "127.0.0.1", _ arguments: [String], environment: [String: String] = [:]) async throws {
        let listen = host.contains(":") ? "[\(host)]:0" : "\(host):0"
        let child = try ChildProcess(
            try samdTLSBinary(), ["serve", "--listen", listen] + arguments, environment: environment,
            standardInput: .open)
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
