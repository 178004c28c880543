import Foundation
import SaMDCrypto
import SaMDKeys
import SaMDKeysTestSupport
import SaMDStore
import Testing

/// A throw-away key store and record store in a private temporary directory; the key store's KEKs in a passphrase
/// custody unless another is given (a token: a new SoftHSM2 token, removed with the directory).
final class StoreFixture: @unchecked Sendable { // immutable after init; the directory is removed in deinit
    static let fastKDF = KeyStoreCustody.fastKDF

    let root: String
    let custodian: KeyStoreCustodian
    let keyStore: FileKeyStore
    let store: EncryptedRecordStore

    var custody: KeyStoreCustody { self.custodian.kind }
    var keysDirectory: String { self.root + "/keys" }
    var storeDirectory: String { self.root + "/records" }

    convenience init(configuration: EncryptedRecordStore.Configuration = .init()) throws {
        try self.init(custodian: try KeyStoreCustodian.passphraseCustodian(), configuration: configuration)
    }

    convenience init(_ custody: KeyStoreCustody, configuration: EncryptedRecordStore.Configuration = .init()) throws {
        try self.init(custodian: try custody.makeCustodian(), configuration: configuration)
    }

    init(custodian: KeyStoreCustodian, configuration: EncryptedRecordStore.Configuration) throws {
        let root =
            FileManager.default.temporaryDirectory.appendingPathComponent("samd-store-\(UUID().uuidString)").path
        do {
            try FileManager.default.createDirectory(
                atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            self.keyStore = try custodian.create(at: root + "/keys")
            self.store = try EncryptedRecordStore(
                directory: root + "/records", keyStore: self.keyStore, configuration: configuration)
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            custodian.remove()
            throw error
        }
        self.root = root
        self.custodian = custodian
    }

    /// Another handle on the same directories, as a second process would open them.
    func reopen() throws -> (FileKeyStore, EncryptedRecordStore) {
        let keys = try self.custodian.open(self.keysDirectory)
        return (keys, try EncryptedRecordStore(directory: self.storeDirectory, keyStore: keys))
    }

    /// Every byte of every file in the store's directory (database, WAL, shared memory), read by a child
    /// process (`cat`): this process must not open and close files its SQLite connections hold, since closing
    /// any descriptor of a file drops all of the process's POSIX locks on it (sqlite.org/howtocorrupt.html §2.2).
    func storeFileBytes() throws -> [UInt8] {
        let names = try FileManager.default.contentsOfDirectory(atPath: self.storeDirectory).sorted()
        let cat = Process()
        cat.executableURL = URL(fileURLWithPath: "/bin/cat")
        cat.arguments = names.map { self.storeDirectory + "/" + $0 }
        let output = Pipe()
        cat.standardOutput = output
        try cat.run()
        let bytes = output.fileHandleForReading.readDataToEndOfFile()
        cat.waitUntilExit()
        guard cat.terminationStatus == 0 else { throw CocoaError(.fileReadUnknown) }
        return Array(bytes)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: self.root)
        self.custodian.remove()
    }
}

/// The code of the `RecordStoreError` `body` throws, or nil.
func storeCode<T>(_ body: () throws -> T) -> RecordStoreError.Code? {
    do {
        _ = try body()
        return nil
    } catch let error as RecordStoreError {
        return error.code
    } catch {
        Issue.record("not a RecordStoreError: \(error)")
        return nil
    }
}

extension [UInt8] {
    /// Whether `needle` occurs anywhere in these bytes (Foundation's search, compiled optimised).
    func contains(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= self.count else { return false }
        return Data(self).range(of: Data(needle)) != nil
    }
}
