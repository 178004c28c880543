import BenchmarkCatalog
import BenchmarkSupport
import SaMDCrypto
import SaMDEnvelope

/// A KEK, a realistic encryption context (patient, record, record type) and the provider to open with.
struct EnvelopeFixture {
    let suite: PayloadSuite
    let key: SealingKey
    let keys: StaticKeyProvider
    let context: EncryptionContext

    init(suite: PayloadSuite) throws {
        let identifier = try KeyIdentifier(name: "records-kek", version: 1)
        let kek = try SecureBytes(randomByteCount: 32)
        self.suite = suite
        self.key = .keyEncryptionKey(identifier, kek)
        self.keys = StaticKeyProvider(keys: [identifier: kek])
        self.context = try EncryptionContext([
            ("subject", "patient-0f4c2a9e-7b1d-4c55-9a3e-2d8f6b1c0a77"),
            ("record", "observation-2026-11-30-0001"),
            ("type", "application/fhir+json"),
        ])
    }

    func check(_ sealed: [UInt8], opensTo plaintext: [UInt8]) throws {
        try BenchmarkCheck.equal(try Envelope.open(sealed, context: self.context, keys: self.keys), plaintext)
    }
}

/// One 64 MiB stream sealed both ways, made once per benchmark process (on first use) rather than once
/// per iteration.
struct SealedStream: @unchecked Sendable { // immutable after init; `RawAESGCM` is used by one benchmark at a time
    static let shared = Result { try SealedStream() }

    let fixture: EnvelopeFixture
    let envelope: [UInt8]
    let raw: RawAESGCM
    let rawCiphertext: [UInt8]
    let rawTag: [UInt8]
    let piece = [UInt8](repeating: 0x42, count: BenchmarkPlan.streamPieceByteCount)

    private init() throws {
        let total = BenchmarkPlan.streamByteCount
        let pieces = total / self.piece.count
        self.fixture = try EnvelopeFixture(suite: .cobblestone256)
        let sealer = try EnvelopeSealer(context: self.fixture.context, to: self.fixture.key)
        var envelope = sealer.header
        envelope.reserveCapacity(ChunkedPayload.sealedByteCount(plaintextCount: total) + envelope.count)
        try self.piece.withUnsafeBytes { piece in
            for _ in 0..<pieces {
                try sealer.update(piece) { envelope += $0 }
            }
        }
        try sealer.finish { envelope += $0 }
        self.envelope = envelope

        self.raw = try RawAESGCM()
        var scratch = [UInt8](repeating: 0, count: self.piece.count)
        var ciphertext = [UInt8](repeating: 0, count: total)
        let piece = self.piece
        let raw = self.raw
        self.rawTag = ciphertext.withUnsafeMutableBytes { ciphertext in
            raw.sealStream(pieces: pieces, piece: piece, output: &scratch, keep: ciphertext)
        }
        self.rawCiphertext = ciphertext
    }
}
