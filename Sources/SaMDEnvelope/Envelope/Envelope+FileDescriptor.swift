public import SystemPackage

extension Envelope {
    /// Bytes read from a file descriptor per call.
    static let ioBufferByteCount = 64 << 10

    /// Seals everything readable from `input` into `output`, in constant memory.
    /// - Returns: the number of plaintext bytes sealed.
    /// - Throws: ``EnvelopeError/Code/io`` when reading or writing fails; as ``Envelope/seal(_:context:to:suite:)``.
    @discardableResult
    public static func seal(
        from input: FileDescriptor,
        to output: FileDescriptor,
        context: EncryptionContext,
        key: SealingKey,
        suite: PayloadSuite = .cobblestone256
    ) throws -> Int {
        let sealer = try EnvelopeSealer(context: context, to: key, suite: suite)
        try sealer.header.withUnsafeBytes { try output.writeFully($0) }
        var total = 0
        try self.readAll(input) { piece in
            total += piece.count
            try sealer.update(piece) { try output.writeFully($0) }
        }
        try sealer.finish { try output.writeFully($0) }
        return total
    }

    /// Opens an envelope read from `input`, writing authenticated plaintext to `output` chunk by chunk, in
    /// constant memory. On failure, `output` may already hold authenticated chunks of an incomplete
    /// record: write to a temporary file and keep it only when this returns.
    /// - Returns: the number of plaintext bytes written.
    /// - Throws: ``EnvelopeError/Code/io``; as ``Envelope/open(_:context:keys:)``.
    @discardableResult
    public static func open(
        from input: FileDescriptor,
        to output: FileDescriptor,
        context: EncryptionContext,
        keys: some EnvelopeKeyProvider
    ) throws -> Int {
        let opener = EnvelopeOpener(context: context, keys: keys)
        var total = 0
        try self.readAll(input) { piece in
            try opener.update(piece) { plaintext in
                total += plaintext.count
                try output.writeFully(plaintext)
            }
        }
        try opener.finish { plaintext in
            total += plaintext.count
            try output.writeFully(plaintext)
        }
        return total
    }

    static func readAll(_ input: FileDescriptor, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: Self.ioBufferByteCount)
        while true {
            let count: Int
            do {
                count = try buffer.withUnsafeMutableBytes { try input.read(into: $0, retryOnInterrupt: true) }
            } catch {
                throw EnvelopeError(.io, "reading failed: \(error)")
            }
            if count == 0 { return }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
    }
}

extension FileDescriptor {
    /// Writes all of `bytes`, retrying short writes and interrupts.
    func writeFully(_ bytes: UnsafeRawBufferPointer) throws {
        do {
            var offset = 0
            while offset < bytes.count {
                offset += try self.write(UnsafeRawBufferPointer(rebasing: bytes[offset...]), retryOnInterrupt: true)
            }
        } catch {
            throw EnvelopeError(.io, "writing failed: \(error)")
        }
    }
}
