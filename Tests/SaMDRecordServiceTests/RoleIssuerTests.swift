// Roles bound to the CA that issued them (issue 13, item 10): over real mutual TLS, with two CAs the gateway
// trusts — the device CA and a separate staff CA — a device CA that puts the reader's or shredder's SAN into a
// certificate gets no role (403), the staff CA's certificate does (200), and a CA that only copies the staff
// CA's name gets nothing either: the decision is by the verified chain's keys, not by names.

import Foundation
import Logging
import NIOCore
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

@Suite("Roles bound to their issuing CA")
struct RoleIssuerTests {
    /// The test PKI's device hierarchy plus a staff root, and an impostor root with the staff root's very name.
    final class TwoCAs: Sendable {
        let directory: Harness.TemporaryDirectory
        let staffRoot: TestCertificateAuthority
        let trustFile: String
        let staffCAFile: String

        init() throws {
            self.directory = try Harness.TemporaryDirectory("samd-role-ca")
            self.staffRoot = try .makeRoot(commonName: "SaMDKit Staff Root", organization: "SaMDKit Staff")
            let impostor = try TestCertificateAuthority.makeRoot(
                commonName: "SaMDKit Staff Root", organization: "SaMDKit Staff")
            self.trustFile = self.directory.file("trust.pem")
            self.staffCAFile = self.directory.file("staff-ca.pem")
            let pki = Harness.pki.pki
            // The gateway trusts all three roots: the devices', the staff's, and the impostor's.
            try Harness.writePrivate(
                pki.root.certificate.certificatePEM + self.staffRoot.certificate.certificatePEM
                    + impostor.certificate.certificatePEM,
                to: self.trustFile
            )
            try Harness.writePrivate(self.staffRoot.certificate.certificatePEM, to: self.staffCAFile)
            let clients: [(String, TestCertificateAuthority, [TestSAN])] = [
                ("staffReader", self.staffRoot, [.uri(TestPKI.readerURI)]),
                ("staffShredder", self.staffRoot, [.uri(Harness.shredderURI)]),
                ("deviceCAReader", pki.intermediate, [.uri(TestPKI.readerURI)]),
                ("deviceCAShredder", pki.intermediate, [.uri(Harness.shredderURI)]),
                ("impostorReader", impostor, [.uri(TestPKI.readerURI)]),
            ]
            for (name, ca, sans) in clients {
                let certificate = try ca.issueLeaf(commonName: name, sans: sans, ekus: [.clientAuth])
                try Harness.writePrivate(certificate.chainPEM, to: self.directory.file(name + ".pem"))
                try Harness.writePrivate(certificate.privateKeyPEM, to: self.directory.file(name + ".key"))
            }
        }

        /// A client context presenting `name` (one of the certificates above, or one of the harness PKI's).
        func clientContext(_ name: String) throws -> TLSContext {
            let local = FileManager.default.fileExists(atPath: self.directory.file(name + ".pem"))
            return try TLSContext(
                configuration: .deviceClient(
                    identity: .files(
                        certificateChain: local ? self.directory.file(name + ".pem") : Harness.pki.cert(name),
                        privateKey: local ? self.directory.file(name + ".key") : Harness.pki.key(name)
                    ),
                    trustRoots: .file(Harness.pki.root)
                ),
                logger: Harness.quiet
            )
        }
    }

    static func startGateway(_ cas: TwoCAs, bound: Bool, events: LogRecorder, tlsEvents: LogRecorder) async throws -> (
        RecordGateway, Harness.Stores
    ) {
        let stores = try Harness.Stores()
        let staff = try TLSIssuingAuthority.load(.file(cas.staffCAFile))
        let configuration = RecordGatewayConfiguration(
            tls: try TLSContext(
                configuration: .gatewayServer(
                    identity: .files(
                        certificateChain: Harness.pki.cert("server"), privateKey: Harness.pki.key("server")),
                    clientTrustRoots: .file(cas.trustFile)
                ),
                logger: tlsEvents.logger
            ),
            readers: [TestPKI.readerURI],
            shredders: [Harness.shredderURI],
            readerIssuers: bound ? staff : [],
            shredderIssuers: bound ? staff : []
        )
        let gateway = try await RecordGateway.start(
            host: "127.0.0.1", port: 0, configuration: configuration, store: stores.store, logger: events.logger)
        return (gateway, stores)
    }

    @Test func aDeviceCACannotMintAReaderOrShredderWhileTheStaffCACan() async throws {
        let cas = try TwoCAs()
        let events = LogRecorder()
        let (gateway, stores) = try await Self.startGateway(cas, bound: true, events: events, tlsEvents: LogRecorder())
        let port = gateway.localAddress.port!
        func client(_ name: String) throws -> RecordClient {
            RecordClient(host: "127.0.0.1", port: port, context: try cas.clientContext(name))
        }
        let device = try client("device")
        let stored = try await device.put(subject: "p", recordID: "r", body: [7])
        #expect(stored.status == 201, "\(stored.status) \(String(decoding: stored.body, as: UTF8.self))")
        for name in ["deviceCAReader", "impostorReader"] {
            let reader = try client(name)
            let read = try await reader.get(subject: "p", recordID: "r")
            #expect(read.status == 403, "\(name): \(read.status)")
            #expect(read.errorCode == "forbidden")
            #expect(
                try await reader.put(subject: "p", recordID: "q-\(name)", body: [1]).status == 201,
                "\(name) is still a device")
            await reader.close()
        }
        let staffReader = try client("staffReader")
        let read = try await staffReader.get(subject: "p", recordID: "r")
        #expect(read.status == 200 && read.body == [7])
        // The harness PKI's own reader (device CA, the reader SAN) is refused too once the role is bound.
        let harnessReader = try client("reader")
        #expect(try await harnessReader.get(subject: "p", recordID: "r").status == 403)

        let deviceCAShredder = try client("deviceCAShredder")
        #expect(try await deviceCAShredder.shred(subject: "p").status == 403)
        #expect(try await stores.store.get(subject: "p", recordID: "r").payload == [7], "nothing was shredded")
        let staffShredder = try client("staffShredder")
        #expect(try await staffShredder.shred(subject: "p").status == 200)

        #expect(
            events.events("samd.gateway.started").first?.metadata["reader_cas"]
                == "CN=SaMDKit Staff Root,O=SaMDKit Staff")
        let notIssued = events.events("samd.gateway.role-not-issued")
        #expect(
            Set(notIssued.compactMap { $0.metadata["peer"] }) == [TestPKI.readerURI, Harness.shredderURI],
            "\(notIssued.map(\.metadata))")
        #expect(Set(notIssued.compactMap { $0.metadata["role"] }) == ["reader", "shredder"])
        for client in [device, staffReader, harnessReader, deviceCAShredder, staffShredder] { await client.close() }
        await gateway.stop()
    }

    /// Without the binding (as before), every trusted CA can mint the role: the test above fails for the
    /// right reason, not because these certificates would not work at all.
    @Test func withoutTheBindingAnyTrustedCAMintsTheRole() async throws {
        let cas = try TwoCAs()
        let (gateway, stores) = try await Self.startGateway(
            cas, bound: false, events: LogRecorder(), tlsEvents: LogRecorder())
        let port = gateway.localAddress.port!
        let device = RecordClient(host: "127.0.0.1", port: port, context: try cas.clientContext("device"))
        let stored = try await device.put(subject: "p", recordID: "r", body: [7])
        #expect(stored.status == 201, "\(stored.status) \(String(decoding: stored.body, as: UTF8.self))")
        for name in ["deviceCAReader", "impostorReader", "staffReader"] {
            let reader = RecordClient(host: "127.0.0.1", port: port, context: try cas.clientContext(name))
            #expect(try await reader.get(subject: "p", recordID: "r").status == 200, "\(name)")
            await reader.close()
        }
        await device.close()
        await gateway.stop()
        withExtendedLifetime(stores) {}
    }

    /// A resumed session verifies no chain: the role is what the full handshake found for that certificate —
    /// kept for the staff reader, still refused for the device CA's.
    @Test func aResumedSessionKeepsWhatItsFullHandshakeFound() async throws {
        let cas = try TwoCAs()
        let tlsEvents = LogRecorder()
        let (gateway, stores) = try await Self.startGateway(
            cas, bound: true, events: LogRecorder(), tlsEvents: tlsEvents)
        let port = gateway.localAddress.port!
        let device = RecordClient(host: "127.0.0.1", port: port, context: try cas.clientContext("device"))
        let stored = try await device.put(subject: "p", recordID: "r", body: [7])
        #expect(stored.status == 201, "\(stored.status) \(String(decoding: stored.body, as: UTF8.self))")
        for (name, status) in [("staffReader", 200), ("deviceCAReader", 403)] {
            let context = try cas.clientContext(name)
            for attempt in 1...2 {
                let reader = RecordClient(host: "127.0.0.1", port: port, context: context)
                #expect(
                    try await reader.get(subject: "p", recordID: "r").status == status, "\(name), connection \(attempt)"
                )
                await reader.close()
                let last = tlsEvents.events("samd.tls.handshake-succeeded").last
                #expect(
                    last?.metadata["resumed"] == (attempt == 1 ? "false" : "true"),
                    "\(name), connection \(attempt): \(String(describing: last?.metadata))")
            }
        }
        await device.close()
        await gateway.stop()
        withExtendedLifetime(stores) {}
    }

    /// `samd-gateway serve --reader-ca`: the program as an operator runs it, with the two CAs.
    @Test func samdGatewayBindsTheReaderRoleToReaderCA() async throws {
        let cas = try TwoCAs()
        let stores = try Harness.Stores()
        var arguments = Harness.GatewayProcess.standardArguments(stores)
        arguments[arguments.firstIndex(of: "--ca")! + 1] = cas.trustFile
        let gateway = try await Harness.GatewayProcess(arguments + ["--reader-ca", cas.staffCAFile])
        let port = gateway.port
        let device = RecordClient(host: "127.0.0.1", port: port, context: try cas.clientContext("device"))
        #expect(try await device.put(subject: "p", recordID: "r", body: [7]).status == 201)
        let deviceCAReader = RecordClient(
            host: "127.0.0.1", port: port, context: try cas.clientContext("deviceCAReader"))
        #expect(try await deviceCAReader.get(subject: "p", recordID: "r").status == 403)
        let staffReader = RecordClient(host: "127.0.0.1", port: port, context: try cas.clientContext("staffReader"))
        #expect(try await staffReader.get(subject: "p", recordID: "r").status == 200)
        // --shredder-ca not given: the shred role is not bound, any trusted CA's shredder SAN holds it.
        let deviceCAShredder = RecordClient(
            host: "127.0.0.1", port: port, context: try cas.clientContext("deviceCAShredder"))
        #expect(try await deviceCAShredder.shred(subject: "p").status == 200)
        #expect(await gateway.waitForLog("samd.gateway.role-not-issued"), "\(gateway.log)")
        for client in [device, deviceCAReader, staffReader, deviceCAShredder] { await client.close() }
        gateway.stop()

        // Setup errors: a role CA without its role is usage (64); a file without a CA certificate is 78.
        let binary = try ProgramLocations.binary("samd-gateway")
        let environment = ["SAMD_PASSPHRASE": Harness.passphrase]
        var unbound = ["serve", "--listen", "127.0.0.1:0"] + Harness.GatewayProcess.standardArguments(stores)
        unbound.removeSubrange(unbound.firstIndex(of: "--shredder")!...unbound.firstIndex(of: "--shredder")! + 1)
        let usage = try await ChildProcess.run(
            binary, unbound + ["--shredder-ca", cas.staffCAFile], environment: environment)
        #expect(usage.status == 64, "\(usage)")
        let standard = ["serve", "--listen", "127.0.0.1:0"] + Harness.GatewayProcess.standardArguments(stores)
        let leaf = try await ChildProcess.run(
            binary, standard + ["--reader-ca", cas.directory.file("staffReader.pem")], environment: environment)
        #expect(leaf.status == 78 && leaf.standardError.contains("not a CA certificate"), "\(leaf)")
        let missing = try await ChildProcess.run(
            binary, standard + ["--reader-ca", cas.directory.file("missing.pem")], environment: environment)
        #expect(missing.status == 66, "\(missing)")
    }

    @Test func issuingCAFilesMustHoldCACertificates() throws {
        let cas = try TwoCAs()
        let staff = try TLSIssuingAuthority.load(.file(cas.staffCAFile))
        #expect(staff.count == 1 && staff[0].spkiSHA256.count == 32)
        #expect(staff[0].spkiSHA256 == cas.staffRoot.certificate.spkiSHA256())
        #expect(throws: TLSError.self) { try TLSIssuingAuthority.load(.file(cas.directory.file("staffReader.pem"))) } // a leaf first
        #expect(throws: TLSError.self) { try TLSIssuingAuthority.load(.bytes(Array("not PEM".utf8))) }
        #expect(throws: TLSError.self) { try TLSIssuingAuthority.load(.file(cas.directory.file("missing.pem"))) }
    }
}
