import ArgumentParser
import Foundation
import Logging
import NIOCore
import SaMDExampleSupport
import SaMDTLS
import Synchronization

/// `samd-tls connect`: sends standard input to a TLS server and prints what comes back.
struct Connect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Connect, send standard input, and print what the server sends back.",
        discussion: """
            Reads standard input to its end and sends it; then closes its output (close_notify and a TCP \
            half-close) and prints everything the server sends until the server closes. One line on standard \
            error sums up the handshake.
            The server must prove the name it is reached by: --server-name if given (a DNS name, checked \
            against DNS SANs and sent as SNI), else HOST — an IP address is checked against IP SANs and is \
            not sent as SNI. With --cert and --key the client presents its certificate (mutual TLS). \
            --allow-peer further restricts which verified server is accepted.
            --key may name a key held in a PKCS #11 token (pkcs11:token=…;object=…?module-path=…); its PIN comes from \
            --pin-file or SAMD_PKCS11_PIN, never from the command line (--pin) or the URI (pin-value): both are refused (64).
            Exit codes: 0 ok; 64 usage; 66 an input file (or the PIN file) cannot be read; 69 the server cannot be \
            reached, or the token is absent, refused the PIN, or its module cannot be loaded; \
            76 a TLS or protocol failure (no common version, not TLS, truncated, timeout); 77 a certificate \
            was refused by either side (in TLS 1.3 a server's refusal of the client certificate is learnt on \
            the first read); 78 invalid configuration or identity (this client's own certificate is checked before \
            connecting: an expired one, or one without EKU clientAuth, is 78); 70 an internal error.
            """
    )

    @Argument(help: ArgumentHelp("The server.", valueName: "host:port"), transform: Endpoint.parse)
    var endpoint: Endpoint

    @Option(
        name: .long, help: ArgumentHelp("The CA certificates the server's chain must lead to (PEM).", valueName: "file")
    )
    var ca: String

    @Option(
        name: .long,
        help: ArgumentHelp("This client's certificate chain (PEM, leaf first); needs --key.", valueName: "file"))
    var cert: String?

    @Option(name: .long, help: PrivateKeyArgument.help("This client's private key (needs --cert)"))
    var key: String?

    @OptionGroup var keyPassphrase: KeyPassphraseOption

    @OptionGroup var pin: PKCS11PINOption

    @Option(
        name: .long,
        help: ArgumentHelp("The name the server's certificate must carry (default: HOST).", valueName: "name"))
    var serverName: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Accept only a server with this SAN URI, SAN DNS name or spki:sha256:<hex> pin (repeatable).",
            valueName: "san"
        )
    )
    var allowPeer: [String] = []

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp("Seconds to wait for the TCP connection, more than 0 and at most 600.", valueName: "seconds")
    )
    var connectTimeout: Double = 10

    @Flag(name: .long, help: "Log the library's security events (handshakes) on standard error.")
    var verbose = false

    func validate() throws {
        if (self.cert == nil) != (self.key == nil) {
            throw ValidationError("--cert and --key go together")
        }
        if let name = self.serverName, name.isEmpty {
            throw ValidationError("--server-name needs a value")
        }
        guard self.connectTimeout.isFinite, self.connectTimeout > 0, self.connectTimeout <= 600 else {
            throw ValidationError("--connect-timeout is more than 0 and at most 600 seconds")
        }
        if self.keyPassphrase.file != nil && self.key == nil {
            throw ValidationError("--key-passphrase-file needs --cert and --key")
        }
        try validateKeyOptions(key: self.key, passphrase: self.keyPassphrase, pin: self.pin)
        _ = try peerPolicy(from: self.allowPeer)
    }

    func makeConfiguration() throws -> TLSConfiguration {
        let policy = try peerPolicy(from: self.allowPeer)
        if let cert = self.cert, let key = self.key {
            return .deviceClient(
                identity: try identitySource(
                    certificateChain: cert, key: key, passphrase: self.keyPassphrase, pin: self.pin),
                trustRoots: .file(self.ca),
                peerPolicy: policy
            )
        }
        var configuration = TLSConfiguration.client(trustRoots: .file(self.ca))
        configuration.peerPolicy = policy
        return configuration
    }

    func run() async throws {
        bootstrapLogging(level: self.verbose ? .info : .critical)
        let logger = makeLogger(label: "samdkit.tls", level: self.verbose ? .info : .critical)

        try requireReadable([self.ca, self.cert, self.key.flatMap { try? PrivateKeyArgument.parse($0).path }])
        let context = try makeContext(try self.makeConfiguration(), logger: logger)

        let connection: TLSConnection
        do {
            connection = try await TLSClient.connect(
                host: self.endpoint.host,
                port: self.endpoint.port,
                context: context,
                serverName: self.serverName.map { TLSServerName($0) },
                connectTimeout: .seconds(self.connectTimeout)
            )
        } catch {
            throw connectionFailure(error, while: "cannot connect to \(self.endpoint)")
        }

        let info = connection.info
        var summary = "connected to \(self.endpoint) (\(info.protocolVersion), \(info.cipherSuite)"
        if let peer = info.peer { summary += ", peer \(peer.displayName)" }
        if info.sessionResumed { summary += ", resumed" }
        printError(summary + ")")

        let sendFailure = ErrorBox()
        do {
            try await connection.executeThenClose { inbound, outbound in
                // Standard input is pumped by a task of its own that is not awaited: if the server ends the
                // connection first, a read blocked on standard input must not hold up the exit.
                Task {
                    do {
                        while let chunk = try await StandardStreams.read() {
                            try await outbound.write(ByteBuffer(bytes: chunk))
                        }
                        outbound.finish()
                    } catch {
                        sendFailure.set(error)
                        outbound.finish()
                    }
                }
                for try await chunk in inbound {
                    try StandardStreams.write(chunk)
                }
            }
        } catch {
            throw connectionFailure(error, while: "connection to \(self.endpoint) failed")
        }
        if let error = sendFailure.error {
            throw connectionFailure(error, while: "sending to \(self.endpoint) failed")
        }
    }
}

/// The first error of a task that is not awaited.
final class ErrorBox: Sendable {
    private let storage = Mutex<(any Error)?>(nil)

    func set(_ error: any Error) {
        self.storage.withLock { if $0 == nil { $0 = error } }
    }

    var error: (any Error)? {
        self.storage.withLock { $0 }
    }
}
