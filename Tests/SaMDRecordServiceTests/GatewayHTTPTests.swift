// The gateway's HTTP surface in this process: roles, statuses, limits, and what is (never) logged.

import Foundation
import Logging
import NIOCore
import SaMDKeys
import SaMDRecordGateway
import SaMDRecordService
import SaMDStore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Synchronization
import Testing

@Suite("Records gateway over HTTPS (in process)")
struct GatewayHTTPTests {
    static let subject = "patient-7f3a91c2"
    static let recordID = "observation-0001.json"
    static let record = Array(
        #"{"resourceType":"Observation","id":"obs-1","status":"final","valueQuantity":{"value":72,"unit":"/min"}}"#.utf8
    )

    @Test func aDeviceWritesAReaderReadsAShredderShreds() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let device = try gateway.client("device")
        let reader = try gateway.client("reader")
        let shredder = try gateway.client("shredder")
        var bodies: [[UInt8]] = []

        let created = try await device.put(
            subject: Self.subject, recordID: Self.recordID, recordType: "application/fhir+json", body: Self.record)
        #expect(created.status == 201, "\(created)")
        #expect(created.revision == 1)
        #expect(created.contentType == "application/json")
        let replaced = try await device.put(
            subject: Self.subject, recordID: Self.recordID, recordType: "application/fhir+json", body: Self.record)
        #expect(replaced.status == 200)
        #expect(replaced.revision == 2)
        #expect(String(decoding: replaced.body, as: UTF8.self) == #"{"revision":2}"#)

        let deviceRead = try await device.get(subject: Self.subject, recordID: Self.recordID)
        #expect(deviceRead.status == 403)
        #expect(deviceRead.errorCode == "forbidden")

        let read = try await reader.get(subject: Self.subject, recordID: Self.recordID)
        #expect(read.status == 200)
        #expect(read.body == Self.record)
        #expect(read.contentType == "application/fhir+json")

        let missing = try await reader.get(subject: Self.subject, recordID: "observation-0002.json")
        #expect(missing.status == 404)

        let deviceShred = try await device.shred(subject: Self.subject)
        #expect(deviceShred.status == 403)
        let readerShred = try await reader.shred(subject: Self.subject)
        #expect(readerShred.status == 403)

        let shredded = try await shredder.shred(subject: Self.subject)
        #expect(shredded.status == 200, "\(shredded)")
        let receipt = try #require(try JSONSerialization.jsonObject(with: Data(shredded.body)) as? [String: Any])
        #expect((receipt["key"] as? String)?.hasPrefix("s-") == true, "\(receipt)")
        #expect((receipt["records"] as? Int) == 1)
        #expect((receipt["destroyed_at"] as? String).flatMap { try? Date($0, strategy: .iso8601) } != nil, "\(receipt)")

        let gone = try await reader.get(subject: Self.subject, recordID: Self.recordID)
        #expect(gone.status == 410)
        #expect(gone.errorCode == "gone")
        let nothing = try await shredder.shred(subject: "patient-never-seen")
        #expect(nothing.status == 404)

        bodies = [created, replaced, deviceRead, read, missing, deviceShred, readerShred, shredded, gone, nothing]
            .filter { $0.contentType == "application/json" }.map(\.body)
        for body in bodies {
            let text = String(decoding: body, as: UTF8.self)
            #expect(
                !text.contains(Self.subject) && !text.contains(Self.recordID) && !text.contains("patient-never-seen"),
                "an id echoed: \(text)")
        }

        // Security events: who did what, by certificate — never which patient or record.
        let events = gateway.events
        #expect(events.events("samd.gateway.record-stored").count == 2)
        #expect(events.events("samd.gateway.record-stored").first?.metadata["peer"] == TestPKI.deviceURI)
        #expect(events.events("samd.gateway.record-read").first?.metadata["peer"] == TestPKI.readerURI)
        let refused = events.events("samd.gateway.request-refused")
        #expect(refused.count == 3)
        #expect(refused.map { $0.metadata["role"] } == ["reader", "shredder", "shredder"])
        #expect(refused.first?.metadata["route"] == "/records/{subject}/{id}")
        let shredEvent = try #require(events.events("samd.gateway.subject-shredded").first)
        #expect(shredEvent.metadata["peer"] == Harness.shredderURI)
        #expect(shredEvent.metadata["records"] == "1")
        let logged = events.allText
        for secret in [
            Self.subject, Self.recordID, "patient-never-seen", String(decoding: Self.record, as: UTF8.self),
            "observation-0002",
        ] {
            #expect(!logged.contains(secret), "patient data in the log: \(secret)")
        }

        let statistics = gateway.gateway.statistics
        #expect(statistics.handshakesSucceeded == 3, "one kept-alive connection per client: \(statistics)")
        #expect(statistics.handshakesFailed == 0)
        #expect(statistics.responses2xx == 4)
        #expect(statistics.responses4xx == 6)
        #expect(statistics.bytesIn == 2 * Self.record.count)
        await gateway.stop()
    }

    @Test func healthUnknownPathsAndWrongMethods() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let device = try gateway.client("device")
        let health = try await device.health()
        #expect(health.status == 200)
        #expect(String(decoding: health.body, as: UTF8.self) == #"{"status":"ok"}"#)

        for path in [
            "/", "/nope", "/records", "/records/a", "/records/a/b/c", "/subjects", "/subjects/a/b", "/healthz/x", "*",
        ] {
            let response = try await device.send(method: "GET", path: path)
            #expect(response.status == 404, "\(path): \(response.status)")
        }
        for (method, path) in [
            ("POST", "/records/a/b"), ("DELETE", "/records/a/b"), ("GET", "/subjects/a"), ("PUT", "/subjects/a"),
            ("POST", "/healthz"), ("PATCH", "/records/a/b"),
        ] {
            let response = try await device.send(method: method, path: path, body: method == "GET" ? nil : [])
            #expect(response.status == 405, "\(method) \(path): \(response.status)")
        }
        // A query string does not change the route.
        let withQuery = try await device.send(method: "GET", path: "/healthz?verbose=1")
        #expect(withQuery.status == 200)
        await gateway.stop()
    }

    @Test func badPercentEncodingAndRefusedShapesAre400() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let reader = try gateway.client("reader")
        let device = try gateway.client("device")
        for path in ["/records/%ZZ/x", "/records/a/%4", "/records/a/%", "/records/%FF%FE/x", "/records/a/%C3%28"] {
            let response = try await reader.send(method: "GET", path: path)
            #expect(response.status == 400, "\(path): \(response.status)")
        }
        // The role is judged before the path's encoding.
        #expect(try await device.send(method: "GET", path: "/records/%ZZ/x").status == 403)

        // Shapes the store refuses: control characters, more than 512 bytes, an empty id. The typed client does
        // not send them; sent anyway, the gateway answers 400.
        for (subject, recordID) in [("a\nb", "x"), ("a", String(repeating: "r", count: 513)), ("a", "")] {
            await #expect(throws: RecordServiceError(.invalidRequest, "")) {
                try await device.put(subject: subject, recordID: recordID, body: [1, 2, 3])
            }
            let encoded = [subject, recordID].map { $0.addingPercentEncoding(withAllowedCharacters: .alphanumerics)! }
            let response = try await device.send(
                method: "PUT", path: "/records/\(encoded[0])/\(encoded[1])", body: [1, 2, 3])
            // An empty id is an empty path segment, which no route has: 404 before routing (Hummingbird's router
            // skips empty segments, so the gateway refuses them first), never the store.
            #expect(response.status == (recordID.isEmpty ? 404 : 400), "\(response)")
        }
        for type in ["text/plain; charset=utf-8", "", "a b", String(repeating: "t", count: 128)] {
            let response = try await device.send(
                method: "PUT", path: "/records/a/b", headers: [("content-type", type)], body: [1])
            #expect(response.status == 400, "\(type): \(response.status)")
        }
        let untyped = try await device.send(method: "PUT", path: "/records/a/untyped", body: [1, 2])
        #expect(untyped.status == 201)
        let read = try await reader.get(subject: "a", recordID: "untyped")
        #expect(read.contentType == "application/octet-stream")
        #expect(read.body == [1, 2])
        await gateway.stop()
    }

    /// Dot segments, raw or percent-encoded in any case, as subject or record id, on every route: 400 before
    /// the store, nothing stored, no subject key made — an id that any HTTP client would normalise away never
    /// reaches the store.
    @Test func dotSegmentIdsAre400AndNeverReachTheStore() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let device = try gateway.client("device")
        let reader = try gateway.client("reader")
        let shredder = try gateway.client("shredder")
        let dots = [".", "..", "%2e", "%2E", "%2e%2E", "%2E%2e", ".%2e", "%2e."]
        for segment in dots {
            for path in ["/records/\(segment)/x", "/records/s1/\(segment)", "/records/\(segment)/\(segment)"] {
                let put = try await device.send(
                    method: "PUT", path: path, headers: [("content-type", "application/octet-stream")], body: [1, 2, 3])
                #expect(put.status == 400, "PUT \(path): \(put.status)")
                #expect(put.errorCode == "invalid-request", "PUT \(path)")
                let get = try await reader.send(method: "GET", path: path)
                #expect(get.status == 400, "GET \(path): \(get.status)")
            }
            let shred = try await shredder.send(method: "DELETE", path: "/subjects/\(segment)")
            #expect(shred.status == 400, "DELETE /subjects/\(segment): \(shred.status)")
        }
        // The typed client never sends them: a proxy on the way would normalise the path to another resource.
        let before = gateway.gateway.statistics.requests
        await #expect(throws: RecordServiceError(.invalidRequest, "")) {
            try await device.put(subject: "..", recordID: "x", body: [1])
        }
        await #expect(throws: RecordServiceError(.invalidRequest, "")) {
            try await device.put(subject: "s1", recordID: ".", body: [1])
        }
        await #expect(throws: RecordServiceError(.invalidRequest, "")) {
            try await reader.get(subject: ".", recordID: "x")
        }
        await #expect(throws: RecordServiceError(.invalidRequest, "")) { try await shredder.shred(subject: "..") }
        #expect(gateway.gateway.statistics.requests == before, "nothing was sent")
        #expect(try await gateway.stores.store.statistics().recordCount == 0)
        #expect(try gateway.stores.keyStore.subjectKeyNames().isEmpty, "no subject key for a refused id")
        // Ids that only contain dots are ids.
        #expect(try await device.put(subject: "...", recordID: ".x", body: [1]).status == 201)
        #expect(try await reader.get(subject: "...", recordID: ".x").status == 200)
        await gateway.stop()
    }

    @Test func idsWithReservedAndNonASCIICharactersRoundTrip() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let device = try gateway.client("device")
        let reader = try gateway.client("reader")
        let subject = "patient/Zoë 1?#"
        let recordID = "obs 100%.json"
        let stored = try await device.put(
            subject: subject, recordID: recordID, recordType: "application/fhir+json", body: Self.record)
        #expect(stored.status == 201)
        let read = try await reader.get(subject: subject, recordID: recordID)
        #expect(read.status == 200)
        #expect(read.body == Self.record)
        // "/" inside an id is one segment once encoded: this other address holds nothing.
        #expect(try await reader.get(subject: "patient", recordID: "Zoë 1?#").status == 404)
        await gateway.stop()
    }

    @Test func bodiesOverTheLimitAre413AndTheClientCarriesOn() async throws {
        let gateway = try await Harness.InProcessGateway.start(maximumBodyByteCount: 1024)
        let device = try gateway.client("device")
        let reader = try gateway.client("reader")

        let declared = try await device.put(subject: "p", recordID: "big", body: [UInt8](repeating: 7, count: 4096))
        #expect(declared.status == 413, "\(declared)")
        #expect(declared.errorCode == "payload-too-large")
        let chunked = try await device.send(
            method: "PUT",
            path: "/records/p/big-chunked",
            headers: [("transfer-encoding", "chunked")],
            body: [UInt8](repeating: 8, count: 64 << 10)
        )
        #expect(chunked.status == 413, "\(chunked)")

        // At the limit exactly: stored, and the same client goes on (a new connection after each 413).
        let fits = try await device.put(subject: "p", recordID: "fits", body: [UInt8](repeating: 9, count: 1024))
        #expect(fits.status == 201, "\(fits)")
        let smallChunked = try await device.send(
            method: "PUT", path: "/records/p/chunked", headers: [("transfer-encoding", "chunked")],
            body: [UInt8](repeating: 5, count: 1000)
        )
        #expect(smallChunked.status == 201)
        #expect(try await reader.get(subject: "p", recordID: "chunked").body == [UInt8](repeating: 5, count: 1000))
        #expect(try await reader.get(subject: "p", recordID: "big").status == 404)

        let events = gateway.events.events("samd.gateway.body-too-large")
        #expect(events.count == 2)
        #expect(events.first?.metadata["content_length"] == "4096")
        #expect(events.first?.metadata["limit"] == "1024")
        await gateway.stop()
    }

    @Test func oneKeptAliveConnectionServesManyRequests() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let device = try gateway.client("device")
        for index in 0..<5 {
            #expect(try await device.put(subject: "p", recordID: "r\(index)", body: [UInt8(index)]).status == 201)
        }
        #expect(try await device.health().status == 200)
        #expect(gateway.gateway.statistics.handshakesSucceeded == 1)
        #expect(gateway.gateway.statistics.openConnections == 1)
        await device.close()
        await gateway.stop()
    }

    @Test func aConnectionTheServerClosedIsReopenedWithTLSResumption() async throws {
        let recorder = LogRecorder()
        let stores = try Harness.Stores()
        let gateway = try await RecordGateway.start(
            host: "127.0.0.1",
            port: 0,
            // 10 s: long enough that a loaded machine does not let the idle timer close the first connection
            // between the handshake and the first request (CI saw it at 3 s), short enough to wait for.
            configuration: RecordGatewayConfiguration(
                tls: try Harness.serverContext(logger: recorder.logger), idleTimeout: .seconds(10)),
            store: stores.store,
            logger: recorder.logger
        )
        let device = RecordClient(
            host: "127.0.0.1", port: gateway.localAddress.port!, context: try Harness.clientContext("device"))
        #expect(try await device.put(subject: "p", recordID: "r", body: [1]).status == 201)

        // The gateway closes the idle connection; the next request connects again, resuming the TLS session.
        #expect(
            await eventually(timeout: 40) { gateway.statistics.openConnections == 0 },
            "the idle connection was not closed")
        let before = gateway.statistics.handshakesSucceeded
        #expect(try await device.health().status == 200)
        #expect(gateway.statistics.handshakesSucceeded == before + 1)
        let handshakes = recorder.events("samd.tls.handshake-succeeded")
        #expect(handshakes.last?.metadata["resumed"] == "true", "\(handshakes.map(\.metadata))")
        #expect(handshakes.last?.metadata["peer"] == TestPKI.deviceURI)
        await device.close()
        await gateway.stop()
    }

    @Test func aTamperedRowIs500WithASecurityEvent() async throws {
        let python = try ProgramLocations.requiredTool("python3")
        let gateway = try await Harness.InProcessGateway.start()
        let device = try gateway.client("device")
        let reader = try gateway.client("reader")
        #expect(try await device.put(subject: Self.subject, recordID: Self.recordID, body: Self.record).status == 201)

        // Another process flips the last byte (the tag) of every stored envelope.
        let script = """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            for index, envelope in db.execute("SELECT record_index, envelope FROM record").fetchall():
                changed = bytearray(envelope); changed[-1] ^= 1
                db.execute("UPDATE record SET envelope = ? WHERE record_index = ?", (bytes(changed), index))
            db.commit()
            """
        let tamper = try await ChildProcess.run(
            python, ["-c", script, gateway.stores.storePath + "/" + EncryptedRecordStore.databaseFileName])
        try #require(tamper.status == 0, "\(tamper)")

        let read = try await reader.get(subject: Self.subject, recordID: Self.recordID)
        #expect(read.status == 500)
        #expect(read.errorCode == "internal-error")
        let event = try #require(gateway.events.events("samd.gateway.record-authentication-failed").first)
        #expect(event.level == .error)
        #expect(event.metadata["peer"] == TestPKI.readerURI)
        #expect(!gateway.events.allText.contains(Self.subject))
        #expect(gateway.gateway.statistics.responses5xx == 1)
        await gateway.stop()
    }

    @Test func aClientWithoutTheGatewaysCAIsRefusedAndNotRetried() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let stranger = try gateway.client("unknownCADevice")
        let attempts = Attempts()
        await #expect(throws: TLSError(.unknownCA, "")) {
            _ = try await stranger.upload(
                subject: "p", recordID: "r", body: [1],
                policy: RetryPolicy(attempts: 5, initialDelay: .milliseconds(10))
            ) { _, _, _ in
                attempts.increment()
            }
        }
        #expect(attempts.count == 0)
        #expect(await eventually { gateway.gateway.statistics.handshakesFailed == 1 })
        #expect(gateway.gateway.statistics.handshakesSucceeded == 0)
        await gateway.stop()
    }

    @Test func theConfigurationIsCheckedBeforeListening() async throws {
        let stores = try Harness.Stores()
        let server = try Harness.serverContext()
        let invalid: [RecordGatewayConfiguration] = [
            RecordGatewayConfiguration(tls: try Harness.clientContext("device")),
            RecordGatewayConfiguration(
                tls: try TLSContext(
                    configuration: .server(
                        identity: .files(
                            certificateChain: Harness.pki.cert("server"), privateKey: Harness.pki.key("server"))))
            ),
            RecordGatewayConfiguration(tls: server, readers: [""]),
            RecordGatewayConfiguration(tls: server, shredders: ["10.0.0.7"]),
            RecordGatewayConfiguration(tls: server, maximumBodyByteCount: 0),
            RecordGatewayConfiguration(tls: server, idleTimeout: .zero),
            RecordGatewayConfiguration(tls: server, idleTimeout: .milliseconds(999)),
            RecordGatewayConfiguration(tls: server, maximumConnectionAge: .nanoseconds(1)),
        ]
        for configuration in invalid {
            await #expect(throws: RecordServiceError(.invalidConfiguration, "")) {
                _ = try await RecordGateway.start(
                    host: "127.0.0.1", port: 0, configuration: configuration, store: stores.store)
            }
        }
    }

    @Test func stopClosesIdleConnectionsAndStopsListening() async throws {
        let gateway = try await Harness.InProcessGateway.start()
        let device = try gateway.client("device")
        #expect(try await device.health().status == 200)
        #expect(gateway.gateway.statistics.openConnections == 1)
        await gateway.stop()
        #expect(gateway.gateway.statistics.openConnections == 0)
        // Refused; or, when a server of a test running in parallel was given the freed port meanwhile, a
        // handshake that fails (it does not know this client): either way, not this gateway.
        let error = await #expect(throws: TLSError.self) { _ = try await device.health() }
        #expect(error?.code == .unreachable || error?.code == .connectionClosed, "\(String(describing: error))")
    }
}

/// Counts calls from a `@Sendable` closure.
final class Attempts: Sendable {
    private let value = Mutex(0)
    func increment() { self.value.withLock { $0 += 1 } }
    var count: Int { self.value.withLock { $0 } }
}
