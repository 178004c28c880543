/// One record waiting in a device's outbox: a file `<sequence>.smdq` holding the record's address in clear and
/// the record itself as an envelope sealed to the gateway's recipient key under the record's encryption context
/// (`subject`, `record`, `type`). The device cannot open it: only the gateway's recipient private key can.
///
/// Format `SMDQ` version 1, byte by byte (lengths big-endian; Examples/RecordService/SaMDRecordService.docc/DeviceOutbox.md):
///
/// | bytes | field |
/// |---|---|
/// | 4 | magic `SMDQ` |
/// | 1 | version, 1 |
/// | 2 | subject id length *s*, 1 to 512 |
/// | *s* | subject id, UTF-8 (the store's identifier rule) |
/// | 2 | record id length *r*, 1 to 512 |
/// | *r* | record id, UTF-8 (the same rule) |
/// | 1 | record type length *t*, 3 to 127 (the store's rule) |
/// | *t* | record type, ASCII (`type/subtype`, RFC 6838 restricted names) |
/// | rest | the envelope (EnvelopeFormat.md), recipient mode |
public struct OutboxEntry: Sendable, Hashable {
    /// The entry's file name: 16 hexadecimal digits of its sequence number, then `.smdq`.
    public let name: String
    /// The entry's sequence number: entries are delivered in this order, oldest first.
    public let sequence: UInt64
    /// The patient's id.
    public let subject: String
    /// The record's id within the subject.
    public let recordID: String
    /// The record's media type, bound into the envelope's encryption context.
    public let recordType: String
    /// The envelope within the entry's file: where it starts and how long it is, in bytes.
    public let envelope: RecordUploadFile

    /// An entry as read from its file (``Outbox/entries()``); tests make others.
    package init(
        name: String, sequence: UInt64, subject: String, recordID: String, recordType: String,
        envelope: RecordUploadFile
    ) {
        self.name = name
        self.sequence = sequence
        self.subject = subject
        self.recordID = recordID
        self.recordType = recordType
        self.envelope = envelope
    }

    /// The file's magic: `SMDQ`.
    static let magic: [UInt8] = Array("SMDQ".utf8)
    /// The only version written and read: 1.
    static let version: UInt8 = 1
    /// The longest subject or record id, in bytes (the store's rule: 512).
    static let maximumIdentifierByteCount = 512
    /// The longest record type, in bytes: 255.
    static let maximumRecordTypeByteCount = 255
    /// The longest entry header, in bytes: read before anything else.
    static let maximumHeaderByteCount =
        4 + 1 + 2 + maximumIdentifierByteCount + 2 + maximumIdentifierByteCount + 1 + maximumRecordTypeByteCount
    /// The file name's suffix: `.smdq`.
    static let suffix = ".smdq"

    /// The entry file name for `sequence`.
    static func name(for sequence: UInt64) -> String {
        let digits = String(sequence, radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits + Self.suffix
    }

    /// The sequence number an entry file name carries, or `nil` when `name` is not an entry's.
    static func sequence(ofName name: String) -> UInt64? {
        guard name.utf8.count == 16 + Self.suffix.utf8.count, name.hasSuffix(Self.suffix) else { return nil }
        let digits = name.utf8.prefix(16)
        guard digits.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else { return nil }
        return UInt64(String(decoding: digits, as: UTF8.self), radix: 16)
    }

    /// The header for a record's address; the ids and type are checked by the caller (the store's rules).
    package static func header(subject: String, recordID: String, recordType: String) -> [UInt8] {
        var bytes = Self.magic + [Self.version]
        for id in [subject, recordID] {
            let utf8 = Array(id.utf8)
            bytes += [UInt8(utf8.count >> 8), UInt8(utf8.count & 0xff)] + utf8
        }
        let type = Array(recordType.utf8)
        bytes += [UInt8(type.count)] + type
        return bytes
    }

    /// Parses an entry's header from the first bytes of its file (at most ``maximumHeaderByteCount``).
    /// - Parameters:
    ///   - prefix: the file's first bytes.
    ///   - fileByteCount: the file's size in bytes.
    ///   - name: the file's name (an entry name).
    ///   - path: the file's path.
    /// - Throws: ``OutboxError/Code/malformedEntry`` for anything but a well-formed version 1 header of a valid
    ///   address followed by at least one byte of envelope.
    static func parse(prefix: [UInt8], fileByteCount: Int64, name: String, path: String) throws -> OutboxEntry {
        guard let sequence = Self.sequence(ofName: name) else {
            throw OutboxError(.malformedEntry, "not an outbox entry's name")
        }
        var cursor = prefix[...]
        func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard cursor.count >= count else { throw OutboxError(.malformedEntry, "the entry's header is truncated") }
            defer { cursor = cursor.dropFirst(count) }
            return cursor.prefix(count)
        }
        guard Array(try take(4)) == Self.magic else { throw OutboxError(.malformedEntry, "not an SMDQ file") }
        guard try take(1).first == Self.version else {
            throw OutboxError(.malformedEntry, "an SMDQ version this agent does not read")
        }
        var ids: [String] = []
        for _ in 0..<2 {
            let length = try take(2).reduce(0) { $0 << 8 | Int($1) }
            guard (1...Self.maximumIdentifierByteCount).contains(length) else {
                throw OutboxError(.malformedEntry, "an id length out of range")
            }
            let bytes = try take(length)
            guard let id = String(validating: bytes, as: UTF8.self), RecordIdentifiers.isValid(id) else {
                throw OutboxError(.malformedEntry, "an id is not \(RecordIdentifiers.rule)")
            }
            ids.append(id)
        }
        let typeLength = Int(try take(1).first!)
        guard let type = String(validating: try take(typeLength), as: UTF8.self), RecordTypes.isValid(type) else {
            throw OutboxError(.malformedEntry, "the record type is not a media type the store accepts")
        }
        let headerByteCount = Int64(prefix.count - cursor.count)
        guard fileByteCount > headerByteCount else { throw OutboxError(.malformedEntry, "the entry holds no envelope") }
        return OutboxEntry(
            name: name, sequence: sequence, subject: ids[0], recordID: ids[1], recordType: type,
            envelope: RecordUploadFile(path: path, offset: headerByteCount, byteCount: fileByteCount - headerByteCount))
    }
}
