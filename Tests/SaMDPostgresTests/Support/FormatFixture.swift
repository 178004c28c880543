import Foundation
import SaMDLocalPostgres

@testable import SaMDPostgres

/// The committed fixtures of the PostgreSQL formats (`Tests/SaMDPostgresTests/Fixtures`, README.md there) and
/// what reads them: the DDL of every migration, the catalog it makes, and a store written by this version.
enum FormatFixture {
    /// The fixtures as copied into the test bundle.
    static var bundled: URL {
        get throws {
            guard let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
                throw FixtureError(description: "the test bundle has no Fixtures directory")
            }
            return url
        }
    }

    /// The fixtures in the source tree (where the generator writes them).
    static let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    /// PostgresFormat.md, which quotes the DDL.
    static let formatDocument = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/SaMDPostgres/SaMDPostgres.docc/PostgresFormat.md")

    /// Every statement the migrations of this version run to make the tables, in order: the version table, the
    /// record store's version 1, the key store's version 1.
    static var codeStatements: [String] {
        [PostgresSchema.versionTable] + PostgresSchema.recordsV1 + PostgresKeyPersistence.schemaSteps.flatMap { $0 }
    }

    /// The statements of an SQL text: `--` lines dropped, statements separated by an empty line, each ending with
    /// `;` (returned without it; a statement without one is returned with a `MISSING ;` marker, so that it differs).
    static func statements(_ text: String) -> [String] {
        let kept = text.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.hasPrefix("--") }
        return kept.joined(separator: "\n").components(separatedBy: "\n\n")
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { !$0.isEmpty }
            .map { $0.hasSuffix(";") ? String($0.dropLast()) : $0 + " MISSING ;" }
    }

    /// The contents of a Markdown text's ```` ```sql ```` blocks, one after the other, separated by empty lines.
    static func sqlBlocks(_ markdown: String) -> String {
        var blocks: [String] = []
        var current: [Substring]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line.trimmingCharacters(in: .whitespaces) == "```sql" {
                current = []
            } else if let block = current, line.trimmingCharacters(in: .whitespaces) == "```" {
                blocks.append(block.joined(separator: "\n"))
                current = nil
            } else if current != nil {
                current!.append(line)
            }
        }
        return blocks.joined(separator: "\n\n")
    }

    /// The catalog of the `public` schema of `database`, one line per sequence, column (type, NOT NULL, default,
    /// storage), constraint and index, in a stable order: what a migration made, whatever SQL made it.
    static func catalog(_ server: LocalPostgresServer, database: String) throws -> [String] {
        let output = try server.administer(
            """
            SELECT line FROM (
                SELECT c.relname AS rel, 0 AS kind, 0 AS position, '' AS name,
                    c.relname || ' sequence ' || format_type(s.seqtypid, NULL) || ' start ' || s.seqstart
                    || ' increment ' || s.seqincrement || ' minimum ' || s.seqmin || ' maximum ' || s.seqmax
                    || ' cache ' || s.seqcache || CASE WHEN s.seqcycle THEN ' cycle' ELSE ' no cycle' END AS line
                FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
                UNION ALL
                SELECT c.relname, 1, a.attnum, '',
                    c.relname || ' column ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                    || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                    || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || ' storage ' || a.attstorage::text
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
                WHERE n.nspname = 'public' AND c.relkind = 'r'
                UNION ALL
                SELECT c.relname, 2, 0, co.conname,
                    c.relname || ' constraint ' || co.conname || ' ' || pg_get_constraintdef(co.oid)
                FROM pg_constraint co JOIN pg_class c ON c.oid = co.conrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'
                UNION ALL
                SELECT tablename, 3, 0, indexname, tablename || ' index ' || indexdef
                FROM pg_indexes WHERE schemaname = 'public'
            ) catalog ORDER BY rel, kind, position, name;
            """, database: database)
        return output.split(separator: "\n").map(String.init)
    }

    /// `samd_schema_version`'s rows, `component version`, by component.
    static func schemaVersions(_ server: LocalPostgresServer, database: String) throws -> [String] {
        try server.administer(
            "SELECT component || ' ' || version FROM samd_schema_version ORDER BY component;", database: database
        ).split(separator: "\n").map(String.init)
    }

    /// Runs `sql` in `database` as the application role (so that what it makes is the role's, as the store's own
    /// tables are).
    static func runAsApplication(_ server: LocalPostgresServer, _ sql: String, database: String) throws {
        try server.administer("SET ROLE \(LocalPostgresServer.applicationRole);\n" + sql, database: database)
    }

    /// What the fixture store holds, as written (`store-v1/records.json`).
    struct Manifest: Codable {
        struct Record: Codable {
            var subject: String
            var recordID: String
            var recordType: String
            var revision: Int64
            /// The payload, base64.
            var payload: String
        }

        struct Shredded: Codable {
            var subject: String
            var recordID: String
            /// The destroyed subject key, `s-<32 hex>:<version>`.
            var key: String
            /// Rows the shredding deleted.
            var recordCount: Int
        }

        /// The passphrase of the fixture's key store (a test value).
        var passphrase: String
        var records: [Record]
        var shredded: [Shredded]
        /// The KEK versions the store has: `records:1` rotated to `records:2`.
        var kekVersions: [String]
    }
}

/// A fixture that cannot be read or written.
struct FixtureError: Error, CustomStringConvertible {
    let description: String
}
