import ArgumentParser
import Foundation
import Logging
import NIOCore
import SaMDExampleSupport
import SaMDTLS

/// `samd-tls serve`: a TLS echo server.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Listen, and echo back what each authenticated client sends.",
        discussion: """
            Prints "listening on HOST:PORT" (the real port when 0 was asked for) as the first line of standard \
            output. Each connection is served concurrently: what the client sends is echoed until the client \
            closes its output (close_notify), then the server closes its own. Every handshake, succeeded or \
            failed, is logged on standard error (swift-log, one line each).
            With --client-ca every client must present a certificate chaining to that CA with EKU clientAuth \
            (and, with --allow-peer, named there); --allow-peer and --crl need --client-ca.
            The identity, client-CA and CRL files are watched and reloaded when they change \
            (--identity-reload-interval, default 5 s; 0 stops watching); SIGHUP reloads them at once. A refused reload leaves the current identity serving.
            Runs until SIGINT or SIGTERM, then exits 0.
            --key may name a key held in a PKCS #11 token (pkcs11:token=…;object=…?module-path=…), loaded again from \
            the token at each reload; its PIN comes from --pin-file or SAMD_PKCS11_PIN, never from the command line \
            (--pin) or the URI (pin-value): both are refused (64).
            Exit codes: 0 stopped by a signal; 64 usage; 66 an input file (or the PIN file) cannot be read; 69 cannot \
            listen, or the token is absent, refused the PIN, or its module cannot be loaded; 78 invalid configuration \
            or identity (a token key that is missing or does not match the certificate included).
            """
    )

    @Option(
        name: .long, help: ArgumentHelp("The address to listen on.", valueName: "host:port"), transform: Endpoint.parse)
    var listen: Endpoint

    @OptionGroup var tls: TLSServerOptions

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Allow only clients with this SAN URI, SAN DNS name or spki:sha256:<hex> pin (repeatable; needs --client-ca).",
            valueName: "san"
        )
    )
    var allowPeer: [String] = []

    @Flag(name: .customLong("tls12"), help: "Also accept TLS 1.2 (ECDHE with AEAD suites only).")
    var tls12 = false

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds between two looks at the identity, client-CA and CRL files; 0: do not watch.", valueName: "seconds"
        ))
    var identityReloadInterval: Double = 5

    func validate() throws {
        // Here --pin-file is only for a pkcs11: --key (TLSServerOptions lets it open a key store too).
        try validateKeyOptions(key: self.tls.key, passphrase: self.tls.keyPassphrase, pin: self.tls.pin)
        if self.tls.clientCA == nil, !self.allowPeer.isEmpty {
            throw ValidationError("--allow-peer needs --client-ca")
        }
        guard self.identityReloadInterval.isFinite, (0...86_400).contains(self.identityReloadInterval) else {
            throw ValidationError("--identity-reload-interval is 0 to 86400 seconds")
        }
        _ = try peerPolicy(from: self.allowPeer)
    }

    func makeConfiguration() throws -> TLSConfiguration {
        let identity = try self.tls.identity()
        var configuration: TLSConfiguration
        if let clientCA = self.tls.clientCA {
            configuration = .gatewayServer(
                identity: identity,
                clientTrustRoots: .file(clientCA),
                peerPolicy: try peerPolicy(from: self.allowPeer)
            )
            configuration.certificateRevocationLists = self.tls.revocationLists
        } else {
            configuration = .server(identity: identity)
        }
        configuration.allowsTLS12 = self.tls12
        return configuration
    }

    func run() async throws {
        bootstrapLogging(level: .info)
        let logger = makeLogger(label: "samdkit.tls", level: .info)
        let cliLogger = makeLogger(label: "samd-tls.serve", level: .info)

        try requireReadable(self.tls.files)
        let context = try makeContext(try self.makeConfiguration(), logger: logger)

        // Install the signal handlers before listening, so that a signal right after the
        // "listening" line is not lost.
        let stopSignals = SignalWatcher.forStopping()
        let reloadSignals = SignalWatcher.forReloading()

        let server: TLSServer
        do {
            server = try await TLSServer.bind(host: self.listen.host, port: self.listen.port, context: context)
        } catch {
            printError("cannot listen on \(self.listen): \(NetworkErrorText.reason(error))")
            throw ExitCode(ExitStatus.unavailable)
        }
        // Unbuffered: the line is out before anything else happens.
        FileHandle.standardOutput.write(Data("listening on \(Endpoint.describe(server.localAddress))\n".utf8))

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await server.executeThenClose { connections in
                    try await withThrowingDiscardingTaskGroup { connectionGroup in
                        for try await connection in connections {
                            connectionGroup.addTask { await Self.echo(connection, logger: cliLogger) }
                        }
                    }
                }
            }
            group.addTask {
                for await number in stopSignals.signals {
                    cliLogger.notice("\(SignalWatcher.name(number)) received; stopping")
                    // Open connections get a moment to finish; then the process ends anyway.
                    exitAfter(.seconds(3))
                    return
                }
            }
            let identityWatch = ServerIdentityWatch(
                context: context, interval: .seconds(self.identityReloadInterval))
            group.addTask { await identityWatch.run(reloadSignals: reloadSignals, logger: cliLogger) }
            // The first task to end (a stop signal, or the listener failing) stops everything.
            do {
                try await group.next()
            } catch {
                printError("the listener failed: \(error)")
                throw ExitCode(ExitStatus.unavailable)
            }
            group.cancelAll()
        }
        _ = stopSignals
        _ = reloadSignals
    }

    /// Echoes what the client sends until its close_notify, then closes this side.
    static func echo(_ connection: TLSConnection, logger: Logger) async {
        var metadata: Logger.Metadata = [:]
        if let remote = connection.remoteAddress { metadata["remote"] = "\(Endpoint.describe(remote))" }
        if let peer = connection.peer { metadata["peer"] = "\(peer.displayName)" }
        do {
            let echoed = try await connection.executeThenClose { inbound, outbound in
                var total = 0
                for try await chunk in inbound {
                    total += chunk.readableBytes
                    try await outbound.write(chunk)
                }
                outbound.finish()
                return total
            }
            metadata["bytes"] = "\(echoed)"
            logger.info("connection closed", metadata: metadata)
        } catch let error as TLSError {
            metadata.merge([
                "error": "\(error.code)", "origin": "\(error.origin.rawValue)", "reason": "\(error.reason)",
            ]) { $1 }
            if let alert = error.alert { metadata["alert"] = "\(alert)" }
            logger.warning("connection failed", metadata: metadata)
        } catch {
            metadata["error"] = "\(error)"
            logger.warning("connection failed", metadata: metadata)
        }
    }
}
