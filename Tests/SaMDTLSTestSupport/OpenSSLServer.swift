// `openssl s_server` as the peer of the TLS tests, run through SaMDTestSupport's ChildProcess.

public import Foundation
public import SaMDTestSupport

/// `openssl s_server` listening on 127.0.0.1, port 0: it reports the port it got on its `ACCEPT` line.
public struct OpenSSLServer: Sendable {
    public let child: ChildProcess
    public let port: Int

    /// Starts `openssl s_server -accept 127.0.0.1:0 ARGUMENTS…` and waits (at most 10 s) for its `ACCEPT`
    /// line; throws `SetupFailure` when it exits or says nothing by then. `environment` is added to this
    /// process's (e.g. a token's, for a private key loaded through the `pkcs11` engine).
    public static func start(_ openssl: URL, _ arguments: [String], environment: [String: String] = [:])
        async throws -> OpenSSLServer
    {
        let child = try ChildProcess(
            openssl, ["s_server", "-accept", "127.0.0.1:0"] + arguments, environment: environment,
            standardInput: .open)
        guard
            await child.wait(
                timeout: .seconds(10), until: { Self.port(child.standardOutput.text) != nil || !child.isRunning }),
            child.isRunning, let port = Self.port(child.standardOutput.text)
        else {
            let output = child.standardError.text + child.standardOutput.text
            child.kill()
            throw SetupFailure("openssl s_server did not start: \(output)")
        }
        return OpenSSLServer(child: child, port: port)
    }

    /// The port on s_server's `ACCEPT 127.0.0.1:PORT` line.
    static func port(_ output: String) -> Int? {
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT") }) else { return nil }
        return line.split(separator: ":").last.flatMap { Int($0) }
    }
}
