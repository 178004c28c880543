public import SaMDCrypto

/// Seals a payload incrementally, in constant memory (one chunk of buffer), for messages of any
/// length up to 2^32 chunks.
///
/// Write ``header`` first, then everything `update` and `finish` emit, in order.
public final class PayloadSealer {
    /// The 56-byte payload header (salt ‖ commitment).
    public let header: [UInt8]
    private let cipher: ChunkCipher
    private var buffer: [UInt8]
    private var buffered = 0
    private var output: [UInt8]
    private var index: UInt64 = 0
    private var finished = false

    /// - Throws: as ``ChunkedPayload/seal(_:suite:inputKey:context:)``.
    public convenience init(
        suite: PayloadSuite = .cobblestone256, inputKey: SecureBytes, context: some Collection<UInt8>
    ) throws {
        try self.init(suite: suite, inputKey: inputKey, context: context, salt: ChunkedPayload.randomSalt())
    }

    init(suite: PayloadSuite, inputKey: SecureBytes, context: some Collection<UInt8>, salt: [UInt8]) throws {
        (self.cipher, self.header) = try ChunkCipher.forSealing(
            suite: suite, inputKey: inputKey, context: context, salt: salt)
        self.buffer = [UInt8](repeating: 0, count: ChunkedPayload.chunkByteCount)
        self.output = [UInt8](repeating: 0, count: ChunkedPayload.sealedChunkByteCount)
    }

    /// Takes more plaintext; calls `emit` with each full sealed chunk (16 400 bytes) as soon as it is ready.
    /// The buffer passed to `emit` is valid only during the call.
    public func update(_ input: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!self.finished, "PayloadSealer used after finish()")
        var offset = 0
        while offset < input.count {
            if self.buffered == 0 && input.count - offset >= ChunkedPayload.chunkByteCount {
                // A whole chunk in the input: seal it from there, no copy.
                try self.sealChunk(
                    UnsafeRawBufferPointer(rebasing: input[offset..<(offset + ChunkedPayload.chunkByteCount)]),
                    emit: emit)
                offset += ChunkedPayload.chunkByteCount
                continue
            }
            fillChunkBuffer(&self.buffer, filled: &self.buffered, from: input, offset: &offset)
            if self.buffered == ChunkedPayload.chunkByteCount {
                // A full chunk is never the final one: seal it now.
                let buffer = self.buffer
                try buffer.withUnsafeBytes { try self.sealChunk($0, emit: emit) }
                self.buffered = 0
            }
        }
    }

    /// Seals the final, short (possibly empty) chunk and calls `emit` with it.
    public func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!self.finished, "PayloadSealer finished twice")
        self.finished = true
        let buffer = self.buffer
        try buffer.withUnsafeBytes { buffer in
            try self.sealChunk(UnsafeRawBufferPointer(rebasing: buffer[..<self.buffered]), emit: emit)
        }
    }

    deinit {
        SecureMemory.zero(&self.buffer) // plaintext
    }

    private func sealChunk(_ chunk: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let written = try self.output.withUnsafeMutableBytes { output in
            try self.cipher.seal(chunk: chunk, index: self.index, into: output)
        }
        self.index += 1
        try self.output.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[..<written])) }
    }
}

/// Opens a payload incrementally, in constant memory (one sealed chunk of buffer).
///
/// Checks the key commitment as soon as the 56-byte header has arrived, before any chunk. Releases a
/// chunk's plaintext only after that chunk authenticated; ``finish(emit:)`` fails unless the stream
/// ended with a valid short final chunk, so a consumer must treat everything emitted as provisional
/// until `finish` returns (write to a temporary file and rename on success). Once it has failed, every
/// later call fails again.
public final class PayloadOpener {
    private let suite: PayloadSuite
    private let inputKey: SecureBytes
    private let context: [UInt8]
    private var cipher: ChunkCipher?
    private var header: [UInt8] = []
    private var buffer: [UInt8]
    private var buffered = 0
    private var output: [UInt8]
    private var index: UInt64 = 0
    /// The first failure, of any kind (a key provider's, a consumer's `emit`): every later call repeats it.
    private var failure: (any Error)?
    private var finished = false

    /// - Throws: ``EnvelopeError/Code/limitExceeded`` for an oversized context; ``EnvelopeError/Code/malformed``
    ///   for a wrong-sized input key.
    public init(suite: PayloadSuite = .cobblestone256, inputKey: SecureBytes, context: some Collection<UInt8>) throws {
        try ChunkCipher.checkInputKey(inputKey, suite: suite)
        guard context.count <= ChunkedPayload.maximumContextByteCount else {
            throw EnvelopeError(
                .limitExceeded,
                "an encryption context of \(context.count) bytes exceeds \(ChunkedPayload.maximumContextByteCount)")
        }
        self.suite = suite
        self.inputKey = inputKey
        self.context = Array(context)
        self.buffer = [UInt8](repeating: 0, count: ChunkedPayload.sealedChunkByteCount)
        self.output = [UInt8](repeating: 0, count: ChunkedPayload.chunkByteCount)
    }

    /// Takes more sealed bytes; calls `emit` with each chunk's plaintext once it authenticated.
    /// - Throws: ``EnvelopeError/Code/authenticationFailed`` (commitment or a chunk), and then the same
    ///   error on every later call.
    public func update(_ input: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        try self.run {
            var offset = 0
            if self.cipher == nil {
                let take = min(ChunkedPayload.headerByteCount - self.header.count, input.count)
                self.header += UnsafeRawBufferPointer(rebasing: input[..<take])
                offset = take
                guard self.header.count == ChunkedPayload.headerByteCount else { return }
                self.cipher = try ChunkCipher(
                    suite: self.suite, inputKey: self.inputKey, context: self.context, header: self.header)
            }
            while offset < input.count {
                if self.buffered == 0 && input.count - offset >= ChunkedPayload.sealedChunkByteCount {
                    // A whole sealed chunk in the input (full chunks are never final): open it from there, no copy.
                    let end = offset + ChunkedPayload.sealedChunkByteCount
                    try self.openChunk(UnsafeRawBufferPointer(rebasing: input[offset..<end]), emit: emit)
                    offset = end
                    continue
                }
                // Hold back a whole sealed chunk: it is opened once complete (full chunks are never final).
                fillChunkBuffer(&self.buffer, filled: &self.buffered, from: input, offset: &offset)
                if self.buffered == ChunkedPayload.sealedChunkByteCount {
                    try self.openChunk(count: self.buffered, emit: emit)
                    self.buffered = 0
                }
            }
        }
    }

    /// Ends the stream: opens the final short chunk and calls `emit` with its plaintext.
    /// - Throws: ``EnvelopeError/Code/truncated`` when the stream ended without a final chunk (or inside
    ///   the header or a tag); ``EnvelopeError/Code/authenticationFailed``.
    public func finish(emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        try self.run {
            guard !self.finished else {
                throw EnvelopeError(.malformed, "PayloadOpener finished twice")
            }
            self.finished = true
            guard self.cipher != nil else {
                throw EnvelopeError(
                    .truncated, "the stream ended inside the payload header (\(self.header.count) of 56 bytes)")
            }
            guard self.buffered >= AEADAlgorithm.tagByteCount else {
                throw EnvelopeError(
                    .truncated,
                    "the stream ended without its final chunk (\(self.buffered) bytes after chunk \(self.index))"
                )
            }
            try self.openChunk(count: self.buffered, emit: emit)
        }
    }

    deinit {
        SecureMemory.zero(&self.output) // plaintext of the last chunk
    }

    private func run(_ body: () throws -> Void) throws {
        if let failure = self.failure { throw failure }
        do {
            try body()
        } catch {
            self.failure = error
            throw error
        }
    }

    private func openChunk(count: Int, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = self.buffer
        try buffer.withUnsafeBytes { try self.openChunk(UnsafeRawBufferPointer(rebasing: $0[..<count]), emit: emit) }
    }

    private func openChunk(_ chunk: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard let cipher = self.cipher else { return }
        let written = try self.output.withUnsafeMutableBytes { output in
            try cipher.open(chunk: chunk, index: self.index, into: output)
        }
        self.index += 1
        try self.output.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[..<written])) }
    }
}

/// Copies as much of `input` from `offset` as fits after the first `filled` bytes of `buffer` (one chunk,
/// sealed or not), and advances `filled` and `offset` by what was copied.
private func fillChunkBuffer(
    _ buffer: inout [UInt8], filled: inout Int, from input: UnsafeRawBufferPointer, offset: inout Int
) {
    let take = min(buffer.count - filled, input.count - offset)
    buffer.withUnsafeMutableBytes { buffer in
        UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + take)])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: input[offset..<(offset + take)]))
    }
    filled += take
    offset += take
}
