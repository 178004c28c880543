import ArgumentParser
import Foundation
import SaMDCrypto
import SaMDEnvelope
import SaMDExampleStorage
import SaMDExampleSupport
import SaMDKeys
import SaMDOpenSSLSupport
import SaMDPostgres

#if canImport(Glibc)
    import Glibc
#endif

struct Keys: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Manage the key store: create it, rotate, list, retire and destroy KEK versions; hand out its recipient key.",
        subcommands: [Init.self, Rotate.self, List.self, Retire.self, Destroy.self, Recipient.self]
    )

    enum KDFCost: String, ExpressibleByArgument, CaseIterable {
        case interactive, moderate

        var parameters: Argon2id.Parameters {
            switch self {
            case .interactive: .interactive
            case .moderate: .moderate
            }
        }
    }

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a key store with one active KEK, records:1.",
            discussion: """
                Without --kek the KEK versions are kept wrapped under a key derived from the passphrase \
                (--passphrase-file or SAMD_PASSPHRASE; Argon2id, --kdf-cost). With --kek pkcs11:… they are \
                AES-256 keys generated inside that PKCS #11 token (sensitive, never extractable), labelled \
                records:1, records:2, …; the token's user PIN comes from --pin-file or SAMD_PKCS11_PIN, never \
                from the command line or the URI (pin-value: exit 64). The store records the token and module, so \
                every later command needs only the PIN. A token holds one key store's keys.
                """
        )
        @OptionGroup var store: KeyStoreOptions
        @Option(
            help: ArgumentHelp(
                "Keep the KEK in a PKCS #11 token: an RFC 7512 URI, pkcs11:token=LABEL;object=records?module-path=/path/module.so (object, if given, is records).",
                valueName: "pkcs11-uri"))
        var kek: String?
        @Option(
            help:
                "Argon2id cost for the passphrase: moderate (3 passes, 256 MiB, the default) or interactive (2 passes, 64 MiB). Not with --kek."
        )
        var kdfCost: KDFCost?
        @Option(parsing: .unconditional, help: "Cryptoperiod for sealing, in days.")
        var cryptoperiodDays: Int = 365

        func validate() throws {
            guard let kek = self.kek else {
                if self.store.pin.file != nil { throw ValidationError("--pin-file is for a key store made with --kek") }
                return
            }
            guard kek.lowercased().hasPrefix("pkcs11:") else {
                throw ValidationError("--kek takes a PKCS #11 URI (pkcs11:token=LABEL;object=records?module-path=…)")
            }
            if self.store.passphraseFile != nil {
                throw ValidationError("--passphrase-file is for a key store under a passphrase; --kek takes --pin-file")
            }
            if self.kdfCost != nil { throw ValidationError("--kdf-cost is for a key store under a passphrase") }
        }

        /// `keys init --keystore postgresql://…`: the key store's tables in the database, its KEKs generated in the
        /// token. Exit 64 without `--kek`; 73 when the database holds a key store already; the database's errors.
        private func createInDatabase(_ database: PostgresLocation, cryptoperiod: Duration) throws {
            guard let kek = self.kek else { throw Failure(status: ExitStatus.usage, message: Keys.databaseNeedsToken) }
            // A --kek that cannot be used is refused before the database is touched (its tables made).
            _ = try checkedTokenURI(kek)
            let pinFile = self.store.pin.file
            let created: (keys: [String], token: String)
            do {
                created = try waitFor {
                    let pool = try makePool(database, logger: .quietDatabase)
                    do {
                        // The database is checked before the token is touched: a token holds one key store's keys,
                        // and keys generated for a store that then cannot be made would stay there.
                        let probe = try await PostgresKeyPersistence(pool: pool, logger: .quietKeys)
                        let exists = (try? probe.readMetadata(maximumByteCount: 1 << 20)) != nil
                        await probe.close()
                        guard !exists else { throw EnvelopeError(.keyStore, "the database holds a key store already") }
                        let tokenCustody = try createTokenCustody(uri: kek, pinFile: pinFile)
                        let store = try await PostgresKeyStore.create(
                            pool: pool, custody: tokenCustody, cryptoperiod: cryptoperiod, logger: .quietKeys)
                        let keys = try store.keys.list().map(\.identifier.description)
                        await store.close()
                        await pool.close()
                        return (keys, tokenCustody.uri.token ?? "")
                    } catch {
                        await pool.close()
                        throw error
                    }
                }
            } catch let error as StorageAccessError {
                throw Failure(status: error.exitStatus, message: error.reason)
            } catch let error as PostgresStoreError {
                let failure = StorageAccessError.postgres(error, "key store \(database)")
                throw Failure(status: failure.exitStatus, message: failure.reason)
            } catch let error as EnvelopeError where error.code == .keyStore {
                throw Failure(status: ExitStatus.cannotCreate, message: "key store \(database): \(error.reason)")
            }
            print(
                "created key store \(database) with \(created.keys.joined(separator: ", ")) (KEK in PKCS #11 token \(escapingControlCharacters(created.token)))"
            )
        }

        func run() throws {
            try runReporting {
                guard (1...3650).contains(self.cryptoperiodDays) else {
                    throw Failure(status: ExitStatus.usage, message: "--cryptoperiod-days is 1 to 3650")
                }
                let cryptoperiod = Duration.seconds(self.cryptoperiodDays * 86_400)
                if case .postgres(let database) = try self.store.location() {
                    try self.createInDatabase(database, cryptoperiod: cryptoperiod)
                    return
                }
                if FileManager.default.fileExists(atPath: self.store.keystore + "/keystore.json") {
                    throw Failure(
                        status: ExitStatus.cannotCreate, message: "\(self.store.keystore) already holds a key store")
                }
                let store: FileKeyStore
                var custody = "under a passphrase"
                if let kek = self.kek {
                    try Keys.checkDirectoryBeforeTouchingToken(self.store.keystore)
                    let tokenCustody = try createTokenCustody(uri: kek, pinFile: self.store.pin.file)
                    store = try FileKeyStore.create(
                        at: self.store.keystore, custody: tokenCustody, cryptoperiod: cryptoperiod)
                    custody = "in PKCS #11 token \(escapingControlCharacters(tokenCustody.uri.token ?? ""))"
                } else {
                    store = try FileKeyStore.create(
                        at: self.store.keystore,
                        passphrase: self.store.passphrase(),
                        kdf: (self.kdfCost ?? .moderate).parameters,
                        cryptoperiod: cryptoperiod
                    )
                }
                print(
                    "created key store \(store.directory) with \(try store.list().map(\.identifier.description).joined(separator: ", ")) (KEK \(custody))"
                )
            }
        }
    }

    /// Validated by `Init`: a key store in PostgreSQL keeps its KEKs in a token (exit 64 otherwise).
    static let databaseNeedsToken =
        "a key store in PostgreSQL keeps its KEKs in a PKCS #11 token (--kek pkcs11:…): a passphrase custody cannot be shared by instances"

    /// The key store directory checked as `FileKeyStore.create` checks it, before the token is touched: once the
    /// token holds the store's keys, a store that then cannot be created would leave them there, and a token holds
    /// one store's keys (a second `keys init` is refused). Exit 73: an existing `path` that is not a directory or
    /// that group or others may access, or a missing one whose parent cannot take it.
    static func checkDirectoryBeforeTouchingToken(_ path: String) throws {
        var info = stat()
        if lstat(path, &info) != 0 {
            let parent = parentDirectory(of: path)
            guard errno == ENOENT, access(parent, W_OK | X_OK) == 0 else {
                throw Failure(
                    status: ExitStatus.cannotCreate, message: "\(path): cannot create the key store directory here")
            }
            return
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(status: ExitStatus.cannotCreate, message: "\(path) exists and is not a directory")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw Failure(
                status: ExitStatus.cannotCreate,
                message:
                    "\(path) is accessible to others (mode \(String(info.st_mode & 0o777, radix: 8))); a key store directory is 0700"
            )
        }
    }

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new active KEK version (the old one opens only), then rewrap every subject key under it."
        )
        @OptionGroup var store: KeyStoreOptions
        @Option(help: "The KEK name.") var name = FileKeyStore.defaultKeyName

        func run() throws {
            try runReporting {
                guard (try? KeyIdentifier(name: self.name, version: 1)) != nil, !self.name.hasPrefix("s-") else {
                    throw Failure(
                        status: ExitStatus.usage,
                        message: "--name is 1 to 64 characters of A-Z a-z 0-9 . _ -, not starting with s-")
                }
                let opened = try self.store.open()
                defer { opened.closeNow() }
                let store = opened.store
                let key = try store.rotate(named: self.name)
                let report = try store.rewrapSubjectKeys(named: self.name)
                print("\(key.identifier) is active; \(report.rewrapped) subject key(s) rewrapped")
                guard report.failed.isEmpty else {
                    for failure in report.failed {
                        printError("subject key \(failure.key) not rewrapped: \(failure.reason)")
                    }
                    throw Failure(
                        status: ExitStatus.unavailable,
                        message:
                            "\(key.identifier) is active, but \(report.failed.count) subject key(s) could not be rewrapped"
                    )
                }
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List KEK versions with their states and dates (never key material).")
        @OptionGroup var store: KeyStoreOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try runReporting {
                let opened = try self.store.open()
                defer { opened.closeNow() }
                let keys = try opened.store.list()
                if self.json {
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                    encoder.dateEncodingStrategy = .iso8601
                    print(String(decoding: try encoder.encode(keys), as: UTF8.self))
                    return
                }
                let formatter = ISO8601DateFormatter()
                for key in keys {
                    let ends = key.sealingEndsAt.map { "seals until \(formatter.string(from: $0))" } ?? "does not seal"
                    print("\(key.identifier)\t\(key.state)\t\(key.state == .active ? ends : "")")
                }
            }
        }
    }

    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deactivate a KEK version: it opens but no longer seals.")
        @OptionGroup var store: KeyStoreOptions
        @Option(help: "NAME:VERSION") var key: String

        func run() throws {
            try runReporting {
                let key = try parseKey(self.key)
                let opened = try self.store.open()
                defer { opened.closeNow() }
                print("\(try opened.store.retire(key).identifier) is deactivated")
            }
        }
    }

    struct Destroy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Erase a (non-active) KEK version — in a token, destroy its object. Whatever it still wraps can never be opened again."
        )
        @OptionGroup var store: KeyStoreOptions
        @Option(help: "NAME:VERSION") var key: String

        func run() throws {
            try runReporting {
                let opened = try self.store.open()
                defer { opened.closeNow() }
                let receipt = try opened.store.destroy(try parseKey(self.key))
                print("\(receipt.key) destroyed at \(ISO8601DateFormatter().string(from: receipt.destroyedAt))")
            }
        }
    }
}

extension Keys {
    struct Recipient: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Write the key store's recipient public key for devices (made on first use); rotate it, or destroy an old version.",
            discussion: """
                Devices seal their outboxes to this key (samd-agent --recipient FILE); only the key store can open \
                what they seal. --rotate makes a new current version: older versions still open what outboxes \
                hold. --destroy recipient:N erases an old version: envelopes still sealed to it can never be \
                opened (the gateway answers 400 recipient-key-unknown). The key identifier is printed, never key \
                bytes.
                """)
        @OptionGroup var store: KeyStoreOptions
        @Option(help: "Where to write the recipient file (JSON, mode 0644).") var out: String?
        @Flag(help: "Make a new current recipient key version first.") var rotate = false
        @Option(help: "Destroy this old version, recipient:N (not the current one).") var destroy: String?

        func run() throws {
            try runReporting {
                if let destroy = self.destroy {
                    guard self.out == nil, !self.rotate else {
                        throw Failure(status: ExitStatus.usage, message: "--destroy goes without --out and --rotate")
                    }
                    let key = try parseKey(destroy, option: "--destroy")
                    guard key.name == "recipient" else {
                        throw Failure(status: ExitStatus.usage, message: "--destroy names a version recipient:N")
                    }
                    let opened = try self.store.open()
                    defer { opened.closeNow() }
                    let receipt = try opened.store.destroyRecipientKey(version: key.version)
                    print("\(receipt.key) destroyed at \(ISO8601DateFormatter().string(from: receipt.destroyedAt))")
                    return
                }
                guard let out = self.out, !out.isEmpty else {
                    throw Failure(status: ExitStatus.usage, message: "--out FILE is required")
                }
                let opened = try self.store.open()
                defer { opened.closeNow() }
                let key =
                    self.rotate
                    ? try opened.store.rotateRecipientKey() : try opened.store.recipientPublicKey(createIfAbsent: true)
                try key.write(to: out)
                print("\(key.keyIdentifier) written to \(escapingControlCharacters(out))")
            }
        }
    }
}

/// A `--key NAME:VERSION` argument; a malformed one is a usage error.
func parseKey(_ text: String, option: String = "--key") throws -> KeyIdentifier {
    do {
        return try KeyIdentifier(parsing: text)
    } catch let error as EnvelopeError {
        throw Failure(status: ExitStatus.usage, message: "\(option): \(error.reason)")
    }
}
