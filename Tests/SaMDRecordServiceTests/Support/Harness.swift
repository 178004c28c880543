// Fixtures of the record service tests: a test PKI written once per process, throw-away key and record
// stores, an in-process gateway, and the programs (samd-gateway, samd-agent, curl) as child processes —
// loopback only, bounded waits only. Everything is namespaced under `Harness` so that it cannot collide with
// other suites of this test target.

import Foundation
import Logging
import NIOCore
import SaMDCrypto
import SaMDKeys
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

enum Harness {
    static let passphrase = "record service test passphrase"
    /// Argon2id at its cheapest: the tests exercise the gateway, not the KDF.
    static let fastKDF = Argon2id.Parameters(iterations: 1, memoryByteCount: 8 << 10)
    /// The URI SAN of the `shredder` certificate the harness adds to the test PKI.
    static let shredderURI = "spiffe://samd.test/shredder"

    static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// One PKI per test process (P-256, generated now), written to a private directory.
    static let pki: PKI = {
        do { return try PKI() } catch { fatalError("test PKI: \(error)") }
    }()

    /// The test PKI's files, plus a `shredder` client certificate and a `renewedServer` for reload tests.
    final class PKI: Sendable {
        let pki: TestPKI
        let files: TestPKIFiles
        let renewedServer: TestCertificate

        init() throws {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "samd-records-pki-\(UUID().uuidString)", isDirectory: true)
            self.pki = try TestPKI()
            self.files = try self.pki.write(to: directory)
            let shredder = try self.pki.intermediate.issueLeaf(
                commonName: "shredder", sans: [.uri(Harness.shredderURI)], ekus: [.clientAuth])
            self.renewedServer = try self.pki.intermediate.issueLeaf(
                commonName: "gateway.test", sans: TestPKI.serverSANs, ekus: [.serverAuth])
            for (name, certificate) in [("shredder", shredder), ("renewedServer", self.renewedServer)] {
                try Harness.writePrivate(certificate.chainPEM, to: self.files.certificate(name))
                try Harness.writePrivate(certificate.privateKeyPEM, to: self.files.key(name))
            }
        }

        func cert(_ name: String) -> String { self.files.certificate(name) }
        func key(_ name: String) -> String { self.files.key(name) }
        var root: String { self.files.rootCA }
    }

    static func writePrivate(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        chmod(path, 0o600)
    }

    /// A private temporary directory, removed when released.
    final class TemporaryDirectory: Sendable {
        let path: String

        init(_ prefix: String = "samd-records") throws {
            self.path =
                FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(
                atPath: self.path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }

        deinit {
            try? FileManager.default.removeItem(atPath: self.path)
        }

        func file(_ name: String) -> String { self.path + "/" + name }
    }

    /// A key store (made as `samd-vault keys init` makes one, with a cheap KDF) and a record store.
    final class Stores: Sendable {
        let directory: TemporaryDirectory
        let keyStore: FileKeyStore
        let store: EncryptedRecordStore

        var keysPath: String { self.directory.file("keys") }
        var storePath: String { self.directory.file("records") }

        init(maximumRecordByteCount: Int = 64 << 20) throws {
            self.directory = try TemporaryDirectory("samd-records-stores")
            self.keyStore = try FileKeyStore.create(
                at: self.directory.file("keys"),
                passphrase: try SecureBytes(copying: Array(Harness.passphrase.utf8)),
                kdf: Harness.fastKDF,
                logger: Harness.quiet
            )
            self.store = try EncryptedRecordStore(
                directory: self.directory.file("records"),
                keyStore: self.keyStore,
                configuration: .init(maximumRecordByteCount: maximumRecordByteCount),
                logger: Harness.quiet
            )
        }
    }

    /// A mutual-TLS client context presenting the PKI's certificate `name` and trusting its root.
    static func clientContext(_ name: String, logger: Logger = Harness.quiet) throws -> TLSContext {
        try TLSContext(
            configuration: .deviceClient(
                identity: .files(certificateChain: self.pki.cert(name), privateKey: self.pki.key(name)),
                trustRoots: .file(self.pki.root)
            ),
            logger: logger
        )
    }

    /// The gateway's server context: the PKI's `server` certificate, clients chaining to its root.
    static func serverContext(logger: Logger = Harness.quiet) throws -> TLSContext {
        try TLSContext(
            configuration: .gatewayServer(
                identity: .files(certificateChain: self.pki.cert("server"), privateKey: self.pki.key("server")),
                clientTrustRoots: .file(self.pki.root)
            ),
            logger: logger
        )
    }

    /// A gateway in this process on 127.0.0.1, port 0, over fresh stores; `reader` and `shredder` hold their roles.
    final class InProcessGateway: Sendable {
        let stores: Stores
        let gateway: RecordGateway
        let events: LogRecorder

        static func start(
            maximumBodyByteCount: Int = RecordGatewayConfiguration.defaultMaximumBodyByteCount,
            idleTimeout: Double = 60,
            requestTimeout: Double = 120
        ) async throws -> InProcessGateway {
            let stores = try Stores()
            let events = LogRecorder()
            let configuration = RecordGatewayConfiguration(
                tls: try Harness.serverContext(),
                readers: [TestPKI.readerURI],
                shredders: [Harness.shredderURI],
                maximumBodyByteCount: maximumBodyByteCount,
                idleTimeout: .seconds(idleTimeout),
                requestTimeout: .seconds(requestTimeout)
            )
            let gateway = try await RecordGateway.start(
                host: "127.0.0.1",
                port: 0,
                configuration: configuration,
                store: stores.store,
                logger: events.logger
            )
            return InProcessGateway(stores: stores, gateway: gateway, events: events)
        }

        /// A gateway with the configuration `configure` makes around the harness's server TLS context.
        static func start(_ configure: (TLSContext) throws -> RecordGatewayConfiguration) async throws
            -> InProcessGateway
        {
            let stores = try Stores()
            let events = LogRecorder()
            let gateway = try await RecordGateway.start(
                host: "127.0.0.1",
                port: 0,
                configuration: try configure(try Harness.serverContext()),
                store: stores.store,
                logger: events.logger
            )
            return InProcessGateway(stores: stores, gateway: gateway, events: events)
        }

        private init(stores: Stores, gateway: RecordGateway, events: LogRecorder) {
            self.stores = stores
            self.gateway = gateway
            self.events = events
        }

        var port: Int { self.gateway.localAddress.port ?? 0 }

        /// A client presenting the PKI's certificate `name`.
        func client(_ name: String) throws -> RecordClient {
            RecordClient(host: "127.0.0.1", port: self.port, context: try Harness.clientContext(name))
        }

        func stop() async {
            await self.gateway.stop()
        }
    }
}

/// Waits (bounded, polling) until `condition` holds; returns whether it did.
func eventually(timeout: Double = 15, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date() + timeout
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// The shared recording handler, under the name these tests use.
typealias LogRecorder = RecordingLogHandler
