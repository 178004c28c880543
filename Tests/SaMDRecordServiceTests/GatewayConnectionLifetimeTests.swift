// How long a samd-gateway connection may live: a device revoked by a CRL reload while connected, and a
// connection past --max-connection-age, get their request in flight answered (Connection: close) and are
// then cut off. Real gateway processes, mutual TLS over loopback, certificates and CRLs made at test time.

import Foundation
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("samd-gateway connection lifetime")
struct GatewayConnectionLifetimeTests {
    static let host = "host: 127.0.0.1\r\n"

    static func put(_ id: String, _ body: String) -> String {
        "PUT /records/p/\(id) HTTP/1.1\r\n\(Self.host)content-length: \(body.utf8.count)\r\n\r\n\(body)"
    }

    /// A device certificate issued now by the test PKI's intermediate, written to `directory`, and a client
    /// context presenting it.
    static func device(_ id: String, in directory: Harness.TemporaryDirectory) throws -> (TestCertificate, TLSContext) {
        let certificate = try Harness.pki.pki.intermediate.issueDevice(id: id)
        try Harness.writePrivate(certificate.chainPEM, to: directory.file("\(id).pem"))
        try Harness.writePrivate(certificate.privateKeyPEM, to: directory.file("\(id).key"))
        let context = try TLSContext(
            configuration: .deviceClient(
                identity: .files(
                    certificateChain: directory.file("\(id).pem"), privateKey: directory.file("\(id).key")),
                trustRoots: .file(Harness.pki.root)
            ),
            logger: Harness.quiet
        )
        return (certificate, context)
    }

    /// With `storeFirst`, stores a record over `session` (answered without `Connection: close`: the connection
    /// is kept alive). Then sends the head of a second `PUT` with `Expect: 100-continue` and, once the gateway
    /// has taken it up (its `100 Continue` arrived), the first bytes of its body; returns the rest of the body.
    static func startARequest(_ session: RawClient.Session, storeFirst: Bool) async throws -> String {
        if storeFirst {
            try await session.write(Self.put("one", "first"))
            let first = await session.read(until: RawClient.responses(1))
            #expect(first.statuses == [201], "\(first)")
            #expect(!first.text.lowercased().contains("connection: close"), "\(first)")
            session.received = ""
        }
        let body = "second record"
        try await session.write(
            "PUT /records/p/two HTTP/1.1\r\n\(Self.host)content-length: \(body.utf8.count)\r\nexpect: 100-continue\r\n\r\n"
        )
        let continued = await session.read(until: { $0.contains("\r\n\r\n") })
        #expect(continued.statuses == [100], "\(continued)")
        session.received = ""
        try await session.write(String(body.prefix(6)))
        return String(body.dropFirst(6))
    }

    /// Sends `rest` of the request in flight: it must be answered 201 with `Connection: close`, and the gateway
    /// must then close the connection.
    static func finishTheRequestAndExpectTheEnd(_ session: RawClient.Session, rest: String) async throws {
        try await session.write(rest)
        let answer = await session.read(timeout: 30)
        #expect(answer.statuses == [201], "\(answer)")
        #expect(answer.text.lowercased().contains("connection: close"), "\(answer)")
        #expect(answer.closed, "the connection stayed open: \(answer)")
    }

    @Test func aDeviceRevokedWhileConnectedHasItsRequestAnsweredAndIsThenCutOff() async throws {
        let stores = try Harness.Stores()
        let directory = try Harness.TemporaryDirectory("samd-gateway-revoke")
        let pki = Harness.pki.pki
        let (victim, context) = try Self.device("revoked-while-connected", in: directory)
        let crl = directory.file("crl.pem")
        try Harness.writePrivate(pki.crlPEM + pki.rootCRLPEM, to: crl)
        // Not watched (interval 0): the CRL is reloaded on SIGHUP.
        let gateway = try await Harness.GatewayProcess(
            Harness.GatewayProcess.standardArguments(stores) + ["--crl", crl, "--identity-reload-interval", "0"]
        )
        defer { gateway.stop() }

        try await RawClient.session(port: gateway.port, context: context) { session in
            // The next request is in flight — its head and part of its body sent — when the device is revoked.
            let rest = try await Self.startARequest(session, storeFirst: true)
            let revoking = try pki.intermediate.makeCRL(
                revokingSerials: [pki.revokedDevice.serial, victim.serial], thisUpdate: Date() - 30)
            try Harness.writePrivate(revoking + pki.rootCRLPEM, to: crl)
            gateway.child.signal(SIGHUP)
            #expect(
                await gateway.waitForLog("samd.tls.connection-invalidated", timeout: .seconds(30)), "\(gateway.log)")

            // The request in flight is answered, with Connection: close, and the connection ends.
            try await Self.finishTheRequestAndExpectTheEnd(session, rest: rest)

            // Nothing more is accepted on it.
            session.received = ""
            try? await session.write(Self.put("three", "third"))
            let third = await session.read(timeout: 5)
            #expect(third.statuses.isEmpty, "\(third)")
        }
        #expect(gateway.log.contains("certificateRevoked"), "\(gateway.log)")
        #expect(gateway.log.contains("urn:samd:device:revoked-while-connected"), "\(gateway.log)")
        // A new connection of the revoked device is refused at the handshake; a reader sees what was stored.
        let reader = RecordClient(host: "127.0.0.1", port: gateway.port, context: try Harness.clientContext("reader"))
        #expect(try await reader.get(subject: "p", recordID: "two").body == Array("second record".utf8))
        let again = try? await RawClient.exchange(
            port: gateway.port, context: context, [Array(Self.put("four", "x").utf8)], timeout: 10)
        #expect(again.map { $0.statuses.isEmpty && $0.closed } ?? true, "\(String(describing: again))")
    }

    @Test func aConnectionOlderThanMaxConnectionAgeClosesAfterItsRequestInFlight() async throws {
        let stores = try Harness.Stores()
        let gateway = try await Harness.GatewayProcess(
            Harness.GatewayProcess.standardArguments(stores) + ["--max-connection-age", "3", "--idle-timeout", "60"]
        )
        defer { gateway.stop() }
        let context = try Harness.clientContext("device")

        try await RawClient.session(port: gateway.port, context: context) { session in
            // A request in flight when the connection reaches its maximum age (counted from the handshake).
            let rest = try await Self.startARequest(session, storeFirst: false)
            #expect(
                await gateway.waitForLog("samd.gateway.connection-max-age", timeout: .seconds(30)), "\(gateway.log)")
            try await Self.finishTheRequestAndExpectTheEnd(session, rest: rest)
        }

        // An idle connection is closed when it reaches the maximum age (the idle timeout is 60 s).
        try await RawClient.session(port: gateway.port, context: context) { session in
            let start = ContinuousClock.now
            let answer = await session.read(timeout: 30)
            #expect(answer.closed, "\(answer)")
            #expect(ContinuousClock.now - start < .seconds(20))
        }
    }
}
