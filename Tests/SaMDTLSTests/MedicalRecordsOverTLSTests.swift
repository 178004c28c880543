import NIOCore
import SaMDTLS
import SaMDTLSTestSupport
import SaMDTestSupport
import Testing

/// The shared real medical records (FHIR, Synthea, HL7 v2, DICOM), each sent by a device over mutual TLS to
/// a gateway and echoed back: every byte arrives exactly, whatever the record's size or content.
@Suite("Real medical records over mutual TLS")
struct MedicalRecordsOverTLSTests {
    @Test func everyRecordCrossesTheChannelExactly() async throws {
        let records = try MedicalRecords.load(from: MedicalRecords.packageFolder)
        #expect(records.count >= 30)
        #expect(records.contains { $0.1.count > 3_000_000 }, "the multi-megabyte Synthea record is included")
        try await AsyncLoopbackTests.withEchoServer(Fixtures.serverConfiguration()) { port in
            let device = try Fixtures.context(Fixtures.clientConfiguration(Fixtures.pki.device))
            for (name, bytes) in records {
                let connection = try await TLSClient.connect(host: "127.0.0.1", port: port, context: device)
                let echoed = try await AsyncLoopbackTests.exchange(connection, bytes)
                #expect(echoed == bytes, "\(name)")
            }
        }
    }
}
