// `samd-gateway` run as a user runs it: a child process on loopback, driven by curl and by SaMDTLS clients.

import Foundation
import NIOCore
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("samd-gateway")
struct GatewayCLITests {
    @Test func curlStoresWithADeviceCertificateAndReadsByteForByteWithAReaderCertificate() async throws {
        let curl = try ProgramLocations.requiredTool("curl")
        let stores = try Harness.Stores()
        let gateway = try await Harness.GatewayProcess(Harness.GatewayProcess.standardArguments(stores))
        defer { gateway.stop() }
        let work = try Harness.TemporaryDirectory()
        // 2 MB: curl sends it with "Expect: 100-continue", which the gateway answers.
        let (name, record) = try Harness.medicalRecords(["MR2_UNCR.dcm"])[0]
        let upload = work.file(name)
        try Data(record).write(to: URL(fileURLWithPath: upload))
        let url = "https://127.0.0.1:\(gateway.port)/records/patient-0042/\(name)"
        let pki = Harness.pki
        func tls(_ client: String) -> [String] {
            [
                "--silent", "--show-error", "--max-time", "30", "--cacert", pki.root, "--cert", pki.cert(client),
                "--key", pki.key(client),
            ]
        }

        let put = try await ChildProcess.run(
            curl,
            tls("device") + [
                "-X", "PUT", "-H", "Content-Type: application/dicom", "--data-binary", "@" + upload, "-w",
                "\n%{http_code}", url,
            ]
        )
        #expect(put.status == 0, "\(put)")
        #expect(put.output == "{\"revision\":1}\n201", "\(put)")

        let denied = try await ChildProcess.run(curl, tls("device") + ["-o", "/dev/null", "-w", "%{http_code}", url])
        #expect(denied.output == "403", "\(denied)")

        let download = work.file("downloaded")
        let get = try await ChildProcess.run(
            curl, tls("reader") + ["-o", download, "-w", "%{http_code} %{content_type}", url])
        #expect(get.status == 0, "\(get)")
        #expect(get.output == "200 application/dicom", "\(get)")
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: download))) == record)

        // Without a client certificate the handshake is refused: curl fails, nothing is served.
        let anonymous = try await ChildProcess.run(
            curl,
            [
                "--silent", "--max-time", "30", "--cacert", pki.root, "-o", download + ".anonymous", "-w",
                "%{http_code}", url,
            ]
        )
        #expect(anonymous.status != 0, "\(anonymous)")
        #expect(anonymous.output != "200")
        let anonymousBytes = (try? Data(contentsOf: URL(fileURLWithPath: download + ".anonymous"))) ?? Data()
        #expect(anonymousBytes.isEmpty)
        #expect(await gateway.waitForLog("error=certificateRequired"), "\(gateway.log)")

        #expect(await gateway.waitForLog("event=samd.gateway.record-stored"), "\(gateway.log)")
        #expect(gateway.log.contains("event=samd.gateway.record-read"))
        #expect(gateway.log.contains("event=samd.gateway.request-refused"))
        #expect(!gateway.log.contains("patient-0042"), "a subject id in the log")
        #expect(!gateway.log.contains(name), "a record id in the log")
    }

    /// The gateway's certificate as a new connection sees it.
    static func servedSPKI(port: Int) async throws -> [UInt8]? {
        let connection = try await TLSClient.connect(
            host: "127.0.0.1", port: port, context: try Harness.clientContext("device"))
        let spki = connection.peer?.spkiSHA256
        try? await connection.executeThenClose { _, outbound in outbound.finish() }
        return spki
    }

    /// The PKI's server identity copied to files of its own, which the test then replaces.
    static func serverFiles(in directory: Harness.TemporaryDirectory) throws -> (cert: String, key: String) {
        let files = (cert: directory.file("server.pem"), key: directory.file("server.key"))
        try FileManager.default.copyItem(atPath: Harness.pki.cert("server"), toPath: files.cert)
        try FileManager.default.copyItem(atPath: Harness.pki.key("server"), toPath: files.key)
        return files
    }

    static func install(_ certificate: TestCertificate, at files: (cert: String, key: String)) throws {
        try Harness.writePrivate(certificate.chainPEM, to: files.cert)
        try Harness.writePrivate(certificate.privateKeyPEM, to: files.key)
    }

    @Test func sighupReloadsTheCertificateForNewConnections() async throws {
        let stores = try Harness.Stores()
        let work = try Harness.TemporaryDirectory()
        let files = try Self.serverFiles(in: work)
        let gateway = try await Harness.GatewayProcess(
            Harness.GatewayProcess.standardArguments(stores, server: files) + ["--identity-reload-interval", "0"]
        )
        defer { gateway.stop() }
        let before = try await Self.servedSPKI(port: gateway.port)
        #expect(before == Harness.pki.pki.server.spkiSHA256())

        try Self.install(Harness.pki.renewedServer, at: files)
        // Not watched (interval 0): the old certificate serves until SIGHUP.
        #expect(try await Self.servedSPKI(port: gateway.port) == before)
        gateway.child.signal(SIGHUP)
        #expect(await gateway.waitForLog("event=samd.tls.identity-reloaded"), "\(gateway.log)")
        let after = try await Self.servedSPKI(port: gateway.port)
        #expect(after == Harness.pki.renewedServer.spkiSHA256())
        #expect(after != before)
    }

    @Test func changedCertificateFilesAreReloadedWithoutASignal() async throws {
        let stores = try Harness.Stores()
        let work = try Harness.TemporaryDirectory()
        let files = try Self.serverFiles(in: work)
        let gateway = try await Harness.GatewayProcess(
            Harness.GatewayProcess.standardArguments(stores, server: files) + ["--identity-reload-interval", "0.1"]
        )
        defer { gateway.stop() }
        try Self.install(Harness.pki.renewedServer, at: files)
        let renewed = Harness.pki.renewedServer.spkiSHA256()
        let reloaded = try await eventually { try await Self.servedSPKI(port: gateway.port) == renewed }
        #expect(reloaded, "\(gateway.log)")
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func stopsCleanlyOnSignal(signal: Int32) async throws {
        let stores = try Harness.Stores()
        let gateway = try await Harness.GatewayProcess(Harness.GatewayProcess.standardArguments(stores))
        defer { gateway.stop() }
        // An idle kept-alive connection does not hold the stop up.
        let device = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("device"))
        #expect(try await device.health().status == 200)
        gateway.child.signal(signal)
        #expect(await gateway.child.waitForExit(timeout: .seconds(20)) == 0, "\(gateway.log)")
        #expect(gateway.log.contains("event=samd.gateway.stopped"), "\(gateway.log)")
        await device.close()
    }

    @Test func setupErrorsHaveTheirExitCodes() async throws {
        let gatewayBinary = try ProgramLocations.binary("samd-gateway")
        let stores = try Harness.Stores()
        let standard = ["serve", "--listen", "127.0.0.1:0"] + Harness.GatewayProcess.standardArguments(stores)
        let passphrase = ["SAMD_PASSPHRASE": Harness.passphrase]

        let usage = try await ChildProcess.run(
            gatewayBinary, ["serve", "--listen", "127.0.0.1:0"], environment: passphrase)
        #expect(usage.status == 64, "\(usage)")
        let ipRole = try await ChildProcess.run(
            gatewayBinary, standard + ["--reader", "10.0.0.7"], environment: passphrase)
        #expect(ipRole.status == 64, "\(ipRole)")
        let badListen = try await ChildProcess.run(
            gatewayBinary, ["serve", "--listen", "localhost"] + Harness.GatewayProcess.standardArguments(stores),
            environment: passphrase)
        #expect(badListen.status == 64, "\(badListen)")

        var missingCA = standard
        missingCA[missingCA.firstIndex(of: "--ca")! + 1] = "/nonexistent/ca.pem"
        let noInput = try await ChildProcess.run(gatewayBinary, missingCA, environment: passphrase)
        #expect(noInput.status == 66, "\(noInput)")

        var expired = standard
        expired[expired.firstIndex(of: "--cert")! + 1] = Harness.pki.cert("expiredServer")
        expired[expired.firstIndex(of: "--key")! + 1] = Harness.pki.key("expiredServer")
        let badIdentity = try await ChildProcess.run(gatewayBinary, expired, environment: passphrase)
        #expect(badIdentity.status == 78, "\(badIdentity)")

        let wrongPassphrase = try await ChildProcess.run(
            gatewayBinary, standard, environment: ["SAMD_PASSPHRASE": "not the passphrase"])
        #expect(wrongPassphrase.status == 78, "\(wrongPassphrase)")
        #expect(!wrongPassphrase.standardError.contains("not the passphrase"))
        let noPassphrase = try await ChildProcess.run(gatewayBinary, standard, environment: ["SAMD_PASSPHRASE": ""])
        #expect(noPassphrase.status == 78, "\(noPassphrase)")

        // The passphrase from a file instead.
        let work = try Harness.TemporaryDirectory()
        let passphraseFile = work.file("passphrase")
        try Harness.writePrivate(Harness.passphrase + "\n", to: passphraseFile)
        let fromFile = try ChildProcess(
            gatewayBinary, standard + ["--passphrase-file", passphraseFile], environment: ["SAMD_PASSPHRASE": ""])
        #expect(
            await fromFile.wait { fromFile.standardOutput.text.hasPrefix("listening on 127.0.0.1:") },
            "\(fromFile.standardError.text)")
        fromFile.kill()

        // --client-ca, the spelling samd-tls serve has, names the client CA as --ca does; --help shows it alone.
        var clientCA = standard
        clientCA[clientCA.firstIndex(of: "--ca")!] = "--client-ca"
        let newSpelling = try ChildProcess(gatewayBinary, clientCA, environment: passphrase)
        #expect(
            await newSpelling.wait { newSpelling.standardOutput.text.hasPrefix("listening on 127.0.0.1:") },
            "\(newSpelling.standardError.text)")
        newSpelling.kill()
        let both = try await ChildProcess.run(
            gatewayBinary, standard + ["--client-ca", Harness.pki.root], environment: passphrase)
        #expect(both.status == 64, "\(both)")
        var noCA = standard
        noCA.removeSubrange(noCA.firstIndex(of: "--ca")!...noCA.firstIndex(of: "--ca")! + 1)
        let missing = try await ChildProcess.run(gatewayBinary, noCA, environment: passphrase)
        #expect(missing.status == 64, "\(missing)")
        #expect(missing.standardError.contains("--client-ca"), "\(missing)")

        let help = try await ChildProcess.run(gatewayBinary, ["serve", "--help"])
        for option in [
            "--reader", "--shredder", "--key-passphrase-file", "--passphrase-file", "--max-body-bytes", "--keystore",
            "--store",
        ] {
            #expect(help.output.contains(option), "\(option) missing from --help")
        }
        #expect(help.output.contains("--client-ca <file>"), "\(help.output)")
        #expect(!help.output.contains("--ca <file>"), "the old spelling is not advertised: \(help.output)")
    }

    @Test func rotateReportsEachBatchAndFinishesBesideAServingGateway() async throws {
        let gatewayBinary = try ProgramLocations.binary("samd-gateway")
        let stores = try Harness.Stores()
        let gateway = try await Harness.GatewayProcess(Harness.GatewayProcess.standardArguments(stores))
        defer { gateway.stop() }
        let device = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("device"))
        let reader = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("reader"))
        for index in 0..<12 {
            #expect(
                try await device.put(subject: "patient-\(index)", recordID: "r", body: [UInt8(index)]).status == 201)
        }

        let arguments = [
            "rotate", "--store", stores.storePath, "--keystore", stores.keysPath, "--new-version", "--batch-size", "5",
        ]
        let rotation = try await ChildProcess.run(
            gatewayBinary, arguments, environment: ["SAMD_PASSPHRASE": Harness.passphrase])
        #expect(rotation.status == 0, "\(rotation)")
        let lines = rotation.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(lines)")
        let pattern = /rotation: (\d+)\/12 subject keys, (\d+) rewrapped, \d+\.\d\/s/
        #expect(
            lines.prefix(3).compactMap { try? pattern.wholeMatch(in: $0).map { Int($0.1)! } } == [5, 10, 12], "\(lines)"
        )
        #expect(lines.last == "rotation finished: records:2, 12 subject keys", "\(lines)")

        // Records written before the rotation still read; the gateway kept serving throughout.
        for index in [0, 11] {
            let read = try await reader.get(subject: "patient-\(index)", recordID: "r")
            #expect(read.status == 200)
            #expect(read.body == [UInt8(index)])
        }
        #expect(try await device.put(subject: "patient-new", recordID: "r", body: [1]).status == 201)

        // Nothing left to do: finished at once, without a new version.
        let again = try await ChildProcess.run(
            gatewayBinary, Array(arguments.dropLast(3)), environment: ["SAMD_PASSPHRASE": Harness.passphrase])
        #expect(again.status == 0, "\(again)")
        #expect(again.output.hasSuffix("rotation finished: records:2, 13 subject keys\n"), "\(again)")
        await device.close()
        await reader.close()
    }

    @Test func rotateExits75WhileAnotherJobHoldsTheStore() async throws {
        let stores = try Harness.Stores()
        let lockPath = stores.storePath + "/rotation.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        try #require(flock(fd, LOCK_EX | LOCK_NB) == 0)
        let result = try await ChildProcess.run(
            try ProgramLocations.binary("samd-gateway"),
            ["rotate", "--store", stores.storePath, "--keystore", stores.keysPath, "--new-version"],
            environment: ["SAMD_PASSPHRASE": Harness.passphrase]
        )
        #expect(result.status == 75, "\(result)")
        #expect(result.output.isEmpty)
    }
}
