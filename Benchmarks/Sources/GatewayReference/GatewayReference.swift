// The gateway load benchmark's reference: the records gateway's PUT and GET routes written as a plain Hummingbird
// application on HummingbirdTLS (swift-nio-ssl, BoringSSL), TLS 1.3 with client certificates required, storing
// through the same EncryptedRecordStore (same key store, same durability) as `samd-gateway serve`. No role
// middleware, no security events: every verified client may read. Prints `listening on 127.0.0.1:PORT` once
// listening; SIGTERM or SIGINT stops it (Hummingbird's service group).

import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import SaMDKeys
import SaMDStore

@main
struct GatewayReference: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "GatewayReference",
        abstract: "The records gateway's PUT and GET routes on HummingbirdTLS (swift-nio-ssl), for bench-compare."
    )

    @Option(help: "The port to listen on, on 127.0.0.1 (0: any free port).")
    var port = 0

    @Option(help: ArgumentHelp("The server's certificate chain (PEM).", valueName: "file"))
    var cert: String

    @Option(help: ArgumentHelp("The server's private key (PEM).", valueName: "file"))
    var key: String

    @Option(help: ArgumentHelp("The root that client certificates must chain to (PEM).", valueName: "file"))
    var ca: String

    @Option(help: ArgumentHelp("The record store directory.", valueName: "dir"))
    var store: String

    @Option(help: ArgumentHelp("The key store directory (samd-vault keys init).", valueName: "dir"))
    var keystore: String

    @Option(help: ArgumentHelp("A file holding the key store's passphrase (mode 0600).", valueName: "file"))
    var passphraseFile: String

    func run() async throws {
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(self.cert).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: self.key, format: .pem)))
        tls.minimumTLSVersion = .tlsv13
        tls.trustRoots = .file(self.ca)
        // Client certificates required and verified against the root (no host name to check on a client).
        tls.certificateVerification = .noHostnameVerification

        let keys = try FileKeyStore(opening: self.keystore, passphrase: try Passphrase.fromFile(self.passphraseFile))
        // As samd-gateway serve opens it: 64 MiB records, durable commits (the defaults).
        let records = try EncryptedRecordStore(directory: self.store, keyStore: keys)

        let router = Router()
        router.put("/records/:subject/:id") { request, context -> Response in
            let subject = try context.parameters.require("subject")
            let id = try context.parameters.require("id")
            let recordType = request.headers[.contentType] ?? "application/octet-stream"
            let body = try await request.body.collect(upTo: records.maximumRecordByteCount)
            let write = try await records.put(
                Array(buffer: body), subject: subject, recordID: id, recordType: recordType)
            return Response(
                status: write.revision == 1 ? .created : .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"revision\":\(write.revision)}")))
        }
        router.get("/records/:subject/:id") { _, context -> Response in
            let subject = try context.parameters.require("subject")
            let id = try context.parameters.require("id")
            let record: StoredRecord
            do {
                record = try await records.get(subject: subject, recordID: id)
            } catch let error as RecordStoreError where error.code == .notFound {
                throw HTTPError(.notFound)
            }
            return Response(
                status: .ok, headers: [.contentType: record.recordType],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: record.payload)))
        }

        var logger = Logger(label: "gateway-reference")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: self.port)),
            onServerRunning: { channel in
                // The line bench-compare waits for, as samd-gateway serve writes it.
                FileHandle.standardOutput.write(
                    Data("listening on 127.0.0.1:\(channel.localAddress?.port ?? 0)\n".utf8))
            },
            logger: logger
        )
        try await app.runService()
    }
}
