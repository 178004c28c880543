public import Foundation
public import Logging
import NIOPosix
public import SaMDKeys

/// A key store shared by several instances of a service through PostgreSQL: a `FileKeyStore` (``keys``) whose
/// metadata, subject keys and receipts are in the database (``PostgresKeyPersistence``) and whose KEKs are in an
/// HSM every instance reaches (`PKCS11Custody`).
///
/// Only a `PKCS11Custody` is accepted (``PostgresStoreError/Code/custodyRefused`` otherwise). A passphrase custody
/// keeps the KEK material wrapped in the metadata document — here, in the shared database, in its WAL, its
/// standbys and every backup of it — unlockable by anyone who holds one of those copies and the passphrase, which
/// every instance would have to be given: it cannot be shared across instances safely, and destroying a KEK
/// version or shredding a subject could never reach the copies the database keeps (see
/// ``PostgresKeyPersistence``, "Shredding and what PostgreSQL keeps"). In a token, KEK material never leaves it,
/// and destroying a version there makes every copy of what it wrapped useless.
///
/// Made with ``create(pool:custody:cryptoperiod:lockTimeout:now:logger:subjectKeyCache:)`` once, then opened by
/// every instance with ``open(pool:custody:lockTimeout:now:logger:subjectKeyCache:)``; ``close()`` stops the
/// listener (the pool is the caller's).
public final class PostgresKeyStore: Sendable {
    /// The key store: the data path and the administration, as with a directory.
    public let keys: FileKeyStore
    /// Its persistence in the database (the mirror, the listener, the locks).
    public let persistence: PostgresKeyPersistence

    init(keys: FileKeyStore, persistence: PostgresKeyPersistence) {
        self.keys = keys
        self.persistence = persistence
    }

    /// Makes the tables if needed and creates the key store in the database (which must not hold one yet), with
    /// one active KEK version, `FileKeyStore.defaultKeyName`:1, generated in the token.
    /// - Parameters:
    ///   - pool: the database.
    ///   - custody: a `PKCS11Custody`; any other is refused.
    ///   - cryptoperiod: how long a KEK version may seal after activation.
    ///   - lockTimeout: how long a lock is waited for (5 s by default).
    ///   - now: the clock, for tests.
    ///   - logger: where key-store events go.
    ///   - subjectKeyCache: the bounds of the subject-key cache (`FileKeyStore.subjectKeys`).
    /// - Throws: ``PostgresStoreError/Code/custodyRefused`` for a custody other than `PKCS11Custody`;
    ///   ``PostgresStoreError`` from ``PostgresKeyPersistence/init(pool:lockTimeout:mirrorCapacity:logger:)``;
    ///   `EnvelopeError.Code.keyStore` when the database holds a key store already; the custody's errors.
    public static func create(
        pool: PostgresConnectionPool,
        custody: any KEKCustody,
        cryptoperiod: Duration = FileKeyStore.defaultCryptoperiod,
        lockTimeout: Duration = FileKeyStore.defaultLockTimeout,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "samdkit.keys"),
        subjectKeyCache: SubjectKeyCache.Policy = .default
    ) async throws -> PostgresKeyStore {
        guard custody is PKCS11Custody else { throw Self.refused(custody.record.type) }
        let persistence = try await PostgresKeyPersistence(pool: pool, lockTimeout: lockTimeout, logger: logger)
        do {
            let keys = try await Self.blocking {
                try FileKeyStore.create(
                    in: persistence, custody: custody, cryptoperiod: cryptoperiod, now: now, logger: logger,
                    subjectKeyCache: subjectKeyCache)
            }
            return PostgresKeyStore(keys: keys, persistence: persistence)
        } catch {
            await persistence.close()
            throw error
        }
    }

    /// Opens the key store in the database with the custody its metadata records: `custody` gets the record (a
    /// token's URI) and returns the custody, given the PIN. A record of any custody but a PKCS#11 token is refused
    /// before `custody` is called.
    /// - Throws: ``PostgresStoreError/Code/custodyRefused`` when the store's custody (or the one `custody`
    ///   returns) is not `PKCS11Custody`; ``PostgresStoreError`` from
    ///   ``PostgresKeyPersistence/init(pool:lockTimeout:mirrorCapacity:logger:)``; `EnvelopeError.Code.keyStore`
    ///   when there is no key store, or it does not authenticate; what `custody` throws.
    public static func open(
        pool: PostgresConnectionPool,
        custody: @escaping @Sendable (KEKCustodyRecord) throws -> any KEKCustody,
        lockTimeout: Duration = FileKeyStore.defaultLockTimeout,
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger = Logger(label: "samdkit.keys"),
        subjectKeyCache: SubjectKeyCache.Policy = .default
    ) async throws -> PostgresKeyStore {
        let persistence = try await PostgresKeyPersistence(pool: pool, lockTimeout: lockTimeout, logger: logger)
        do {
            let keys = try await Self.blocking {
                try FileKeyStore(
                    opening: persistence,
                    custody: { record in
                        guard record.pkcs11URI != nil else { throw Self.refused(record.type) }
                        let made = try custody(record)
                        guard made is PKCS11Custody else { throw Self.refused(made.record.type) }
                        return made
                    }, now: now, logger: logger, subjectKeyCache: subjectKeyCache)
            }
            return PostgresKeyStore(keys: keys, persistence: persistence)
        } catch {
            await persistence.close()
            throw error
        }
    }

    /// Stops the persistence's listener. The pool stays open.
    public func close() async {
        await self.persistence.close()
    }

    private static func refused(_ type: String) -> PostgresStoreError {
        PostgresStoreError(
            .custodyRefused,
            "a key store in PostgreSQL keeps its KEKs in a PKCS#11 token (PKCS11Custody), not in a \(type) custody: "
                + "KEK material in the shared database, its WAL and its backups, with a passphrase every instance "
                + "holds, cannot be shared safely")
    }

    /// Runs the key store's blocking work off the caller's executor (the cooperative pool must not wait on the
    /// database).
    private static func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
