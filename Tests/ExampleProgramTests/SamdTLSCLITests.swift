// `samd-tls serve` and `samd-tls connect`, run as a user runs them: child processes on loopback, a fresh
// test PKI, bounded waits.

import Foundation
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("samd-tls CLI")
struct SamdTLSCLITests {
    /// connect's arguments for the mutual-TLS client `name` (a certificate in the PKI directory).
    static func clientArguments(_ pki: PKIDirectory, _ endpoint: String, as name: String?) -> [String] {
        var arguments = ["connect", endpoint, "--ca", pki.root]
        if let name { arguments += ["--cert", pki.cert(name), "--key", pki.key(name)] }
        return arguments
    }

    static func gateway(_ pki: PKIDirectory, _ extra: [String] = [], host: String = "127.0.0.1") async throws
        -> ServeProcess
    {
        try await ServeProcess(
            host: host, ["--cert", pki.cert("server"), "--key", pki.key("server"), "--client-ca", pki.root] + extra)
    }

    // MARK: - Round trips

    @Test func mutualTLSRoundTripEchoesExactly() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki)
        defer { server.stop() }

        let message = Data("hello, gateway\n".utf8)
        let result = try await samdTLS(Self.clientArguments(pki, server.endpoint, as: "device"), stdin: message)
        #expect(result.status == 0, "\(result)")
        #expect(result.standardOutput == message)
        #expect(
            result.standardError.contains("connected to \(server.endpoint) (TLSv1.3, TLS_"), "\(result.standardError)")
        #expect(result.standardError.contains("peer gateway.test"), "\(result.standardError)")

        #expect(await server.waitForLog("samd.tls.handshake-succeeded"), "\(server.log)")
        #expect(server.log.contains("peer=\(TestPKI.deviceURI)"), "\(server.log)")
        #expect(server.log.contains("tls_version=TLSv1.3"))
        #expect(await server.waitForLog("bytes=\(message.count)"), "\(server.log)")
    }

    @Test func largeRandomPayloadIsEchoedExactly() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki)
        defer { server.stop() }

        var generator = SystemRandomNumberGenerator()
        let payload = Data((0..<(384 * 1024)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let result = try await samdTLS(
            Self.clientArguments(pki, server.endpoint, as: "device"), stdin: payload, timeout: .seconds(60))
        #expect(result.status == 0, "\(result)")
        #expect(result.standardOutput.count == payload.count)
        #expect(result.standardOutput == payload)
    }

    @Test func emptyInputIsACleanExchange() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki)
        defer { server.stop() }
        let result = try await samdTLS(Self.clientArguments(pki, server.endpoint, as: "device"))
        #expect(result.status == 0, "\(result)")
        #expect(result.standardOutput.isEmpty)
    }

    @Test func ipv6AndLocalhostEndpoints() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki, host: "::1")
        defer { server.stop() }
        #expect(server.endpoint.hasPrefix("[::1]:"))

        let overIPv6 = try await samdTLS(
            Self.clientArguments(pki, server.endpoint, as: "device"), stdin: Data("six\n".utf8))
        #expect(overIPv6.status == 0, "\(overIPv6)")
        #expect(overIPv6.output == "six\n")

        let v4 = try await Self.gateway(pki)
        defer { v4.stop() }
        let byName = try await samdTLS(
            Self.clientArguments(pki, "localhost:\(v4.port)", as: "device"), stdin: Data("name\n".utf8))
        #expect(byName.status == 0, "\(byName)")
        #expect(byName.output == "name\n")
    }

    @Test func serverWithoutClientCAServesAnyClient() async throws {
        let pki = try PKIDirectory()
        let server = try await ServeProcess(["--cert", pki.cert("server"), "--key", pki.key("server")])
        defer { server.stop() }
        let result = try await samdTLS(Self.clientArguments(pki, server.endpoint, as: nil), stdin: Data("anon\n".utf8))
        #expect(result.status == 0, "\(result)")
        #expect(result.output == "anon\n")
    }

    @Test func allowedPeersAndPinsAreServed() async throws {
        let pki = try PKIDirectory()
        let pin = pki.pki.device.spkiSHA256().map { String(format: "%02x", $0) }.joined()
        let server = try await Self.gateway(
            pki, ["--allow-peer", TestPKI.readerURI, "--allow-peer", "spki:sha256:\(pin)"])
        defer { server.stop() }
        for name in ["reader", "device"] {
            let result = try await samdTLS(
                Self.clientArguments(pki, server.endpoint, as: name), stdin: Data("\(name)\n".utf8))
            #expect(result.status == 0, "\(name): \(result)")
            #expect(result.output == "\(name)\n")
        }
        // The client pins the server too.
        let serverPin = pki.pki.server.spkiSHA256().map { String(format: "%02x", $0) }.joined()
        var arguments = Self.clientArguments(pki, server.endpoint, as: "device")
        arguments += ["--allow-peer", "spki:sha256:\(serverPin)"]
        let pinned = try await samdTLS(arguments, stdin: Data("pinned\n".utf8))
        #expect(pinned.status == 0, "\(pinned)")
        #expect(pinned.output == "pinned\n")
    }

    // MARK: - Certificates refused: exit 77

    /// Client certificates the gateway refuses (in TLS 1.3 the client learns it on its first read).
    /// (An expired or wrong-purpose device certificate never reaches the gateway from samd-tls: see
    /// `ownUnusableCertificateExits78`; the gateway's refusal of those is checked with openssl s_client.)
    @Test(
        arguments: [
            (nil, "certificateRequired"),
            ("unknownCADevice", "unknownCA"),
        ] as [(String?, String)])
    func refusedClientCertificateExits77(client: String?, serverCode: String) async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki)
        defer { server.stop() }
        let result = try await samdTLS(
            Self.clientArguments(pki, server.endpoint, as: client), stdin: Data("knock\n".utf8))
        #expect(result.status == 77, "\(client ?? "no certificate"): \(result)")
        #expect(result.standardOutput.isEmpty)
        #expect(await server.waitForLog("error=\(serverCode)"), "\(server.log)")
        #expect(server.log.contains("samd.tls.handshake-failed"))
    }

    /// `--ca`, the gateway's spelling of the client CA, is a hidden alias of `--client-ca`: it requires client
    /// certificates as `--client-ca` does; both at once are a usage error.
    @Test func serveTakesTheClientCAAsCAToo() async throws {
        let pki = try PKIDirectory()
        let server = try await ServeProcess([
            "--cert", pki.cert("server"), "--key", pki.key("server"), "--ca", pki.root,
        ])
        defer { server.stop() }
        let device = try await samdTLS(
            Self.clientArguments(pki, server.endpoint, as: "device"), stdin: Data("ca\n".utf8))
        #expect(device.status == 0, "\(device)")
        #expect(device.output == "ca\n")
        let anonymous = try await samdTLS(Self.clientArguments(pki, server.endpoint, as: nil), stdin: Data("x\n".utf8))
        #expect(anonymous.status == 77, "\(anonymous)")
        #expect(await server.waitForLog("error=certificateRequired"), "\(server.log)")

        let both = try await samdTLS([
            "serve", "--listen", "127.0.0.1:0", "--cert", pki.cert("server"), "--key", pki.key("server"),
            "--client-ca", pki.root, "--ca", pki.root,
        ])
        #expect(both.status == 64, "\(both)")
        #expect(both.standardError.contains("--ca is another spelling of --client-ca"), "\(both)")
    }

    /// SaMDTLS validates this side's own identity when the context is built (TLSContext: a leaf that is
    /// expired or lacks EKU clientAuth is `invalidIdentity`), so connect refuses to present such a
    /// certificate at all: a configuration error (78), before any connection — not a refusal by the peer.
    @Test(arguments: ["expiredDevice", "wrongPurposeDevice"])
    func ownUnusableCertificateExits78(client: String) async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki)
        defer { server.stop() }
        let result = try await samdTLS(
            Self.clientArguments(pki, server.endpoint, as: client), stdin: Data("knock\n".utf8))
        #expect(result.status == 78, "\(client): \(result)")
        #expect(result.standardError.contains("invalidIdentity"), "\(result.standardError)")
        #expect(!server.log.contains("samd.tls.handshake"), "a connection was made: \(server.log)")
    }

    @Test func deviceNotInAllowListExits77() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki, ["--allow-peer", TestPKI.readerURI])
        defer { server.stop() }
        let result = try await samdTLS(
            Self.clientArguments(pki, server.endpoint, as: "device"), stdin: Data("knock\n".utf8))
        #expect(result.status == 77, "\(result)")
        #expect(await server.waitForLog("error=peerNotAllowed"), "\(server.log)")
    }

    @Test func revokedDeviceExits77() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki, ["--crl", pki.files.crl])
        defer { server.stop() }
        let revoked = try await samdTLS(
            Self.clientArguments(pki, server.endpoint, as: "revokedDevice"), stdin: Data("x\n".utf8))
        #expect(revoked.status == 77, "\(revoked)")
        #expect(await server.waitForLog("error=certificateRevoked"), "\(server.log)")
        let good = try await samdTLS(Self.clientArguments(pki, server.endpoint, as: "device"), stdin: Data("ok\n".utf8))
        #expect(good.status == 0, "\(good)")
        #expect(good.output == "ok\n")
    }

    @Test func serverNameMismatchExits77() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki)
        defer { server.stop() }
        var arguments = Self.clientArguments(pki, server.endpoint, as: "device")
        arguments += ["--server-name", "other.test"]
        let result = try await samdTLS(arguments, stdin: Data("x\n".utf8))
        #expect(result.status == 77, "\(result)")
        #expect(result.standardError.contains("hostnameMismatch"), "\(result.standardError)")

        // The name the certificate does carry is accepted.
        var good = Self.clientArguments(pki, server.endpoint, as: "device")
        good += ["--server-name", "gateway.test"]
        let accepted = try await samdTLS(good, stdin: Data("y\n".utf8))
        #expect(accepted.status == 0, "\(accepted)")
        #expect(accepted.output == "y\n")
    }

    @Test func otherServersCertificateExits77() async throws {
        let pki = try PKIDirectory()
        let server = try await ServeProcess(["--cert", pki.cert("otherServer"), "--key", pki.key("otherServer")])
        defer { server.stop() }
        let result = try await samdTLS(
            Self.clientArguments(pki, "localhost:\(server.port)", as: nil), stdin: Data("x\n".utf8))
        #expect(result.status == 77, "\(result)")
        #expect(result.standardError.contains("hostnameMismatch"), "\(result.standardError)")
    }

    @Test func ipWrittenAsDNSNameExits77() async throws {
        let pki = try PKIDirectory()
        let server = try await ServeProcess(["--cert", pki.cert("ipAsDNSServer"), "--key", pki.key("ipAsDNSServer")])
        defer { server.stop() }
        let result = try await samdTLS(Self.clientArguments(pki, server.endpoint, as: nil), stdin: Data("x\n".utf8))
        #expect(result.status == 77, "\(result)")
        #expect(result.standardError.contains("ipAddressMismatch"), "\(result.standardError)")
    }

    @Test func wrongServerPinExits77() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki)
        defer { server.stop() }
        var arguments = Self.clientArguments(pki, server.endpoint, as: "device")
        arguments += ["--allow-peer", "spki:sha256:" + String(repeating: "ab", count: 32)]
        let result = try await samdTLS(arguments, stdin: Data("x\n".utf8))
        #expect(result.status == 77, "\(result)")
        #expect(result.standardError.contains("peerNotAllowed"), "\(result.standardError)")
    }

    // MARK: - Other failures

    @Test func tls12OnlyPeerExits76() async throws {
        let pki = try PKIDirectory()
        let openssl = try ProgramLocations.requiredTool("openssl")
        let server = try await OpenSSLServer.start(
            openssl,
            [
                "-tls1_2", "-cert", pki.cert("server"), "-cert_chain", pki.cert("server"), "-key", pki.key("server"),
                "-naccept", "1",
            ])
        defer { server.child.kill() }
        let result = try await samdTLS(
            Self.clientArguments(pki, "127.0.0.1:\(server.port)", as: nil), stdin: Data("x\n".utf8))
        #expect(result.status == 76, "\(result)")
        #expect(result.standardError.contains("protocolVersion"), "\(result.standardError)")
    }

    @Test func plaintextServerExits76() async throws {
        let pki = try PKIDirectory()
        let server = try PlaintextHTTPServer()
        let result = try await samdTLS(
            Self.clientArguments(pki, "127.0.0.1:\(server.port)", as: nil), stdin: Data("x\n".utf8))
        #expect(result.status == 76, "\(result)")
        #expect(result.standardError.contains("notTLS"), "\(result.standardError)")
        withExtendedLifetime(server) {}
    }

    @Test func silentServerTimesOutWith76() async throws {
        let pki = try PKIDirectory()
        let server = try SilentTCPServer()
        // The default handshake timeout is 10 s.
        let result = try await samdTLS(
            Self.clientArguments(pki, "127.0.0.1:\(server.port)", as: nil), stdin: Data("x\n".utf8),
            timeout: .seconds(30))
        #expect(!result.killedBySignal, "\(result)")
        #expect(result.status == 76, "\(result)")
        #expect(result.standardError.contains("handshakeTimeout"), "\(result.standardError)")
        withExtendedLifetime(server) {}
    }

    @Test func closedPortExits69() async throws {
        let pki = try PKIDirectory()
        let port = try LoopbackPort.unused()
        let result = try await samdTLS(Self.clientArguments(pki, "127.0.0.1:\(port)", as: nil), stdin: Data("x\n".utf8))
        #expect(result.status == 69, "\(result)")
        #expect(result.standardError.contains("unreachable"), "\(result.standardError)")
    }

    @Test func serveRefusesPlaintextHTTPClient() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki)
        defer { server.stop() }
        let socket = try RawSocket.connect(port: server.port)
        defer { close(socket) }
        RawSocket.send(socket, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        let (received, closed) = RawSocket.receiveAll(socket)
        #expect(closed, "the server kept the connection open")
        #expect(!String(decoding: received, as: UTF8.self).contains("GET"), "the request was echoed")
        #expect(received.isEmpty, "\(received.count) bytes came back")
        #expect(await server.waitForLog("error=notTLS"), "\(server.log)")

        // And it still serves TLS clients.
        let result = try await samdTLS(
            Self.clientArguments(pki, server.endpoint, as: "device"), stdin: Data("after\n".utf8))
        #expect(result.status == 0, "\(result)")
        #expect(result.output == "after\n")
    }

    @Test func concurrentClientsAreServed() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki)
        defer { server.stop() }
        // A client that holds its connection open (standard input not closed) must not block the others.
        let holder = try ChildProcess(
            try samdTLSBinary(),
            Self.clientArguments(pki, server.endpoint, as: "reader"),
            standardInput: .open
        )
        defer { holder.kill() }
        holder.send(Data("held\n".utf8))
        #expect(await holder.waitForStandardOutput(containing: "held\n"), "\(holder.standardError.text)")
        let result = try await samdTLS(
            Self.clientArguments(pki, server.endpoint, as: "device"), stdin: Data("second\n".utf8))
        #expect(result.status == 0, "\(result)")
        #expect(result.output == "second\n")
        holder.closeStandardInput()
        #expect(await holder.waitForExit(timeout: .seconds(15)) == 0, "\(holder.standardError.text)")
    }

    // MARK: - Process behaviour

    @Test(arguments: [SIGTERM, SIGINT])
    func stopsCleanlyOnSignal(signal: Int32) async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki)
        defer { server.stop() }
        server.child.signal(signal)
        #expect(await server.child.waitForExit(timeout: .seconds(10)) == 0, "\(server.log)")
    }

    @Test func sighupReloadsTheIdentity() async throws {
        let pki = try PKIDirectory()
        let server = try await Self.gateway(pki, ["--identity-reload-interval", "0"])
        defer { server.stop() }
        server.child.signal(SIGHUP)
        #expect(await server.waitForLog("samd.tls.identity-reloaded"), "\(server.log)")
        #expect(await server.waitForLog("SIGHUP: identity reloaded"), "\(server.log)")
        #expect(server.child.isRunning)
    }

    @Test func usageErrorsExit64() async throws {
        let pki = try PKIDirectory()
        let identity = ["--cert", pki.cert("server"), "--key", pki.key("server")]
        let cases: [[String]] = [
            ["serve", "--listen", "127.0.0.1:0", "--allow-peer", "x.test"] + identity,
            ["serve", "--listen", "127.0.0.1:0", "--crl", pki.files.crl] + identity,
            ["serve", "--listen", "127.0.0.1"] + identity,
            ["serve", "--listen", "::1:8443"] + identity,
            ["connect", "127.0.0.1:99999", "--ca", pki.root],
            ["connect", "127.0.0.1:8443", "--ca", pki.root, "--cert", pki.cert("device")],
            ["connect", "127.0.0.1:8443", "--ca", pki.root, "--allow-peer", "spki:sha256:abcd"],
            ["connect", "127.0.0.1:8443"],
            ["frobnicate"],
            // Past a day the watcher's sleep trapped (SIGILL once listening); negative values are the option's own.
            ["serve", "--listen", "127.0.0.1:0", "--identity-reload-interval", "1e20"] + identity,
            ["serve", "--listen", "127.0.0.1:0", "--identity-reload-interval", "-1"] + identity,
            ["connect", "127.0.0.1:8443", "--ca", pki.root, "--connect-timeout", "601"],
            ["connect", "127.0.0.1:8443", "--ca", pki.root, "--connect-timeout", "-1"],
        ]
        for arguments in cases {
            let result = try await samdTLS(arguments)
            #expect(result.status == 64, "\(arguments): \(result)")
        }
        // A refused HOST:PORT says the rule, not only that the value is invalid.
        let unbracketed = try await samdTLS(["connect", "::1:8443", "--ca", pki.root])
        #expect(unbracketed.status == 64, "\(unbracketed)")
        #expect(unbracketed.standardError.contains("an IPv6 address in brackets ([::1]:8443)"), "\(unbracketed)")
    }

    @Test func unreadableFilesExit66AndBadIdentitiesExit78() async throws {
        let pki = try PKIDirectory()
        let missing = pki.directory.appendingPathComponent("missing.pem").path
        let noCA = try await samdTLS(["connect", "127.0.0.1:1", "--ca", missing])
        #expect(noCA.status == 66, "\(noCA)")
        let noKey = try await samdTLS([
            "serve", "--listen", "127.0.0.1:0", "--cert", pki.cert("server"), "--key", missing,
        ])
        #expect(noKey.status == 66, "\(noKey)")

        // A key that does not match the certificate; an expired server certificate; a client-only certificate.
        let mismatched = try await samdTLS([
            "serve", "--listen", "127.0.0.1:0", "--cert", pki.cert("server"), "--key", pki.key("device"),
        ])
        #expect(mismatched.status == 78, "\(mismatched)")
        let expired = try await samdTLS([
            "serve", "--listen", "127.0.0.1:0", "--cert", pki.cert("expiredServer"), "--key", pki.key("expiredServer"),
        ])
        #expect(expired.status == 78, "\(expired)")
        let garbage = try pki.write("garbage.pem", "not a certificate\n")
        // A trust-root file that holds no certificate: refused as configuration, not a crash.
        let badCA = try await samdTLS(["connect", "127.0.0.1:1", "--ca", garbage])
        #expect(!badCA.killedBySignal, "\(badCA)")
        #expect(badCA.status == 78, "\(badCA)")
        let badCRL = try await samdTLS(
            [
                "serve", "--listen", "127.0.0.1:0", "--cert", pki.cert("server"), "--key", pki.key("server"),
                "--client-ca", pki.root, "--crl", garbage,
            ], timeout: .seconds(10))
        #expect(!badCRL.killedBySignal, "\(badCRL)")
        #expect(badCRL.status == 78, "\(badCRL)")
    }

    @Test func helpDocumentsExitCodesAndOptions() async throws {
        for arguments in [["--help"], ["serve", "--help"], ["connect", "--help"]] {
            let result = try await samdTLS(arguments)
            #expect(result.status == 0, "\(arguments): \(result)")
            for code in ["64", "66", "78"] {
                #expect(result.output.contains(code), "\(arguments) lacks exit code \(code)")
            }
        }
        let connect = try await samdTLS(["connect", "--help"]).output
        for needle in ["69", "76", "77", "--server-name", "--allow-peer", "--cert", "--key", "--ca"] {
            #expect(connect.contains(needle), "connect --help lacks \(needle)")
        }
        let serve = try await samdTLS(["serve", "--help"]).output
        for needle in ["--client-ca", "--allow-peer", "--crl", "--tls12", "--identity-reload-interval", "SIGHUP"] {
            #expect(serve.contains(needle), "serve --help lacks \(needle)")
        }
    }
}
