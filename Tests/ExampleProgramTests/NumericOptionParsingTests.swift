import Foundation
import SaMDTestSupport
import Testing

/// Every numeric option of every example program takes the next argument as its value whatever it looks like,
/// so that `--idle-timeout -1` is refused by the option's own range ("--idle-timeout is 1 to 86400 seconds")
/// and not reported as "Missing value" — the message that sent a newcomer looking for a typo. The options are
/// read from each program's own description of itself (`--experimental-dump-help`, swift-argument-parser's
/// ToolInfo), so an option added later is checked too.
@Suite("Numeric options take negative values as their value")
struct NumericOptionParsingTests {
    static let programs = [
        "samd-gateway", "samd-agent", "samd-tls", "samd-vault", "samd-pki", "samd-sbom", "samd-demo",
    ]
    /// The value names the programs give their numeric options.
    static let numericValueNames: Set<String> = ["bytes", "count", "n", "seconds", "cryptoperiod-days", "subjects"]

    struct ToolInfo: Decodable {
        struct Command: Decodable {
            let commandName: String
            let arguments: [Argument]?
            let subcommands: [Command]?
        }
        struct Argument: Decodable {
            struct Name: Decodable { let name: String }
            let kind: String
            let names: [Name]?
            let valueName: String?
            let parsingStrategy: String?
        }
        let command: Command
    }

    /// `(command path, option, value name, parsing strategy)` of every option of `command` and its subcommands.
    static func options(of command: ToolInfo.Command, path: [String] = []) -> [(String, String, String, String)] {
        let here = path + [command.commandName]
        var found: [(String, String, String, String)] = []
        for argument in command.arguments ?? [] where argument.kind == "option" {
            found.append(
                (
                    here.joined(separator: " "), argument.names?.first?.name ?? "?", argument.valueName ?? "",
                    argument.parsingStrategy ?? ""
                ))
        }
        for subcommand in command.subcommands ?? [] where subcommand.commandName != "help" {
            found += Self.options(of: subcommand, path: here)
        }
        return found
    }

    @Test func everyNumericOptionParsesItsValueUnconditionally() async throws {
        var numeric = 0
        for program in Self.programs {
            let run = try await ChildProcess.run(
                try ProgramLocations.binary(program), ["--experimental-dump-help"], timeout: .seconds(30))
            #expect(run.status == 0, "\(program): \(run)")
            let info = try JSONDecoder().decode(ToolInfo.self, from: run.standardOutput)
            for (command, option, valueName, strategy) in Self.options(of: info.command)
            where Self.numericValueNames.contains(valueName) {
                numeric += 1
                #expect(strategy == "unconditional", "\(command) --\(option) <\(valueName)> parses as \(strategy)")
            }
        }
        // The gateway alone has eight; a program that stopped describing itself would check nothing.
        #expect(numeric >= 20, "only \(numeric) numeric options found")
    }
}
