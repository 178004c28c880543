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
