import Foundation
import GRDB
import SaMDEnvelope
import SaMDKeys
import SaMDKeysTestSupport
import SaMDStore
import Testing

/// When keeping the receipt failed after the subject key was erased, the retry answered `notFound` ("no key
/// to shred") and no receipt ever reached the database.
@Suite("Shredding is idempotent and always leaves its receipt")
struct ShredReceiptRetryTests {
    /// Another connection holds a write transaction, so the receipt cannot be written (SQLITE_BUSY past the
    /// busy timeout) after the key store has erased the key; the retry, once the database is free, returns
    /// the receipt, deletes the rows and keeps the receipt in the database.
    @Test(arguments: KeyStoreCustody.allCases)
    func aShredWhoseReceiptCouldNotBeWrittenIsFinishedByTheRetry(_ custody: KeyStoreCustody) throws {
        let fixture = try StoreFixture(custody, configuration: .init(busyTimeout: .milliseconds(200)))
        for index in 0..<2 {
            try fixture.store.put(
                Array("record \(index)".utf8), subject: "p", recordID: "r-\(index)", recordType: "text/plain")
        }
        try fixture.store.put(Array("other".utf8), subject: "q", recordID: "r-0", recordType: "text/plain")
        let blocker = try WriteTransactionHolder(
            path: fixture.storeDirectory + "/" + EncryptedRecordStore.databaseFileName)
        let failed = storeCode { try fixture.store.shred(subject: "p") }
        blocker.release()
        #expect(failed == .storage)
        // The key is gone already: the records answer shredded (the key store's receipt) even before the retry.
        #expect(storeCode { try fixture.store.get(subject: "p", recordID: "r-0") } == .shredded)

        let retried = try fixture.store.shred(subject: "p")
        #expect(retried.receipt.key.name == "s-" + (try fixture.keyStore.subjectIndex(of: "p")))
        #expect(retried.receipt.key.version == 1)
        #expect(retried.recordCount == 2)
        // In the database now: another store instance reads it from there, and the rows are gone.
        let (_, reopened) = try fixture.reopen()
        let statistics = try reopened.statistics()
        #expect(statistics.shreddedSubjectCount == 1)
        #expect(statistics.recordCount == 1)
        do {
            _ = try reopened.get(subject: "p", recordID: "r-1")
            Issue.record("a shredded record opened")
        } catch let error as RecordStoreError {
            #expect(error.code == .shredded)
            #expect(error.receipt?.key == retried.receipt.key)
        }
        // And again: the same receipt, nothing more deleted.
        let again = try fixture.store.shred(subject: "p")
        #expect(again.receipt.key == retried.receipt.key && again.recordCount == 2)
        #expect(try fixture.store.get(subject: "q", recordID: "r-0").payload == Array("other".utf8))
    }
}

/// A second SQLite connection holding `BEGIN IMMEDIATE` on a thread of its own until released.
final class WriteTransactionHolder: @unchecked Sendable { // the semaphores are the only shared state
    private let held = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)

    init(path: String) throws {
        let queue = try DatabaseQueue(path: path)
        Thread { [held, done, finished] in
            try? queue.inTransaction(.immediate) { _ in
                held.signal()
                _ = done.wait(timeout: .now() + 60)
                return .rollback
            }
            finished.signal()
        }.start()
        guard self.held.wait(timeout: .now() + 30) == .success else { throw CocoaError(.fileLocking) }
    }

    func release() {
        self.done.signal()
        _ = self.finished.wait(timeout: .now() + 30)
    }

    deinit {
        self.done.signal()
    }
}
