import SaMDCrypto

/// Seals one record incrementally, in constant memory: write ``header``, then what `update` and
/// `finish` emit, in order.
public final class EnvelopeSealer {
    /// The envelope header followed by the payload header (salt ‖ commitment): the first bytes to write.
    public let header: [UInt8]
    private let payload: PayloadSealer

    /// - Throws: as ``Envelope/seal(_:context:to:suite:)``.
    public init(context: EncryptionContext, to key: SealingKey, suite: PayloadSuite = .cobblestone256) throws {
        let fresh = try FreshRecordSecrets()
        let envelopeHeader = try EnvelopeHeader.sealing(fresh.dek, suite: suite, to: key, wrapNonce: fresh.wrapNonce)
        self.payload = try PayloadSealer(
            suite: suite, inputKey: fresh.dek, context: context.canonicalBytes, salt: fresh.salt)
        self.header = envelopeHeader.encoded + self.payload.header
    }

    /// Takes plaintext; emits each full sealed chunk (the buffer is valid only during the call).
    public func update(_ input: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        try self.payload.update(input, emit: emit)
    }

    /// Emits the final chunk.
    public func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        try self.payload.finish(emit: emit)
    }
}

/// Opens one record incrementally, in constant memory. Parses and authenticates the header (at most
/// ``EnvelopeHeader/maximumByteCount`` bytes are buffered for it), checks the key commitment, then
/// releases each chunk only after it authenticated. ``finish(emit:)`` fails unless the stream ended with
/// the final chunk, so treat what was emitted as provisional until it returns.
public final class EnvelopeOpener {
    private let context: EncryptionContext
    private let keys: any EnvelopeKeyProvider
    private var headerBytes: [UInt8] = []
    private var payload: PayloadOpener?
    /// The parsed header, once it has arrived.
    public private(set) var header: EnvelopeHeader?
    /// The first failure, of any kind (a key provider's, a consumer's `emit`): every later call repeats it.
    private var failure: (any Error)?

    public init(context: EncryptionContext, keys: some EnvelopeKeyProvider) {
        self.context = context
        self.keys = keys
    }

    /// Takes more envelope bytes; emits authenticated plaintext.
    /// - Throws: as ``Envelope/open(_:context:keys:)``; once failed, fails again on every call.
    public func update(_ input: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        if let failure = self.failure { throw failure }
        do {
            var input = input
            if self.payload == nil {
                let take = min(EnvelopeHeader.maximumByteCount - self.headerBytes.count, input.count)
                self.headerBytes += UnsafeRawBufferPointer(rebasing: input[..<take])
                let header: EnvelopeHeader
                do {
                    header = try EnvelopeHeader.parse(self.headerBytes)
                } catch let error as EnvelopeError where error.code == .truncated {
                    return // wait for more
                }
                let dek = try header.unwrapDEK(keys: self.keys)
                let payload = try PayloadOpener(
                    suite: header.suite, inputKey: dek, context: self.context.canonicalBytes)
                self.header = header
                self.payload = payload
                // Bytes taken past the header belong to the payload.
                let extra = Array(self.headerBytes[header.byteCount...])
                self.headerBytes = []
                try extra.withUnsafeBytes { try payload.update($0, emit: emit) }
                input = UnsafeRawBufferPointer(rebasing: input[take...])
            }
            try self.payload?.update(input, emit: emit)
        } catch {
            self.failure = error
            throw error
        }
    }

    /// Ends the stream and emits the final chunk's plaintext.
    /// - Throws: ``EnvelopeError/Code/truncated`` if the stream ended early; as ``update(_:emit:)``.
    public func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        if let failure = self.failure { throw failure }
        do {
            guard let payload = self.payload else {
                _ = try EnvelopeHeader.parse(self.headerBytes) // throws truncated or the parse error
                throw EnvelopeError(.truncated, "the stream ended inside the envelope header")
            }
            try payload.finish(emit: emit)
        } catch {
            self.failure = error
            throw error
        }
    }
}

extension Envelope {
    /// Seals an asynchronous sequence of byte chunks (any sizes), calling `write` with the envelope's
    /// bytes in order, in constant memory.
    /// - Throws: as ``Envelope/seal(_:context:to:suite:)``, and whatever `input` or `write` throw.
    public static func seal<Input: AsyncSequence>(
        _ input: Input,
        context: EncryptionContext,
        to key: SealingKey,
        suite: PayloadSuite = .cobblestone256,
        write: ([UInt8]) async throws -> Void
    ) async throws where Input.Element == [UInt8] {
        let sealer = try EnvelopeSealer(context: context, to: key, suite: suite)
        try await write(sealer.header)
        try await self.stream(input, through: sealer, write: write)
    }

    /// Opens an asynchronous sequence of envelope bytes, calling `write` with each authenticated chunk
    /// of plaintext. Everything written is provisional until this returns without throwing.
    /// - Throws: as ``Envelope/open(_:context:keys:)``, and whatever `input` or `write` throw.
    public static func open<Input: AsyncSequence>(
        _ input: Input,
        context: EncryptionContext,
        keys: some EnvelopeKeyProvider,
        write: ([UInt8]) async throws -> Void
    ) async throws where Input.Element == [UInt8] {
        try await self.stream(input, through: EnvelopeOpener(context: context, keys: keys), write: write)
    }

    /// Passes each piece of `input` through `stream`, then finishes it, handing what it emits to `write` in
    /// order (collected per piece: `emit` cannot suspend).
    private static func stream<Input: AsyncSequence>(
        _ input: Input, through stream: some ChunkStream, write: ([UInt8]) async throws -> Void
    ) async throws where Input.Element == [UInt8] {
        for try await piece in input {
            var out: [[UInt8]] = []
            try piece.withUnsafeBytes { try stream.update($0) { out.append(Array($0)) } }
            for chunk in out { try await write(chunk) }
        }
        var out: [[UInt8]] = []
        try stream.finish { out.append(Array($0)) }
        for chunk in out { try await write(chunk) }
    }
}

/// A sealer or opener that takes input in pieces of any size and emits output as it goes.
protocol ChunkStream {
    func update(_ input: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws
    func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws
}

extension EnvelopeSealer: ChunkStream {}
extension EnvelopeOpener: ChunkStream {}
