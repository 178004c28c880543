public import SaMDEnvelope
import SaMDExampleSupport
public import SaMDStore
public import SaMDTLS

/// The exit codes of `samd-gateway` and `samd-agent` (sysexits(3)), and how errors map to them — the same
/// mapping as `samd-tls connect` for the connection phase, so scripts treat every SaMDKit program alike.
public enum RecordServiceExitStatus {
    public static let ok: Int32 = 0
    /// EX_USAGE: the command line is wrong.
    public static let usage = TLSExitStatus.usage
    /// EX_DATAERR: the gateway refused a record (400, 413), or some subject keys could not be rewrapped.
    public static let dataError: Int32 = 65
    /// EX_NOINPUT: an input file (certificate, key, CA, record) cannot be read.
    public static let noInput = TLSExitStatus.noInput
    /// EX_UNAVAILABLE: the peer cannot be reached, or the gateway cannot listen.
    public static let unavailable = TLSExitStatus.unavailable
    /// EX_SOFTWARE: an internal error.
    public static let software = TLSExitStatus.software
    /// EX_IOERR: the record store's storage failed.
    public static let ioError = TLSExitStatus.ioError
    /// EX_TEMPFAIL: try again later — another rotation job runs, or the gateway answered 503 to the last try.
    public static let temporaryFailure: Int32 = 75
    /// EX_PROTOCOL: a TLS or protocol failure (no common version, not TLS, truncated, timeout, bad HTTP).
    public static let protocolFailure = TLSExitStatus.protocolFailure
    /// EX_NOPERM: a certificate was refused by either side, or the gateway refused the role (403).
    public static let certificateRefused = TLSExitStatus.certificateRefused
    /// EX_CONFIG: invalid configuration or identity; the key store cannot be opened.
    public static let configuration = TLSExitStatus.configuration

    /// The exit code for an error of the connection phase (connect, handshake, request), as `samd-tls connect`.
    public static func code(forConnection error: any Error) -> Int32 {
        if let error = error as? RecordServiceError {
            switch error.code {
            case .invalidConfiguration: return configuration
            case .invalidRequest: return usage
            default: return protocolFailure
            }
        }
        return TLSExitStatus.code(forConnection: error)
    }

    /// The exit code for an error building a TLS context (reading and validating its files).
    public static func code(forSetup error: TLSError) -> Int32 {
        TLSExitStatus.code(forSetup: error)
    }

    /// The exit code for a record store error while opening a store or rotating its keys: 75 conflict
    /// (another job holds the store) or the key store busy past its lock timeout, 74 storage, 78 keys
    /// unavailable; anything else (an argument the store refused, which the program's own checks should have
    /// caught) is 70.
    public static func code(forStore error: RecordStoreError) -> Int32 {
        switch error.code {
        case .conflict: temporaryFailure
        case .storage: ioError
        case .keyUnavailable where error.isRetryable: temporaryFailure
        case .keyUnavailable: configuration
        default: software
        }
    }

    /// The exit code for a key-store error while opening it: 74 for I/O, 78 otherwise (wrong passphrase,
    /// modified or mis-permissioned store, no passphrase given).
    public static func code(forKeyStore error: EnvelopeError) -> Int32 {
        error.code == .io ? ioError : configuration
    }

    /// The exit code for a final HTTP status the gateway gave a record: 0 for 2xx; 77 for 401/403; 75 for
    /// 503; 65 for other 4xx (the record or its address was refused); 76 otherwise.
    public static func code(forStatus status: Int) -> Int32 {
        switch status {
        case 200..<300: ok
        case 401, 403: certificateRefused
        case 503: temporaryFailure
        case 400..<500: dataError
        default: protocolFailure
        }
    }
}
