// The gateway under test as a child process (SaMDTestSupport's ChildProcess): collected output, bounded
// waits, killed when released.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension Harness {
    /// A running `samd-gateway serve` on 127.0.0.1, its port read from its first output line.
    final class GatewayProcess: Sendable {
        let child: ChildProcess
        let port: Int

        /// Starts `samd-gateway serve --listen 127.0.0.1:0 ARGUMENTS…` with the key store's passphrase in
        /// SAMD_PASSPHRASE, and waits (bounded) for `listening on 127.0.0.1:PORT`. With `descriptorLimit`, it
        /// runs under `ulimit -n` that many (through `/bin/sh`, which then `exec`s it: the process id stays).
        /// - Parameter tracer: when not empty, the gateway runs under `strace TRACER… samd-gateway …`.
        /// - Parameter environment: more variables for the gateway (a token's `SOFTHSM2_CONF`, `SAMD_PKCS11_PIN`).
        init(
            _ arguments: [String], descriptorLimit: Int? = nil, tracer: [String] = [],
            environment: [String: String] = [:]
        ) async throws {
            let environment = environment.merging(["SAMD_PASSPHRASE": Harness.passphrase]) { _, fixed in fixed }
            let gateway = try ProgramLocations.binary("samd-gateway")
            let serve = ["serve", "--listen", "127.0.0.1:0"] + arguments
            let child =
                if let descriptorLimit {
                    try ChildProcess(
                        URL(fileURLWithPath: "/bin/sh"),
                        ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", gateway.path] + serve,
                        environment: environment
                    )
                } else {
                    try ChildProcess(
                        tracer.isEmpty ? gateway : try ProgramLocations.requiredTool("strace"),
                        tracer.isEmpty ? serve : tracer + [gateway.path] + serve,
                        environment: environment
                    )
                }
            self.child = child
            let ready = await child.wait(timeout: .seconds(20)) {
                child.standardOutput.text.contains("\n") || !child.isRunning
            }
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
        func waitForLog(_ needle: String, timeout: Duration = .seconds(15)) async -> Bool {
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
