import Foundation
import SaMDCrypto
import SaMDTestSupport
import SystemPackage
import Testing

@testable import SaMDEnvelope

@Suite("Envelope round trips on real records")
struct EnvelopeRoundTripTests {
    @Test func everyRecordRoundTripsThroughEveryAPI() async throws {
        let records = try Fixtures.records()
        #expect(records.count >= 30)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "samd-envelope-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (index, (name, bytes)) in records.enumerated() {
            let context = Fixtures.context(record: "r-\(index)")
            let suite: PayloadSuite = index % 3 == 2 ? .xChaCha20Poly1305 : .cobblestone256

            // Whole buffers.
            let sealed = try Envelope.seal(bytes, context: context, to: Fixtures.sealingKey, suite: suite)
            #expect(
                try sealed.count == EnvelopeHeader.parse(sealed).byteCount
                    + ChunkedPayload.sealedByteCount(plaintextCount: bytes.count))
            #expect(try Envelope.open(sealed, context: context, keys: Fixtures.keys) == bytes, "\(name)")
            let info = try Envelope.inspect(sealed, totalByteCount: sealed.count)
            #expect(info.payloadLength == bytes.count && info.kekName == "records" && info.kekVersion == 1)

            // File descriptors, in constant memory.
            let plainURL = directory.appendingPathComponent("plain-\(index)")
            let sealedURL = directory.appendingPathComponent("sealed-\(index)")
            let openedURL = directory.appendingPathComponent("opened-\(index)")
            try Data(bytes).write(to: plainURL)
            let input = try FileDescriptor.open(FilePath(plainURL.path), .readOnly)
            let output = try FileDescriptor.open(
                FilePath(sealedURL.path), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
            try Envelope.seal(from: input, to: output, context: context, key: Fixtures.sealingKey, suite: suite)
            try input.close()
            try output.close()
            let sealedFromFile = try FileDescriptor.open(FilePath(sealedURL.path), .readOnly)
            let opened = try FileDescriptor.open(
                FilePath(openedURL.path), .writeOnly, options: [.create, .truncate], permissions: .ownerReadWrite)
            #expect(
                try Envelope.open(from: sealedFromFile, to: opened, context: context, keys: Fixtures.keys)
                    == bytes.count)
            try sealedFromFile.close()
            try opened.close()
            #expect(Array(try Data(contentsOf: openedURL)) == bytes, "\(name) through file descriptors")
            // The file-sealed envelope also opens as a buffer (same format).
            #expect(
                try Envelope.open(Array(Data(contentsOf: sealedURL)), context: context, keys: Fixtures.keys) == bytes)

            // Async sequences of uneven pieces.
            let pieces = stride(from: 0, to: bytes.count, by: 7919).map {
                Array(bytes[$0..<min($0 + 7919, bytes.count)])
            }
            var asyncSealed: [UInt8] = []
            try await Envelope.seal(asyncSequence(pieces), context: context, to: Fixtures.sealingKey, suite: suite) {
                asyncSealed += $0
            }
            var asyncOpened: [UInt8] = []
            let sealedPieces = stride(from: 0, to: asyncSealed.count, by: 10007).map {
                Array(asyncSealed[$0..<min($0 + 10007, asyncSealed.count)])
            }
            try await Envelope.open(asyncSequence(sealedPieces), context: context, keys: Fixtures.keys) {
                asyncOpened += $0
            }
            #expect(asyncOpened == bytes, "\(name) through async sequences")
        }
        print(
            "Envelope round trips: \(records.count) records, \(records.map(\.1.count).reduce(0, +)) bytes, through buffers, file descriptors and async sequences"
        )
    }

    @Test func rangeReadsMatchTheRecordWithoutOpeningTheRest() throws {
        let records = try Fixtures.records().filter { $0.1.count > 100_000 }
        #expect(!records.isEmpty)
        for (name, bytes) in records {
            let context = Fixtures.context()
            let sealed = try Envelope.seal(bytes, context: context, to: Fixtures.sealingKey)
            let reader = try EnvelopeReader(source: ByteArraySource(sealed), context: context, keys: Fixtures.keys)
            #expect(reader.plaintextByteCount == bytes.count)
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<40 {
                let start = Int.random(in: 0..<bytes.count, using: &generator)
                let end = min(bytes.count, start + Int.random(in: 0...70_000, using: &generator))
                #expect(try reader.read(start..<end) == Array(bytes[start..<end]), "\(name) \(start)..<\(end)")
            }
            #expect(try reader.read(0..<bytes.count) == bytes)
            #expect(try reader.read(bytes.count..<bytes.count) == [])
            #expect(envelopeCode { try reader.read(0..<(bytes.count + 1)) } == .limitExceeded)
            // A tampered chunk far from the range is not touched; a tampered chunk in the range is refused.
            var tampered = sealed
            let header = try EnvelopeHeader.parse(sealed).byteCount + ChunkedPayload.headerByteCount
            tampered[header + 3 * ChunkedPayload.sealedChunkByteCount + 5] ^= 1 // inside chunk 3
            let tamperedReader = try EnvelopeReader(
                source: ByteArraySource(tampered), context: context, keys: Fixtures.keys)
            #expect(try tamperedReader.read(0..<1000) == Array(bytes[0..<1000]))
            #expect(envelopeCode { try tamperedReader.read((3 * 16384)..<(3 * 16384 + 10)) } == .authenticationFailed)
        }
    }

    /// One CSPRNG draw gives each record its DEK, payload salt and wrap nonce (FreshRecordSecrets): they must
    /// still be fresh per record, and the public ones must not repeat each other.
    @Test func everySealDrawsAFreshDEKSaltAndWrapNonce() throws {
        var salts = Set<[UInt8]>()
        var nonces = Set<[UInt8]>()
        var wrappedKeys = Set<[UInt8]>()
        for index in 0..<200 {
            let sealed = try Envelope.seal(
                [UInt8](repeating: 7, count: 100), context: Fixtures.context(record: "r-\(index)"),
                to: Fixtures.sealingKey)
            let header = try EnvelopeHeader.parse(sealed)
            let nonce = Array(header.wrappedKey[..<12])
            let salt = Array(sealed[header.byteCount..<(header.byteCount + ChunkedPayload.saltByteCount)])
            #expect(!salt.starts(with: nonce), "the salt and the wrap nonce overlap")
            salts.insert(salt)
            nonces.insert(nonce)
            wrappedKeys.insert(header.wrappedKey)
            let streamed = try EnvelopeSealer(context: Fixtures.context(record: "s-\(index)"), to: Fixtures.sealingKey)
            let streamedHeader = try EnvelopeHeader.parse(streamed.header)
            nonces.insert(Array(streamedHeader.wrappedKey[..<12]))
            salts.insert(Array(streamed.header[streamedHeader.byteCount...].prefix(ChunkedPayload.saltByteCount)))
        }
        #expect(salts.count == 400 && nonces.count == 400 && wrappedKeys.count == 200)
    }

    /// A batch rewrap keys each KEK once; every header it makes opens its record, under the new key only.
    @Test func aRewrapperRewrapsHeadersUnderSeveralOldKeysToOneNewKey() throws {
        let oldID = try KeyIdentifier(name: "records", version: 7)
        let oldKEK = try SecureBytes(randomByteCount: 32)
        let keys = StaticKeyProvider(keys: [
            Fixtures.kekID: Fixtures.kek, oldID: oldKEK, Fixtures.kek2ID: Fixtures.kek2,
        ])
        let rewrapper = try EnvelopeRewrapper(keys: keys, to: .keyEncryptionKey(Fixtures.kek2ID, Fixtures.kek2))
        for index in 0..<40 {
            let context = Fixtures.context(record: "batch-\(index)")
            let plaintext = [UInt8](repeating: UInt8(index), count: 100 + index * 700)
            let sealingKey: SealingKey =
                index.isMultiple(of: 2) ? Fixtures.sealingKey : .keyEncryptionKey(oldID, oldKEK)
            let sealed = try Envelope.seal(
                plaintext, context: context, to: sealingKey,
                suite: index % 3 == 0 ? .xChaCha20Poly1305 : .cobblestone256)
            let header = try EnvelopeHeader.parse(sealed)
            let rewrapped = try rewrapper.rewrap(header)
            #expect(rewrapped.key == Fixtures.kek2ID && rewrapped.suite == header.suite)
            let moved = rewrapped.encoded + sealed[header.byteCount...]
            #expect(
                try Envelope.open(
                    moved, context: context, keys: StaticKeyProvider(keys: [Fixtures.kek2ID: Fixtures.kek2]))
                    == plaintext)
        }
        // A tampered header fails as it does one by one; an unknown key is keyNotFound.
        let sealed = try Envelope.seal([1, 2, 3] as [UInt8], context: Fixtures.context(), to: Fixtures.sealingKey)
        var header = try EnvelopeHeader.parse(sealed).encoded
        header[header.count - 1] ^= 1
        #expect(throws: EnvelopeError.self) { try rewrapper.rewrap(EnvelopeHeader.parse(header)) }
        let stranger = try KeyIdentifier(name: "elsewhere", version: 1)
        let foreign = try Envelope.seal(
            [1] as [UInt8], context: Fixtures.context(),
            to: .keyEncryptionKey(stranger, SecureBytes(randomByteCount: 32)))
        #expect(
            performing: { try rewrapper.rewrap(EnvelopeHeader.parse(foreign)) },
            throws: { ($0 as? EnvelopeError)?.code == .keyNotFound })
    }

    @Test func aRewrapperToARecipientTakesTheOneByOnePath() throws {
        let recipient = try X25519.PrivateKey()
        let recipientID = try KeyIdentifier(name: "gateway", version: 1)
        let rewrapper = try EnvelopeRewrapper(keys: Fixtures.keys, to: .recipient(recipientID, recipient.publicKey))
        let sealed = try Envelope.seal([9, 9, 9] as [UInt8], context: Fixtures.context(), to: Fixtures.sealingKey)
        let header = try rewrapper.rewrap(EnvelopeHeader.parse(sealed))
        #expect(header.wrapMode == .recipient)
        let moved = header.encoded + sealed[try EnvelopeHeader.parse(sealed).byteCount...]
        #expect(
            try Envelope.open(
                moved, context: Fixtures.context(), keys: StaticKeyProvider(recipients: [recipientID: recipient])) == [
                    9, 9, 9,
                ])
    }

    @Test func rewrapChangesOnlyTheHeader() throws {
        let bytes = Array(try #require(Fixtures.records().first { $0.0.hasSuffix(".dcm") }).1)
        let context = Fixtures.context()
        let sealed = try Envelope.seal(bytes, context: context, to: Fixtures.sealingKey)
        let rewrapped = try Envelope.rewrap(
            sealed, keys: Fixtures.keys, to: .keyEncryptionKey(Fixtures.kek2ID, Fixtures.kek2))
        let oldHeader = try EnvelopeHeader.parse(sealed)
        let newHeader = try EnvelopeHeader.parse(rewrapped)
        #expect(newHeader.key == Fixtures.kek2ID)
        #expect(
            Array(sealed[oldHeader.byteCount...]) == Array(rewrapped[newHeader.byteCount...]),
            "payload bytes must be identical")
        // The new header opens with the new key alone; the old key is no longer needed.
        let onlyNew = StaticKeyProvider(keys: [Fixtures.kek2ID: Fixtures.kek2])
        #expect(try Envelope.open(rewrapped, context: context, keys: onlyNew) == bytes)
        #expect(envelopeCode { try Envelope.open(sealed, context: context, keys: onlyNew) } == .keyNotFound)
    }

    @Test func aDeviceSealsToTheGatewayAndCannotOpenItself() throws {
        let gateway = try X25519.PrivateKey()
        let gatewayID = try KeyIdentifier(name: "gateway-x25519", version: 1)
        let record = Array("MSH|^~\\&|DEVICE|WARD|GATEWAY|HOSPITAL|20261130||ORU^R01|1|P|2.5".utf8)
        let context = Fixtures.context(type: "hl7v2")
        let sealed = try Envelope.seal(record, context: context, to: .recipient(gatewayID, gateway.publicKey))
        #expect(try Envelope.inspect(sealed).wrapMode == "recipient")
        // The device holds only the public key: it cannot open what it sealed.
        #expect(envelopeCode { try Envelope.open(sealed, context: context, keys: StaticKeyProvider()) } == .keyNotFound)
        let gatewayKeys = StaticKeyProvider(recipients: [gatewayID: gateway])
        #expect(try Envelope.open(sealed, context: context, keys: gatewayKeys) == record)
        // Another private key under the same name fails to authenticate.
        let impostor = StaticKeyProvider(recipients: [gatewayID: try X25519.PrivateKey()])
        #expect(envelopeCode { try Envelope.open(sealed, context: context, keys: impostor) } == .authenticationFailed)
        // The gateway rewraps to its KEK without the context; the payload is untouched.
        let rewrapped = try Envelope.rewrap(sealed, keys: gatewayKeys, to: Fixtures.sealingKey)
        #expect(try Envelope.open(rewrapped, context: context, keys: Fixtures.keys) == record)
        // Changing the header of a recipient envelope is detected through the sealed digest.
        var renamed = sealed
        renamed[8] = UInt8(ascii: "G") // "gateway…" → "Gateway…", a valid name
        let renamedKeys = StaticKeyProvider(recipients: [try KeyIdentifier(name: "Gateway-x25519", version: 1): gateway]
        )
        #expect(
            envelopeCode { try Envelope.open(renamed, context: context, keys: renamedKeys) } == .authenticationFailed)
    }
}
