import BenchmarkSupport
import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDKeys
import SaMDStore
import Synchronization

/// A key store with one subject's key made, in a temporary directory: its KEK under a passphrase (a fast KDF: the
/// benchmarks measure the data path, not unlocking) or in the benchmark's token.
final class KeySealFixture: Sendable {
    let keys: FileKeyStore
    let custody: (any KEKCustody)?
    let payload = [UInt8](repeating: 0x7B, count: 1024)
    let context: EncryptionContext

    private static let instances = Mutex<[Bool: KeySealFixture]>([:])

    static func shared(token: Bool) throws -> KeySealFixture {
        try self.instances.withLock { instances in
            if let instance = instances[token] { return instance }
            let made = try KeySealFixture(token: token)
            instances[token] = made
            return made
        }
    }

    /// A fresh store (not shared) whose subject has no key yet, for counting one run's token operations from
    /// the start.
    static func fresh(token: Bool) throws -> KeySealFixture { try KeySealFixture(token: token, subjectKeyMade: false) }

    private init(token: Bool, subjectKeyMade: Bool = true) throws {
        let directory = try temporaryDirectory("samd-key-bench") + "/keys"
        if token {
            let custody = try PKCS11Custody.create(
                uri: try BenchmarkToken.unusedTokenURI(), pin: SecureBytes(copying: Array(BenchmarkToken.pin.utf8)))
            self.custody = custody
            self.keys = try FileKeyStore.create(at: directory, custody: custody)
        } else {
            self.custody = nil
            self.keys = try FileKeyStore.create(
                at: directory, passphrase: SecureBytes(copying: Array("benchmark-passphrase-only".utf8)),
                kdf: .init(iterations: 1, memoryByteCount: 8 << 20))
        }
        self.context = try EncryptionContext([("subject", "patient-0"), ("record", "r")])
        if subjectKeyMade {
            for subject in ["patient-0", "patient-1"] { _ = try self.keys.subjectSealingKey(subject: subject) }
        }
    }

    /// Seals `count` records for one subject as a record store does: the subject's sealing key, the seal, and the
    /// check that makes a record durable. Returns the last envelope.
    func seal(_ count: Int) throws -> [UInt8] {
        var last: [UInt8] = []
        for _ in 0..<count {
            let key = try self.keys.subjectSealingKey(subject: "patient-0")
            last = try Envelope.seal(self.payload, context: self.context, to: key)
            try self.keys.whileSealingKeyIsCurrent(key.identifier) {}
        }
        return last
    }

    /// `count` records in all, split over `threads` threads, each sealing for its own subject as ``seal(_:)`` does.
    func seal(_ count: Int, threads: Int) throws {
        let failures = Mutex<[String]>([])
        let perThread = count / threads
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            do {
                let subject = "patient-\(thread)"
                for _ in 0..<perThread {
                    let key = try self.keys.subjectSealingKey(subject: subject)
                    _ = try Envelope.seal(self.payload, context: self.context, to: key)
                    try self.keys.whileSealingKeyIsCurrent(key.identifier) {}
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        try BenchmarkCheck.that(failures.withLock { $0.isEmpty }, "seals failed: \(failures.withLock { $0 })")
    }

    /// The custody's token operations so far (token custody only).
    var tokenOperations: Int { (self.custody as? PKCS11Custody)?.tokenOperationCount ?? 0 }
}

/// A record store (synchronous NORMAL) with one subject per thread, their keys made.
final class ConcurrentPutFixture: @unchecked Sendable { // each thread uses its own counter
    let records: EncryptedRecordStore
    let payload = [UInt8](repeating: 0x7B, count: 1024)
    private let counters = Mutex<Int>(0)

    private static let instance = Mutex<ConcurrentPutFixture?>(nil)

    static func shared() throws -> ConcurrentPutFixture {
        try self.instance.withLock { instance in
            if let instance { return instance }
            let made = try ConcurrentPutFixture()
            instance = made
            return made
        }
    }

    private init() throws {
        let directory = try temporaryDirectory("samd-concurrent-put-bench")
        let keys = try FileKeyStore.create(
            at: directory + "/keys", passphrase: SecureBytes(copying: Array("benchmark-passphrase-only".utf8)),
            kdf: .init(iterations: 1, memoryByteCount: 8 << 20))
        self.records = try EncryptedRecordStore(
            directory: directory + "/records", keyStore: keys, configuration: .init(durableCommits: false))
        for thread in 0..<2 {
            try self.records.put(
                self.payload, subject: "patient-\(thread)", recordID: "warm", recordType: "application/fhir+json")
        }
    }

    /// `count` new records in all, split over `threads` threads, each putting for its own subject.
    func put(_ count: Int, threads: Int) throws {
        let base = self.counters.withLock { counter in
            defer { counter += count }
            return counter
        }
        let failures = Mutex<[String]>([])
        let perThread = count / threads
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            do {
                for index in 0..<perThread {
                    try self.records.put(
                        self.payload, subject: "patient-\(thread)", recordID: "r-\(base + thread * perThread + index)",
                        recordType: "application/fhir+json")
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        try BenchmarkCheck.that(failures.withLock { $0.isEmpty }, "puts failed: \(failures.withLock { $0 })")
    }
}
