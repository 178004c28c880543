// A key store restored from before a re-key, beside the database after it: no record opens, and the gateway
// says so as a lasting failure — not as a busy store that a client should try again.

import Foundation
import NIOCore
import SaMDCrypto
import SaMDKeys
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("A key store restored from before a re-key")
struct KeyRestoreMismatchTests {
    @Test func aRecordWhoseKeyVersionIsGoneIs500KeyUnavailableNotA503ToRetry() async throws {
        let stores = try Harness.Stores()
        let payload = Array(#"{"resourceType":"Observation"}"#.utf8)
        try await stores.store.put(payload, subject: "p", recordID: "r", recordType: "application/json")
        let before = stores.directory.file("keys-before")
        try FileManager.default.copyItem(atPath: stores.keysPath, toPath: before)
        let report = try SubjectRekeyJob(store: stores.store).run()
        #expect(report.finished)
        #expect(try await stores.store.get(subject: "p", recordID: "r").payload == payload)

        let restored = try FileKeyStore(
            opening: before, passphrase: try SecureBytes(copying: Array(Harness.passphrase.utf8)), logger: Harness.quiet
        )
        let store = try EncryptedRecordStore(directory: stores.storePath, keyStore: restored, logger: Harness.quiet)
        let events = LogRecorder()
        let gateway = try await RecordGateway.start(
            host: "127.0.0.1",
            port: 0,
            configuration: RecordGatewayConfiguration(tls: try Harness.serverContext(), readers: [TestPKI.readerURI]),
            store: store,
            logger: events.logger
        )
        let reader = RecordClient(
            host: "127.0.0.1", port: try #require(gateway.localAddress.port),
            context: try Harness.clientContext("reader"))
        let response = try await reader.get(subject: "p", recordID: "r")
        #expect(response.status == 500, "\(response)")
        #expect(String(decoding: response.body, as: UTF8.self).contains("key-unavailable"))
        #expect(!RetryPolicy.isRetryable(status: response.status), "a client must not wait for a key that is gone")
        let failure = try #require(events.events("samd.gateway.store-failed").first)
        #expect(failure.metadata["status"] == "500")
        #expect(failure.metadata["error"] == "keyUnavailable")
        await gateway.stop()
    }
}
