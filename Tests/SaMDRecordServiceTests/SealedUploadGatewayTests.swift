// Sealed uploads: a device's envelope, sealed to the store's recipient key, stored by the gateway without
// re-encrypting it — and every envelope that does not open under the record's address refused, nothing stored.

import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("Records gateway: sealed uploads")
struct SealedUploadGatewayTests {
    static let type = "application/fhir+json"

    static func seal(
        _ plaintext: [UInt8], to recipient: RecipientPublicKey, subject: String = "patient-1", record: String = "r-1",
        type: String = Self.type
    ) throws -> [UInt8] {
        let context = try EncryptionContext([("subject", subject), ("record", record), ("type", type)])
        return try Envelope.seal(plaintext, context: context, to: recipient.sealingKey)
    }

    /// `PUT /records/SUBJECT/RECORD` of `body` as a sealed upload (or with `contentType`), over a fresh connection.
    static func upload(
        port: Int, _ body: [UInt8], subject: String = "patient-1", record: String = "r-1", type: String = Self.type,
        contentType: String = "application/vnd.samdkit.envelope"
    ) async throws -> RawClient.Answer {
        let head =
            "PUT /records/\(subject)/\(record) HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: \(contentType)\r\n"
            + "samd-record-type: \(type)\r\ncontent-length: \(body.count)\r\nconnection: close\r\n\r\n"
        return try await RawClient.exchange(
            port: port, context: try Harness.clientContext("device"), [Array(head.utf8), body],
            until: RawClient.responses(1))
    }

    @Test func aSealedUploadIsStoredAsSealedReadByteForByteAndARedeliveryIsRecognised() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let recipient = try gateway.stores.keyStore.recipientPublicKey(createIfAbsent: true)
        let (name, record) = try Harness.medicalRecords(["MR2_UNCR.dcm"])[0]
        let envelope = try Self.seal(record, to: recipient, record: name, type: "application/dicom")
        let stored = try await Self.upload(port: gateway.port, envelope, record: name, type: "application/dicom")
        #expect(stored.statuses == [201], "\(stored)")
        #expect(stored.text.hasSuffix("{\"revision\":1}"), "\(stored)")
        let reader = try gateway.client("reader")
        let read = try await reader.get(subject: "patient-1", recordID: name)
        #expect(read.status == 200)
        #expect(read.contentType == "application/dicom")
        #expect(read.body == record, "the sealed record does not read back identical")
        let direct = try await gateway.stores.store.get(subject: "patient-1", recordID: name)
        #expect(direct.payload == record)

        let again = try await Self.upload(port: gateway.port, envelope, record: name, type: "application/dicom")
        #expect(again.statuses == [200], "\(again)")
        #expect(RecordResponseHeaderTests.headers(again.text)["samd-already-stored"] == "true", "\(again)")
        #expect(again.text.hasSuffix("{\"revision\":1}"), "\(again)")
        #expect(try await gateway.stores.store.get(subject: "patient-1", recordID: name).revision == 1)
        #expect(gateway.events.events("samd.gateway.sealed-upload-stored").count == 2)
        await reader.close()
        await gateway.stop()
    }

    @Test func everyRefusalHasItsStatusAndStoresNothing() async throws {
        let gateway = try await Harness.InProcessGateway.start(maximumBodyByteCount: 200_000)
        let recipient = try gateway.stores.keyStore.recipientPublicKey(createIfAbsent: true)
        let plaintext = try SecureRandom.bytes(count: 50_000)
        let envelope = try Self.seal(plaintext, to: recipient)
        let headerCount = try EnvelopeHeader.parse(envelope).byteCount
        func flipped(_ index: Int) -> [UInt8] {
            var copy = envelope
            copy[index] ^= 0x04
            return copy
        }
        let context = try EncryptionContext([("subject", "patient-1"), ("record", "r-1"), ("type", Self.type)])
        let kekMode = try Envelope.seal(
            plaintext, context: context,
            to: .keyEncryptionKey(try KeyIdentifier(name: "records", version: 1), try SecureBytes(randomByteCount: 32)))
        let unknown = RecipientPublicKey(
            keyIdentifier: try KeyIdentifier(name: "recipient", version: 7), publicKey: recipient.publicKey)
        let cases: [(String, [UInt8], String, String, Int, String?)] = [
            ("a chunk's byte", flipped(headerCount + 56 + 20_000), "r-1", Self.type, 400, "envelope-not-authentic"),
            ("a header byte", flipped(headerCount - 3), "r-1", Self.type, 400, "envelope-not-authentic"),
            ("truncated", Array(envelope.dropLast(100)), "r-1", Self.type, 400, "envelope-not-authentic"),
            ("trailing bytes", envelope + [1, 2, 3], "r-1", Self.type, 400, "envelope-not-authentic"),
            ("another record", envelope, "r-2", Self.type, 400, "envelope-not-authentic"),
            ("another type", envelope, "r-1", "text/plain", 400, "envelope-not-authentic"),
            (
                "an unknown version", try Self.seal(plaintext, to: unknown), "r-1", Self.type, 400,
                "recipient-key-unknown"
            ),
            ("a KEK-mode envelope", kekMode, "r-1", Self.type, 415, "not-sealed-to-recipient"),
            ("not an envelope", plaintext, "r-1", Self.type, 415, "not-sealed-to-recipient"),
            (
                "too large", try Self.seal(try SecureRandom.bytes(count: 300_000), to: recipient), "r-1", Self.type,
                413,
                "payload-too-large"
            ),
            ("a bad record type", envelope, "r-1", "not a type", 400, "invalid-request"),
        ]
        for (name, body, record, type, status, code) in cases {
            let answer = try await Self.upload(port: gateway.port, body, record: record, type: type)
            #expect(answer.statuses == [status], "\(name): \(answer)")
            if let code { #expect(answer.text.contains("\"error\":\"\(code)\""), "\(name): \(answer)") }
        }
        #expect(try await gateway.stores.store.statistics().recordCount == 0)
        let refused = gateway.events.events("samd.gateway.sealed-upload-refused")
        #expect(refused.count == 9, "\(refused)")
        #expect(refused.allSatisfy { $0.metadata["reason"] != nil && $0.metadata["status"] != nil })
        #expect(!gateway.events.allText.contains("patient-1"), "an id in the events")
        // The intact one is stored.
        #expect(try await Self.upload(port: gateway.port, envelope).statuses == [201])
        #expect(try await gateway.stores.store.statistics().recordCount == 1)
        await gateway.stop()
    }

    /// `samd-vault keys recipient` and a `samd-gateway` process over the same key store: first use makes the key,
    /// a second run gives the same one, `--rotate` a new one while envelopes sealed to the old one are still
    /// accepted, and `--destroy` makes them unknown.
    @Test func theRecipientCommandAndAGatewayProcess() async throws {
        let stores = try Harness.Stores()
        let work = try Harness.TemporaryDirectory()
        let vault = try ProgramLocations.binary("samd-vault")
        func vaultRun(_ arguments: [String]) async throws -> ChildProcess.Run {
            try await ChildProcess.run(
                vault, ["keys", "recipient", "--keystore", stores.keysPath] + arguments,
                environment: ["SAMD_PASSPHRASE": Harness.passphrase])
        }
        let file = work.file("recipient.json")
        let first = try await vaultRun(["--out", file])
        #expect(first.status == 0, "\(first)")
        #expect(first.output.hasPrefix("recipient:1 written to"), "\(first)")
        let key1 = try RecipientPublicKey.read(from: file)
        #expect(key1.keyIdentifier.description == "recipient:1")
        var info = stat()
        #expect(stat(file, &info) == 0 && info.st_mode & 0o777 == 0o644)
        // No key bytes printed.
        #expect(!first.output.contains(Data(key1.publicKey.rawRepresentation).base64EncodedString()))
        let second = try await vaultRun(["--out", file])
        #expect(second.status == 0)
        #expect(try RecipientPublicKey.read(from: file) == key1)
        #expect(try await vaultRun([]).status == 64)
        #expect(try await vaultRun(["--destroy", "records:1"]).status == 64)
        #expect(try await vaultRun(["--destroy", "recipient:1", "--rotate"]).status == 64)

        let gateway = try await Harness.GatewayProcess(Harness.GatewayProcess.standardArguments(stores))
        defer { gateway.stop() }
        let queued = try Self.seal(Array("sealed to recipient:1".utf8), to: key1, record: "queued")
        let rotated = try await vaultRun(["--out", file, "--rotate"])
        #expect(rotated.status == 0, "\(rotated)")
        let key2 = try RecipientPublicKey.read(from: file)
        #expect(key2.keyIdentifier.description == "recipient:2")
        let fresh = try Self.seal(Array("sealed to recipient:2".utf8), to: key2, record: "fresh")
        #expect(try await Self.upload(port: gateway.port, fresh, record: "fresh").statuses == [201])
        #expect(try await Self.upload(port: gateway.port, queued, record: "queued").statuses == [201])
        #expect(try await vaultRun(["--destroy", "recipient:2"]).status != 0, "the current version was destroyed")
        let destroyed = try await vaultRun(["--destroy", "recipient:1"])
        #expect(destroyed.status == 0, "\(destroyed)")
        let late = try Self.seal(Array("still in an outbox".utf8), to: key1, record: "late")
        let refused = try await Self.upload(port: gateway.port, late, record: "late")
        #expect(refused.statuses == [400], "\(refused)")
        #expect(refused.text.contains("recipient-key-unknown"))
        let reader = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("reader"))
        #expect(
            try await reader.get(subject: "patient-1", recordID: "queued").body == Array("sealed to recipient:1".utf8))
        await reader.close()
    }
}
