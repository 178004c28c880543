// Pure parts of the record service: roles by SAN, the retry policy's delays, record types.

import Foundation
import SaMDRecordGateway
import SaMDRecordService
import SaMDTLS
import Testing

@Suite("Record service building blocks")
struct RoutingTests {
    static func peer(uris: [String] = [], dnsNames: [String] = []) -> TLSPeerIdentity {
        TLSPeerIdentity(
            subject: "CN=x", issuer: "CN=ca", serialNumber: "01", uris: uris, dnsNames: dnsNames, ipAddresses: [],
            emailAddresses: [],
            spkiSHA256: [UInt8](repeating: 0, count: 32), notAfter: Date(), certificateChain: []
        )
    }

    @Test func rolesAreGrantedBySANExactlyForURIsAndCaseInsensitivelyForDNSNames() throws {
        let configuration = RecordGatewayConfiguration(
            tls: try Harness.serverContext(),
            readers: ["spiffe://samd.test/reader", "reader.samd.test"],
            shredders: ["urn:uuid:0000"]
        )
        #expect(configuration.roles(of: Self.peer(uris: ["spiffe://samd.test/reader"])) == [.device, .reader])
        #expect(configuration.roles(of: Self.peer(uris: ["spiffe://samd.test/READER"])) == [.device])
        #expect(configuration.roles(of: Self.peer(uris: ["spiffe://samd.test/reader/x"])) == [.device])
        #expect(configuration.roles(of: Self.peer(dnsNames: ["Reader.SAMD.test"])) == [.device, .reader])
        #expect(
            configuration.roles(of: Self.peer(dnsNames: ["spiffe://samd.test/reader"])) == [.device],
            "a URI entry never matches a DNS SAN")
        #expect(
            configuration.roles(of: Self.peer(uris: ["urn:uuid:0000"], dnsNames: ["reader.samd.test"])) == [
                .device, .reader, .shredder,
            ])
        #expect(configuration.roles(of: Self.peer()) == [.device])
    }

    @Test func retryDelaysGrowExponentiallyUpToTheMaximumWithJitterTakenOff() {
        let policy = RetryPolicy(
            attempts: 8, initialDelay: .milliseconds(500), maximumDelay: .seconds(3), jitter: 0.2)
        #expect(policy.delay(beforeAttempt: 1) == .zero)
        #expect(policy.delay(beforeAttempt: 2, random: 0) == .milliseconds(500))
        #expect(policy.delay(beforeAttempt: 3, random: 0) == .seconds(1))
        #expect(policy.delay(beforeAttempt: 4, random: 0) == .seconds(2))
        #expect(policy.delay(beforeAttempt: 5, random: 0) == .seconds(3))
        #expect(policy.delay(beforeAttempt: 60, random: 0) == .seconds(3))
        #expect(abs(policy.delay(beforeAttempt: 3, random: 1) / .seconds(1) - 0.8) < 1e-9)
        #expect(RetryPolicy(attempts: 0).attempts == 1)
        #expect(RetryPolicy(jitter: 7).jitter == 1)
    }

    @Test func onlyNetworkFailuresAreRetried() {
        #expect(RetryPolicy.isRetryable(TLSError(.unreachable, "")))
        #expect(RetryPolicy.isRetryable(TLSError(.connectionClosed, "")))
        #expect(RetryPolicy.isRetryable(TLSError(.handshakeTimeout, "")))
        #expect(RetryPolicy.isRetryable(TLSError(.uncleanShutdown, "")))
        #expect(RetryPolicy.isRetryable(RecordServiceError(.timedOut, "")))
        for code in [
            TLSError.Code.certificateRequired, .unknownCA, .certificateExpired, .peerNotAllowed, .protocolVersion,
            .notTLS, .invalidIdentity,
        ] {
            #expect(!RetryPolicy.isRetryable(TLSError(code, "")), "\(code)")
        }
        #expect(!RetryPolicy.isRetryable(RecordServiceError(.invalidResponse, "")))
        #expect(!RetryPolicy.isRetryable(CancellationError()))
        #expect(RetryPolicy.isRetryable(status: 503))
        #expect(!RetryPolicy.isRetryable(status: 500))
    }

    @Test func exitCodesFollowSamdTLSConnect() {
        typealias Status = RecordServiceExitStatus
        #expect(Status.code(forConnection: TLSError(.unreachable, "")) == 69)
        #expect(Status.code(forConnection: TLSError(.certificateRequired, "", )) == 77)
        #expect(Status.code(forConnection: TLSError(.unknownCA, "")) == 77)
        #expect(Status.code(forConnection: TLSError(.protocolVersion, "")) == 76)
        #expect(Status.code(forConnection: TLSError(.invalidIdentity, "")) == 78)
        #expect(Status.code(forConnection: RecordServiceError(.timedOut, "")) == 76)
        #expect(Status.code(forStatus: 201) == 0)
        #expect(Status.code(forStatus: 403) == 77)
        #expect(Status.code(forStatus: 413) == 65)
        #expect(Status.code(forStatus: 503) == 75)
        #expect(Status.code(forStatus: 500) == 76)
    }

    @Test func recordTypes() {
        #expect(RecordTypes.recordType(forFileName: "patient.json") == "application/fhir+json")
        #expect(RecordTypes.recordType(forFileName: "bulk.NDJSON") == "application/fhir+ndjson")
        #expect(RecordTypes.recordType(forFileName: "adt.hl7") == "x-application/hl7-v2+er7")
        #expect(RecordTypes.recordType(forFileName: "slice.dcm") == "application/dicom")
        #expect(RecordTypes.recordType(forFileName: "notes.txt") == "application/octet-stream")
        #expect(RecordTypes.recordType(forFileName: ".json") == "application/octet-stream")
        #expect(RecordTypes.recordType(forFileName: "README") == "application/octet-stream")
        #expect(RecordTypes.isValid("application/fhir+json"))
        #expect(!RecordTypes.isValid("text/plain; charset=utf-8"))
    }
}
