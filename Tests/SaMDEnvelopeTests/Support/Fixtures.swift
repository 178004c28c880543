import Foundation
import SaMDCrypto
import SaMDTestSupport
import Testing

@testable import SaMDEnvelope

/// Keys and records shared by the envelope tests.
enum Fixtures {
    static let kekID = try! KeyIdentifier(name: "records", version: 1)
    static let kek2ID = try! KeyIdentifier(name: "records", version: 2)
    static let kek = try! SecureBytes(randomByteCount: 32)
    static let kek2 = try! SecureBytes(randomByteCount: 32)
    static let keys = StaticKeyProvider(keys: [kekID: kek, kek2ID: kek2])
    static let sealingKey = SealingKey.keyEncryptionKey(kekID, kek)

    static func context(patient: String = "patient-7", record: String = "obs-42", type: String = "fhir")
        -> EncryptionContext
    {
        try! EncryptionContext([("patient", patient), ("record", record), ("type", type)])
    }

    /// Every file of the shared medical records (FHIR, Synthea, HL7 v2, DICOM), as (relative path, bytes).
    static func records() throws -> [(String, [UInt8])] {
        try MedicalRecords.load(from: try #require(Bundle.module.url(forResource: "records", withExtension: nil)))
    }
}

/// The elements of `array` as an asynchronous sequence.
func asyncSequence(_ array: [[UInt8]]) -> AsyncStream<[UInt8]> {
    AsyncStream { continuation in
        for element in array { continuation.yield(element) }
        continuation.finish()
    }
}
