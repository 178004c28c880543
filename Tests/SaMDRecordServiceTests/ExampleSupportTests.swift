// The helpers every example program shares (SaMDExampleSupport): the HOST:PORT parser, the sysexits(3) table,
// the TLS server options and their two spellings of the client CA, the failure descriptions, the context setup
// and the servers' identity watch.

import ArgumentParser
import SaMDExampleSupport
import SaMDTLS
import Testing

@Suite("Example programs' shared helpers")
struct ExampleSupportTests {
    @Test func endpointsParseHostAndPort() throws {
        #expect(Endpoint(parsing: "127.0.0.1:8443") == Endpoint(host: "127.0.0.1", port: 8443))
        #expect(Endpoint(parsing: "localhost:8443") == Endpoint(host: "localhost", port: 8443))
        #expect(Endpoint(parsing: "[::1]:0") == Endpoint(host: "::1", port: 0))
        #expect(Endpoint(parsing: "[::1]:0")?.description == "[::1]:0")
        #expect(Endpoint(parsing: "[::1]:65535") == Endpoint(host: "::1", port: 65535))
        #expect(try Endpoint.parse("gateway.example:443") == Endpoint(host: "gateway.example", port: 443))
        for bad in ["127.0.0.1", "::1:80", "host:", ":80", "host:65536", "host:+80", "[::1]80", "host:0x50"] {
            #expect(Endpoint(parsing: bad) == nil, "\(bad)")
        }
    }

    /// The two parsers the programs had disagreed here: samd-tls took any number of leading zeros, and
    /// decided digits by `Character.isNumber`. The one parser takes one to five ASCII decimal digits only.
    @Test func aPortIsOneToFiveASCIIDecimalDigits() {
        #expect(Endpoint(parsing: "host:00080") == Endpoint(host: "host", port: 80))
        for bad in [
            "host:008443", "host:0000000000080", "[::1]:000443", // more than five digits
            "host:\u{0668}\u{0660}", "host:\u{FF18}\u{FF10}", "host:\u{0968}\u{0966}", // Arabic-Indic, fullwidth, Devanagari
            "host:8\u{0301}0", "host: 80", "host:80 ", "host:-0", "host:99999",
        ] {
            #expect(Endpoint(parsing: bad) == nil, "\(bad.unicodeScalars.map { "\($0.value)" })")
        }
    }

    @Test func exitStatusIsTheSysexitsTable() {
        let table: [(Int32, Int32)] = [
            (ExitStatus.ok, 0), (ExitStatus.usage, 64), (ExitStatus.dataError, 65), (ExitStatus.noInput, 66),
            (ExitStatus.unavailable, 69), (ExitStatus.software, 70), (ExitStatus.cannotCreate, 73),
            (ExitStatus.ioError, 74), (ExitStatus.temporaryFailure, 75), (ExitStatus.protocolFailure, 76),
            (ExitStatus.certificateRefused, 77), (ExitStatus.configuration, 78),
        ]
        for (code, sysexits) in table { #expect(code == sysexits) }
        #expect(ExitStatus.code(forConnection: TLSError(.unreachable, "")) == 69)
        #expect(ExitStatus.code(forConnection: TLSError(.unknownCA, "")) == 77)
        #expect(ExitStatus.code(forConnection: TLSError(.invalidIdentity, "")) == 78)
        #expect(ExitStatus.code(forConnection: TLSError(.protocolVersion, "")) == 76)
        #expect(ExitStatus.code(forSetup: TLSError(.io, "")) == 66)
        #expect(ExitStatus.code(forSetup: TLSError(.invalidConfiguration, "")) == 78)
    }

    @Test func theClientCAHasTwoSpellingsAndOneIsHidden() throws {
        let identity = ["--cert", "server.pem", "--key", "server.key"]
        #expect(try TLSServerOptions.parse(identity + ["--client-ca", "a.pem"]).clientCA == "a.pem")
        #expect(try TLSServerOptions.parse(identity + ["--ca", "b.pem"]).clientCA == "b.pem")
        #expect(try TLSServerOptions.parse(identity + ["--ca", "b.pem"]).requiredClientCA() == "b.pem")
        #expect(try TLSServerOptions.parse(identity).clientCA == nil)
        #expect(throws: (any Error).self) { try TLSServerOptions.parse(identity).requiredClientCA() }
        #expect(throws: (any Error).self) { try TLSServerOptions.parse(identity + ["--ca", "a", "--client-ca", "b"]) }
        // A repeated CA option kept only its last file: the server trusted less than its command line said.
        #expect(throws: (any Error).self) {
            try TLSServerOptions.parse(identity + ["--client-ca", "a.pem", "--client-ca", "b.pem"])
        }
        #expect(throws: (any Error).self) { try TLSServerOptions.parse(identity + ["--ca", "a.pem", "--ca", "b.pem"]) }
        #expect(throws: (any Error).self) { try TLSServerOptions.parse(identity + ["--crl", "c.pem"]) }
        let withCRL = try TLSServerOptions.parse(identity + ["--ca", "b.pem", "--crl", "c.pem", "--crl", "d.pem"])
        #expect(withCRL.files == ["server.pem", "server.key", "b.pem", "c.pem", "d.pem"])
        #expect(withCRL.revocationLists == [.file("c.pem"), .file("d.pem")])

        let help = TLSServerOptions.helpMessage()
        #expect(help.contains("--client-ca <file>"), "\(help)")
        #expect(!help.contains("--ca "), "the old spelling is not advertised: \(help)")
    }

    @Test func failuresAreDescribedWithTheirTLSCodeOriginAndAlert() {
        let refused = TLSError(.unknownCA, origin: .peer, alert: 48, "no chain")
        #expect(failureDescription(refused) == "unknownCA (from the peer, alert 48): no chain")
        let unreachable = failureDescription(TLSError(.unreachable, "connection refused"))
        #expect(unreachable.hasPrefix("unreachable (local"), "\(unreachable)")
        #expect(unreachable.hasSuffix("): connection refused"), "\(unreachable)")
        #expect(failureDescription(CancellationError()) == "\(CancellationError())")
    }

    @Test func aRefusedContextSetupEndsWithItsExitCode() throws {
        let missing = TLSConfiguration.server(
            identity: .files(certificateChain: "/nonexistent/server.pem", privateKey: "/nonexistent/server.key"))
        #expect(throws: ExitCode(ExitStatus.noInput)) { try makeContext(missing, logger: Harness.quiet) }
        let context = try makeContext(
            .gatewayServer(
                identity: .files(
                    certificateChain: Harness.pki.cert("server"), privateKey: Harness.pki.key("server")),
                clientTrustRoots: .file(Harness.pki.root)
            ),
            logger: Harness.quiet
        )
        #expect(context.certificate != nil)
    }

    @Test func theIdentityIsWatchedOnlyWithAnInterval() throws {
        let context = try Harness.serverContext()
        #expect(ServerIdentityWatch(context: context, interval: .zero).reloader == nil)
        let watch = ServerIdentityWatch(context: context, interval: .seconds(2))
        #expect(watch.reloader?.interval == .seconds(2))
        #expect(watch.reloader?.context === context)
        #expect(
            watch.reloader?.watchedFiles == [Harness.pki.cert("server"), Harness.pki.key("server"), Harness.pki.root])
    }
}
