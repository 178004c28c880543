// Envelope seal and open against raw AEAD on the same bytes, in the same run:
// - AES-256-GCM: the envelope's default suite (Cobblestone-256) against OpenSSL EVP called directly;
// - XChaCha20-Poly1305: the envelope's second suite against libsodium called directly.
//
// Names come from BenchmarkPlan (BenchmarkCatalog), where bench-compare finds them and their pairs:
// "<suite> <operation> <size> ×<messages per iteration> — <side>".

import Benchmark
import BenchmarkCatalog
import BenchmarkSupport
import CReference
import SaMDCrypto
import SaMDEnvelope

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = BenchmarkSettings.cryptoConfiguration
    let plan = BenchmarkSettings.plan

    // The same four benchmarks per suite and size: envelope and raw, seal and open.
    let suites: [(suite: PayloadSuite, name: AEADSuiteName, makeRaw: @Sendable () throws -> any RawAEAD)] = [
        (.cobblestone256, .aes256GCM, { try RawAESGCM() }),
        (.xChaCha20Poly1305, .xChaCha20Poly1305, { try RawXChaCha20Poly1305() }),
    ]
    for size in BenchmarkPlan.messageSizes {
        let messages = BenchmarkPlan.messagesPerIteration(size)
        for (suite, name, makeRaw) in suites {
            let rawName = name.raw.rawValue
            Benchmark(plan.aead(name, .seal, size: size, .envelope).description) { benchmark in
                let fixture = try EnvelopeFixture(suite: suite)
                let plaintext = [UInt8](repeating: 0x42, count: size)
                benchmark.startMeasurement()
                for _ in 0..<messages {
                    blackHole(try Envelope.seal(plaintext, context: fixture.context, to: fixture.key, suite: suite))
                }
                benchmark.stopMeasurement()
                try fixture.check(
                    try Envelope.seal(plaintext, context: fixture.context, to: fixture.key, suite: suite),
                    opensTo: plaintext)
            }

            Benchmark(plan.aead(name, .seal, size: size, name.raw).description) { benchmark in
                let raw = try makeRaw()
                let plaintext = [UInt8](repeating: 0x42, count: size)
                var output = [UInt8](repeating: 0, count: size + 16)
                benchmark.startMeasurement()
                for _ in 0..<messages {
                    raw.seal(plaintext, into: &output)
                }
                benchmark.stopMeasurement()
                try raw.check(output, opensTo: plaintext)
            }

            Benchmark(plan.aead(name, .open, size: size, .envelope).description) { benchmark in
                let fixture = try EnvelopeFixture(suite: suite)
                let plaintext = [UInt8](repeating: 0x42, count: size)
                let sealed = try Envelope.seal(plaintext, context: fixture.context, to: fixture.key, suite: suite)
                benchmark.startMeasurement()
                for _ in 0..<messages {
                    blackHole(try Envelope.open(sealed, context: fixture.context, keys: fixture.keys))
                }
                benchmark.stopMeasurement()
                try BenchmarkCheck.equal(
                    try Envelope.open(sealed, context: fixture.context, keys: fixture.keys), plaintext)
            }

            Benchmark(plan.aead(name, .open, size: size, name.raw).description) { benchmark in
                let raw = try makeRaw()
                let plaintext = [UInt8](repeating: 0x42, count: size)
                var sealed = [UInt8](repeating: 0, count: size + 16)
                raw.seal(plaintext, into: &sealed)
                var opened = [UInt8](repeating: 0, count: size)
                var authentic = true
                benchmark.startMeasurement()
                for _ in 0..<messages {
                    authentic = raw.open(sealed, into: &opened) && authentic
                }
                benchmark.stopMeasurement()
                try BenchmarkCheck.that(authentic, "\(rawName) open failed")
                try BenchmarkCheck.equal(opened, plaintext)
            }
        }
    }

    // MARK: One 1 KiB record, sealed as a caller without SaMDKit would: key, context and nonce per record

    Benchmark(plan.aeadOneShot.description) { benchmark in
        let key = try SecureRandom.bytes(count: 32)
        let plaintext = [UInt8](repeating: 0x42, count: 1024)
        var output = [UInt8](repeating: 0, count: 1024 + 12 + 16)
        benchmark.startMeasurement()
        for _ in 0..<plan.aeadOneShot.itemsPerIteration {
            RawAESGCM.sealOneShot(plaintext, key: key, into: &output)
        }
        benchmark.stopMeasurement()
        try BenchmarkCheck.that(output[..<12].contains { $0 != 0 }, "no nonce was written")
    }

    // MARK: Streaming 64 MiB in 64 KiB writes

    let streamBytes = BenchmarkPlan.streamByteCount

    Benchmark(plan.stream(.seal, .envelope).description) { benchmark in
        let fixture = try EnvelopeFixture(suite: .cobblestone256)
        let piece = [UInt8](repeating: 0x42, count: BenchmarkPlan.streamPieceByteCount)
        var emitted = 0
        benchmark.startMeasurement()
        let sealer = try EnvelopeSealer(context: fixture.context, to: fixture.key)
        emitted += sealer.header.count
        try piece.withUnsafeBytes { piece in
            for _ in 0..<(streamBytes / piece.count) {
                try sealer.update(piece) { emitted += $0.count }
            }
        }
        try sealer.finish { emitted += $0.count }
        benchmark.stopMeasurement()
        try BenchmarkCheck.that(emitted > streamBytes, "the sealer emitted \(emitted) bytes for \(streamBytes)")
    }

    Benchmark(plan.stream(.seal, .rawEVP).description) { benchmark in
        let raw = try RawAESGCM()
        let piece = [UInt8](repeating: 0x42, count: BenchmarkPlan.streamPieceByteCount)
        var output = [UInt8](repeating: 0, count: piece.count)
        benchmark.startMeasurement()
        let tag = raw.sealStream(pieces: streamBytes / piece.count, piece: piece, output: &output)
        benchmark.stopMeasurement()
        try BenchmarkCheck.that(tag.contains { $0 != 0 }, "no tag")
    }

    Benchmark(plan.stream(.open, .envelope).description) { benchmark in
        let stream = try SealedStream.shared.get()
        var opened = 0
        benchmark.startMeasurement()
        let opener = EnvelopeOpener(context: stream.fixture.context, keys: stream.fixture.keys)
        try stream.envelope.withUnsafeBytes { sealed in
            var offset = 0
            while offset < sealed.count {
                let end = min(offset + BenchmarkPlan.streamPieceByteCount, sealed.count)
                try opener.update(UnsafeRawBufferPointer(rebasing: sealed[offset..<end])) { opened += $0.count }
                offset = end
            }
        }
        try opener.finish { opened += $0.count }
        benchmark.stopMeasurement()
        try BenchmarkCheck.that(opened == streamBytes, "opened \(opened) of \(streamBytes) bytes")
    }

    Benchmark(plan.stream(.open, .rawEVP).description) { benchmark in
        let stream = try SealedStream.shared.get()
        var output = [UInt8](repeating: 0, count: BenchmarkPlan.streamPieceByteCount)
        benchmark.startMeasurement()
        let authentic = stream.raw.openStream(
            stream.rawCiphertext, pieceByteCount: output.count, tag: stream.rawTag, output: &output)
        benchmark.stopMeasurement()
        try BenchmarkCheck.that(authentic, "raw EVP stream open failed")
        try BenchmarkCheck.equal(output, stream.piece)
    }
}
