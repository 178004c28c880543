import GRDB
import GRDBSQLite

// The one file of SaMDStore that calls SQLite's C API (GRDBSQLite): what GRDB does not wrap, behind internal
// Swift functions. Every other file of the module goes through GRDB only.

extension Database {
    /// Bounds every string or blob this connection reads or makes to `maximumValueByteCount` bytes
    /// (`sqlite3_limit(SQLITE_LIMIT_LENGTH)`): a larger value fails with `SQLITE_TOOBIG` before it is
    /// allocated. For this connection only: call it when the connection opens. A bound over SQLite's own
    /// (`SQLITE_MAX_LENGTH`, 10^9 bytes by default) is lowered to it.
    /// - SeeAlso: https://sqlite.org/c3ref/limit.html, https://sqlite.org/limits.html
    func limitValueLength(toBytes maximumValueByteCount: Int) {
        sqlite3_limit(self.sqliteConnection, SQLITE_LIMIT_LENGTH, Int32(clamping: maximumValueByteCount))
    }
}

extension Database {
    /// Writes `length` bytes into the blob at (`table`, `column`, `rowID`), which must already be that long
    /// (`zeroblob(length)`), in pieces of at most `pieceByteCount` that `read(offset, buffer)` fills (it returns
    /// how many bytes it put in `buffer`, fewer only at the end). SQLite's incremental blob I/O: the value is
    /// never held whole in memory. Within the caller's transaction.
    /// - Throws: ``RecordStoreError/Code/storage`` when SQLite refuses (`sqlite3_blob_open`, `sqlite3_blob_write`)
    ///   or `read` comes up short; what `read` throws.
    /// - SeeAlso: https://sqlite.org/c3ref/blob_open.html
    func writeBlob(
        table: String, column: String, rowID: Int64, length: Int, pieceByteCount: Int = 1 << 20,
        read: (_ offset: Int, _ buffer: UnsafeMutableRawBufferPointer) throws -> Int
    ) throws {
        var blob: OpaquePointer?
        let opened = sqlite3_blob_open(self.sqliteConnection, "main", table, column, rowID, 1, &blob)
        defer { sqlite3_blob_close(blob) }
        guard opened == SQLITE_OK, let blob, Int(sqlite3_blob_bytes(blob)) == length else {
            throw RecordStoreError(.storage, "cannot open the record's blob for writing (SQLite \(opened))")
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: min(pieceByteCount, max(length, 1)), alignment: 16)
        defer { buffer.deallocate() }
        var offset = 0
        while offset < length {
            let wanted = min(buffer.count, length - offset)
            let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<wanted])
            guard try read(offset, piece) == wanted else {
                throw RecordStoreError(.storage, "the sealed record's spool file ended early")
            }
            let written = sqlite3_blob_write(blob, piece.baseAddress, Int32(wanted), Int32(offset))
            guard written == SQLITE_OK else {
                throw RecordStoreError(.storage, "cannot write the record's blob (SQLite \(written))")
            }
            offset += wanted
        }
    }
}
