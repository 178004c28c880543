// The built `samd-agent` as the linker made it: the libraries it needs and the symbols it holds (readelf, nm).

import Foundation
import SaMDTestSupport
import Testing

@Suite("samd-agent binary: no store, no key store, no ICU")
struct AgentBinaryTests {
    /// Shared libraries that would mean full Foundation (and so ICU) or SQLite.
    static let forbiddenLibraries = [
        "libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so", "libsqlite3.so",
        "libFoundationNetworking.so", "libFoundationXML.so", "libicu",
    ]
    /// Swift modules (as they appear in mangled names, `$s<length><name>`) and C symbols that must not be linked.
    static let forbiddenSymbols = [
        "$s9SaMDStore", "$s8SaMDKeys", "$s12SaMDPostgres", "$s4GRDB", "$s11Hummingbird", "$s15HummingbirdCore",
        "$s11PostgresNIO", "$s18SaMDExampleStorage", "$s17SaMDRecordGateway", "sqlite3_open", "ucol_open",
        "u_getVersion",
    ]

    @Test func theAgentNeedsNoFoundationICUOrSQLiteAndHoldsNoStoreSymbols() async throws {
        let agent = try ProgramLocations.binary("samd-agent")
        let readelf = try ProgramLocations.requiredTool("readelf")
        let nm = try ProgramLocations.requiredTool("nm")

        let dynamic = try await Programs.run(readelf, ["--dynamic", "--wide", agent.path])
        try #require(dynamic.status == 0, "\(dynamic)")
        let needed = dynamic.output.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        #expect(!needed.isEmpty, "readelf found no NEEDED entries in \(agent.path)")
        for line in needed {
            #expect(!Self.forbiddenLibraries.contains { line.contains($0) }, "samd-agent needs \(line)")
        }

        // Every symbol, defined or undefined (an unstripped debug build keeps them all).
        let symbols = try await Programs.run(nm, ["--no-sort", agent.path], timeout: .seconds(300))
        try #require(symbols.status == 0, "nm \(agent.path): \(symbols.standardError)")
        let text = symbols.output
        #expect(text.contains("$s17SaMDRecordService"), "nm found none of the record service's symbols")
        #expect(text.contains("$s12SaMDEnvelope"), "nm found none of the envelope's symbols")
        for symbol in Self.forbiddenSymbols {
            #expect(!text.contains(symbol), "samd-agent holds \(symbol)…")
        }
    }
}
