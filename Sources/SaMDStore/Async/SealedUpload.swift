import Foundation
package import SaMDCrypto
package import SaMDEnvelope
package import SaMDKeys

/// An envelope a device sealed to the store's recipient key, on its way into a row (both backends' sealed puts):
/// spooled as it arrives into an unnamed file (ciphertext only), checked by opening it chunk by chunk with the
/// recipient private key under the encryption context the store binds — the key commitment and every chunk's tag;
/// each chunk's plaintext is dropped as soon as it authenticated and never leaves the check — then its header
/// rewrapped from the recipient key to the patient's subject key, the payload bytes copied unchanged into a second
/// spool that the commit writes into the row. Used by one task at a time, in turn, hence `@unchecked Sendable`.
package final class SealedUpload: @unchecked Sendable {
    /// The device's envelope, as it arrived.
    package let received: RecordSpool
    private let spoolDirectory: String
    /// The checked envelope's header (recipient mode), once ``check(context:keyStore:maximumRecordByteCount:)``
    /// passed.
    package private(set) var header: EnvelopeHeader?
    /// Its payload's first bytes (salt ‖ key commitment): unique per envelope, what recognises a redelivery.
    package private(set) var payloadPrefix: [UInt8] = []
    private var recipientKey: X25519.PrivateKey?
    static let ioPieceByteCount = 64 << 10

    /// - Throws: `RecordStoreError.storage` when the spool file cannot be made.
    package init(spoolDirectory: String) throws {
        self.received = try RecordSpool(directory: spoolDirectory)
        self.spoolDirectory = spoolDirectory
    }

    /// The envelope size a record of at most `maximumRecordByteCount` bytes seals to at most: the longest header,
    /// salt and commitment, one tag per chunk.
    package static func maximumEnvelopeByteCount(forRecordsOf maximumRecordByteCount: Int) -> Int {
        EncryptedRecordStore.envelopeByteCount(forPayload: maximumRecordByteCount)
    }

    /// Spools `body` to its end, a mebibyte at a time through `run` (the store's threads).
    /// - Throws: `RecordStoreError.limitExceeded` as soon as more than `limit` bytes arrived; what `body` or the
    ///   spool throws.
    package func receive<Body: AsyncSequence>(
        _ body: Body, limit: Int, on run: (@escaping @Sendable () throws -> Void) async throws -> Void
    ) async throws where Body.Element: Collection<UInt8> {
        var pending: [UInt8] = []
        pending.reserveCapacity(EncryptedRecordStore.streamingPieceByteCount)
        var received = 0
        for try await piece in body {
            received += piece.count
            guard received <= limit else {
                throw RecordStoreError(
                    .limitExceeded, "a sealed record is at most \(limit) bytes of envelope; more arrived")
            }
            if piece.withContiguousStorageIfAvailable({ pending.append(contentsOf: $0) }) == nil {
                pending.append(contentsOf: piece)
            }
            if pending.count >= EncryptedRecordStore.streamingPieceByteCount {
                let full = pending
                try await run { try full.withUnsafeBytes { try self.received.append($0) } }
                pending.removeAll(keepingCapacity: true)
            }
        }
        let last = pending
        try await run { try last.withUnsafeBytes { try self.received.append($0) } }
    }

    /// Checks the spooled envelope: a SaMDKit envelope in recipient mode, sealed to a live version of the store's
    /// recipient key, whose plaintext is at most `maximumRecordByteCount` bytes and which opens whole under
    /// `context`. Blocking (file reads, the key store, AEAD): run it on the store's threads.
    /// - Throws: `RecordStoreError` — `notSealedToRecipient` (no envelope, or not in recipient mode);
    ///   `recipientKeyUnknown` (no such recipient version, or destroyed); `envelopeNotAuthentic` (the key
    ///   commitment, a chunk's tag, truncation, trailing bytes — or a context other than the store binds);
    ///   `limitExceeded`; the key store's other errors mapped by `EncryptedRecordStore.keyError(_:)`; `storage`.
    package func check(context: EncryptionContext, keyStore: any KeyStore, maximumRecordByteCount: Int) throws {
        let total = self.received.byteCount
        var first = [UInt8](
            repeating: 0, count: min(total, EnvelopeHeader.maximumByteCount + ChunkedPayload.headerByteCount))
        let count = try first.withUnsafeMutableBytes { try self.received.read(at: 0, into: $0) }
        first.removeSubrange(count...)
        guard first.starts(with: EnvelopeHeader.magic) else {
            throw RecordStoreError(.notSealedToRecipient, "the body is not a SaMDKit envelope")
        }
        let header: EnvelopeHeader
        do {
            header = try EnvelopeHeader.parse(first)
        } catch let error as EnvelopeError where error.code == .truncated {
            throw RecordStoreError(.envelopeNotAuthentic, "the envelope ends inside its header", underlying: error)
        } catch let error as EnvelopeError {
            throw RecordStoreError(
                .notSealedToRecipient, "the body is not an envelope this store reads", underlying: error)
        }
        guard header.wrapMode == .recipient else {
            throw RecordStoreError(
                .notSealedToRecipient, "the envelope is sealed under a KEK, not to the store's recipient key")
        }
        let payloadLength: Int
        do {
            payloadLength = try Envelope.inspect(first, totalByteCount: total).payloadLength ?? 0
        } catch let error as EnvelopeError {
            throw RecordStoreError(.envelopeNotAuthentic, "the envelope is cut short", underlying: error)
        }
        guard payloadLength <= maximumRecordByteCount else {
            throw RecordStoreError(
                .limitExceeded,
                "a record is at most \(maximumRecordByteCount) bytes; this envelope seals \(payloadLength)")
        }
        let privateKey: X25519.PrivateKey
        do {
            privateKey = try keyStore.recipientPrivateKey(for: header.key)
        } catch let error as EnvelopeError where error.code == .keyNotFound || error.code == .keyDestroyed {
            throw RecordStoreError(
                .recipientKeyUnknown, "the envelope is sealed to a recipient key this store does not hold",
                underlying: error)
        } catch let error as EnvelopeError {
            throw EncryptedRecordStore.keyError(error)
        }
        let keys = StaticKeyProvider(recipients: [header.key: privateKey])
        let opener = EnvelopeOpener(context: context, keys: keys)
        do {
            var buffer = [UInt8](repeating: 0, count: Self.ioPieceByteCount)
            var offset = 0
            while offset < total {
                let read = try buffer.withUnsafeMutableBytes { try self.received.read(at: offset, into: $0) }
                guard read > 0 else { throw RecordStoreError(.storage, "the spool file ended early") }
                // Each chunk's plaintext is dropped here: it authenticated, and that is all the check needs.
                try buffer.withUnsafeBytes { try opener.update(UnsafeRawBufferPointer(rebasing: $0[..<read])) { _ in } }
                offset += read
            }
            try opener.finish { _ in }
        } catch let error as EnvelopeError {
            switch error.code {
            case .authenticationFailed, .truncated, .malformed, .limitExceeded, .unsupportedSuite, .invalidContext:
                throw RecordStoreError(
                    .envelopeNotAuthentic,
                    "the envelope does not open under this record's encryption context with that recipient key",
                    underlying: error)
            default:
                throw EncryptedRecordStore.keyError(error)
            }
        }
        self.header = header
        self.payloadPrefix = Array(first[header.byteCount..<(header.byteCount + ChunkedPayload.headerByteCount)])
        self.recipientKey = privateKey
    }

    /// The payload's length in bytes (everything after the header), once checked.
    package var payloadByteCount: Int {
        self.received.byteCount - (self.header?.byteCount ?? 0)
    }

    /// Whether the stored envelope that begins with `storedPrefix` (at least its header and payload prefix) and is
    /// `storedByteCount` bytes long is this upload, stored before: the same payload prefix (salt ‖ key commitment,
    /// unique per envelope) and payload length, and the same record type.
    package func isStored(prefix storedPrefix: [UInt8], byteCount storedByteCount: Int) -> Bool {
        guard self.header != nil, let stored = try? EnvelopeHeader.parse(storedPrefix),
            storedPrefix.count >= stored.byteCount + ChunkedPayload.headerByteCount
        else { return false }
        let prefix = storedPrefix[stored.byteCount..<(stored.byteCount + ChunkedPayload.headerByteCount)]
        return storedByteCount - stored.byteCount == self.payloadByteCount
            && prefix.elementsEqual(self.payloadPrefix)
    }

    /// The envelope to store: the checked envelope's header rewrapped to `key` (the patient's subject key; the same
    /// DEK), then its payload bytes unchanged, in a new spool file. Blocking.
    /// - Throws: `RecordStoreError` — the rewrap's errors mapped by `EncryptedRecordStore.keyError(_:)`; `storage`.
    package func rewrapped(to key: SealingKey) throws -> RecordSpool {
        guard let header = self.header, let recipientKey = self.recipientKey else {
            preconditionFailure("rewrapped(to:) before check passed")
        }
        let newHeader: EnvelopeHeader
        do {
            newHeader = try Envelope.rewrapHeader(
                header, keys: StaticKeyProvider(recipients: [header.key: recipientKey]), to: key)
        } catch let error as EnvelopeError {
            throw EncryptedRecordStore.keyError(error)
        }
        let spool = try RecordSpool(directory: self.spoolDirectory)
        try newHeader.encoded.withUnsafeBytes { try spool.append($0) }
        var buffer = [UInt8](repeating: 0, count: Self.ioPieceByteCount)
        var offset = header.byteCount
        while offset < self.received.byteCount {
            let read = try buffer.withUnsafeMutableBytes { try self.received.read(at: offset, into: $0) }
            guard read > 0 else { throw RecordStoreError(.storage, "the spool file ended early") }
            try buffer.withUnsafeBytes { try spool.append(UnsafeRawBufferPointer(rebasing: $0[..<read])) }
            offset += read
        }
        return spool
    }
}

/// What a sealed put did: the record's revision now and the key it is stored under, and whether that very envelope
/// was stored already (a redelivery: nothing was written).
public struct SealedRecordWriteResult: Sendable, Hashable {
    /// The revision, the subject key the record's DEK is wrapped under, the stored envelope's size.
    public let write: RecordWriteResult
    /// `true` when the record at that address already was this envelope: nothing new was written, and
    /// ``write`` tells the stored record's revision.
    public let alreadyStored: Bool

    package init(write: RecordWriteResult, alreadyStored: Bool) {
        self.write = write
        self.alreadyStored = alreadyStored
    }
}
