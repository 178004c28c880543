import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

@testable import SaMDEnvelope

/// Every region of an envelope, changed: refused with the right error, and no plaintext released —
/// neither by the whole-buffer API nor (beyond chunks that authenticated before the damage) by the
/// streaming opener.
@Suite("Envelope tampering")
struct EnvelopeTamperTests {
    /// A 40 000-byte record: chunks of 16 384, 16 384 and 7 232 bytes.
    static let record = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    static let context = Fixtures.context()

    static func sealed() throws -> [UInt8] {
        try Envelope.seal(record, context: context, to: Fixtures.sealingKey)
    }

    /// Opens through the streaming opener in 1000-byte pieces; returns the bytes released and the error.
    static func streamed(_ envelope: [UInt8], context: EncryptionContext = context) -> ([UInt8], EnvelopeError.Code?) {
        let opener = EnvelopeOpener(context: context, keys: Fixtures.keys)
        var released: [UInt8] = []
        do {
            for start in stride(from: 0, to: envelope.count, by: 1000) {
                try envelope[start..<min(start + 1000, envelope.count)].withUnsafeBytes {
                    try opener.update($0) { released += $0 }
                }
            }
            try opener.finish { released += $0 }
            return (released, nil)
        } catch let error as EnvelopeError {
            // Failed once, fails again.
            #expect(throws: EnvelopeError.self) { try opener.finish { _ in } }
            return (released, error.code)
        } catch {
            return (released, nil)
        }
    }

    /// Pieces of at least a whole sealed chunk are opened in place, without the copy into the opener's buffer:
    /// the same plaintext comes out, and a damaged chunk still releases nothing of itself or what follows.
    @Test(arguments: [16_399, 16_400, 16_401, 65_536, 1 << 20])
    func largePiecesOpenInPlaceWithTheSameGuarantees(pieceByteCount: Int) throws {
        let envelope = try Self.sealed()
        func stream(_ bytes: [UInt8]) -> ([UInt8], EnvelopeError.Code?) {
            let opener = EnvelopeOpener(context: Self.context, keys: Fixtures.keys)
            var released: [UInt8] = []
            do {
                for start in stride(from: 0, to: bytes.count, by: pieceByteCount) {
                    try bytes[start..<min(start + pieceByteCount, bytes.count)].withUnsafeBytes {
                        try opener.update($0) { released += $0 }
                    }
                }
                try opener.finish { released += $0 }
                return (released, nil)
            } catch let error as EnvelopeError {
                return (released, error.code)
            } catch {
                return (released, nil)
            }
        }
        #expect(stream(envelope) == (Self.record, nil))
        // Damage the second chunk (after the header, the 56-byte payload header and the first sealed chunk).
        let header = try EnvelopeHeader.parse(envelope)
        var damaged = envelope
        damaged[header.byteCount + ChunkedPayload.headerByteCount + ChunkedPayload.sealedChunkByteCount + 100] ^= 0x01
        let (released, code) = stream(damaged)
        #expect(code == .authenticationFailed)
        #expect(released == Array(Self.record[..<ChunkedPayload.chunkByteCount]))
    }

    struct Region: CustomTestStringConvertible, Sendable {
        let name: String
        let offset: @Sendable (EnvelopeHeader) -> Int
        let expected: Set<String>
        /// Chunks that authenticate before the damage (what a stream may release).
        let chunksBefore: Int
        var testDescription: String { self.name }
    }

    static let regions: [Region] = [
        Region(name: "magic", offset: { _ in 1 }, expected: ["malformed"], chunksBefore: 0),
        Region(name: "format version", offset: { _ in 4 }, expected: ["unsupportedVersion"], chunksBefore: 0),
        Region(name: "suite", offset: { _ in 5 }, expected: ["unsupportedSuite"], chunksBefore: 0),
        Region(name: "wrap mode", offset: { _ in 6 }, expected: ["unsupportedSuite"], chunksBefore: 0),
        Region(name: "key name length", offset: { _ in 7 }, expected: ["malformed", "keyNotFound"], chunksBefore: 0),
        Region(name: "key name", offset: { _ in 9 }, expected: ["malformed", "keyNotFound"], chunksBefore: 0),
        Region(
            name: "key version", offset: { 8 + $0.key.name.utf8.count + 3 }, expected: ["keyNotFound", "malformed"],
            chunksBefore: 0), // 1 → 0 is no version
        Region(
            name: "wrapped-DEK length", offset: { 13 + $0.key.name.utf8.count }, expected: ["malformed"],
            chunksBefore: 0),
        Region(
            name: "wrap nonce", offset: { 14 + $0.key.name.utf8.count }, expected: ["authenticationFailed"],
            chunksBefore: 0),
        Region(
            name: "wrapped DEK", offset: { 14 + $0.key.name.utf8.count + 20 }, expected: ["authenticationFailed"],
            chunksBefore: 0),
        Region(name: "wrap tag", offset: { $0.byteCount - 1 }, expected: ["authenticationFailed"], chunksBefore: 0),
        Region(name: "salt", offset: { $0.byteCount + 3 }, expected: ["authenticationFailed"], chunksBefore: 0),
        Region(name: "commitment", offset: { $0.byteCount + 30 }, expected: ["authenticationFailed"], chunksBefore: 0),
        Region(
            name: "chunk 0 body", offset: { $0.byteCount + 56 + 100 }, expected: ["authenticationFailed"],
            chunksBefore: 0),
        Region(
            name: "chunk 0 tag", offset: { $0.byteCount + 56 + 16_399 }, expected: ["authenticationFailed"],
            chunksBefore: 0),
        Region(
            name: "chunk 1 body", offset: { $0.byteCount + 56 + 16_400 + 5 }, expected: ["authenticationFailed"],
            chunksBefore: 1),
        Region(
            name: "final chunk body", offset: { $0.byteCount + 56 + 32_800 + 9 }, expected: ["authenticationFailed"],
            chunksBefore: 2),
        Region(name: "final chunk tag", offset: { _ in -1 }, expected: ["authenticationFailed"], chunksBefore: 2),
    ]

    @Test(arguments: regions)
    func aFlippedBitIsRefused(region: Region) throws {
        let original = try Self.sealed()
        let header = try EnvelopeHeader.parse(original)
        for bit in [0, 7] {
            var tampered = original
            let offset = region.offset(header)
            let index = offset < 0 ? tampered.count + offset : offset
            tampered[index] ^= UInt8(1 << bit)
            let code = envelopeCode { try Envelope.open(tampered, context: Self.context, keys: Fixtures.keys) }
            #expect(
                code.map { region.expected.contains("\($0)") } == true,
                "\(region.name) bit \(bit): \(String(describing: code))")
            let (released, streamCode) = Self.streamed(tampered)
            #expect(streamCode != nil)
            #expect(
                released == Array(Self.record.prefix(region.chunksBefore * ChunkedPayload.chunkByteCount)),
                "\(region.name): released \(released.count) bytes")
        }
    }

    @Test func truncationAtEveryChunkBoundaryAndMidChunkIsRefused() throws {
        let original = try Self.sealed()
        let header = try EnvelopeHeader.parse(original)
        let payload = header.byteCount + ChunkedPayload.headerByteCount
        var cuts = Array(0..<payload) + [payload + 1, payload + 15, payload + 16] // inside headers, and a lone partial tag
        for boundary in [payload + 16_400, payload + 32_800] {
            cuts += [boundary - 1, boundary, boundary + 1, boundary + 15, boundary + 16, boundary + 8000]
        }
        cuts += [original.count - 1, original.count - 16]
        for cut in Set(cuts).sorted() where cut < original.count {
            let truncated = Array(original[..<cut])
            let code = envelopeCode { try Envelope.open(truncated, context: Self.context, keys: Fixtures.keys) }
            #expect(code == .truncated || code == .authenticationFailed, "cut at \(cut): \(String(describing: code))")
            let (released, streamCode) = Self.streamed(truncated)
            #expect(streamCode == .truncated || streamCode == .authenticationFailed, "stream cut at \(cut)")
            #expect(
                released.count % ChunkedPayload.chunkByteCount == 0
                    && released == Array(Self.record.prefix(released.count)))
        }
        // Exactly at a chunk boundary the record is truncated (its final chunk is missing).
        #expect(
            envelopeCode {
                try Envelope.open(Array(original[..<(payload + 16_400)]), context: Self.context, keys: Fixtures.keys)
            } == .truncated)
    }

    @Test func trailingBytesReorderingDuplicationAndSwappedHeadersAreRefused() throws {
        let original = try Self.sealed()
        let header = try EnvelopeHeader.parse(original)
        let payload = header.byteCount + ChunkedPayload.headerByteCount
        let chunk0 = Array(original[payload..<(payload + 16_400)])
        let chunk1 = Array(original[(payload + 16_400)..<(payload + 32_800)])
        let rest = Array(original[(payload + 32_800)...])
        let prefix = Array(original[..<payload])
        let cases: [(String, [UInt8])] = [
            ("one trailing byte", original + [0]),
            ("a trailing copy of the final chunk", original + rest),
            ("chunks 0 and 1 swapped", prefix + chunk1 + chunk0 + rest),
            ("chunk 0 duplicated over chunk 1", prefix + chunk0 + chunk0 + rest),
            ("chunk 1 dropped", prefix + chunk0 + rest),
        ]
        for (name, tampered) in cases {
            #expect(
                envelopeCode { try Envelope.open(tampered, context: Self.context, keys: Fixtures.keys) }
                    == .authenticationFailed, "\(name)")
        }
        // Two records' headers swapped: each header unwraps its own DEK, which fails the other's commitment.
        let other = try Envelope.seal(Self.record, context: Self.context, to: Fixtures.sealingKey)
        let otherHeader = try EnvelopeHeader.parse(other)
        let swapped = Array(other[..<otherHeader.byteCount]) + Array(original[header.byteCount...])
        #expect(
            envelopeCode { try Envelope.open(swapped, context: Self.context, keys: Fixtures.keys) }
                == .authenticationFailed)
        #expect(Self.streamed(swapped).0.isEmpty)
    }

    @Test func wrongMissingOrExtraContextIsAnAuthenticationFailure() throws {
        let original = try Self.sealed()
        let contexts: [EncryptionContext] = [
            Fixtures.context(patient: "patient-8"),
            Fixtures.context(record: "obs-43"),
            Fixtures.context(type: "dicom"),
            try EncryptionContext([("patient", "patient-7"), ("record", "obs-42")]),
            try EncryptionContext([
                ("patient", "patient-7"), ("record", "obs-42"), ("type", "fhir"), ("site", "ward-3"),
            ]),
            .empty,
        ]
        for context in contexts {
            #expect(
                envelopeCode { try Envelope.open(original, context: context, keys: Fixtures.keys) }
                    == .authenticationFailed, "\(context)")
            #expect(Self.streamed(original, context: context).0.isEmpty)
        }
        // The same pairs in another order are the same context.
        let reordered = try EncryptionContext([("type", "fhir"), ("record", "obs-42"), ("patient", "patient-7")])
        #expect(try Envelope.open(original, context: reordered, keys: Fixtures.keys) == Self.record)
    }

    @Test func keyErrorsAreKeptApart() throws {
        let original = try Self.sealed()
        #expect(
            envelopeCode { try Envelope.open(original, context: Self.context, keys: StaticKeyProvider()) }
                == .keyNotFound)
        let wrongKey = StaticKeyProvider(keys: [Fixtures.kekID: try SecureBytes(randomByteCount: 32)])
        #expect(
            envelopeCode { try Envelope.open(original, context: Self.context, keys: wrongKey) } == .authenticationFailed
        )
    }

    struct ProviderOutage: Error {}

    /// A provider that fails once with its own error type.
    final class FlakyProvider: EnvelopeKeyProvider, @unchecked Sendable { // test only: one thread
        var failures = 1
        func keyEncryptionKey(for identifier: KeyIdentifier) throws -> SecureBytes {
            if self.failures > 0 {
                self.failures -= 1
                throw ProviderOutage()
            }
            return try Fixtures.keys.keyEncryptionKey(for: identifier)
        }
    }

    /// Found by a third review: a streaming opener that failed for any reason keeps failing the same way,
    /// rather than misreading what comes next as forged; `dump` does not show context values.
    @Test func openersRepeatTheirFirstFailureOfAnyKind() throws {
        let envelope = try Self.sealed()
        let opener = EnvelopeOpener(context: Self.context, keys: FlakyProvider())
        for _ in 0..<2 {
            #expect(throws: ProviderOutage.self) { try envelope.withUnsafeBytes { try opener.update($0) { _ in } } }
        }
        #expect(throws: ProviderOutage.self) { try opener.finish { _ in } }

        var dumped = ""
        dump(try EncryptionContext([("patient", "MRN-SECRET-9")]), to: &dumped)
        #expect(!dumped.contains("MRN-SECRET") && dumped.contains("patient"))
    }
}
