import ArgumentParser
import Foundation
import Logging
import NIOCore
import SaMDExampleStorage
import SaMDExampleSupport
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS

/// `samd-gateway serve`: the records gateway.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve records over HTTPS with client certificates required.",
        discussion: """
            Prints "listening on HOST:PORT" (the real port when 0 was asked for) as the first line of standard \
            output. Every client must present a certificate chaining to --client-ca with EKU clientAuth: such a client \
            is a device and may store records and ask for /healthz. Reading needs a certificate whose SAN is \
            given with --reader, shredding one given with --shredder (a value with ':' is a SAN URI, compared \
            exactly; anything else a SAN DNS name). With --reader-ca (--shredder-ca) those SANs count only for a \
            certificate issued under one of the CA certificates in that file (its verified chain goes through \
            a certificate with the CA's key): issue staff certificates from a CA of their own, so that the \
            device CA cannot mint a reader.
            The certificate, key, CA and CRL files are watched and reloaded when they change \
            (--identity-reload-interval, default 5 s; 0 stops watching); SIGHUP reloads them at once. A \
            refused reload leaves the current identity serving. After a reload, every open connection whose \
            client no longer verifies (revoked by a new CRL, its CA removed) answers its request in flight with \
            Connection: close and closes; so does a connection whose client certificate expires, at its notAfter, \
            and one older than --max-connection-age. At most --max-connections connections are open at once (by \
            default fewer than the descriptor limit allows); more are closed at once. SIGINT or SIGTERM stops: requests in progress \
            finish (at most 10 s), then the gateway exits 0. Security events are logged on standard error.
            The key store's KEKs may be under a passphrase (--passphrase-file or SAMD_PASSPHRASE) or in a PKCS #11 \
            token (made with samd-vault keys init --kek pkcs11:…): then the token's user PIN comes from --pin-file \
            or SAMD_PKCS11_PIN — the same PIN as a pkcs11: --key, which may be in the same token (one module, one \
            login). A wrong PIN or an absent token: exit 69, nothing written.
            """ + "\nExit codes (sysexits): " + GatewayExitCodes.text(GatewayExitCodes.serve)
    )

    @Option(
        name: .long, help: ArgumentHelp("The address to listen on (port 0: any free port).", valueName: "host:port"),
        transform: Endpoint.parse)
    var listen: Endpoint

    @OptionGroup var tls: TLSServerOptions

    @OptionGroup var stores: StoreOptions

    @Option(
        name: .customLong("reader"),
        help: ArgumentHelp(
            "Grant the read role to the client with this SAN URI or DNS name (repeatable).", valueName: "san")
    )
    var readers: [String] = []

    @Option(
        name: .customLong("shredder"),
        help: ArgumentHelp(
            "Grant the shred role to the client with this SAN URI or DNS name (repeatable).", valueName: "san")
    )
    var shredders: [String] = []

    @Option(
        name: .customLong("reader-ca"),
        help: ArgumentHelp(
            "Bind the read role to these issuing CAs (PEM, repeatable): a --reader SAN counts only when the client's verified chain goes through one of them.",
            valueName: "file"
        )
    )
    var readerCAs: [String] = []

    @Option(
        name: .customLong("shredder-ca"),
        help: ArgumentHelp(
            "Bind the shred role to these issuing CAs (PEM, repeatable): a --shredder SAN counts only when the client's verified chain goes through one of them.",
            valueName: "file"
        )
    )
    var shredderCAs: [String] = []

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "The largest record accepted, in bytes (default 64 MiB; at most 512 MiB, the store's bound).",
            valueName: "bytes")
    )
    var maxBodyBytes: Int = RecordGatewayConfiguration.defaultMaximumBodyByteCount

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "Request body bytes all connections together may hold in memory (default: the larger of 256 MiB and --max-body-bytes); past it, 503.",
            valueName: "bytes"
        )
    )
    var maxBufferedBodyBytes: Int?

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "The slowest a request body may arrive, in bytes per second, measured over windows of 10 s from the request head (default 1024; 0: not checked); slower: 408 and closed.",
            valueName: "bytes"
        )
    )
    var minBodyBytesPerSecond: Int = RecordGatewayConfiguration.defaultMinimumBodyBytesPerSecond

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds a connection may wait for its next request (default 30; more than 0, at most 86400).",
            valueName: "seconds")
    )
    var idleTimeout: Double = Double(RecordGatewayConfiguration.defaultIdleTimeout.components.seconds)

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds a connection may carry requests (default 3600; more than 0, at most 86400); then it closes after the request in flight.",
            valueName: "seconds"
        )
    )
    var maxConnectionAge: Double = Double(RecordGatewayConfiguration.defaultMaximumConnectionAge.components.seconds)

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds a request may take to arrive, head to end of body (more than 0, at most 86400).",
            valueName: "seconds")
    )
    var requestTimeout: Double = 120

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "The most connections open at once (default: the descriptor limit less those open and a reserve); more are closed at once.",
            valueName: "count"
        )
    )
    var maxConnections: Int?

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds between two looks at the certificate, key, CA and CRL files (at most 86400); 0: do not watch.",
            valueName: "seconds"
        )
    )
    var identityReloadInterval: Double = 5

    func validate() throws {
        _ = try self.tls.requiredClientCA()
        let largest = EncryptedRecordStore.largestMaximumRecordByteCount
        guard (1...largest).contains(self.maxBodyBytes) else {
            throw ValidationError("--max-body-bytes is 1 to \(largest) (512 MiB, the record store's bound)")
        }
        if let buffered = self.maxBufferedBodyBytes, buffered < self.maxBodyBytes {
            throw ValidationError("--max-buffered-body-bytes is at least --max-body-bytes (\(self.maxBodyBytes))")
        }
        if let connections = self.maxConnections, connections < 1 {
            throw ValidationError("--max-connections is at least 1")
        }
        let fastest = RecordGatewayConfiguration.largestMinimumBodyBytesPerSecond
        guard (0...fastest).contains(self.minBodyBytesPerSecond) else {
            throw ValidationError("--min-body-bytes-per-second is 0 to \(fastest)")
        }
        guard self.identityReloadInterval.isFinite, (0...86_400).contains(self.identityReloadInterval) else {
            throw ValidationError("--identity-reload-interval is 0 to 86400 seconds")
        }
        guard self.requestTimeout.isFinite, self.requestTimeout > 0, self.requestTimeout <= 86_400 else {
            throw ValidationError("--request-timeout is more than 0 and at most 86400 seconds")
        }
        // Below a second, a connection is closed before it can carry a request: the gateway would answer nothing.
        for (name, value) in [("--idle-timeout", self.idleTimeout), ("--max-connection-age", self.maxConnectionAge)] {
            guard value.isFinite, value >= 1, value <= 86_400 else {
                throw ValidationError("\(name) is 1 to 86400 seconds")
            }
        }
        if !self.readerCAs.isEmpty, self.readers.isEmpty {
            throw ValidationError("--reader-ca binds the read role: give --reader too")
        }
        if !self.shredderCAs.isEmpty, self.shredders.isEmpty {
            throw ValidationError("--shredder-ca binds the shred role: give --shredder too")
        }
        for (option, values) in [("--reader", self.readers), ("--shredder", self.shredders)] {
            for value in values {
                guard !value.isEmpty, !value.contains(where: \.isWhitespace) else {
                    throw ValidationError("\(option) needs a SAN URI or DNS name without spaces")
                }
                if case .ipAddress = TLSServerName(value) {
                    throw ValidationError(
                        "\(option) \(value): an IP address cannot grant a role; give the client's SAN URI or DNS name")
                }
            }
        }
    }

    func makeTLSConfiguration() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.gatewayServer(
            identity: try self.tls.identity(),
            clientTrustRoots: .file(try self.tls.requiredClientCA())
        )
        configuration.certificateRevocationLists = self.tls.revocationLists
        return configuration
    }

    func run() async throws {
        try await withListedExitCodes { try await self.serve() }
    }

    private func serve() async throws {
        bootstrapLogging(level: .info)
        let cliLogger = Logger(label: "samd-gateway.serve")

        try requireReadable(self.tls.files + self.readerCAs + self.shredderCAs)
        let context: TLSContext
        let readerIssuers: [TLSIssuingAuthority]
        let shredderIssuers: [TLSIssuingAuthority]
        do {
            context = try TLSContext(
                configuration: try self.makeTLSConfiguration(), logger: Logger(label: "samdkit.tls"))
            readerIssuers = try self.readerCAs.flatMap { try TLSIssuingAuthority.load(.file($0)) }
            shredderIssuers = try self.shredderCAs.flatMap { try TLSIssuingAuthority.load(.file($0)) }
        } catch let error as TLSError {
            printError("\(error.code): \(error.reason)")
            throw ExitCode(ExitStatus.code(forSetup: error))
        }
        // One --pin-file for the pkcs11: key and a key store in a token: one token, one login.
        let keyInToken: Bool
        if case .token = try PrivateKeyArgument.parse(self.tls.key) { keyInToken = true } else { keyInToken = false }
        let storage = try await self.stores.open(
            maximumRecordByteCount: max(self.maxBodyBytes, RecordGatewayConfiguration.defaultMaximumBodyByteCount),
            pinFile: self.tls.pin.file, pinFileHasOtherUse: keyInToken)
        let store = storage.store
        let configuration = RecordGatewayConfiguration(
            tls: context,
            readers: self.readers,
            shredders: self.shredders,
            readerIssuers: readerIssuers,
            shredderIssuers: shredderIssuers,
            maximumBodyByteCount: self.maxBodyBytes,
            maximumBufferedBodyByteCount: self.maxBufferedBodyBytes,
            minimumBodyBytesPerSecond: self.minBodyBytesPerSecond,
            // The options are seconds; the configuration takes durations.
            idleTimeout: .seconds(self.idleTimeout),
            requestTimeout: .seconds(self.requestTimeout),
            maximumConnectionAge: .seconds(self.maxConnectionAge),
            maximumConnections: self.maxConnections
        )

        // Installed before listening, so that a signal right after the "listening" line is not lost.
        let stopSignals = SignalWatcher.forStopping()
        let reloadSignals = SignalWatcher.forReloading()

        let gateway: RecordGateway
        do {
            gateway = try await RecordGateway.start(
                host: self.listen.host,
                port: self.listen.port,
                configuration: configuration,
                store: store,
                logger: Logger(label: "samdkit.gateway")
            )
        } catch let error as RecordServiceError {
            printError("\(error.code): \(error.reason)")
            throw ExitCode(ExitStatus.configuration)
        } catch {
            printError("cannot listen on \(self.listen): \(NetworkErrorText.reason(error))")
            throw ExitCode(ExitStatus.unavailable)
        }
        let address = gateway.localAddress
        printLine(
            "listening on \(Endpoint.format(host: address.ipAddress ?? self.listen.host, port: address.port ?? self.listen.port))"
        )

        let identityWatch = ServerIdentityWatch(context: context, interval: .seconds(self.identityReloadInterval))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await identityWatch.run(reloadSignals: reloadSignals, logger: cliLogger) }
            for await number in stopSignals.signals {
                cliLogger.notice("\(SignalWatcher.name(number)) received; stopping")
                break
            }
            // Should a connection not close, the process ends anyway.
            exitAfter(configuration.shutdownGracePeriod + .seconds(10))
            await gateway.stop()
            await storage.close()
            group.cancelAll()
        }
        withExtendedLifetime((stopSignals, reloadSignals)) {}
    }
}
