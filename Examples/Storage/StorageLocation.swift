import Foundation
import SaMDExampleSupport
public import SaMDPostgres

/// Where a record store or a key store is: a directory (SQLite and files, one machine) or a PostgreSQL database
/// (`postgresql://…`, several instances). Every `--store` and `--keystore` of the example programs takes either.
public enum StorageLocation: Sendable, CustomStringConvertible {
    case directory(String)
    case postgres(PostgresLocation)

    /// A `postgresql://` or `postgres://` URL (``PostgresLocation``), otherwise a directory path.
    /// - Throws: ``StorageAccessError`` (`usage`) for a URL ``PostgresLocation`` refuses.
    public init(_ text: String) throws {
        guard PostgresLocation.isURL(text) else {
            self = .directory(text)
            return
        }
        do {
            self = .postgres(try PostgresLocation(text))
        } catch let error as PostgresStoreError {
            throw StorageAccessError(.usage, error.reason)
        }
    }

    /// The directory, or the URL without anything secret (there is none), control characters escaped.
    public var description: String {
        switch self {
        case .directory(let path): escapingControlCharacters(path)
        case .postgres(let location): location.description
        }
    }
}

/// A store that could not be opened for a reason a program reports with its own exit code; no message holds a
/// password or a PIN.
public struct StorageAccessError: Error, CustomStringConvertible {
    /// The sysexits(3) code.
    public let exitStatus: Int32
    /// What went wrong, in words.
    public let reason: String

    init(_ kind: Kind, _ reason: String) {
        self.exitStatus = kind.exitStatus
        self.reason = reason
    }

    public var description: String { self.reason }

    enum Kind {
        case usage, noInput, unavailable, configuration, ioError

        var exitStatus: Int32 {
            switch self {
            case .usage: ExitStatus.usage
            case .noInput: ExitStatus.noInput
            case .unavailable: ExitStatus.unavailable
            case .configuration: ExitStatus.configuration
            case .ioError: ExitStatus.ioError
            }
        }
    }

    /// A PostgreSQL error as the programs report it: a refused URL or password file 64; the server unreachable
    /// or down 69; its certificate refused (the deployment's CA or name is wrong), the login refused, a schema
    /// newer than the program or a custody that cannot be shared 78; anything else 74.
    public static func postgres(_ error: PostgresStoreError, _ what: String) -> StorageAccessError {
        let kind: Kind =
            switch error.code {
            case .invalidLocation: .usage
            case .unavailable: .unavailable
            case .tlsRefused, .authenticationFailed, .schema, .custodyRefused: .configuration
            default: .ioError
            }
        return StorageAccessError(kind, "\(what): \(error.code): \(error.reason)")
    }
}
