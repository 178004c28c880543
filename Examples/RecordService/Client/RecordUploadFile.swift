#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// A request body read from a file as it is sent: the whole file, or `byteCount` bytes from `offset` (an
/// outbox entry's envelope after its header). The client opens the file for each attempt, checks that it is a
/// regular file holding the range, and sends the range in pieces of ``pieceByteCount`` bytes with at most
/// ``piecesInFlight`` pieces written and not yet sent: a record of any size costs a fixed, small amount of
/// memory. The size goes out as `Content-Length` before the first byte; a file that changes size while it is
/// sent fails the request (``RecordServiceError/Code/bodyUnreadable``) and closes the connection, so the
/// gateway, which counts the body against `Content-Length`, stores nothing.
public struct RecordUploadFile: Sendable, Hashable {
    /// Bytes read from the file per piece: 64 KiB.
    public static let pieceByteCount = 64 << 10
    /// Pieces written to the connection and not yet sent, at most: 4 (256 KiB).
    public static let piecesInFlight = 4

    /// The file's path.
    public let path: String
    /// Where the body starts in the file, in bytes.
    public let offset: Int64
    /// The body's length in bytes.
    public let byteCount: Int64
    /// Whether the body is the whole file: its size is then checked again when it is opened to be sent.
    let isWholeFile: Bool

    /// The whole file at `path`, measured now; when it is sent its size must still be ``byteCount``.
    /// - Throws: ``RecordServiceError/Code/bodyUnreadable`` when it cannot be opened or is not a regular file.
    public init(path: String) throws {
        let opened = try OpenedUploadFile(path: path, offset: 0, byteCount: nil, wholeFile: true)
        defer { opened.close() }
        self.path = path
        self.offset = 0
        self.byteCount = opened.byteCount
        self.isWholeFile = true
    }

    /// `byteCount` bytes of the file at `path` from `offset`; checked when the file is opened to be sent.
    public init(path: String, offset: Int64, byteCount: Int64) {
        self.path = path
        self.offset = offset
        self.byteCount = byteCount
        self.isWholeFile = false
    }

    /// Opens the file for one attempt.
    /// - Throws: ``RecordServiceError/Code/bodyUnreadable``.
    func open() throws -> OpenedUploadFile {
        try OpenedUploadFile(
            path: self.path, offset: self.offset, byteCount: self.byteCount, wholeFile: self.isWholeFile)
    }
}

/// One attempt's open file: a descriptor, the range to send, and how far sending got. Used on the client
/// connection's event loop only (the connection's actor and its handler run there), closed by the attempt.
final class OpenedUploadFile: @unchecked Sendable {
    let byteCount: Int64
    /// Whether the range ended the file when it was opened (the file's growth is then checked).
    let endsAtFileEnd: Bool
    private let descriptor: Int32
    private let offset: Int64
    private var closed = false

    /// - Parameters:
    ///   - byteCount: the range's length, or `nil` for the rest of the file from `offset`.
    ///   - wholeFile: the range must be the whole file (its size checked).
    init(path: String, offset: Int64, byteCount: Int64?, wholeFile: Bool) throws {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard descriptor >= 0 else {
            throw RecordServiceError(.bodyUnreadable, "the file cannot be opened: \(Self.describe(errno))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            Glibc.close(descriptor)
            throw RecordServiceError(.bodyUnreadable, "not a regular file")
        }
        let size = Int64(status.st_size)
        let length = byteCount ?? (size - offset)
        guard !wholeFile || size == length else {
            Glibc.close(descriptor)
            throw RecordServiceError(.bodyUnreadable, "the file changed size since it was measured")
        }
        guard offset >= 0, length >= 0, offset <= size, length <= size - offset else {
            Glibc.close(descriptor)
            throw RecordServiceError(
                .bodyUnreadable, "the file holds \(size) bytes, not \(length) from byte \(offset)")
        }
        self.descriptor = descriptor
        self.offset = offset
        self.byteCount = length
        self.endsAtFileEnd = offset + length == size
        if length == 0 && self.endsAtFileEnd {
            // An empty body has no last piece to read past: the file must end here before a
            // `Content-Length: 0` request, complete as soon as its head is out, is sent.
            var probe: UInt8 = 0
            guard try withUnsafeMutableBytes(of: &probe, { try self.read(at: 0, into: $0) }) == 0 else {
                throw RecordServiceError(.bodyUnreadable, "the file became longer while it was sent")
            }
        }
    }

    deinit {
        self.close()
    }

    func close() {
        guard !self.closed else { return }
        self.closed = true
        Glibc.close(self.descriptor)
    }

    /// Reads the body's bytes from `position` (0-based within the range) into `buffer`, which is at most
    /// ``RecordUploadFile/pieceByteCount`` + 1 bytes: fills it unless the file ends first.
    /// - Returns: the bytes read; fewer than `buffer.count` only at the end of the file.
    /// - Throws: ``RecordServiceError/Code/bodyUnreadable`` for a read error.
    func read(at position: Int64, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let count = pread(
                self.descriptor, buffer.baseAddress! + done, buffer.count - done,
                off_t(self.offset + position + Int64(done)))
            if count == 0 { break }
            guard count > 0 else {
                if errno == EINTR { continue }
                throw RecordServiceError(.bodyUnreadable, "reading the file failed: \(Self.describe(errno))")
            }
            done += count
        }
        return done
    }

    private static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
