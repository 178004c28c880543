// `samd-gateway` and `samd-agent` options and exits as a newcomer meets them: a mistyped store directory,
// out-of-range numbers, the exit codes each --help and Gateway.md (the SaMDRecordService DocC catalog) list, a listen address in use.

import Foundation
import SaMDKeys
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS
import SaMDTestSupport
import Testing

@Suite("samd-gateway and samd-agent options and exit codes")
struct GatewayOptionTests {
    static let passphrase = ["SAMD_PASSPHRASE": Harness.passphrase]

    @Test func rotateRefusesADirectoryWithoutARecordStoreAndMakesNoKEKVersion() async throws {
        let gateway = try ProgramLocations.binary("samd-gateway")
        let stores = try Harness.Stores()
        let versions = try stores.keyStore.list().count
        let empty = stores.directory.file("empty")
        try FileManager.default.createDirectory(
            atPath: empty, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let mistyped = stores.directory.file("recrods")

        for directory in [mistyped, empty] {
            let run = try await ChildProcess.run(
                gateway,
                ["rotate", "--store", directory, "--keystore", stores.keysPath, "--new-version"],
                environment: Self.passphrase
            )
            #expect(run.status == 66, "\(directory): \(run)")
            #expect(run.standardError.contains("no record store here (no records.sqlite)"), "\(run)")
            #expect(run.output.isEmpty, "\(run)")
        }
        #expect(!FileManager.default.fileExists(atPath: mistyped), "rotate created the mistyped store directory")
        #expect(!FileManager.default.fileExists(atPath: empty + "/records.sqlite"))
        #expect(try stores.keyStore.list().count == versions, "a KEK version was made for a store that is not there")

        // The real store still rotates.
        let real = try await ChildProcess.run(
            gateway,
            ["rotate", "--store", stores.storePath, "--keystore", stores.keysPath, "--new-version"],
            environment: Self.passphrase
        )
        #expect(real.status == 0, "\(real)")
        #expect(try stores.keyStore.list().count == versions + 1)
    }

    @Test func outOfRangeNumbersAreUsageErrorsNamingTheirOption() async throws {
        let gateway = try ProgramLocations.binary("samd-gateway")
        let stores = try Harness.Stores()
        let serve = ["serve", "--listen", "127.0.0.1:0"] + Harness.GatewayProcess.standardArguments(stores)
        let gatewayCases: [([String], String)] = [
            (["--max-body-bytes", "1073741824"], "--max-body-bytes"),
            (["--max-body-bytes", "0"], "--max-body-bytes"),
            (["--max-body-bytes", "1000", "--max-buffered-body-bytes", "999"], "--max-buffered-body-bytes"),
            (["--idle-timeout", "0"], "--idle-timeout"),
            (["--idle-timeout", "nan"], "--idle-timeout"),
            // Below a second a connection closed before it could carry a request: a gateway that answered nothing.
            (["--idle-timeout", "1e-9"], "--idle-timeout is 1 to 86400 seconds"),
            (["--idle-timeout", "0.5"], "--idle-timeout is 1 to 86400 seconds"),
            (["--max-connection-age", "1e-9"], "--max-connection-age is 1 to 86400 seconds"),
            // A negative number is the option's value (refused by its range), not a missing value.
            (["--idle-timeout", "-1"], "--idle-timeout is 1 to 86400 seconds"),
            (["--max-connections", "-1"], "--max-connections is at least 1"),
            (["--max-body-bytes", "-1"], "--max-body-bytes"),
            (["--request-timeout", "inf"], "--request-timeout"),
            (["--request-timeout", "-1"], "--request-timeout"),
            (["--identity-reload-interval", "inf"], "--identity-reload-interval"),
            (["--max-connection-age", "0"], "--max-connection-age"),
            (["--max-connection-age", "86401"], "--max-connection-age"),
            (["--max-connections", "0"], "--max-connections"),
            (["--min-body-bytes-per-second", "-1"], "--min-body-bytes-per-second"),
            (["--min-body-bytes-per-second", "1073741825"], "--min-body-bytes-per-second"),
        ]
        for (extra, option) in gatewayCases {
            let run = try await ChildProcess.run(gateway, serve + extra, environment: Self.passphrase)
            #expect(run.status == 64, "\(extra): \(run)")
            #expect(run.standardError.contains(option), "\(extra): \(run)")
        }
        let rotate = ["rotate", "--store", stores.storePath, "--keystore", stores.keysPath]
        // A negative number is the option's value (refused by its range), not a missing value.
        for (extra, option) in [
            (["--batch-size", "0"], "--batch-size"), (["--batch-size", "-1"], "--batch-size is 1 to 1000000"),
            (["--kek-name", ""], "--kek-name"),
        ] {
            let run = try await ChildProcess.run(gateway, rotate + extra, environment: Self.passphrase)
            #expect(run.status == 64, "\(extra): \(run)")
            #expect(run.standardError.contains(option), "\(extra): \(run)")
        }

        let agent = try ProgramLocations.binary("samd-agent")
        let upload = AgentCLITests.arguments("device", port: 1)
        let agentCases: [([String], String)] = [
            (["--retries", "101"], "--retries"),
            (["--retry-delay", "-1"], "--retry-delay is 0 to 86400 seconds"),
            (["--max-retry-delay", "inf"], "--max-retry-delay"),
            (["--connect-timeout", "0"], "--connect-timeout"),
            (["--connect-timeout", "601"], "--connect-timeout"),
            (["--connect-timeout", "nan"], "--connect-timeout"),
            (["--connect-timeout", "-1"], "--connect-timeout is more than 0"),
            (["--request-timeout", "-1"], "--request-timeout is more than 0"),
            (["--request-timeout", "0"], "--request-timeout"),
            (["--request-timeout", "inf"], "--request-timeout"),
        ]
        for (extra, option) in agentCases {
            let run = try await ChildProcess.run(agent, upload + extra + ["/tmp/a.json"])
            #expect(run.status == 64, "\(extra): \(run)")
            #expect(run.standardError.contains(option), "\(extra): \(run)")
        }

        // The store's own bound is accepted.
        let largest = try await Harness.GatewayProcess(
            Harness.GatewayProcess.standardArguments(stores) + [
                "--max-body-bytes", "\(EncryptedRecordStore.largestMaximumRecordByteCount)",
            ]
        )
        largest.stop()
    }

    /// The exit codes a help text or Examples/RecordGateway/SaMDRecordGateway.docc/Gateway.md lists after `marker`: the paragraph from the first `: `
    /// after it, items separated by `; `, each item's leading number (items inside parentheses have none).
    static func listedCodes(in text: String, after marker: String) -> [Int]? {
        let plain = text.replacingOccurrences(of: "`", with: "")
        guard let start = plain.range(of: marker) else { return nil }
        var rest = plain[start.upperBound...]
        if let end = rest.range(of: "\n\n") { rest = rest[..<end.lowerBound] }
        if let next = rest.range(of: "Exit codes") { rest = rest[..<next.lowerBound] }
        guard let colon = rest.range(of: ": ") else { return nil }
        let list = rest[colon.upperBound...].replacingOccurrences(of: "\n", with: " ")
        return list.components(separatedBy: "; ").compactMap { item in
            item.split(separator: " ").first.flatMap { Int($0) }
        }
    }

    @Test func exitCodesAgreeInEveryHelpAndInTheDocs() async throws {
        let serve = [0, 64, 66, 69, 70, 74, 78]
        let rotate = [0, 64, 65, 66, 69, 70, 74, 75, 78]
        let agentCodes = [0, 64, 65, 66, 69, 70, 73, 74, 75, 76, 77, 78]
        let gateway = try ProgramLocations.binary("samd-gateway")
        let agent = try ProgramLocations.binary("samd-agent")

        let top = try await ChildProcess.run(gateway, ["--help"]).output
        #expect(Self.listedCodes(in: top, after: "Exit codes of serve") == serve, "\(top)")
        #expect(Self.listedCodes(in: top, after: "Exit codes of rotate") == rotate, "\(top)")
        let serveHelp = try await ChildProcess.run(gateway, ["serve", "--help"]).output
        #expect(Self.listedCodes(in: serveHelp, after: "Exit codes") == serve, "\(serveHelp)")
        let rotateHelp = try await ChildProcess.run(gateway, ["rotate", "--help"]).output
        #expect(Self.listedCodes(in: rotateHelp, after: "Exit codes") == rotate, "\(rotateHelp)")
        let agentHelp = try await ChildProcess.run(agent, ["--help"]).output
        #expect(Self.listedCodes(in: agentHelp, after: "Exit codes") == agentCodes, "\(agentHelp)")

        let docs = try String(
            contentsOf: Self.packageRoot.appendingPathComponent(
                "Examples/RecordGateway/SaMDRecordGateway.docc/Gateway.md"), encoding: .utf8)
        #expect(Self.listedCodes(in: docs, after: "Exit codes of serve") == serve)
        #expect(Self.listedCodes(in: docs, after: "Exit codes of rotate") == rotate)
        #expect(Self.listedCodes(in: docs, after: "Exit codes of samd-agent") == agentCodes)
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func aListenAddressInUseIs69InPlainWords() async throws {
        let occupant = try await Harness.InProcessGateway.start()
        let stores = try Harness.Stores()
        let address = "127.0.0.1:\(occupant.port)"
        let run = try await ChildProcess.run(
            try ProgramLocations.binary("samd-gateway"),
            ["serve", "--listen", address] + Harness.GatewayProcess.standardArguments(stores),
            environment: Self.passphrase
        )
        #expect(run.status == 69, "\(run)")
        #expect(run.standardError.contains("cannot listen on \(address): address already in use\n"), "\(run)")
        #expect(!run.standardError.contains("errno"), "\(run)")
        await occupant.stop()
    }
}
