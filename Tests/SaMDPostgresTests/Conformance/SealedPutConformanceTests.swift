import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDStore
import Testing

/// `RecordStore.put(sealedEnvelope:)` behaves the same on every backend (SQLite, PostgreSQL with its key store in a
/// directory, PostgreSQL with its key store in the database and KEKs in a token): stored as sealed, read back byte
/// for byte, a redelivery writes nothing, every refusal stores nothing.
@Suite("Conformance: sealed puts")
struct SealedPutConformanceTests {
    static let type = "application/fhir+json"

    /// `bytes` in pieces of uneven sizes, as an upload arrives.
    static func body(_ bytes: [UInt8]) -> AsyncStream<[UInt8]> {
        AsyncStream { continuation in
            var offset = 0
            var size = 1
            while offset < bytes.count {
                let end = min(bytes.count, offset + size)
                continuation.yield(Array(bytes[offset..<end]))
                offset = end
                size = size * 7 % 90_001 + 1
            }
            continuation.finish()
        }
    }

    static func seal(_ plaintext: [UInt8], to recipient: RecipientPublicKey, record: String, type: String = type)
        throws -> [UInt8]
    {
        let context = try EncryptionContext([("subject", "MRN-7"), ("record", record), ("type", type)])
        return try Envelope.seal(plaintext, context: context, to: recipient.sealingKey)
    }

    static func put(_ store: any RecordStore, _ envelope: [UInt8], record: String, type: String = type) async throws
        -> SealedRecordWriteResult
    {
        try await store.put(
            sealedEnvelope: Self.body(envelope), subject: "MRN-7", recordID: record, recordType: type,
            expectedRevision: nil)
    }

    @Test(arguments: RecordStoreBackend.allCases)
    func storedAsSealedReadBackAndRedeliveredOnce(backend: RecordStoreBackend) async throws {
        let conformance = try await backend.make(maximumRecordByteCount: 1 << 20)
        do {
            let store = conformance.store
            let recipient = try conformance.keyStore.recipientPublicKey(createIfAbsent: true)
            let plaintext = try SecureRandom.bytes(count: 300_001)
            let envelope = try Self.seal(plaintext, to: recipient, record: "scan")
            let first = try await Self.put(store, envelope, record: "scan")
            #expect(first.write.revision == 1 && !first.alreadyStored)
            #expect(try await store.get(subject: "MRN-7", recordID: "scan").payload == plaintext)
            let again = try await Self.put(store, envelope, record: "scan")
            #expect(again.alreadyStored && again.write.revision == 1)
            // The same plaintext sealed again is another envelope: stored as a new revision.
            let other = try await Self.put(
                store, try Self.seal(plaintext, to: recipient, record: "scan"), record: "scan")
            #expect(!other.alreadyStored && other.write.revision == 2)
            // The redelivery of the first envelope is no longer what is stored: it is stored again.
            #expect(try await Self.put(store, envelope, record: "scan").write.revision == 3)

            var refused = envelope
            refused[refused.count / 2] ^= 0x80
            let codes: [([UInt8], String, String, RecordStoreError.Code)] = [
                (refused, "tampered", Self.type, .envelopeNotAuthentic),
                (envelope, "elsewhere", Self.type, .envelopeNotAuthentic),
                (
                    try Self.seal(plaintext, to: recipient, record: "typed"), "typed", "text/plain",
                    .envelopeNotAuthentic
                ),
                (Array(envelope.dropLast(1)), "cut", Self.type, .envelopeNotAuthentic),
                (plaintext, "plain", Self.type, .notSealedToRecipient),
                (
                    try Self.seal(
                        plaintext,
                        to: RecipientPublicKey(
                            keyIdentifier: try KeyIdentifier(name: "recipient", version: 2),
                            publicKey: recipient.publicKey), record: "nine"), "nine", Self.type,
                    .recipientKeyUnknown
                ),
                (
                    try Self.seal(try SecureRandom.bytes(count: (1 << 20) + 1), to: recipient, record: "big"), "big",
                    Self.type, .limitExceeded
                ),
            ]
            for (body, record, type, expected) in codes {
                do {
                    _ = try await Self.put(store, body, record: record, type: type)
                    Issue.record("\(record) was stored")
                } catch let error as RecordStoreError {
                    #expect(error.code == expected, "\(record): \(error)")
                }
            }
            #expect(try await store.statistics().recordCount == 1)
        } catch {
            await conformance.close()
            throw error
        }
        await conformance.close()
    }
}
