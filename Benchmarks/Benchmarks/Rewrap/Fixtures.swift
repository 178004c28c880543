import BenchmarkCatalog
import BenchmarkSupport
import CReference
import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDStore
import Synchronization

/// One 1 KiB record sealed under KEK version 1, whose header is rewrapped to version 2.
struct RewrapFixture {
    let header: EnvelopeHeader
    let payload: ArraySlice<UInt8>
    let plaintext = [UInt8](repeating: 0x42, count: 1024)
    let keys: StaticKeyProvider
    let newKey: SealingKey
    let context: EncryptionContext

    init() throws {
        let old = try KeyIdentifier(name: "records-kek", version: 1)
        let new = try KeyIdentifier(name: "records-kek", version: 2)
        let oldKEK = try SecureBytes(randomByteCount: 32)
        let newKEK = try SecureBytes(randomByteCount: 32)
        self.context = try EncryptionContext([
            ("subject", "patient-1"), ("record", "record-1"), ("type", "application/fhir+json"),
        ])
        let sealed = try Envelope.seal(self.plaintext, context: self.context, to: .keyEncryptionKey(old, oldKEK))
        self.header = try EnvelopeHeader.parse(sealed)
        self.payload = sealed[self.header.byteCount...]
        self.keys = StaticKeyProvider(keys: [old: oldKEK, new: newKEK])
        self.newKey = .keyEncryptionKey(new, newKEK)
    }

    /// The rewrapped header, put in front of the untouched payload, opens to the record.
    func check(_ header: EnvelopeHeader?) throws {
        guard let header else { throw BenchmarkCheckFailure(description: "no header was rewrapped") }
        try BenchmarkCheck.that(header.key == self.newKey.identifier, "the header names \(header.key)")
        let opened = try Envelope.open(header.encoded + self.payload, context: self.context, keys: self.keys)
        try BenchmarkCheck.equal(opened, self.plaintext)
    }
}

/// A 32-byte DEK wrapped as the header wraps it (AES-256-GCM, random 96-bit nonce, the header prefix as
/// associated data), rewrapped with one keyed EVP context per KEK: unwrap, new nonce, wrap, erase.
final class RawRewrap {
    private let old: OpaquePointer
    private let new: OpaquePointer
    private let associatedData = [UInt8](repeating: 0x5A, count: 28)
    private(set) var wrappedDEK = [UInt8](repeating: 0, count: 12 + 32 + 16)

    init() {
        var oldKEK = [UInt8](repeating: 0, count: 32)
        var newKEK = [UInt8](repeating: 0, count: 32)
        guard
            RAND_bytes(&oldKEK, 32) == 1, RAND_bytes(&newKEK, 32) == 1,
            let old = EVP_CIPHER_CTX_new(), let new = EVP_CIPHER_CTX_new(),
            EVP_CipherInit_ex2(old, EVP_aes_256_gcm(), oldKEK, nil, 1, nil) == 1,
            EVP_CipherInit_ex2(new, EVP_aes_256_gcm(), newKEK, nil, 1, nil) == 1
        else { fatalError("EVP setup") }
        OPENSSL_cleanse(&oldKEK, 32)
        OPENSSL_cleanse(&newKEK, 32)
        self.old = old
        self.new = new
        var dek = [UInt8](repeating: 0, count: 32)
        guard RAND_bytes(&dek, 32) == 1 else { fatalError("RAND_bytes") }
        self.wrappedDEK = self.wrap(dek, with: old)
    }

    deinit {
        EVP_CIPHER_CTX_free(self.old)
        EVP_CIPHER_CTX_free(self.new)
    }

    /// Unwraps under the old KEK and wraps under the new one.
    func rewrap(_ wrapped: [UInt8]) -> [UInt8] {
        var dek = self.unwrap(wrapped, with: self.old)!
        defer { OPENSSL_cleanse(&dek, dek.count) }
        return self.wrap(dek, with: self.new)
    }

    func unwrapsUnderNewKEK(_ wrapped: [UInt8]) -> Bool {
        self.unwrap(wrapped, with: self.new) != nil
    }

    private func wrap(_ dek: [UInt8], with context: OpaquePointer) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 12 + 32 + 16)
        var length: Int32 = 0
        output.withUnsafeMutableBufferPointer { output in
            let base = output.baseAddress!
            guard
                RAND_bytes(base, 12) == 1,
                EVP_CipherInit_ex2(context, nil, nil, base, 1, nil) == 1,
                EVP_CipherUpdate(context, nil, &length, self.associatedData, Int32(self.associatedData.count)) == 1,
                EVP_CipherUpdate(context, base + 12, &length, dek, 32) == 1,
                EVP_CipherFinal_ex(context, base + 44, &length) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, 16, base + 44) == 1
            else { fatalError("EVP wrap") }
        }
        return output
    }

    private func unwrap(_ wrapped: [UInt8], with context: OpaquePointer) -> [UInt8]? {
        var dek = [UInt8](repeating: 0, count: 32)
        var length: Int32 = 0
        var tag = Array(wrapped[44...])
        let authentic = wrapped.withUnsafeBufferPointer { wrapped in
            let base = wrapped.baseAddress!
            guard
                EVP_CipherInit_ex2(context, nil, nil, base, 0, nil) == 1,
                EVP_CipherUpdate(context, nil, &length, self.associatedData, Int32(self.associatedData.count)) == 1,
                EVP_CipherUpdate(context, &dek, &length, base + 12, 32) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, 16, &tag) == 1
            else { fatalError("EVP unwrap") }
            var final: UInt8 = 0
            return EVP_CipherFinal_ex(context, &final, &length) == 1
        }
        return authentic ? dek : nil
    }
}

/// A new record store (in a temporary directory, with its key store) holding `records` records of 1 KiB,
/// `patient-0` … `record-0` …, spread evenly over `patients`.
func filledStore(
    _ prefix: String, records: Int, patients: Int, configuration: EncryptedRecordStore.Configuration = .init()
) throws -> EncryptedRecordStore {
    let directory = try temporaryDirectory(prefix)
    // A fast passphrase KDF: the benchmarks measure the store, not unlocking the key store.
    let keyStore = try FileKeyStore.create(
        at: directory + "/keys",
        passphrase: SecureBytes(copying: Array("benchmark-passphrase-only".utf8)),
        kdf: .init(iterations: 1, memoryByteCount: 8 << 20)
    )
    let store = try EncryptedRecordStore(
        directory: directory + "/records", keyStore: keyStore, configuration: configuration)
    let payload = [UInt8](repeating: 0x7B, count: 1024)
    for patient in 0..<patients {
        for record in 0..<(records / patients) {
            try store.put(
                payload, subject: "patient-\(patient)", recordID: "record-\(record)",
                recordType: "application/fhir+json")
        }
    }
    return store
}

/// A record store filled once per benchmark process.
final class RotationFixture: Sendable {
    let records: EncryptedRecordStore
    private let sample: [(subject: String, record: String)]

    private static let instance = Mutex<RotationFixture?>(nil)

    static func shared() throws -> RotationFixture {
        try self.instance.withLock { instance in
            if let instance { return instance }
            let made = try RotationFixture(BenchmarkSettings.plan.rotation)
            instance = made
            return made
        }
    }

    private init(_ settings: StoreShape) throws {
        self.records = try filledStore("samd-rotation-bench", records: settings.records, patients: settings.patients)
        let perPatient = settings.records / settings.patients
        self.sample = [(0, 0), (settings.patients / 2, perPatient / 2), (settings.patients - 1, perPatient - 1)]
            .map { ("patient-\($0.0)", "record-\($0.1)") }
    }

    /// Records of the first, a middle and the last patient still open after a rotation.
    func checkASample() throws {
        for (subject, record) in self.sample {
            let stored = try self.records.get(subject: subject, recordID: record)
            try BenchmarkCheck.that(stored.payload.count == 1024, "\(subject)/\(record) did not open")
        }
    }
}

/// What one rotation must do at the least, per subject key, written directly: read its file, unwrap and
/// wrap the 32-byte key (raw EVP), and replace the file atomically and durably.
final class RawRotationFloor: @unchecked Sendable { // used by one benchmark thread at a time
    private let directory: String
    private let files: [String]
    private let rewrap = RawRewrap()

    private static let instance = Mutex<RawRotationFloor?>(nil)

    static func shared() throws -> RawRotationFloor {
        try self.instance.withLock { instance in
            if let instance { return instance }
            let made = try RawRotationFloor(patients: BenchmarkSettings.plan.rotation.patients)
            instance = made
            return made
        }
    }

    private init(patients: Int) throws {
        let directory = try temporaryDirectory("samd-rotation-floor")
        self.directory = directory
        // About the size of a subject key file.
        let contents = Data(repeating: 0x20, count: 512)
        self.files = (0..<patients).map { "\(directory)/subject-\($0).json" }
        for file in self.files {
            try contents.write(to: URL(fileURLWithPath: file))
        }
    }

    /// Rewraps every file once; returns how many.
    func run() throws -> Int {
        let directoryFD = open(self.directory, O_RDONLY | O_DIRECTORY)
        guard directoryFD >= 0 else { throw BenchmarkCheckFailure(description: "open directory: errno \(errno)") }
        defer { close(directoryFD) }
        var contents = [UInt8](repeating: 0, count: 512)
        var done = 0
        for file in self.files {
            let input = open(file, O_RDONLY)
            guard input >= 0, read(input, &contents, contents.count) == contents.count else {
                throw BenchmarkCheckFailure(description: "read \(file): errno \(errno)")
            }
            close(input)
            let wrapped = self.rewrap.rewrap(self.rewrap.wrappedDEK)
            contents.replaceSubrange(0..<wrapped.count, with: wrapped)
            let temporary = file + ".tmp"
            let output = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            guard output >= 0, write(output, contents, contents.count) == contents.count, fsync(output) == 0 else {
                throw BenchmarkCheckFailure(description: "write \(temporary): errno \(errno)")
            }
            close(output)
            guard rename(temporary, file) == 0, fsync(directoryFD) == 0 else {
                throw BenchmarkCheckFailure(description: "rename \(temporary): errno \(errno)")
            }
            done += 1
        }
        return done
    }
}
