// CRLs decide the same way whatever their order, never go backwards on a reload, and always expire.
// CRLs and certificates are made at test time (SaMDDevPKI), with chosen CRL numbers.

import Foundation
import NIOCore
@_spi(Testing) import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("CRL choice, rollback and expiry")
struct CRLTests {
    static let pki = Fixtures.pki
    /// The same thisUpdate for every CRL: OpenSSL's own tie-break (the first listed) would decide.
    static let thisUpdate = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 - 120).rounded(.down))

    static func intermediateCRL(number: UInt64, revoking: [UInt64], nextUpdate: Date? = Date() + 86400) throws -> String
    {
        try Self.pki.intermediate.makeCRL(
            revokingSerials: revoking, thisUpdate: Self.thisUpdate, nextUpdate: nextUpdate, crlNumber: number)
    }

    /// Verifies `leaf` as a client, with `sources` as the configuration's CRL list, through a real handshake
    /// (server: our gateway configuration with these CRLs). Returns the server's errors.
    static func serverErrors(_ leaf: TestCertificate, crls sources: [String]) throws -> [TLSError] {
        var server = Fixtures.serverConfiguration()
        server.certificateRevocationLists = (sources + [Self.pki.rootCRLPEM]).map { .bytes(Array($0.utf8)) }
        let outcome = try NegativeMatrixTests.attempt(client: Fixtures.clientConfiguration(leaf), server: server)
        return outcome.server
    }

    // MARK: - The highest CRL number per issuer decides, in any order

    @Test("a current empty CRL listed before a newer revoking one: revoked, in every order and grouping")
    func theHighestCRLNumberDecidesWhateverTheOrder() throws {
        let older = try Self.intermediateCRL(number: 100, revoking: [])
        let newer = try Self.intermediateCRL(number: 200, revoking: [Self.pki.revokedDevice.serial])
        let groupings: [[String]] = [[older, newer], [newer, older], [older + newer], [newer + older]]
        for crls in groupings {
            #expect(try Self.serverErrors(Self.pki.revokedDevice, crls: crls).map(\.code) == [.certificateRevoked])
            #expect(try Self.serverErrors(Self.pki.device, crls: crls).isEmpty)
            let verified = TLSChainVerifier.verify(
                leaf: Self.pki.revokedDevice.der, intermediates: [Self.pki.intermediate.certificate.der],
                roots: [Self.pki.root.certificate.der], peer: .client, at: Date(),
                crls: (crls + [Self.pki.rootCRLPEM]).map { Array($0.utf8) })
            #expect(throws: TLSError(.certificateRevoked, "")) { try verified.get() }
        }
        // The other way round: a newer CRL that no longer lists the serial (a certificate taken off hold) wins
        // over an older one that did, whatever the order.
        let onHold = try Self.intermediateCRL(number: 300, revoking: [Self.pki.revokedDevice.serial])
        let released = try Self.intermediateCRL(number: 400, revoking: [])
        for crls in [[onHold, released], [released, onHold], [onHold + released], [released + onHold]] {
            #expect(try Self.serverErrors(Self.pki.revokedDevice, crls: crls).isEmpty)
        }
    }

    @Test func twoDifferentCRLsWithOneNumberAreRefusedAtLoad() throws {
        let a = try Self.intermediateCRL(number: 500, revoking: [])
        let b = try Self.intermediateCRL(number: 500, revoking: [Self.pki.revokedDevice.serial])
        var server = Fixtures.serverConfiguration()
        server.certificateRevocationLists = [.bytes(Array(a.utf8)), .bytes(Array(b.utf8))]
        #expect {
            try TLSContext(configuration: server)
        } throws: { error in
            (error as? TLSError)?.code == .invalidConfiguration && "\(error)".contains("same CRL number")
        }
        // The same CRL twice is one CRL.
        server.certificateRevocationLists = [.bytes(Array(b.utf8)), .bytes(Array((b + b).utf8))]
        _ = try TLSContext(configuration: server)
    }

    // MARK: - Every CRL expires

    @Test func aCRLWithoutNextUpdateIsRefusedAtLoad() throws {
        let forever = try Self.intermediateCRL(number: 600, revoking: [], nextUpdate: nil)
        var server = Fixtures.serverConfiguration()
        server.certificateRevocationLists = [.bytes(Array(forever.utf8))]
        #expect {
            try TLSContext(configuration: server)
        } throws: { error in
            (error as? TLSError)?.code == .invalidConfiguration && "\(error)".contains("no nextUpdate")
        }
        let verified = TLSChainVerifier.verify(
            leaf: Self.pki.device.der, intermediates: [Self.pki.intermediate.certificate.der],
            roots: [Self.pki.root.certificate.der], peer: .client, at: Date(), crls: [Array(forever.utf8)])
        #expect(throws: TLSError(.invalidConfiguration, "")) { try verified.get() }
    }

    /// What goes on the wire when the server's CRL has expired or is missing, as SaMDTLS's client reads it.
    @Test func anExpiredOrMissingCRLIsRefusedWithTheDocumentedAlerts() throws {
        let expired = try Self.pki.intermediate.makeCRL(
            revokingSerials: [], thisUpdate: Date() - 2 * 86400, nextUpdate: Date() - 86400, crlNumber: 700)
        let cases: [(crls: [String], alert: UInt8, peerCode: TLSError.Code)] = [
            ([expired, Self.pki.rootCRLPEM], 45, .certificateExpired),
            ([Self.pki.rootCRLPEM], 48, .unknownCA),
        ]
        for (crls, alert, peerCode) in cases {
            var server = Fixtures.serverConfiguration()
            server.certificateRevocationLists = crls.map { .bytes(Array($0.utf8)) }
            let outcome = try NegativeMatrixTests.attempt(
                client: Fixtures.clientConfiguration(Self.pki.device), server: server)
            #expect(outcome.server.map(\.code) == [.crlUnavailable])
            #expect(outcome.server.first?.alert == alert, "the server's error names the alert it sent")
            #expect(outcome.client.first?.origin == .peer)
            #expect(outcome.client.first?.alert == alert, "alert on the wire")
            #expect(outcome.client.first?.code == peerCode)
        }
    }

    // MARK: - A reload never goes back to an older CRL

    /// A server context whose intermediate's CRL is the file `crlFile` (first holding `first`), the root's CRL
    /// given as bytes; `revokedIsRefused` handshakes the revoked device against it.
    struct ReloadingServer {
        let recorder = RecordingLogHandler()
        let crlFile: URL
        let server: TLSContext
        let revokedClient: TLSContext

        init(directory: URL, first: String) throws {
            self.crlFile = directory.appendingPathComponent("intermediate.crl")
            try Data(first.utf8).write(to: self.crlFile, options: .atomic)
            var configuration = Fixtures.serverConfiguration()
            configuration.certificateRevocationLists = [
                .file(self.crlFile.path), .bytes(Array(CRLTests.pki.rootCRLPEM.utf8)),
            ]
            self.server = try TLSContext(configuration: configuration, logger: self.recorder.logger)
            self.revokedClient = try Fixtures.context(Fixtures.clientConfiguration(CRLTests.pki.revokedDevice))
        }

        func replaceCRL(with pem: String) throws {
            try Data(pem.utf8).write(to: self.crlFile, options: .atomic)
        }

        func revokedIsRefused() throws -> Bool {
            let pair = try EmbeddedPair(client: self.revokedClient, server: self.server)
            try pair.connect()
            try pair.run()
            return pair.serverInbound.tlsErrors.map(\.code) == [.certificateRevoked]
        }
    }

    static func withDirectory<T>(_ body: (URL) throws -> T) throws -> T {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("samd-crl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        return try body(directory)
    }

    @Test func aReloadToAnOlderCRLIsRefusedAndTheRevocationStays() throws {
        try Self.withDirectory { directory in
            let older = try Self.intermediateCRL(number: 800, revoking: [])
            let newer = try Self.intermediateCRL(number: 900, revoking: [Self.pki.revokedDevice.serial])
            let newest = try Self.intermediateCRL(number: 1000, revoking: [Self.pki.revokedDevice.serial])
            let reloading = try ReloadingServer(directory: directory, first: newer)
            let (recorder, server) = (reloading.recorder, reloading.server)
            func revokedIsRefused() throws -> Bool { try reloading.revokedIsRefused() }
            let crlFile = reloading.crlFile
            #expect(try revokedIsRefused())

            // The file is replaced by an older CRL, still inside its validity, that does not list the device.
            try Data(older.utf8).write(to: crlFile, options: .atomic)
            #expect(throws: TLSError(.invalidConfiguration, "")) { try server.reload() }
            let event = try #require(recorder.events("samd.tls.crl-rollback-refused").first)
            #expect(event.metadata["crl_number"] == "320") // 800
            #expect(event.metadata["accepted_crl_number"] == "384") // 900
            #expect(event.metadata["crl_issuer"]?.contains("SaMDKit Test Intermediate") == true)
            #expect(recorder.events("samd.tls.identity-reload-refused").count == 1)
            #expect(try revokedIsRefused(), "the older CRL un-revoked the device")

            // A newer CRL is taken, and the mark follows it.
            try Data(newest.utf8).write(to: crlFile, options: .atomic)
            try server.reload()
            #expect(try revokedIsRefused())
            try Data(newer.utf8).write(to: crlFile, options: .atomic)
            #expect(throws: TLSError(.invalidConfiguration, "")) { try server.reload() }
        }
    }

    @Test func aReloadToAnotherCRLWithTheAcceptedNumberIsRefusedAndTheRevocationStays() throws {
        try Self.withDirectory { directory in
            let revoking = try Self.intermediateCRL(number: 900, revoking: [Self.pki.revokedDevice.serial])
            // Signed by the same CA with the same CRL number, listing nothing.
            let empty = try Self.intermediateCRL(number: 900, revoking: [])
            let reloading = try ReloadingServer(directory: directory, first: revoking)
            #expect(try reloading.revokedIsRefused())

            // The same CRL again is no change: the reload goes through.
            try reloading.server.reload()
            #expect(reloading.recorder.events("samd.tls.crl-rollback-refused").isEmpty)

            try reloading.replaceCRL(with: empty)
            #expect(throws: TLSError(.invalidConfiguration, "")) { try reloading.server.reload() }
            let event = try #require(reloading.recorder.events("samd.tls.crl-rollback-refused").first)
            #expect(event.metadata["crl_number"] == "384") // 900
            #expect(event.metadata["accepted_crl_number"] == "384")
            #expect(try reloading.revokedIsRefused(), "another CRL with the accepted number un-revoked the device")
        }
    }
}

// Several `--crl` files of `samd-tls serve`: ExampleProgramTests' SamdTLSCRLTests.

extension CRLTests {
    /// The alert on the wire when the gateway's CRL has expired, as `openssl s_client` reads it: 45
    /// (certificate_expired, OpenSSL's mapping of X509_V_ERR_CRL_HAS_EXPIRED), and the gateway's event names it.
    @Test func anExpiredCRLReachesOpenSSLAsAlert45() async throws {
        let openssl = try ProgramLocations.requiredTool("openssl")
        let pki = try PKIDirectory()
        let expired = try pki.pki.intermediate.makeCRL(
            revokingSerials: [], thisUpdate: Date() - 2 * 86400, nextUpdate: Date() - 86400, crlNumber: 700)
        let crl = try pki.write("expired.crl", expired + pki.pki.rootCRLPEM)
        try await EchoGateway.run(EchoGateway.configuration(pki, crls: [crl])) { port, events in
            let child = try ChildProcess(
                openssl,
                [
                    "s_client", "-connect", "127.0.0.1:\(port)", "-cert", pki.cert("device"), "-cert_chain",
                    pki.cert("device"),
                    "-key", pki.key("device"), "-CAfile", pki.root, "-verify_return_error", "-tls1_3",
                ], standardInput: .open)
            defer { child.kill() }
            child.send(Data("hello\n".utf8))
            let refused = await child.wait(timeout: .seconds(15)) {
                (child.standardOutput.text + child.standardError.text).contains("alert number")
            }
            let all = child.standardOutput.text + child.standardError.text
            #expect(refused && all.contains("alert number 45"), "\(all)")
            child.closeStandardInput()
            await child.waitForExit(timeout: .seconds(10))
            #expect(await events.waitForText(containing: "error=crlUnavailable"), "\(events.allText)")
            #expect(events.allText.contains("alert=45"), "\(events.allText)")
        }
    }
}
