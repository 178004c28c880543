import SaMDCrypto
public import SystemPackage

/// Bytes that can be read at any offset: a file, a memory buffer, a database blob.
public protocol RandomAccessByteSource {
    /// The total size in bytes.
    var byteCount: Int { get }
    /// Fills `buffer` with the bytes at `offset ..< offset + buffer.count`, or throws.
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws
}

/// A byte array as a source.
public struct ByteArraySource: RandomAccessByteSource {
    public let bytes: [UInt8]

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    public var byteCount: Int {
        self.bytes.count
    }

    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        guard offset >= 0, offset + buffer.count <= self.bytes.count else {
            throw EnvelopeError(.truncated, "read past the end of the envelope")
        }
        self.bytes.withUnsafeBytes {
            buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + buffer.count)]))
        }
    }
}

/// An open file as a source (`pread`, so the file offset is not moved).
public struct FileByteSource: RandomAccessByteSource {
    public let descriptor: FileDescriptor
    public let byteCount: Int

    /// Reads the file's size; the descriptor's file offset is left where it was.
    /// - Throws: ``EnvelopeError/Code/io`` when the size cannot be read (for example, on a pipe).
    public init(_ descriptor: FileDescriptor) throws {
        self.descriptor = descriptor
        do {
            let position = try descriptor.seek(offset: 0, from: .current)
            let end = try descriptor.seek(offset: 0, from: .end)
            _ = try descriptor.seek(offset: position, from: .start)
            self.byteCount = Int(end)
        } catch {
            throw EnvelopeError(.io, "cannot read the file size: \(error)")
        }
    }

    public func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws {
        var done = 0
        do {
            while done < buffer.count {
                let count = try self.descriptor.read(
                    fromAbsoluteOffset: Int64(offset + done),
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]),
                    retryOnInterrupt: true
                )
                guard count > 0 else { throw EnvelopeError(.truncated, "the file ends early") }
                done += count
            }
        } catch let error as EnvelopeError {
            throw error
        } catch {
            throw EnvelopeError(.io, "reading failed: \(error)")
        }
    }
}

/// Reads byte ranges of a record without decrypting the rest (a DICOM viewer's seek, say).
///
/// Opening the reader authenticates the header, checks the key commitment and authenticates the final
/// chunk, so ``plaintextByteCount`` is authentic before any range is read. Each read opens only the chunks
/// that hold the range and returns bytes only from chunks that authenticated. Not thread-safe.
public final class EnvelopeReader {
    public let header: EnvelopeHeader
    /// The record's authenticated plaintext length, in bytes.
    public let plaintextByteCount: Int
    private let source: any RandomAccessByteSource
    private let cipher: ChunkCipher
    private let payloadOffset: Int
    private var sealedChunk: [UInt8]
    private var chunk: [UInt8]

    /// - Throws: as ``Envelope/open(_:context:keys:)`` for the header, the commitment and the final chunk.
    public init(source: some RandomAccessByteSource, context: EncryptionContext, keys: some EnvelopeKeyProvider) throws
    {
        var headerBytes = [UInt8](repeating: 0, count: min(source.byteCount, EnvelopeHeader.maximumByteCount))
        try headerBytes.withUnsafeMutableBytes { try source.read(at: 0, into: $0) }
        let header = try EnvelopeHeader.parse(headerBytes)
        let dek = try header.unwrapDEK(keys: keys)
        guard source.byteCount >= header.byteCount + ChunkedPayload.headerByteCount else {
            throw EnvelopeError(.truncated, "the envelope ends inside the payload header")
        }
        var payloadHeader = [UInt8](repeating: 0, count: ChunkedPayload.headerByteCount)
        try payloadHeader.withUnsafeMutableBytes { try source.read(at: header.byteCount, into: $0) }
        self.cipher = try ChunkCipher(
            suite: header.suite, inputKey: dek, context: context.canonicalBytes, header: payloadHeader)
        guard let count = ChunkedPayload.plaintextByteCount(sealedCount: source.byteCount - header.byteCount) else {
            throw EnvelopeError(.truncated, "the envelope's length is not that of a whole record")
        }
        self.header = header
        self.plaintextByteCount = count
        self.source = source
        self.payloadOffset = header.byteCount + ChunkedPayload.headerByteCount
        self.sealedChunk = [UInt8](repeating: 0, count: ChunkedPayload.sealedChunkByteCount)
        self.chunk = [UInt8](repeating: 0, count: ChunkedPayload.chunkByteCount)
        // Authenticate the final chunk now: it fixes the record's length.
        _ = try self.openChunk(UInt64(count / ChunkedPayload.chunkByteCount))
    }

    deinit {
        SecureMemory.zero(&self.chunk) // plaintext of the last chunk read
    }

    /// The plaintext bytes in `range`.
    /// - Throws: ``EnvelopeError/Code/limitExceeded`` for a range outside `0 ..< plaintextByteCount`;
    ///   ``EnvelopeError/Code/authenticationFailed`` when a chunk in the range does not authenticate.
    public func read(_ range: Range<Int>) throws -> [UInt8] {
        guard range.lowerBound >= 0, range.upperBound <= self.plaintextByteCount else {
            throw EnvelopeError(
                .limitExceeded, "range \(range) is outside the record's \(self.plaintextByteCount) bytes")
        }
        var result: [UInt8] = []
        result.reserveCapacity(range.count)
        var position = range.lowerBound
        while position < range.upperBound {
            let index = position / ChunkedPayload.chunkByteCount
            let chunkStart = index * ChunkedPayload.chunkByteCount
            let opened = try self.openChunk(UInt64(index))
            let from = position - chunkStart
            let to = min(opened, range.upperBound - chunkStart)
            result += self.chunk[from..<to]
            position = chunkStart + to
        }
        return result
    }

    /// Opens chunk `index` into `chunk`; returns its plaintext length.
    private func openChunk(_ index: UInt64) throws -> Int {
        let finalIndex = UInt64(self.plaintextByteCount / ChunkedPayload.chunkByteCount)
        let sealedCount =
            index == finalIndex
            ? self.plaintextByteCount % ChunkedPayload.chunkByteCount + 16 : ChunkedPayload.sealedChunkByteCount
        let offset = self.payloadOffset + Int(index) * ChunkedPayload.sealedChunkByteCount
        try self.sealedChunk.withUnsafeMutableBytes { buffer in
            try self.source.read(at: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<sealedCount]))
        }
        let sealed = self.sealedChunk
        return try sealed.withUnsafeBytes { sealed in
            try self.chunk.withUnsafeMutableBytes { chunk in
                try self.cipher.open(
                    chunk: UnsafeRawBufferPointer(rebasing: sealed[..<sealedCount]), index: index, into: chunk)
            }
        }
    }
}
