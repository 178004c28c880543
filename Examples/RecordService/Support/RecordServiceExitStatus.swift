public import SaMDEnvelope
import SaMDExampleSupport

/// How the errors of `samd-gateway` and `samd-agent` map to the example programs' sysexits(3) codes
/// (`ExitStatus`) — the same mapping as `samd-tls connect` for the connection phase, so scripts treat every
/// SaMDKit program alike.
public enum RecordServiceExitStatus {
    /// The exit code for an error of the connection phase (connect, handshake, request), as `samd-tls connect`.
    public static func code(forConnection error: any Error) -> Int32 {
        if let error = error as? RecordServiceError {
            switch error.code {
            case .invalidConfiguration: return ExitStatus.configuration
            case .invalidRequest: return ExitStatus.usage
            case .bodyUnreadable: return ExitStatus.noInput
            default: return ExitStatus.protocolFailure
            }
        }
        return ExitStatus.code(forConnection: error)
    }

    /// The exit code for a key-store error while opening it: 74 for I/O, 78 otherwise (wrong passphrase,
    /// modified or mis-permissioned store, no passphrase given).
    public static func code(forKeyStore error: EnvelopeError) -> Int32 {
        error.code == .io ? ExitStatus.ioError : ExitStatus.configuration
    }

    /// The exit code for a final HTTP status the gateway gave a record: 0 for 2xx; 77 for 401/403; 75 for
    /// 503; 65 for other 4xx (the record or its address was refused); 76 otherwise.
    public static func code(forStatus status: Int) -> Int32 {
        switch status {
        case 200..<300: ExitStatus.ok
        case 401, 403: ExitStatus.certificateRefused
        case 503: ExitStatus.temporaryFailure
        case 400..<500: ExitStatus.dataError
        default: ExitStatus.protocolFailure
        }
    }
}
