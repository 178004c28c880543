// SaMDHummingbird against independent clients: curl (libcurl over the system OpenSSL) with and without a client
// certificate. The server is a Hummingbird application on 127.0.0.1, the PKI generated now.

import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import SaMDHummingbird
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import ServiceLifecycle
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Hummingbird over SaMDTLS")
struct HummingbirdTLSTests {
    /// One PKI for the suite, written to a private directory.
    static let pki: (pki: TestPKI, files: TestPKIFiles) = {
        do {
            let pki = try TestPKI()
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "samd-hummingbird-\(UUID().uuidString)", isDirectory: true)
            return (pki, try pki.write(to: directory))
        } catch {
            fatalError("test PKI: \(error)")
        }
    }()

    static func serverContext(logger: Logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        throws -> TLSContext
    {
        let files = Self.pki.files
        return try TLSContext(
            configuration: .gatewayServer(
                identity: .files(certificateChain: files.certificate("server"), privateKey: files.key("server")),
                clientTrustRoots: .file(files.rootCA)),
            logger: logger)
    }

    /// A client context presenting `name`'s certificate (`device`, `reader`), trusting the suite's root.
    static func clientContext(_ name: String) throws -> TLSContext {
        let files = Self.pki.files
        return try TLSContext(
            configuration: .deviceClient(
                identity: .files(certificateChain: files.certificate(name), privateKey: files.key(name)),
                trustRoots: .file(files.rootCA)))
    }

    /// curl with `client`'s certificate (or none), `--max-time 20`: its output (`-w` appended) and status.
    static func curl(_ client: String?, _ arguments: [String]) async throws -> ChildProcess.Run {
        let files = Self.pki.files
        var tls = ["--silent", "--show-error", "--max-time", "20", "--cacert", files.rootCA]
        if let client { tls += ["--cert", files.certificate(client), "--key", files.key(client)] }
        return try await ChildProcess.run(try ProgramLocations.requiredTool("curl"), tls + arguments)
    }

    /// Runs `application` until `body` returns, then shuts it down gracefully; `body` gets the bound port.
    static func serving<Responder: HTTPResponder>(
        router: Router<Responder.Context>? = nil,
        _ make: (_ onServerRunning: @escaping @Sendable (any Channel) async -> Void) throws -> Application<Responder>,
        _ body: (Int) async throws -> Void
    ) async throws {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let application = try make { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
        }
        let services = ServiceGroup(
            configuration: .init(services: [application], gracefulShutdownSignals: [], logger: Logger(label: "test")))
        try await withThrowingTaskGroup { group in
            group.addTask { try await services.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            try await body(port)
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }

    @Test func theREADMEAppServesADeviceItsOwnNameAndRefusesAClientWithoutACertificate() async throws {
        let files = Self.pki.files
        let port = try LoopbackPort.unused()
        let server = Task {
            try await ReadmeApp.serve(
                certificate: files.certificate("server"), key: files.key("server"), deviceCA: files.rootCA, port: port)
        }
        defer { server.cancel() }
        let url = "https://127.0.0.1:\(port)/hello"
        var hello = try await Self.curl("device", ["--retry", "20", "--retry-connrefused", "--retry-delay", "1", url])
        #expect(hello.status == 0, "\(hello)")
        #expect(hello.output == "hello, \(TestPKI.deviceURI)\n", "\(hello)")
        hello = try await Self.curl(nil, ["-o", "/dev/null", "-w", "%{http_code}", url])
        #expect(hello.status != 0 && hello.output != "200", "no client certificate, yet: \(hello)")
        server.cancel()
        _ = await server.result
    }

    @Test func theREADMEShowsTheAppAsCompiled() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        func lines(_ text: String) -> [String] {
            text.split(separator: "\n", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
        }
        let source = try String(
            contentsOf: root.appendingPathComponent("Tests/SaMDHummingbirdTests/ReadmeApp.swift"), encoding: .utf8)
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let compiled = lines(source)
        let begin = try #require(compiled.firstIndex(of: "// README: begin"))
        let end = try #require(compiled.firstIndex(of: "// README: end"))
        let app = Array(compiled[(begin + 1)..<end])
        #expect(app.count <= 10)
        let shown = lines(readme)
        let first = shown.firstIndex(of: app[0])
        #expect(first != nil, "README.md does not show the Hummingbird app")
        if let first {
            #expect(Array(shown[first..<min(shown.count, first + app.count)]) == app, "README.md shows another app")
        }
    }

    @Test func theRoleMiddlewareAdmitsByTheVerifiedCertificateAndLogsARefusal() async throws {
        let events = RecordingLogHandler()
        let policy = try TLSRolePolicy<String>(
            everyClient: ["device"], grants: ["reader": .init(sans: [TestPKI.readerURI])])
        let router = Router(context: BasicTLSRequestContext.self)
        router.group().add(middleware: TLSRoleMiddleware("reader", policy: policy, logger: events.logger))
            .get("records/:id") { _, context in "read by \(context.tlsPeer?.displayName ?? "?")" }
        try await Self.serving { onServerRunning in
            Application(
                router: router, server: try .samdTLS(context: try Self.serverContext()),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: onServerRunning)
        } _: { port in
            let url = "https://127.0.0.1:\(port)/records/42"
            let reader = try await Self.curl("reader", ["-w", " %{http_code}", url])
            #expect(reader.output == "read by \(TestPKI.readerURI) 200", "\(reader)")
            let device = try await Self.curl("device", ["-w", " %{http_code}", url])
            #expect(
                device.output
                    == #"{"error":"forbidden","message":"this client certificate does not hold the reader role"} 403"#,
                "\(device)")
        }
        let refused = try #require(events.events("samd.http.request-refused").first)
        #expect(refused.metadata["peer"] == TestPKI.deviceURI)
        #expect(refused.metadata["role"] == "reader")
        #expect(refused.metadata["route"] == "/records/{id}", "the route's template, never the path")
        #expect(refused.metadata["status"] == "403")
        #expect(!events.allText.contains("/records/42"))
    }

    /// Each connection's requests see that connection's client, never another's: two clients, each on one
    /// kept-alive connection, interleaved.
    @Test func eachConnectionSeesItsOwnClient() async throws {
        let router = Router(context: BasicTLSRequestContext.self)
        router.get("whoami") { _, context in
            "\(context.tlsPeer?.displayName ?? "none") resumed=\(context.tlsConnection?.sessionResumed ?? false)\n"
        }
        try await Self.serving { onServerRunning in
            Application(
                router: router, server: try .samdTLS(context: try Self.serverContext()),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: onServerRunning)
        } _: { port in
            let urls = Array(repeating: "https://127.0.0.1:\(port)/whoami", count: 20)
            async let device = Self.curl("device", urls)
            async let reader = Self.curl("reader", urls)
            let (fromDevice, fromReader) = try await (device, reader)
            #expect(fromDevice.output == String(repeating: "\(TestPKI.deviceURI) resumed=false\n", count: 20))
            #expect(fromReader.output == String(repeating: "\(TestPKI.readerURI) resumed=false\n", count: 20))
        }
    }

    /// A connection older than its maximum age finishes its request and closes; the next request is a new
    /// connection (a new handshake under the trust in force then).
    @Test func aConnectionPastItsMaximumAgeIsClosedAfterItsRequest() async throws {
        let handshakes = RecordingLogHandler()
        let router = Router(context: BasicTLSRequestContext.self)
        router.get("slow") { _, _ in
            try await Task.sleep(for: .milliseconds(1_500))
            return "done\n"
        }
        try await Self.serving { onServerRunning in
            Application(
                router: router,
                server: try .samdTLS(
                    context: try Self.serverContext(logger: handshakes.logger),
                    configuration: .init(maximumConnectionAge: .seconds(1))),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: onServerRunning)
        } _: { port in
            // One curl, two requests: the first outlives the connection's age, so the second needs a new one.
            let url = "https://127.0.0.1:\(port)/slow"
            let run = try await Self.curl("device", ["-w", "%{num_connects}\n", url, url])
            #expect(run.output == "done\n1\ndone\n1\n", "\(run)")
        }
        #expect(handshakes.events("samd.tls.handshake-succeeded").count == 2)
    }

    /// The identity reload runs as one of the application's services: a certificate and key replaced on disk
    /// are served to the next connection, and the service stops with the application.
    @Test func theIdentityReloadServiceServesARenewedCertificate() async throws {
        let files = Self.pki.files
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-hummingbird-reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: directory) }
        let cert = directory.appendingPathComponent("server.pem").path
        let key = directory.appendingPathComponent("server.key").path
        try FileManager.default.copyItem(atPath: files.certificate("server"), toPath: cert)
        try FileManager.default.copyItem(atPath: files.key("server"), toPath: key)
        let context = try TLSContext(
            configuration: .gatewayServer(
                identity: .files(certificateChain: cert, privateKey: key), clientTrustRoots: .file(files.rootCA)))
        let client = try Self.clientContext("device")
        func servedSPKI(_ port: Int) async throws -> [UInt8]? {
            let connection = try await TLSClient.connect(host: "127.0.0.1", port: port, context: client)
            let spki = connection.peer?.spkiSHA256
            try? await connection.executeThenClose { _, outbound in outbound.finish() }
            return spki
        }
        let renewed = try Self.pki.pki.intermediate.issueLeaf(
            commonName: "gateway.test", sans: TestPKI.serverSANs, ekus: [.serverAuth])
        let router = Router(context: BasicTLSRequestContext.self)
        try await Self.serving { onServerRunning in
            var application = Application(
                router: router, server: try .samdTLS(context: context),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)), onServerRunning: onServerRunning)
            application.addServices(
                TLSIdentityReloadService(TLSIdentityReloader(context: context, interval: .milliseconds(100))))
            return application
        } _: { port in
            #expect(try await servedSPKI(port) == Self.pki.pki.server.spkiSHA256())
            // The key first, then the certificate: the reload in between refuses the mismatched pair and the old
            // identity keeps serving; the next change loads the new pair.
            try Data(renewed.privateKeyPEM.utf8).write(to: URL(fileURLWithPath: key + ".new"))
            try Data(renewed.chainPEM.utf8).write(to: URL(fileURLWithPath: cert + ".new"))
            #expect(rename(key + ".new", key) == 0 && rename(cert + ".new", cert) == 0)
            var served: [UInt8]?
            for _ in 0..<100 {
                served = try await servedSPKI(port)
                if served == renewed.spkiSHA256() { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(served == renewed.spkiSHA256(), "the renewed certificate was not served within 10 s")
        }
    }

    @Test func aClientContextCannotServe() throws {
        let client = try Self.clientContext("device")
        #expect(throws: TLSError(.invalidConfiguration, "")) { try HTTPServerBuilder.samdTLS(context: client) }
    }
}
